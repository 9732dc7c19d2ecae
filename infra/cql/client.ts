/**
 * CQL clients for the lab's host-side tools, configured the way DESIGN.md
 * says a client of the ZDM proxy must be: protocol v4 at most, the port of the
 * endpoint (the proxies advertise peers on it), Origin's data center, and
 * every statement idempotent so that the driver may retry it on another proxy
 * during a rolling update. The same settings work for a direct connection to
 * a node.
 */
import cassandra from 'cassandra-driver';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pRetry from 'p-retry';
import { credentialsOf, DEFAULT_CREDENTIALS, loginCluster, type Credentials } from '../credentials.js';
import { DATACENTER, type ClusterName } from '../topology.js';

/** A node, or a proxy (which a client logs in to with Target's login: the proxy hands it to Target). */
export type Endpoint = {
  address: string;
  port: number;
  /** The environment the endpoint belongs to, whose login is used. */
  env: number;
  /** Instead of the environment's file as this process finds it (a test reading an isolated environment's). */
  credentials?: Credentials;
} & ({ kind: 'cassandra'; name: ClusterName } | { kind: 'proxy' });

/** The login a lab client gives the endpoint. */
export function loginFor(endpoint: Endpoint): Credentials {
  return endpoint.credentials ?? credentialsOf(endpoint.env, loginCluster(endpoint));
}

export function cqlClient(endpoint: Endpoint, options: { keyspace?: string; timeoutMs?: number; credentials?: Credentials } = {}): cassandra.Client {
  const { username, password } = options.credentials ?? loginFor(endpoint);
  return new cassandra.Client({
    contactPoints: [`${endpoint.address}:${endpoint.port}`],
    localDataCenter: DATACENTER,
    keyspace: options.keyspace,
    credentials: { username, password },
    protocolOptions: { port: endpoint.port, maxVersion: 4 },
    queryOptions: { isIdempotent: true, consistency: cassandra.types.consistencies.localQuorum, prepare: true },
    socketOptions: { connectTimeout: options.timeoutMs ?? 5000, readTimeout: 12000 },
    pooling: { warmup: true },
  });
}

/** Opens a client, runs fn, always shuts the client down. */
export async function withClient<T>(endpoint: Endpoint, fn: (client: cassandra.Client) => Promise<T>): Promise<T> {
  const client = cqlClient(endpoint);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.shutdown().catch(() => {});
  }
}

/** Tries one authenticated login; resolves to undefined on success or the error text. */
export async function tryLogin(endpoint: Endpoint, credentials?: Credentials): Promise<string | undefined> {
  const client = cqlClient(endpoint, { timeoutMs: 2000, credentials });
  try {
    await client.connect();
    await client.execute('SELECT release_version FROM system.local');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.shutdown().catch(() => {});
  }
}

/** Whether a login's error says the credentials were refused (rather than that the node was not there). */
export function refusedLogin(problem: string): boolean {
  return /username .* password are incorrect|AuthenticationException|Authentication/i.test(problem);
}

/**
 * A login with the environment's own login for a node's cluster. A node on
 * fresh data knows only Cassandra's default superuser: once a login the lab
 * knows works (the default, or for Target also Origin's, which Target shared
 * in environments made before each cluster had its own), the node gets its
 * cluster's login and the default opens nothing. Target's login is a role of
 * its own (credentials.ts), so there the default superuser's password is then
 * set to a random one nobody keeps.
 */
export async function loginOrAdopt(node: Endpoint & { kind: 'cassandra' }): Promise<string | undefined> {
  const own = loginFor(node);
  const problem = await tryLogin(node, own);
  const known = node.name === 'target' ? [DEFAULT_CREDENTIALS, credentialsOf(node.env, 'origin')] : [DEFAULT_CREDENTIALS];
  if (problem === undefined) {
    // A node whose own role was made but whose default superuser was not closed yet (a start stopped in between) is closed now.
    for (const login of known) {
      if (login.username !== own.username && (await tryLogin(node, login)) === undefined) {
        return changeLogins(node, own, own, [[login.username, randomBytes(18).toString('base64url')]]);
      }
    }
    return undefined;
  }
  if (!refusedLogin(problem)) return problem;
  for (const login of known) {
    if (login.username === own.username) {
      const changed = await changeLogins(node, login, own, [[own.username, own.password]]);
      if (changed === undefined || !refusedLogin(changed)) return changed;
      continue;
    }
    const changed = await changeLogins(node, login, own, [
      [own.username, own.password],
      [login.username, randomBytes(18).toString('base64url')],
    ]);
    if (changed === undefined || !refusedLogin(changed)) return changed;
  }
  return `${problem} (the node takes neither this environment's ${node.name} login nor the default one)`;
}

/**
 * Logged in as `as`, gives each role its password (creating the
 * environment's own role, a superuser, when it does not exist yet), then
 * checks that `own` logs in. Resolves to undefined or the problem.
 */
async function changeLogins(node: Endpoint, as: Credentials, own: Credentials, roles: [string, string][]): Promise<string | undefined> {
  const client = cqlClient(node, { timeoutMs: 2000, credentials: as });
  try {
    await client.connect();
    // ALL: the change must be on the node's system_auth before anyone relies on it.
    // Cassandra refuses a role's password change within 5 s of the last one: such a refusal is waited out.
    const run = (cql: string) =>
      pRetry(() => client.execute(cql, [], { consistency: cassandra.types.consistencies.all, prepare: false }), {
        retries: 4,
        minTimeout: 1500,
        shouldRetry: ({ error }) => /can only be changed every/.test(error.message),
      });
    for (const [role, password] of roles) {
      const quoted = `'${password.replace(/'/g, "''")}'`;
      const exists = (await client.execute('SELECT role FROM system_auth.roles WHERE role = ?', [role], { prepare: true })).rowLength > 0;
      await run(exists ? `ALTER ROLE ${role} WITH PASSWORD = ${quoted}` : `CREATE ROLE ${role} WITH PASSWORD = ${quoted} AND SUPERUSER = true AND LOGIN = true`);
    }
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.shutdown().catch(() => {});
  }
  return tryLogin(node, own);
}

/** Splits one of the lab's own CQL files into statements (no semicolons inside strings). */
export function cqlStatements(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function runCqlFile(client: cassandra.Client, path: string): Promise<void> {
  for (const statement of cqlStatements(readFileSync(path, 'utf8'))) {
    await client.execute(statement, [], { prepare: false });
  }
}
