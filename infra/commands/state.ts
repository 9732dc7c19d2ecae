/**
 * `zdm-lab infra state save|restore FILE`: what of an environment's
 * infrastructure a point of the course depends on, in one JSON file that
 * any environment can restore: each cluster's zdmapp.user_status rows with
 * their writetimes (or that the cluster has no zdmapp), and the proxies'
 * core settings (primary_cluster, read_mode, log_level). The cluster file's
 * addresses and logins belong to the environment, so a restore writes the
 * restoring environment's own. The data set of a lab is small (thousands of
 * rows), so a restore on running nodes, a TRUNCATE and the rows written
 * again with their writetimes, takes a second or two, where a copy of the
 * nodes' data folders would mean stopping and starting both JVMs.
 *
 * A restore leaves the proxies stopped and Prometheus as it was: whoever
 * restores starts them with their settings (the course's setup does, as
 * after a restart of the lab).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import cassandra from 'cassandra-driver';
import { defaultProxyConfig, proxyConfigIsDefault, readProxyConfig, setProxyConfigValue, writeDefaultProxyConfig, type ProxyConfig } from '../config/proxy.js';
import { runCqlFile, withClient } from '../cql/client.js';
import type { NodeSpec } from '../topology.js';
import { keyspaces, SCHEMA_FILE, startNodes, type LabContext } from './environment.js';

export const STATE_FORMAT = 'zdm-lab-state/1';
const CORE_KEYS = ['primary_cluster', 'read_mode', 'log_level'] as const;
const ROW_QUERY = 'SELECT user, when, status, WRITETIME(status) AS wt FROM zdmapp.user_status';
const INSERT = 'INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?) USING TIMESTAMP ?';
const INSERT_KEY_ONLY = 'INSERT INTO zdmapp.user_status (user, when) VALUES (?, ?) USING TIMESTAMP ?';

export interface StateRow {
  user: string;
  /** The clustering timestamp, ISO 8601 with milliseconds. */
  when: string;
  status: string | null;
  /** The status cell's writetime in microseconds, as a decimal string (a 64-bit number). */
  writetime: string | null;
}

export interface ClusterState {
  /** Whether the cluster has the zdmapp keyspace (and its table) at all. */
  zdmapp: boolean;
  rows: StateRow[];
}

export interface EnvironmentState {
  format: typeof STATE_FORMAT;
  savedAt: string;
  proxy: Pick<ProxyConfig, (typeof CORE_KEYS)[number]>;
  clusters: { origin: ClusterState; target: ClusterState };
}

export class StateFileError extends Error {
  constructor(path: string, problem: string) {
    super(`${path} is not a state zdm-lab infra state save wrote: ${problem}`);
    this.name = 'StateFileError';
  }
}

