/**
 * `zdm-lab infra up|status|down|reset`: the life of one environment's Origin
 * and Target nodes (and, for status/down/reset, its proxies). Provisioning of
 * Origin (the zdmapp schema and seed rows) happens here; Target stays empty
 * until the learner creates the schema in step 2.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { Backend, ComponentStatus } from '../backends/backend.js';
import { proxyConfigIsDefault, writeDefaultProxyConfig } from '../config/proxy.js';
import { runCqlFile, tryLogin, withClient } from '../cql/client.js';
import type { Reporter } from '../progress.js';
import { portOpen, proxyReadiness, waitForNode } from '../readiness.js';
import { components, type ComponentSpec, type NodeSpec, type Topology } from '../topology.js';

export const SCHEMA_FILE = new URL('../schema/zdmapp.cql', import.meta.url).pathname;
export const SEED_FILE = new URL('../schema/seed.cql', import.meta.url).pathname;

export interface LabContext {
  topo: Topology;
  backend: Backend;
  report: Reporter;
  /** Where command output for the user goes (tables, summaries). */
  print: (line: string) => void;
}

/** Starts the nodes that are not running and waits for both. Returns per-node readiness times (ms). */
export async function startNodes(ctx: LabContext): Promise<Record<string, number>> {
  const { topo, backend, report } = ctx;
  const nodes: NodeSpec[] = [topo.origin, topo.target];
  const times: Record<string, number> = {};
  await Promise.all(
    nodes.map(async (node) => {
      const started = Date.now();
      const before = await backend.status(node);
      if (before.state !== 'running') {
        await backend.startNode(node, report);
        const now = await backend.status(node);
        report(`${node.name}: Cassandra starting on ${node.address}:${node.port} (pid ${now.pid ?? '?'})`);
      }
      await waitForNode(node, backend, report);
      times[node.name] = Date.now() - started;
      report(`${node.name}: ready, CQL login accepted (${(times[node.name] / 1000).toFixed(1)}s)`);
    }),
  );
  return times;
}

/** The keyspaces of a node besides the system ones. */
export async function keyspaces(node: NodeSpec): Promise<string[]> {
  return withClient(node, async (client) => {
    const rs = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces');
    return rs.rows.map((r) => String(r.keyspace_name)).filter((k) => !k.startsWith('system'));
  });
}

/** Origin gets the zdmapp schema and the seed rows when it does not have them. */
export async function provisionOrigin(ctx: LabContext, options: { force?: boolean } = {}): Promise<boolean> {
  const { topo, report } = ctx;
  const existing = await keyspaces(topo.origin);
  if (existing.includes('zdmapp') && !options.force) return false;
  await withClient(topo.origin, async (client) => {
    await runCqlFile(client, SCHEMA_FILE);
    await runCqlFile(client, SEED_FILE);
  });
  report('origin: keyspace zdmapp, table user_status and seed rows (eva x3, marco x1) created');
  return true;
}

export async function infraUp(ctx: LabContext): Promise<{ alreadyUp: boolean; readyMs: Record<string, number> }> {
  const { topo, backend, report, print } = ctx;
  mkdirSync(topo.dir, { recursive: true });
  const statuses = await Promise.all([topo.origin, topo.target].map((n) => backend.status(n)));
  if (statuses.every((s) => s.state === 'running')) {
    const alive = await Promise.all([topo.origin, topo.target].map((n) => portOpen(n.address, n.port)));
    if (alive.every(Boolean)) {
      print(`environment ${topo.env} is already up: nothing to do (see zdm-lab infra status)`);
      return { alreadyUp: true, readyMs: {} };
    }
  }
  await backend.prepare(topo, report);
  const readyMs = await startNodes(ctx);
  await provisionOrigin(ctx);
  // Data outlives `infra down`, so say what Target really holds.
  const onTarget = await keyspaces(topo.target);
  const target = onTarget.length ? `keyspaces ${onTarget.join(', ')}; zdm-lab infra reset empties it` : 'empty';
  print(`environment ${topo.env} is up: Origin ${topo.origin.address}:${topo.origin.port} (seeded), Target ${topo.target.address}:${topo.target.port} (${target})`);
  return { alreadyUp: false, readyMs };
}

