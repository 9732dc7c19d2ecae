/**
 * Where a running lab server can be reached from this machine: its URL and
 * access token, written at start to `server.json` in the server's data folder
 * with mode 0600 (readable by its owner only, as the token grants everything
 * the browser can do), and removed when the server stops. Local tools such as
 * `zdm-lab course play` read it to call the server's token-protected routes.
 */
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const SERVER_FILE = 'server.json';

/** The data folder of a lab server started without --data: `.lab-envs` at the project's root. */
export const defaultDataDir = resolve(new URL('../..', import.meta.url).pathname, '.lab-envs');

export interface ServerAddress {
  /** e.g. http://127.0.0.1:4000/ */
  url: string;
  token: string;
  pid: number;
  /** The environments this server hosts. */
  environments: number[];
}

export function serverFile(dataDir: string): string {
  return join(dataDir, SERVER_FILE);
}

export function writeServerAddress(dataDir: string, address: ServerAddress): void {
  const path = serverFile(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(address, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Remove the file if it still names this server (a newer server may have replaced it). */
export function removeServerAddress(dataDir: string, token: string): void {
  if (readServerAddress(dataDir)?.token === token) rmSync(serverFile(dataDir), { force: true });
}

/** The recorded address, or undefined when no server has left one there. */
export function readServerAddress(dataDir: string): ServerAddress | undefined {
  let text: string;
  try {
    text = readFileSync(serverFile(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const value = JSON.parse(text) as Partial<ServerAddress>;
  if (typeof value.url !== 'string' || typeof value.token !== 'string') throw new Error(`${serverFile(dataDir)} is not a lab server's address file`);
  return { url: value.url, token: value.token, pid: Number(value.pid), environments: Array.isArray(value.environments) ? value.environments.map(Number) : [] };
}
