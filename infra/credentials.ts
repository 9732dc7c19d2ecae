/**
 * Each environment's own Cassandra logins, one per cluster, as in a real
 * migration where Origin and Target are run by different people: Origin's
 * superuser keeps Cassandra's name, `cassandra`, with a generated password;
 * Target gets its own role, `target_admin`, with another. A node starts with
 * Cassandra's built-in cassandra/cassandra, which every learner knows; the
 * first time a node of environment K accepts a login the lab knows, the lab
 * gives the node K's login for its cluster (`loginOrAdopt` in cql/client.ts),
 * so knowing the default opens nobody else's clusters. Each login lives in
 * one file of K's folder, in the format cqlsh reads (`--credentials`),
 * readable by K's account only; every client of the lab (drivers, cqlsh, the
 * proxies' configuration, the learner's shells through `zdm-lab env`) reads
 * it from there. Through the proxies a client logs in with Target's login:
 * the proxy hands the client's login to Target and logs in to Origin with its
 * own origin_username/origin_password.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envDir } from './paths.js';
import type { ClusterName } from './topology.js';

export interface Credentials {
  username: string;
  password: string;
}

/** What a node on fresh data accepts before the lab has given it the environment's login. */
export const DEFAULT_CREDENTIALS: Credentials = Object.freeze({ username: 'cassandra', password: 'cassandra' });

/** Each cluster's user name: Origin keeps Cassandra's own superuser, Target gets a role of its own. */
export const USERNAMES: Readonly<Record<ClusterName, string>> = Object.freeze({ origin: 'cassandra', target: 'target_admin' });

/** The file of a cluster's login in K's folder; `envsRoot` names another home of environment folders than this process's (LAB_ENV_HOME). */
export function credentialsFile(env: number, cluster: ClusterName, envsRoot?: string): string {
  return join(envsRoot === undefined ? envDir(env) : join(envsRoot, `env-${env}`), `${cluster}-credentials`);
}

/** Where the environment's one login lived before each cluster had its own; it becomes Origin's. */
function sharedFile(env: number): string {
  return join(envDir(env), 'cassandra-credentials');
}

/** A login as its file holds it, in the format cqlsh reads. */
export function credentialsText(c: Credentials): string {
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

/** The login of one cluster of the environment, generated (24 random characters, mode 0600) the first time anything asks. */
export function credentialsOf(env: number, cluster: ClusterName): Credentials {
  const path = credentialsFile(env, cluster);
  const existing = readOwn(path);
  if (existing !== undefined) return parse(existing, path);
  mkdirSync(envDir(env), { recursive: true });
  if (cluster === 'origin' && existsSync(sharedFile(env))) {
    try {
      renameSync(sharedFile(env), path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return credentialsOf(env, cluster);
  }
  const fresh: Credentials = { username: USERNAMES[cluster], password: randomBytes(18).toString('base64url') };
  const temporary = `${path}.${process.pid}.new`;
  writeFileSync(temporary, credentialsText(fresh), { mode: 0o600, flag: 'wx' });
  try {
    // link() fails when another process got there first; then its login is the one.
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  return parse(readOwn(path) ?? '', path);
}

/** Whose login opens a node or a proxy: a node's cluster's, and Target's through a proxy (the proxy hands the client's login to Target). */
export function loginCluster(component: { kind: 'cassandra'; name: ClusterName } | { kind: 'proxy' }): ClusterName {
  return component.kind === 'cassandra' ? component.name : 'target';
}

/** The variables the learner's shells and the course's scripts know the logins by. */
export function credentialVariables(env: number): Record<string, string> {
  const origin = credentialsOf(env, 'origin');
  const target = credentialsOf(env, 'target');
  return {
    ORIGIN_USERNAME: origin.username,
    ORIGIN_PASSWORD: origin.password,
    TARGET_USERNAME: target.username,
    TARGET_PASSWORD: target.password,
  };
}
