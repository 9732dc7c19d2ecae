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
import { credentialsOf, DEFAULT_CREDENTIALS, type Credentials } from '../credentials.js';
import { DATACENTER } from '../topology.js';

export interface Endpoint {
  address: string;
  port: number;
  /** The environment the endpoint belongs to, whose credentials log in. */
  env: number;
  /** Instead of the environment's file as this process finds it (a test reading an isolated environment's). */
  credentials?: Credentials;
}

export function cqlClient(endpoint: Endpoint, options: { keyspace?: string; timeoutMs?: number; credentials?: Credentials } = {}): cassandra.Client {
  const { username, password } = options.credentials ?? endpoint.credentials ?? credentialsOf(endpoint.env);
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
 * A login with the environment's credentials, for a node. A node on fresh
 * data knows only Cassandra's default superuser: once that login works, the
 * superuser gets the environment's password, and the default opens nothing.
 */
export async function loginOrAdopt(node: Endpoint): Promise<string | undefined> {
  const own = credentialsOf(node.env);
  const problem = await tryLogin(node, own);
  if (problem === undefined || !refusedLogin(problem)) return problem;
  const client = cqlClient(node, { timeoutMs: 2000, credentials: DEFAULT_CREDENTIALS });
  try {
    await client.connect();
    // ALL: the change must be on the node's system_auth before anyone relies on it.
    await client.execute(`ALTER ROLE ${own.username} WITH PASSWORD = '${own.password.replace(/'/g, "''")}'`, [], {
      consistency: cassandra.types.consistencies.all,
      prepare: false,
    });
  } catch (error) {
    const message = (error as Error).message;
    return refusedLogin(message) ? `${problem} (the node takes neither this environment's password nor the default one)` : message;
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