async function clusterState(node: NodeSpec): Promise<ClusterState> {
  if (!(await keyspaces(node)).includes('zdmapp')) return { zdmapp: false, rows: [] };
  return withClient(node, async (client) => {
    const rows: StateRow[] = [];
    let pageState: string | undefined;
    do {
      const rs = await client.execute(ROW_QUERY, [], { prepare: true, fetchSize: 5000, pageState });
      for (const r of rs.rows) {
        const wt = r.get('wt') as cassandra.types.Long | null;
        rows.push({ user: String(r.get('user')), when: (r.get('when') as Date).toISOString(), status: (r.get('status') as string | null) ?? null, writetime: wt === null ? null : wt.toString() });
      }
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return { zdmapp: true, rows };
  });
}

/** The environment's state, as `infra state restore` takes it back. */
export async function saveState(ctx: LabContext, path: string): Promise<EnvironmentState> {
  // Before the proxies are first deployed their files are not written yet: the defaults are what a deploy would write.
  const config = proxyConfigIsDefault(ctx.topo) ? defaultProxyConfig(ctx.topo) : readProxyConfig(ctx.topo);
  const [origin, target] = await Promise.all([clusterState(ctx.topo.origin), clusterState(ctx.topo.target)]);
  const state: EnvironmentState = {
    format: STATE_FORMAT,
    savedAt: new Date().toISOString(),
    proxy: { primary_cluster: config.primary_cluster, read_mode: config.read_mode, log_level: config.log_level },
    clusters: { origin, target },
  };
  writeFileSync(path, JSON.stringify(state));
  ctx.report(`state saved in ${path}: Origin ${describe(origin)}, Target ${describe(target)}, proxies ${state.proxy.primary_cluster}/${state.proxy.read_mode}`);
  return state;
}

function describe(c: ClusterState): string {
  return c.zdmapp ? `zdmapp with ${c.rows.length} rows` : 'no zdmapp';
}

/** Reads and checks a state file: every field a restore uses, so that a broken file changes nothing. */
export function readState(path: string): EnvironmentState {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new StateFileError(path, (err as Error).message);
  }
  const s = raw as Partial<EnvironmentState>;
  if (s?.format !== STATE_FORMAT) throw new StateFileError(path, `its format is ${JSON.stringify(s?.format)}, not ${STATE_FORMAT}`);
  for (const side of ['origin', 'target'] as const) {
    const c = s.clusters?.[side];
    if (!c || typeof c.zdmapp !== 'boolean' || !Array.isArray(c.rows)) throw new StateFileError(path, `clusters.${side} needs zdmapp (true or false) and rows`);
    c.rows.forEach((r, i) => {
      const ok =
        typeof r?.user === 'string' &&
        typeof r.when === 'string' &&
        !Number.isNaN(Date.parse(r.when)) &&
        (r.status === null || typeof r.status === 'string') &&
        (r.writetime === null || (typeof r.writetime === 'string' && /^-?\d{1,19}$/.test(r.writetime)));
      if (!ok) throw new StateFileError(path, `clusters.${side}.rows[${i}] is not a row of zdmapp.user_status`);
    });
  }
  for (const key of CORE_KEYS) if (typeof s.proxy?.[key] !== 'string') throw new StateFileError(path, `proxy.${key} is missing`);
  return s as EnvironmentState;
}

async function restoreCluster(ctx: LabContext, node: NodeSpec, state: ClusterState): Promise<void> {
  const present = await keyspaces(node);
  const others = present.filter((k) => k !== 'zdmapp');
  await withClient(node, async (client) => {
    for (const name of state.zdmapp ? others : present) await client.execute(`DROP KEYSPACE IF EXISTS "${name}"`, [], { prepare: false });
    if (!state.zdmapp) return;
    await runCqlFile(client, SCHEMA_FILE);
    await client.execute('TRUNCATE zdmapp.user_status', [], { prepare: false });
    const now = cassandra.types.Long.fromNumber(Date.now() * 1000);
    const writes = state.rows.map((r) => {
      const wt = r.writetime === null ? now : cassandra.types.Long.fromString(r.writetime);
      return r.status === null ? { query: INSERT_KEY_ONLY, params: [r.user, new Date(r.when), wt] } : { query: INSERT, params: [r.user, new Date(r.when), r.status, wt] };
    });
    // Writes in flight at once: enough to fill a node's request queue, not so many that a small node times out.
    const inFlight = 64;
    for (let i = 0; i < writes.length; i += inFlight) {
      await Promise.all(writes.slice(i, i + inFlight).map((w) => client.execute(w.query, w.params, { prepare: true })));
    }
  });
  ctx.report(`${node.name}: ${describe(state)}${others.length ? `; dropped ${others.join(', ')}` : ''}`);
}

/**
 * Brings the environment to a saved state: proxies stopped, their
 * configuration the environment's defaults with the saved core settings,
 * both nodes up (started if need be), each cluster's zdmapp exactly as saved.
 */
export async function restoreState(ctx: LabContext, path: string): Promise<EnvironmentState> {
  const state = readState(path);
  const { topo, backend, report } = ctx;
  const running = (await Promise.all(topo.proxies.map(async (p) => ((await backend.status(p)).state === 'down' ? undefined : p)))).filter((p) => p !== undefined);
  await Promise.all(running.map((p) => backend.stop(p)));
  if (running.length) report('proxies stopped');
  writeDefaultProxyConfig(topo);
  for (const key of CORE_KEYS) setProxyConfigValue(topo, key, state.proxy[key]);
  await backend.prepare(topo, report);
  await startNodes(ctx);
  await Promise.all([restoreCluster(ctx, topo.origin, state.clusters.origin), restoreCluster(ctx, topo.target, state.clusters.target)]);
  return state;
}
