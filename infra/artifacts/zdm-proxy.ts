/**
 * The real ZDM proxy for the embedded backend, built once with `go install`
 * from the Go module proxy at the commit tagged v2.4.2 and kept in the cache.
 * The module path has no /v2 suffix, so the tag itself cannot be used: the
 * commit resolves to a v0.0.0 pseudo-version. ZDM_PROXY_BIN points the lab at
 * a zdm-proxy binary obtained some other way.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../paths.js';
import type { Reporter } from '../progress.js';
import { requireTool } from '../tools.js';
import { runFetch } from './run.js';

export const ZDM_PROXY_VERSION = '2.4.2';
/** v2.4.2 is commit e980d0173668, committed 2026-04-27 16:38:56 UTC. */
export const ZDM_PROXY_MODULE_VERSION = 'v0.0.0-20260427163856-e980d0173668';
const MODULE = 'github.com/datastax/zdm-proxy/proxy';

export class ArtifactUnavailableError extends Error {}

function binDir(): string {
  return join(cacheDir, `zdm-proxy-${ZDM_PROXY_VERSION}`, 'bin');
}

/** Where the binary is, without fetching; undefined when it is not there yet. */
export function findZdmProxy(): string | undefined {
  const override = process.env.ZDM_PROXY_BIN;
  if (override) {
    if (!existsSync(override)) throw new ArtifactUnavailableError(`ZDM_PROXY_BIN=${override} does not exist`);
    return override;
  }
  const bin = join(binDir(), 'proxy');
  return existsSync(bin) ? bin : undefined;
}

/** Returns the zdm-proxy binary, building it with `go install` the first time. */
export async function ensureZdmProxy(report: Reporter): Promise<string> {
  const found = findZdmProxy();
  if (found) return found;
  requireTool('go');
  mkdirSync(binDir(), { recursive: true });
  report(`building zdm-proxy v${ZDM_PROXY_VERSION} (${MODULE}@${ZDM_PROXY_MODULE_VERSION}) with go install`);
  try {
    await runFetch(
      {
        command: 'go',
        args: ['install', `${MODULE}@${ZDM_PROXY_MODULE_VERSION}`],
        env: { GOBIN: binDir(), GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' },
        itemPattern: /^go: downloading /,
        what: 'zdm-proxy modules',
      },
      report,
    );
  } catch (error) {
    const detail = String((error as Error).message);
    const refused = /403|not available|404|410/.test(detail) ? ' The Go module proxy refused the module.' : '';
    throw new ArtifactUnavailableError(
      `zdm-proxy v${ZDM_PROXY_VERSION} could not be built with go install.${refused} ` +
        `Set ZDM_PROXY_BIN to a zdm-proxy v${ZDM_PROXY_VERSION} binary to use one built elsewhere.\n${detail}`,
    );
  }
  const bin = join(binDir(), 'proxy');
  if (!existsSync(bin)) throw new ArtifactUnavailableError(`go install finished but ${bin} is missing`);
  return bin;
}
