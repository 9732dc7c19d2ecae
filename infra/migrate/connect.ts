/**
 * The driver clients migrate and validate use to reach Origin and Target
 * directly (never through the proxies). Each cluster's own login, the same protocol and data center
 * as every lab client, plus what a bulk copy needs: maps and sets decoded as
 * Map and Set so that their element order matches the per-element writetimes
 * Cassandra returns, longer read timeouts for full pages, and a quick
 * reconnection so that a node that comes back is used again within the run.
 */
import cassandra from 'cassandra-driver';
import { DATACENTER } from '../topology.js';
import { loginFor, type Endpoint } from '../cql/client.js';
import { errorLine } from './retry.js';

export function bulkClient(endpoint: Endpoint): cassandra.Client {
  const { username, password } = loginFor(endpoint);
  return new cassandra.Client({
    contactPoints: [`${endpoint.address}:${endpoint.port}`],
    localDataCenter: DATACENTER,
    credentials: { username, password },
    protocolOptions: { port: endpoint.port, maxVersion: 4 },
    queryOptions: { isIdempotent: true, consistency: cassandra.types.consistencies.localQuorum, prepare: true },
    socketOptions: { connectTimeout: 5000, readTimeout: 30000 },
    pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 2 }, maxRequestsPerConnection: 2048 },
    policies: { reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(1000) },
    encoding: { map: Map, set: Set },
  });
}

export interface Connected {
  client: cassandra.Client;
  /** "Origin (127.0.5.1:9042)" — for messages. */
  where: string;
}

export async function connectBulk(name: 'Origin' | 'Target', endpoint: Endpoint): Promise<Connected> {
  const client = bulkClient(endpoint);
  const where = `${endpoint.address}:${endpoint.port}`;
  try {
    await client.connect();
  } catch (error) {
    await client.shutdown().catch(() => {});
    throw new Error(`cannot reach ${name} at ${where}: ${errorLine(error)}; is the environment up? (zdm-lab infra status)`);
  }
  return { client, where };
}
