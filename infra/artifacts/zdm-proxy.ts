/**
 * The real ZDM proxy v2.4.2 for the embedded backend and the lab's images.
 * One way to get it, tried in this order:
 *
 *   1. ZDM_PROXY_BIN: a binary built elsewhere, used where it is;
 *   2. the cache: a binary an earlier run put there (with a note of how);
 *   3. ZDM_PROXY_SRC: a zdm-proxy source tree (`git clone --branch v2.4.2`
 *      of the public repository, or a copy of it), built with `go build
 *      ./proxy` into the cache; the tree is only read, never written;
 *   4. the official release archive for this OS and CPU, its SHA-256
 *      checked against the file published beside it;
 *   5. `go install` at the v2.4.2 pseudo-version (the module path has no /v2
 *      suffix, so the tag itself cannot be named: the tagged commit resolves
 *      to a v0.0.0 pseudo-version).
 *
 * A variable that is set (1, 3) is the user's explicit choice: when it does
 * not work the lab says so at once instead of quietly trying something else.
 * Routes 4 and 5 are tried one after the other, and when both fail the error
 * lists every route with what happened and says what to do.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheDir } from '../paths.js';
import type { Reporter } from '../progress.js';
import { MissingToolError, requireTool } from '../tools.js';
import { runFetch } from './run.js';
import { downloadRelease, releaseAsset } from './zdm-proxy-release.js';

export const ZDM_PROXY_VERSION = '2.4.2';
/** v2.4.2 is commit e980d0173668, committed 2026-04-27 16:38:56 UTC. */
export const ZDM_PROXY_MODULE_VERSION = 'v0.0.0-20260427163856-e980d0173668';
const MODULE = 'github.com/datastax/zdm-proxy';
const CLONE = `git clone --branch v${ZDM_PROXY_VERSION} https://github.com/datastax/zdm-proxy`;
const WHAT_TO_DO =
  `set ZDM_PROXY_SRC to a zdm-proxy v${ZDM_PROXY_VERSION} source tree (${CLONE}) ` +
  `or ZDM_PROXY_BIN to a zdm-proxy v${ZDM_PROXY_VERSION} binary`;

export class ArtifactUnavailableError extends Error {}

/** The binary in use and how it was obtained, in words ("built from ZDM_PROXY_SRC=… with go build"). */
export interface ZdmProxyBinary {
  path: string;
  route: string;
}

function cachedDir(): string {
  return join(cacheDir, `zdm-proxy-${ZDM_PROXY_VERSION}`, 'bin');
}

function cachedBinary(): string {
  return join(cachedDir(), 'proxy');
}

function originFile(): string {
  return join(cachedDir(), 'origin.json');
}

/** Where the binary is, without fetching or building; undefined when it is not there yet. */
export function findZdmProxy(): ZdmProxyBinary | undefined {
  const override = process.env.ZDM_PROXY_BIN;
  if (override) {
    const path = resolve(override);
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new ArtifactUnavailableError(`ZDM_PROXY_BIN=${override} is not a file: point it at a zdm-proxy v${ZDM_PROXY_VERSION} binary, or unset it`);
    }
    return { path, route: `ZDM_PROXY_BIN=${override}` };
  }
  const bin = cachedBinary();
  if (!existsSync(bin)) return undefined;
  let how = 'an earlier run';
  try {
    how = String(JSON.parse(readFileSync(originFile(), 'utf8')).route);
  } catch {
    // a cache filled by an older lab has no note
  }
  return { path: bin, route: `the cache (${how})` };
}

/** Puts a finished binary into the cache under its final name, with a note of where it came from. */
function intoCache(partial: string, route: string): ZdmProxyBinary {
  renameSync(partial, cachedBinary());
  writeFileSync(originFile(), `${JSON.stringify({ route, at: new Date().toISOString() })}\n`);
  return { path: cachedBinary(), route };
}