function formatUptime(startedAt: number | undefined): string {
  if (!startedAt) return '-';
  const s = Math.floor((Date.now() - startedAt) / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export interface StatusRow {
  component: string;
  address: string;
  state: 'up' | 'starting' | 'down';
  pid?: number;
  uptime: string;
  detail?: string;
}

async function componentRow(ctx: LabContext, component: ComponentSpec): Promise<StatusRow> {
  const status: ComponentStatus = await ctx.backend.status(component);
  const address = `${component.address}:${component.port}`;
  const base = { component: component.name, address, pid: status.pid, uptime: formatUptime(status.startedAt) };
  if (status.state === 'down') return { ...base, state: 'down', uptime: '-', detail: status.detail };
  if (component.kind === 'cassandra') {
    return { ...base, state: (await portOpen(component.address, component.port)) ? 'up' : 'starting' };
  }
  const health = await proxyReadiness(component);
  return { ...base, state: health?.status === 200 ? 'up' : 'starting', detail: health ? `readiness ${health.status}` : undefined };
}

export async function infraStatus(ctx: LabContext): Promise<StatusRow[]> {
  return Promise.all(components(ctx.topo).map((c) => componentRow(ctx, c)));
}

export function formatStatus(rows: StatusRow[]): string {
  const header = ['COMPONENT', 'ADDRESS', 'STATE', 'PID', 'UPTIME', 'DETAIL'];
  const table = rows.map((r) => [r.component, r.address, r.state, r.pid ? String(r.pid) : '-', r.uptime, r.detail ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  return [header, ...table].map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export async function infraDown(ctx: LabContext): Promise<void> {
  const { topo, backend, report } = ctx;
  await Promise.all(topo.proxies.map((p) => backend.stop(p)));
  report('proxies stopped');
  await Promise.all([topo.origin, topo.target].map((n) => backend.stop(n)));
  report('origin and target stopped');
}

/**
 * Frees what an idle environment holds without losing any data: the proxies
 * stop, and so do both nodes where the backend keeps a stopped node's data
 * (the embedded one; Docker removes a node's volume with its container, so
 * there the nodes keep running). `infra up` brings it all back.
 */
export async function infraStop(ctx: LabContext): Promise<void> {
  if (ctx.backend.keepsDataWhenStopped) return infraDown(ctx);
  await Promise.all(ctx.topo.proxies.map((p) => ctx.backend.stop(p)));
  ctx.report(`proxies stopped; origin and target keep running: the ${ctx.backend.name} backend would lose a stopped node's data`);
}

/** The seed rows as "user status" lines, sorted, read from seed.cql. */
function seedRows(): string[] {
  return [...readFileSync(SEED_FILE, 'utf8').matchAll(/VALUES \('([^']*)', '[^']*', '([^']*)'\)/g)].map((m) => `${m[1]} ${m[2]}`).sort();
}

/**
 * Back to the step-1 state, undoing only what differs from it, and without
 * restarting healthy JVMs: proxies stopped, proxy YAML back to its defaults,
 * no learner keyspace on Target, and on Origin only zdmapp with exactly the
 * seed rows. Returns what was not so (with `check`: what is not, and nothing
 * is changed), in words for the learner.
 */
export async function infraReset(ctx: LabContext, options: { check?: boolean } = {}): Promise<string[]> {
  const { topo, backend, report } = ctx;
  const check = options.check === true;
  const off: string[] = [];
  const running = (await Promise.all(topo.proxies.map(async (p) => ((await backend.status(p)).state === 'down' ? undefined : p)))).filter((p) => p !== undefined);
  if (running.length) {
    off.push(`proxies running (${running.map((p) => p.name).join(', ')})`);
    if (!check) {
      await Promise.all(running.map((p) => backend.stop(p)));
      report('proxies stopped');
    }
  }
  if (!proxyConfigIsDefault(topo)) {
    off.push(`the proxy configuration in ${topo.proxyConfigDir} differs from its defaults`);
    if (!check) {
      writeDefaultProxyConfig(topo);
      report(`proxy configuration restored in ${topo.proxyConfigDir}`);
    }
  }
  if (check) {
    const down = [];
    for (const node of [topo.origin, topo.target]) if ((await tryLogin(node)) !== undefined) down.push(node.name);
    if (down.length) return [...off, `${down.join(' and ')} ${down.length > 1 ? 'do' : 'does'} not accept logins`];
  } else {
    await backend.prepare(topo, report);
    await startNodes(ctx);
  }
  const drop = async (node: NodeSpec, names: string[]) => {
    if (check || names.length === 0) return;
    await withClient(node, async (client) => {
      for (const name of names) await client.execute(`DROP KEYSPACE IF EXISTS "${name}"`, [], { prepare: false });
    });
    report(`${node.name}: dropped keyspace${names.length > 1 ? 's' : ''} ${names.join(', ')}`);
  };
  const [onOrigin, onTarget] = await Promise.all([keyspaces(topo.origin), keyspaces(topo.target)]);
  if (onTarget.length) off.push(`Target holds keyspace${onTarget.length > 1 ? 's' : ''} ${onTarget.join(', ')} (from an earlier run)`);
  await drop(topo.target, onTarget);
  const extra = onOrigin.filter((k) => k !== 'zdmapp');
  if (extra.length) off.push(`Origin holds keyspace${extra.length > 1 ? 's' : ''} ${extra.join(', ')} besides zdmapp`);
  await drop(topo.origin, extra);
  let reseed = !onOrigin.includes('zdmapp');
  if (reseed) off.push('Origin has no zdmapp keyspace');
  else {
    const rows = await withClient(topo.origin, async (c) => (await c.execute('SELECT user, status FROM zdmapp.user_status', [], { fetchSize: 100_000 })).rows.map((r) => `${r.user} ${r.status}`).sort());
    const seed = seedRows();
    if (rows.join('\n') !== seed.join('\n')) {
      reseed = true;
      off.push(`Origin's zdmapp.user_status holds ${rows.length} rows, not only the ${seed.length} seed rows`);
    }
  }
  if (reseed && !check) {
    await drop(topo.origin, onOrigin.includes('zdmapp') ? ['zdmapp'] : []);
    await provisionOrigin(ctx, { force: true });
  }
  return off;
}
