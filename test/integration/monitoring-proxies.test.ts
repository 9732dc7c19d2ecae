/**
 * The lab's monitoring figures (`GET /api/env/7/monitoring`, what the
 * Monitoring tab draws) against three real zdm-proxy instances, the real
 * sample API and a steady writer and reader, through the phases the way the
 * course moves through them: Origin only, then writes on both clusters with
 * reads only on Origin, async reads after the phase 3 change, reads moving
 * to Target in phase 4, and a killed proxy shown down within 5 s. Then
 * `zdm-lab monitoring up` starts the real Prometheus, which scrapes the same
 * proxies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SCHEMA_FILE, type LabContext } from '../../infra/commands/environment.js';
import { runCqlFile, withClient } from '../../infra/cql/client.js';
import type { MonitoringSnapshot } from '../../infra/monitoring/sampler.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { zdmLab } from '../support/cli.js';
import { freshEnvironment, stopEnvironment, zdmProxyUnavailable } from '../support/lab.js';
import { required } from '../support/requirement.js';
import { connectionText, http, startApi, type ApiProcess } from '../support/sample-api.js';

const ENV = 7;
const API = `http://127.0.${ENV}.20:8000`;
const root = new URL('../..', import.meta.url).pathname;
const skip = await zdmProxyUnavailable();
const prometheusMissing = required(
  'Prometheus',
  (await import('node:child_process')).spawnSync('sh', ['-c', 'command -v prometheus']).status === 0 ? undefined : 'prometheus is not installed (apt-get install prometheus)',
);

let ctx: LabContext;
let lab: LabServer;
let api: ApiProcess;
let dataDir: string;
let modeFile: string;
let traffic: { stop(): Promise<void>; failures: string[]; writes: number; reads: number };

async function monitoring(path = `/api/env/${ENV}/monitoring`, token: string | null = lab.token): Promise<{ status: number; body: any }> {
  const res = await fetch(`${lab.url.replace(/\/$/, '')}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

async function snapshot(): Promise<MonitoringSnapshot> {
  const { status, body } = await monitoring();
  assert.equal(status, 200, JSON.stringify(body));
  return body as MonitoringSnapshot;
}

/** Polls the figures until `ok` holds; fails with what the figures said last. */
async function until(what: string, ok: (s: MonitoringSnapshot) => boolean, timeoutMs = 60_000): Promise<MonitoringSnapshot> {
  const deadline = Date.now() + timeoutMs;
  let last: MonitoringSnapshot | undefined;
  while (Date.now() < deadline) {
    last = await snapshot();
    if (ok(last)) return last;
    await sleep(500);
  }
  throw new Error(`${what}: not seen within ${timeoutMs / 1000} s; last figures: ${JSON.stringify({ routing: last?.routing.title, now: last?.now, proxies: last?.proxies.map((p) => [p.name, p.up, p.error]) })}`);
}

/** The sum of a series over its latest `n` points. */
function recent(values: (number | null)[], n: number): number {
  return values.slice(-n).reduce<number>((t, v) => t + (v ?? 0), 0);
}

