/**
 * The official zdm-proxy release archive for this OS and CPU, as published
 * on the project's GitHub releases: `zdm-proxy-<os>-<arch>-v<version>.tgz`
 * holding the binary `zdm-proxy-v<version>` and its LICENSE, with a
 * `-sha256.txt` file beside it that holds the archive's SHA-256. The archive
 * is downloaded with progress, checked against that hash before anything is
 * unpacked, and only the binary is taken out of it (tar-stream, no shell).
 * ZDM_PROXY_RELEASE_URL replaces the download folder (a mirror).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import type { Reporter } from '../progress.js';

const DEFAULT_BASE = 'https://github.com/datastax/zdm-proxy/releases/download';
/** How long a download may go without a byte before it is given up. */
const STALL_MS = 30_000;

export interface ReleaseAsset {
  archiveUrl: string;
  checksumUrl: string;
  /** The binary's name inside the archive. */
  member: string;
}

/** The asset names of the release workflow, for Node's platform and arch names. */
export function releaseAsset(version: string, platform = process.platform, arch = process.arch): ReleaseAsset {
  const os = { linux: 'linux', darwin: 'darwin' }[platform as string];
  const cpu = { x64: 'amd64', arm64: 'arm64' }[arch as string];
  if (!os || !cpu) throw new Error(`no zdm-proxy release archive is published for ${platform}/${arch}`);
  const base = (process.env.ZDM_PROXY_RELEASE_URL ?? `${DEFAULT_BASE}/v${version}`).replace(/\/+$/, '');
  const name = `zdm-proxy-${os}-${cpu}-v${version}`;
  return { archiveUrl: `${base}/${name}.tgz`, checksumUrl: `${base}/${name}-sha256.txt`, member: `zdm-proxy-v${version}` };
}

/** The fetch error's cause in words ("getaddrinfo ENOTFOUND github.com") rather than "fetch failed". */
function why(error: unknown): string {
  const e = error as Error & { cause?: Error };
  return e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message;
}

async function get(url: string, signal: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (error) {
    throw new Error(`${url}: ${why(error)}`);
  }
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

/** The published hash: the first 64-hex-digit word of the checksum file. */
export function parseChecksum(text: string, url: string): string {
  const m = /\b[0-9a-f]{64}\b/i.exec(text);
  if (!m) throw new Error(`${url} holds no SHA-256 (it starts ${JSON.stringify(text.slice(0, 40))})`);
  return m[0].toLowerCase();
}

/**
 * Downloads the archive into `dest + '.tgz'` with progress at most once a
 * second, checks its SHA-256, unpacks the binary to `dest` (mode 0755) and
 * removes the archive. `dest` is the caller's temporary name: nothing is
 * left there when any step fails.
 */
export async function downloadRelease(asset: ReleaseAsset, dest: string, report: Reporter): Promise<void> {
  const controller = new AbortController();
  let stall: NodeJS.Timeout | undefined;
  const alive = () => {
    clearTimeout(stall);
    stall = setTimeout(() => controller.abort(new Error(`no data for ${STALL_MS / 1000} s`)), STALL_MS);
  };
  const archive = `${dest}.tgz`;
  try {
    alive();
    const expected = parseChecksum(await (await get(asset.checksumUrl, controller.signal)).text(), asset.checksumUrl);
    alive();
    const res = await get(asset.archiveUrl, controller.signal);
    const total = Number(res.headers.get('content-length')) || 0;
    const hash = createHash('sha256');
    let received = 0;
    let lastReport = 0;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    report(`downloading ${asset.archiveUrl}${total ? ` (${mib(total)} MiB)` : ''}`);
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          alive();
          hash.update(chunk);
          received += chunk.length;
          if (Date.now() - lastReport > 1000) {
            lastReport = Date.now();
            report(`zdm-proxy archive: ${mib(received)}${total ? ` of ${mib(total)}` : ''} MiB`);
          }
          yield chunk;
        }
      },
      createWriteStream(archive),
    );
    const actual = hash.digest('hex');
    if (actual !== expected) {
      throw new Error(`${asset.archiveUrl} has SHA-256 ${actual}, but ${asset.checksumUrl} says ${expected}: the download is damaged or not the published one`);
    }
    report(`zdm-proxy archive: ${mib(received)} MiB, SHA-256 matches ${asset.checksumUrl}`);
    await unpackMember(archive, asset.member, dest);
  } catch (error) {
    await rm(dest, { force: true });
    throw controller.signal.aborted && controller.signal.reason instanceof Error
      ? new Error(`${asset.archiveUrl}: ${controller.signal.reason.message}`)
      : error;
  } finally {
    clearTimeout(stall);
    await rm(archive, { force: true });
  }
}

/** Takes the one member out of a .tgz into `dest`; fails when it is not there. */
async function unpackMember(archive: string, member: string, dest: string): Promise<void> {
  let found = false;
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if (name !== member || header.type !== 'file') {
      stream.on('end', next).resume();
      return;
    }
    found = true;
    pipeline(stream, createWriteStream(dest)).then(() => next(), next);
  });
  await pipeline(createReadStream(archive), createGunzip(), tar as unknown as Writable);
  if (!found) throw new Error(`${archive} holds no ${member}`);
  await chmod(dest, 0o755);
}
