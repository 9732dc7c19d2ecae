/**
 * Each environment's own Cassandra login. A node starts with Cassandra's
 * built-in superuser, cassandra/cassandra, which every learner knows; the
 * first time a node of environment K accepts that login, the lab gives the
 * superuser K's generated password (`adoptPassword`), so knowing the default
 * opens nobody else's clusters. The password lives in one file of K's folder,
 * in the format cqlsh reads (`--credentials`), readable by K's account only;
 * every client of the lab (drivers, cqlsh, the proxies' configuration, the
 * learner's shells through `zdm-lab env`) reads it from there.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envDir } from './paths.js';

export interface Credentials {
  username: string;
  password: string;
}

/** What a node on fresh data accepts before the lab has given it the environment's password. */
export const DEFAULT_CREDENTIALS: Credentials = Object.freeze({ username: 'cassandra', password: 'cassandra' });

/** The file in K's folder; `envsRoot` names another home of environment folders than this process's (LAB_ENV_HOME). */
export function credentialsFile(env: number, envsRoot?: string): string {
  return join(envsRoot === undefined ? envDir(env) : join(envsRoot, `env-${env}`), 'cassandra-credentials');
}

function iniText(c: Credentials): string {
  return `[PlainTextAuthProvider]\nusername = ${c.username}\npassword = ${c.password}\n`;
}

function parse(text: string, path: string): Credentials {
  const value = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const username = value('username');
  const password = value('password');
  if (!username || !password) throw new Error(`${path}: expected "username = …" and "password = …" lines (remove the file to have new ones generated)`);
  return { username, password };
}

function readOwn(path: string): string | undefined {
  let fd: number;
  try {
    // Never through a link: the file sits in the learner's folder.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Credentials from a file that must exist (e.g. an isolated environment's, read by the lab's tests). */
export function readCredentials(path: string): Credentials {
  const text = readOwn(path);
  if (text === undefined) throw new Error(`${path} does not exist: the environment's nodes have not started yet`);
  return parse(text, path);
}

/** The environment's credentials, generated (24 random characters, mode 0600) the first time anything asks. */
export function credentialsOf(env: number): Credentials {
  const path = credentialsFile(env);
  const existing = readOwn(path);
  if (existing !== undefined) return parse(existing, path);
  mkdirSync(envDir(env), { recursive: true });
  const fresh: Credentials = { username: DEFAULT_CREDENTIALS.username, password: randomBytes(18).toString('base64url') };
  const temporary = `${path}.${process.pid}.new`;
  writeFileSync(temporary, iniText(fresh), { mode: 0o600, flag: 'wx' });
  try {
    // link() fails when another process got there first; then its password is the one.
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  return parse(readOwn(path) ?? '', path);
}

/** The variables the sample API reads its login from. */
export function credentialVariables(c: Credentials): Record<string, string> {
  return { CASSANDRA_USERNAME: c.username, CASSANDRA_PASSWORD: c.password };
}