/** A writer and a reader through the API, each about 8 requests a second. */
function startTraffic() {
  let running = true;
  const state = { failures: [] as string[], writes: 0, reads: 0 };
  const loop = async (kind: 'writes' | 'reads') => {
    for (let i = 0; running; i++) {
      const started = Date.now();
      try {
        const a = kind === 'writes' ? await http('POST', `${API}/status/monitor/w${i}`) : await http('GET', `${API}/status/monitor`);
        if (a.status === 200) state[kind]++;
        else state.failures.push(`${kind} ${i}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
      } catch (error) {
        state.failures.push(`${kind} ${i}: ${(error as Error).message}`);
      }
      await sleep(Math.max(0, 125 - (Date.now() - started)));
    }
  };
  const done = Promise.all([loop('writes'), loop('reads')]);
  return {
    get failures() {
      return state.failures;
    },
    get writes() {
      return state.writes;
    },
    get reads() {
      return state.reads;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

describe('the lab monitoring figures on real proxies and traffic', { skip, timeout: 1_200_000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'lab-monitoring-'));
    // The lab's environment 7 works in <dataDir>/7; the course's API reads its mode from there.
    mkdirSync(join(dataDir, String(ENV)), { recursive: true });
    modeFile = join(dataDir, String(ENV), 'client-connection-mode');
    writeFileSync(modeFile, connectionText(ENV, 'ORIGIN'));
    ctx = await freshEnvironment(ENV);
    await withClient(ctx.topo.target, (c) => runCqlFile(c, SCHEMA_FILE));
    const deploy = await zdmLab(['proxy', 'deploy', '--env', String(ENV)]);
    assert.equal(deploy.code, 0, deploy.stderr);
    api = startApi({ LAB_ENV: String(ENV), CLIENT_CONNECTION_MODE_FILE: modeFile });
    await api.waitForOutput(/connected to ORIGIN/, 60_000);
    lab = await startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, runSetup: false, environmentId: ENV });
    traffic = startTraffic();
  });
  after(async () => {
    await traffic?.stop();
    await lab?.close();
    await api?.stop();
    await zdmLab(['monitoring', 'down', '--env', String(ENV)]);
    if (ctx) await stopEnvironment(ctx);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('the figures need a token, and a learner\'s token opens only their own environment\'s', async () => {
    assert.equal((await monitoring(undefined, null)).status, 403);
    const other = await monitoring('/api/env/1/monitoring');
    assert.equal(other.status, 403);
    assert.deepEqual(other.body, { error: 'your access token does not open environment 1' });
    const none = await monitoring('/api/env/1/monitoring', lab.instructorToken);
    assert.deepEqual([none.status, none.body], [404, { error: 'no environment 1' }]);
  });

  test('phase 0: the API on Origin, three proxies up and idle', async () => {
    const s = await until('phase 0 with three proxies up', (x) => x.routing.phase === 0 && x.proxies.every((p) => p.up) && x.series.time.length >= 2);
    assert.equal(s.routing.title, 'Phase 0: the API on Origin');
    assert.equal(s.routing.apiTarget, 'origin');
    assert.deepEqual(s.routing.api, { mode: 'ORIGIN', running: true, source: 'api' });
    assert.deepEqual(s.proxies.map((p) => p.address), ['127.0.7.11', '127.0.7.12', '127.0.7.13']);
    assert.equal(s.now.requests.writes.ratePerSecond, 0, 'no request goes through the proxies');
  });

  test('phase 1: writes show on both clusters and reads only on Origin', async () => {
    writeFileSync(modeFile, connectionText(ENV, 'ZDM_PROXY'));
    const s = await until(
      'writes through the proxies on both clusters',
      (x) => x.routing.phase === 1 && recent(x.series.clusterRequestsPerSecond.target.writes, 3) > 0 && recent(x.series.requests.reads_origin.ratePerSecond, 3) > 0,
    );
    assert.equal(s.routing.title, 'Phase 1–2: dual writes through the proxies');
    assert.ok(s.now.requests.writes.ratePerSecond! > 0);
    assert.ok(recent(s.series.clusterRequestsPerSecond.origin.writes, 3) > 0, 'writes reach Origin');
    assert.ok(recent(s.series.clusterRequestsPerSecond.target.writes, 3) > 0, 'writes reach Target');
    assert.equal(recent(s.series.requests.reads_target.ratePerSecond, 300), 0, 'no read is answered by Target');
    assert.equal(recent(s.series.clusterRequestsPerSecond.target.reads, 300), 0, 'no read is sent to Target');
    assert.equal(recent(s.series.requests.async_reads.ratePerSecond, 300), 0, 'no async read yet');
    assert.ok(s.now.requests.writes.p99Ms! > 0 && s.now.requests.writes.p99Ms! >= s.now.requests.writes.p50Ms!, JSON.stringify(s.now.requests.writes));
    assert.ok(s.now.requests.reads_origin.p50Ms! > 0);
    assert.equal(s.now.requests.reads_target.p50Ms, null, 'no latency without reads');
    for (const p of s.routing.proxies) assert.deepEqual([p.writes, p.reads, p.asyncReads], [['origin', 'target'], 'origin', null]);
    assert.ok(s.proxies.reduce((t, p) => t + (p.clientConnections ?? 0), 0) > 0, 'the API holds client connections');
  });

  test('phase 3: after read_mode DUAL_ASYNC_ON_SECONDARY and a rolling update, async reads appear', async () => {
    assert.equal((await zdmLab(['proxy', 'config', 'set', 'read_mode=DUAL_ASYNC_ON_SECONDARY', '--env', String(ENV)])).code, 0);
    const update = await zdmLab(['proxy', 'rolling-update', '--pause', '1', '--env', String(ENV)]);
    assert.equal(update.code, 0, update.stderr);
    const s = await until('async reads', (x) => x.routing.phase === 3 && x.proxies.every((p) => p.up) && recent(x.series.requests.async_reads.ratePerSecond, 3) > 0);
    assert.equal(s.routing.title, 'Phase 3: asynchronous dual reads');
    assert.ok(s.now.requests.async_reads.p99Ms !== null, 'async read latency is known');
    assert.deepEqual(s.routing.proxies.map((p) => p.asyncReads), ['target', 'target', 'target']);
    assert.ok(recent(s.series.requests.reads_origin.ratePerSecond, 3) > 0, 'reads are still answered by Origin');
  });

  test('phase 4: after primary_cluster TARGET, reads_target grows and reads_origin stops', async () => {
    assert.equal((await zdmLab(['proxy', 'config', 'set', 'primary_cluster=TARGET', 'read_mode=PRIMARY_ONLY', '--env', String(ENV)])).code, 0);
    const update = await zdmLab(['proxy', 'rolling-update', '--pause', '1', '--env', String(ENV)]);
    assert.equal(update.code, 0, update.stderr);
    const s = await until(
      'reads answered by Target only',
      (x) => x.routing.phase === 4 && x.proxies.every((p) => p.up) && recent(x.series.requests.reads_target.ratePerSecond, 3) > 0 && recent(x.series.requests.reads_origin.ratePerSecond, 3) === 0,
    );
    assert.equal(s.routing.title, 'Phase 4: Target is primary');
    assert.ok(s.now.requests.reads_target.p50Ms! > 0);
    assert.ok(recent(s.series.requests.reads_origin.ratePerSecond, 300) > 0, 'the 10-minute series still shows the earlier reads from Origin');
    assert.ok(recent(s.series.clusterRequestsPerSecond.origin.writes, 3) > 0, 'writes still reach Origin');
    assert.deepEqual(traffic.failures, [], 'no request of the API failed through the rolling updates');
  });

  test('a killed proxy shows down within 5 s, and the others carry the traffic', async () => {
    const proxy = ctx.topo.proxies[2]!;
    const { pid } = await ctx.backend.status(proxy);
    assert.ok(pid, `${proxy.name} is running`);
    const killedAt = Date.now();
    process.kill(-pid!, 'SIGKILL');
    const s = await until(`${proxy.name} down`, (x) => x.proxies[2]!.up === false, 5000);
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(seconds <= 5, `shown down after ${seconds} s`);
    assert.match(s.proxies[2]!.error!, /127\.0\.7\.13:14001\/metrics: (connection refused|the connection was closed)/);
    assert.deepEqual(s.series.up[proxy.name]!.slice(-1), [0]);
    assert.equal(s.routing.phase, 4);
    assert.match(s.routing.detail, /1 of 3 proxies are down: the others carry the traffic/);
    console.log(`proxy killed: shown down after ${seconds.toFixed(1)} s; ${traffic.writes} writes and ${traffic.reads} reads through the API so far`);
  });

  test('zdm-lab monitoring up starts the real Prometheus, which scrapes the proxies', { skip: prometheusMissing }, async () => {
    const up = await zdmLab(['monitoring', 'up', '--env', String(ENV)]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /Prometheus is up on http:\/\/127\.0\.7\.30:9090, scraping 127\.0\.7\.11:14001, 127\.0\.7\.12:14001, 127\.0\.7\.13:14001 every 2 s/);
    const query = async (q: string) => (await http('GET', `http://127.0.7.30:9090/api/v1/query?query=${encodeURIComponent(q)}`)).body.data.result as { metric: Record<string, string>; value: [number, string] }[];
    // Its data folder outlives a stop, so the first answers may still be an earlier run's: wait for a fresh scrape.
    const expected = [['127.0.7.11:14001', '1'], ['127.0.7.12:14001', '1'], ['127.0.7.13:14001', '0']];
    const deadline = Date.now() + 30_000;
    let seen: string[][] = [];
    while (Date.now() < deadline) {
      seen = (await query('up{job="zdm-proxy"}')).map((r) => [r.metric.instance!, r.value[1]]).sort();
      if (JSON.stringify(seen) === JSON.stringify(expected)) break;
      await sleep(1000);
    }
    assert.deepEqual(seen, expected, 'the killed proxy is down for Prometheus too');
    const writes = await query('sum(zdm_proxy_request_duration_seconds_count{type="writes"})');
    assert.ok(Number(writes[0]?.value[1]) > 0, 'Prometheus sees the writes');
    assert.match((await zdmLab(['monitoring', 'status', '--env', String(ENV)])).stdout, /^Prometheus: running \(pid \d+\) on http:\/\/127\.0\.7\.30:9090/);
    const down = await zdmLab(['monitoring', 'down', '--env', String(ENV)]);
    assert.equal(down.stdout.trim(), 'Prometheus of environment 7 stopped');
    assert.match((await zdmLab(['monitoring', 'status', '--env', String(ENV)])).stdout, /^Prometheus: not running/);
  });
});