/** Route 3: `go build ./proxy` in the source tree, output into the cache; the tree is only read. */
async function buildFromSource(src: string, report: Reporter): Promise<ZdmProxyBinary> {
  const dir = resolve(src);
  const problem = (text: string) => new ArtifactUnavailableError(`ZDM_PROXY_SRC=${src}: ${text}; ${WHAT_TO_DO}`);
  let goMod: string;
  try {
    goMod = readFileSync(join(dir, 'go.mod'), 'utf8');
  } catch {
    throw problem(`no go.mod there, so it is not a zdm-proxy source tree`);
  }
  if (!new RegExp(`^module ${MODULE.replace(/\./g, '\\.')}\\s*$`, 'm').test(goMod)) throw problem(`its go.mod is not the module ${MODULE}`);
  if (!existsSync(join(dir, 'proxy', 'main.go'))) throw problem('it has no proxy/main.go');
  try {
    requireTool('go');
  } catch (error) {
    if (error instanceof MissingToolError) throw problem(`building it needs Go: ${error.message}`);
    throw error;
  }
  const partial = `${cachedBinary()}.partial`;
  report(`building zdm-proxy v${ZDM_PROXY_VERSION} from ${dir} with go build (about a minute the first time)`);
  try {
    await runFetch(
      {
        command: 'go',
        args: ['build', '-trimpath', '-o', partial, './proxy'],
        cwd: dir,
        // -mod=readonly: go.mod and go.sum are read, never updated; -buildvcs=false: a copy without .git builds too
        env: { CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -buildvcs=false' },
        itemPattern: /^go: downloading /,
        what: 'zdm-proxy build',
      },
      report,
    );
  } catch (error) {
    rmSync(partial, { force: true });
    throw problem(`go build ./proxy failed:\n${(error as Error).message}`);
  }
  return intoCache(partial, `built with go build from ZDM_PROXY_SRC=${dir}`);
}

/** Route 4: the published archive, checked against its published SHA-256. */
async function fromRelease(report: Reporter): Promise<ZdmProxyBinary> {
  const asset = releaseAsset(ZDM_PROXY_VERSION);
  const partial = `${cachedBinary()}.partial`;
  await downloadRelease(asset, partial, report);
  return intoCache(partial, `the release archive ${asset.archiveUrl} (SHA-256 checked)`);
}

/** Route 5: go install at the pseudo-version of the tagged commit. */
async function fromGoInstall(report: Reporter): Promise<ZdmProxyBinary> {
  requireTool('go');
  const gobin = join(cachedDir(), 'go-install');
  const target = `${MODULE}/proxy@${ZDM_PROXY_MODULE_VERSION}`;
  report(`building zdm-proxy v${ZDM_PROXY_VERSION} with go install ${target}`);
  try {
    await runFetch(
      {
        command: 'go',
        args: ['install', target],
        env: { GOBIN: gobin, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' },
        itemPattern: /^go: downloading /,
        what: 'zdm-proxy modules',
      },
      report,
    ).catch((error: Error) => {
      const refused = /\b(403|404|410)\b|not available/.test(error.message) ? 'the Go module proxy refused the module' : error.message.split('\n').slice(-1)[0];
      throw new Error(`${target}: ${refused}`);
    });
    return intoCache(join(gobin, 'proxy'), `go install ${target}`);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
}

/** Returns the zdm-proxy binary and how it was had, fetching or building it the first time. */
export async function ensureZdmProxy(report: Reporter): Promise<ZdmProxyBinary> {
  const found = findZdmProxy();
  if (found) return found;
  mkdirSync(cachedDir(), { recursive: true });
  const src = process.env.ZDM_PROXY_SRC;
  if (src) return buildFromSource(src, report);
  const tried = [
    '1. ZDM_PROXY_BIN: not set',
    `2. the cache: no ${cachedBinary()}`,
    '3. ZDM_PROXY_SRC: not set',
  ];
  for (const [label, route] of [
    ['4. the release archive', fromRelease],
    ['5. go install', fromGoInstall],
  ] as const) {
    try {
      return await route(report);
    } catch (error) {
      tried.push(`${label}: ${(error as Error).message.split('\n')[0]}`);
      report(`zdm-proxy: ${tried.at(-1)}`);
    }
  }
  throw new ArtifactUnavailableError(`zdm-proxy v${ZDM_PROXY_VERSION} could not be had: ${WHAT_TO_DO}.\nTried:\n  ${tried.join('\n  ')}`);
}

/**
 * What `zdm-lab proxy version` prints: the binary, how it was had, its
 * SHA-256 and what it says of itself. The v2.4.2 tag still carries "2.4.1"
 * as its version string (upstream did not bump it), so that is what a real
 * v2.4.2 binary prints.
 */
export function describeZdmProxy(binary: ZdmProxyBinary): string[] {
  const result = spawnSync(binary.path, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  const says = result.error ? `could not be run: ${result.error.message}` : (result.stdout || result.stderr).trim() || `exit code ${result.status}`;
  const sha = createHash('sha256').update(readFileSync(binary.path)).digest('hex');
  return [
    `zdm-proxy v${ZDM_PROXY_VERSION}: ${binary.path}`,
    `  from:    ${binary.route}`,
    `  sha256:  ${sha}`,
    `  reports: ${says}${/\b2\.4\.1\b/.test(says) ? ` (the v${ZDM_PROXY_VERSION} tag still carries 2.4.1 as its version string)` : ''}`,
  ];
}
