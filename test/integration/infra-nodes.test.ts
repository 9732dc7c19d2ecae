/**
 * The embedded backend's Cassandra nodes, for real: `infra up` gives a seeded
 * Origin and an empty Target, a second `up` is a no-op, `status` tells the
 * truth after a crash, `reset` restores the step-1 state without restarting
 * healthy JVMs, `state save` and `state restore` bring back both clusters'
 * rows with their writetimes and the proxies' settings (and refuse a file
 * that is not a state, changing nothing), a bad proxy YAML is refused, and
 * `down` leaves no process.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { EnvironmentState } from '../../infra/commands/state.js';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CORE_FILE, writeDefaultProxyConfig } from '../../infra/config/proxy.js';
import { withClient } from '../../infra/cql/client.js';
import { labProcesses, zdmLab } from '../support/cli.js';
import { freshEnvironment, stopEnvironment } from '../support/lab.js';
import type { LabContext } from '../../infra/commands/environment.js';

const ENV = 2;
let ctx: LabContext;

async function rows(node: LabContext['topo']['origin'], cql: string): Promise<Record<string, unknown>[]> {
  return withClient(node, async (client) => (await client.execute(cql)).rows);
}

async function keyspaceNames(node: LabContext['topo']['origin']): Promise<string[]> {
  const result = await rows(node, 'SELECT keyspace_name FROM system_schema.keyspaces');
  return result.map((r) => String(r.keyspace_name)).filter((k) => !k.startsWith('system'));
}

describe('zdm-lab infra on real Cassandra 5.0 nodes', { timeout: 600_000 }, () => {
  before(async () => {
    ctx = await freshEnvironment(ENV);
  });
  after(async () => {
    if (ctx) await stopEnvironment(ctx);
  });

  test('infra up leaves Origin holding the seed rows and Target empty', async () => {
    const seed = await rows(ctx.topo.origin, 'SELECT user, status FROM zdmapp.user_status');
    assert.deepEqual(
      seed.map((r) => `${r.user}:${r.status}`).sort(),
      ['eva:commuting', 'eva:hiking', 'eva:lunch', 'marco:cooking'],
    );
    assert.deepEqual(await keyspaceNames(ctx.topo.target), []);
    const [cluster] = await rows(ctx.topo.target, 'SELECT cluster_name FROM system.local');
    assert.equal(cluster.cluster_name, 'target');
  });

  test('a second infra up on a running environment says so and changes nothing', async () => {
    const before = await zdmLab(['infra', 'status', '--env', String(ENV)]);
    const result = await zdmLab(['infra', 'up', '--env', String(ENV)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /already up/);
    const after = await zdmLab(['infra', 'status', '--env', String(ENV)]);
    const pids = (text: string) => text.split('\n').filter((l) => /^(origin|target) /.test(l)).map((l) => l.split(/\s+/)[3]);
    assert.deepEqual(pids(after.stdout), pids(before.stdout));
  });

  test('cqlsh runs real CQL against Origin', async () => {
    const result = await zdmLab(['cqlsh', 'origin', '--env', String(ENV), '-e', "SELECT status FROM zdmapp.user_status WHERE user = 'marco'"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /cooking/);
    assert.match(result.stdout, /\(1 rows\)/);
  });

  test('infra state save, then restore, brings back both clusters\' rows with their writetimes and the proxies\' settings; a file that is not a state changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'infra-state-'));
    const file = join(dir, 'state.json');
    const originRows = () =>
      rows(ctx.topo.origin, 'SELECT user, when, status, WRITETIME(status) AS wt FROM zdmapp.user_status').then((r) => r.map((x) => `${x.user} ${(x.when as Date).toISOString()} ${x.status} ${String(x.wt)}`).sort());
    try {
      // No proxy has been deployed yet: their files are not written, and the state takes their defaults.
      rmSync(ctx.topo.proxyConfigDir, { recursive: true, force: true });
      const saved = await zdmLab(['infra', 'state', 'save', file, '--env', String(ENV)]);
      assert.equal(saved.code, 0, saved.stdout + saved.stderr);
      const state = JSON.parse(readFileSync(file, 'utf8')) as EnvironmentState;
      assert.deepEqual([state.clusters.origin.zdmapp, state.clusters.origin.rows.length, state.clusters.target.zdmapp], [true, 4, false]);
      assert.deepEqual(state.proxy, { primary_cluster: 'ORIGIN', read_mode: 'PRIMARY_ONLY', log_level: 'INFO' });
      const before = await originRows();

      // What a learner does after that point: a row more on Origin, a keyspace on Target, a proxy setting.
      await withClient(ctx.topo.origin, (c) => c.execute("INSERT INTO zdmapp.user_status (user, when, status) VALUES ('zoe', toTimestamp(now()), 'new')"));
      await withClient(ctx.topo.target, (c) => c.execute("CREATE KEYSPACE zdmapp WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"));
      assert.equal((await zdmLab(['proxy', 'config', 'set', 'read_mode=DUAL_ASYNC_ON_SECONDARY', '--env', String(ENV)])).code, 0);

      writeFileSync(join(dir, 'broken.json'), '{"format": "zdm-lab-state/0"}');
      const refused = await zdmLab(['infra', 'state', 'restore', join(dir, 'broken.json'), '--env', String(ENV)]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stdout + refused.stderr, /broken\.json is not a state zdm-lab infra state save wrote: its format is "zdm-lab-state\/0", not zdm-lab-state\/1/);
      assert.equal((await originRows()).length, 5, 'the refused file changed nothing');

      const restored = await zdmLab(['infra', 'state', 'restore', file, '--env', String(ENV)]);
      assert.equal(restored.code, 0, restored.stdout + restored.stderr);
      assert.deepEqual(await originRows(), before, 'Origin holds exactly the saved rows, with their writetimes');
      assert.deepEqual(await keyspaceNames(ctx.topo.target), []);
      const config = await zdmLab(['proxy', 'config', 'show', '--env', String(ENV)]);
      assert.match(config.stdout, /"read_mode": "PRIMARY_ONLY"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a proxy YAML with an unknown value or key is refused with file and line', async () => {
    const file = join(ctx.topo.proxyConfigDir, CORE_FILE);
    writeDefaultProxyConfig(ctx.topo);
    writeFileSync(file, 'primary_cluster: ORIGIN\nread_mode: FOO\nlog_level: INFO\nspeed: fast\n');
    const result = await zdmLab(['proxy', 'rolling-update', '--env', String(ENV)]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${CORE_FILE}:2: read_mode: FOO is not valid \\(use one of PRIMARY_ONLY, DUAL_ASYNC_ON_SECONDARY\\)`));
    assert.match(result.stderr, new RegExp(`${CORE_FILE}:4: unknown key "speed"`));
    assert.match(result.stderr, /no proxy was touched/);
    writeDefaultProxyConfig(ctx.topo);
  });

  test('infra reset restores the step-1 state without restarting healthy nodes', async () => {
    const pidsBefore = await Promise.all([ctx.topo.origin, ctx.topo.target].map((n) => ctx.backend.status(n)));
    await withClient(ctx.topo.origin, (c) => c.execute("INSERT INTO zdmapp.user_status (user, when, status) VALUES ('zoe', toTimestamp(now()), 'extra')"));
    await withClient(ctx.topo.target, (c) =>
      c.execute("CREATE KEYSPACE learner WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"),
    );
    const check = await zdmLab(['infra', 'reset', '--check', '--env', String(ENV)]);
    assert.equal(check.code, 1, check.stderr);
    assert.match(check.stdout, /is not in the step-1 state: Target holds keyspace learner \(from an earlier run\); Origin's zdmapp\.user_status holds 5 rows, not only the 4 seed rows\. zdm-lab infra reset brings it there/);
    const result = await zdmLab(['infra', 'reset', '--env', String(ENV)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /back to the start of step 1 \(undone: Target holds keyspace learner \(from an earlier run\); Origin's zdmapp\.user_status holds 5 rows/);
    const again = await zdmLab(['infra', 'reset', '--check', '--env', String(ENV)]);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /is in the step-1 state/);
    const seed = await rows(ctx.topo.origin, 'SELECT user FROM zdmapp.user_status');
    assert.equal(seed.length, 4);
    assert.deepEqual(await keyspaceNames(ctx.topo.target), []);
    const pidsAfter = await Promise.all([ctx.topo.origin, ctx.topo.target].map((n) => ctx.backend.status(n)));
    assert.deepEqual(pidsAfter.map((s) => s.pid), pidsBefore.map((s) => s.pid));
  });

  test('infra status shows a killed node as down, and reset brings it back', async () => {
    const origin = await ctx.backend.status(ctx.topo.origin);
    assert.ok(origin.pid);
    process.kill(origin.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const status = await zdmLab(['infra', 'status', '--env', String(ENV)]);
    const line = status.stdout.split('\n').find((l) => l.startsWith('origin '));
    assert.match(line ?? '', /^origin\s+127\.0\.2\.1:9042\s+down\s/);
    const reset = await zdmLab(['infra', 'reset', '--env', String(ENV)]);
    assert.equal(reset.code, 0, reset.stderr);
    const back = await zdmLab(['infra', 'status', '--env', String(ENV)]);
    assert.match(back.stdout, /^origin\s+127\.0\.2\.1:9042\s+up\s/m);
    assert.equal((await rows(ctx.topo.origin, 'SELECT user FROM zdmapp.user_status')).length, 4);
  });

  test('infra down leaves no lab process behind', async () => {
    assert.ok(labProcesses(ctx.topo.dir).length >= 2);
    const result = await zdmLab(['infra', 'down', '--env', String(ENV)]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(labProcesses(ctx.topo.dir), []);
    const status = await zdmLab(['infra', 'status', '--env', String(ENV)]);
    assert.equal(status.stdout.split('\n').filter((l) => /\sdown\s/.test(l)).length, 5);
  });
});
