/**
 * Three real zdm-proxy instances in front of real Origin and Target nodes:
 * dual writes, routing of reads by primary_cluster, a rolling update under a
 * steady load with zero client errors, refusal of a bad YAML with the
 * running proxies untouched, and nothing left after `infra down`. A second
 * client, independent of the Node.js driver, goes through the proxies too:
 * the DataStax Python driver from the cqlsh virtualenv, with protocol v4
 * (its rows land on both clusters) and v5 (what happens is recorded as a
 * finding; the course pins clients to v4 because of it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type cassandra from 'cassandra-driver';
import { PYTHON_DRIVER_VERSION, venvPython } from '../../infra/artifacts/cqlsh.js';
import { ZDM_PROXY_VERSION } from '../../infra/artifacts/zdm-proxy.js';
import { SCHEMA_FILE, type LabContext } from '../../infra/commands/environment.js';
import { CLUSTER_FILE } from '../../infra/config/proxy.js';
import { cqlClient, runCqlFile, tryLogin, withClient } from '../../infra/cql/client.js';
import type { ClusterName } from '../../infra/topology.js';
import { credentialsOf, DEFAULT_CREDENTIALS } from '../../infra/credentials.js';
import { labProcesses, zdmLab } from '../support/cli.js';
import { recordFinding } from '../support/findings.js';
import { freshEnvironment, stopEnvironment, zdmProxyUnavailable } from '../support/lab.js';
import { apiLoginVariables } from '../support/sample-api.js';

const ENV = 2;
const skip = await zdmProxyUnavailable();
let ctx: LabContext;
let client: cassandra.Client;

const ROW = "SELECT status FROM zdmapp.user_status WHERE user = ? AND when = ?";

async function statusOn(node: LabContext['topo']['origin'], user: string, when: Date): Promise<string | undefined> {
  return withClient(node, async (c) => (await c.execute(ROW, [user, when])).first()?.status as string | undefined);
}

async function proxyPids(): Promise<(number | undefined)[]> {
  return Promise.all(ctx.topo.proxies.map(async (p) => (await ctx.backend.status(p)).pid));
}

const PYTHON_CLIENT = new URL('../support/python-client.py', import.meta.url).pathname;

interface PythonRun {
  code: number | null;
  /** What the script printed once it had written and read: the protocol it ran, the hosts it saw, its rows. */
  result?: { protocol: number; hosts: string[]; written: string[]; read: string[] };
  /** The last line of the driver's traceback: what the application's user sees when it fails. */
  error: string;
  stderr: string;
}

/** Runs test/support/python-client.py with the cqlsh virtualenv's python and a cluster's login (Target's through the proxies: they hand the client's login to Target). */
function pythonClient(contactPoints: string[], protocol: '4' | '5' | 'default', user: string, login: ClusterName = 'target'): Promise<PythonRun> {
  const args = [PYTHON_CLIENT, '--contact-points', contactPoints.join(','), '--protocol', protocol, '--user', user, '--rows', '20'];
  return new Promise((resolve, reject) => {
    const child = spawn(venvPython(), args, { env: { ...process.env, ...apiLoginVariables(credentialsOf(ENV, login)) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').at(-1);
      resolve({
        code,
        result: code === 0 && line ? JSON.parse(line) : undefined,
        error: stderr.trim().split('\n').at(-1) ?? '',
        stderr,
      });
    });
  });
}

/** One run in words, for the findings. */
function outcome(run: PythonRun): string {
  if (run.code === 0) return `works (v${run.result!.protocol}, ${run.result!.read.length} rows read back)`;
  const unavailable = /NoHostAvailable: \('([^']+)'/.exec(run.error)?.[1];
  if (unavailable === undefined) return `fails: ${run.error.slice(0, 200)}`;
  return `fails with NoHostAvailable ("${unavailable}")${/CRC mismatch on header/.test(run.error) ? ', "CRC mismatch on header"' : ''}`;
}

async function statusesOn(node: LabContext['topo']['origin'], user: string): Promise<string[]> {
  return withClient(node, async (c) => (await c.execute('SELECT status FROM zdmapp.user_status WHERE user = ?', [user])).rows.map((r) => String(r.status)).sort());
}

describe('zdm-lab proxy with the real zdm-proxy', { skip, timeout: 900_000 }, () => {
  before(async () => {
    ctx = await freshEnvironment(ENV);
    await withClient(ctx.topo.target, (c) => runCqlFile(c, SCHEMA_FILE));
  });
  after(async () => {
    await client?.shutdown().catch(() => {});
    if (ctx) await stopEnvironment(ctx);
  });

  test('proxy deploy starts three ready proxies that log their configuration', async () => {
    const result = await zdmLab(['proxy', 'deploy', '--env', String(ENV)]);
    assert.equal(result.code, 0, result.stderr);
    for (const proxy of ctx.topo.proxies) {
      assert.match(result.stdout, new RegExp(`${proxy.name}: ready on ${proxy.address.replaceAll('.', '\\.')}:9042`));
      const health = await fetch(`http://${proxy.address}:14001/health/readiness`);
      assert.equal(health.status, 200);
      const body = (await health.json()) as { Status: string; OriginStatus: { Status: string }; TargetStatus: { Status: string } };
      assert.deepEqual([body.Status, body.OriginStatus.Status, body.TargetStatus.Status], ['UP', 'UP', 'UP']);
    }
    const logs = await zdmLab(['proxy', 'logs', '2', '--env', String(ENV)]);
    assert.match(logs.stdout, /Parsed configuration: \{.*ReadMode\\":\\"PRIMARY_ONLY/);
    assert.match(logs.stdout, /Proxy connected and ready to accept queries on 127\.0\.2\.12:9042/);
    client = cqlClient(ctx.topo.proxies[0]);
    await client.connect();
  });

  test('a write through the proxies lands on Origin and on Target', async () => {
    const when = new Date();
    await client.execute('INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)', ['dual', when, 'both']);
    assert.equal(await statusOn(ctx.topo.origin, 'dual', when), 'both');
    assert.equal(await statusOn(ctx.topo.target, 'dual', when), 'both');
  });

  test('the Python driver, a second client, writes through the three proxies with protocol v4 and its rows are on Origin and on Target', async () => {
    const proxies = ctx.topo.proxies.map((p) => p.address);
    const run = await pythonClient(proxies, '4', 'python-v4');
    assert.equal(run.code, 0, run.stderr);
    const { protocol, hosts, written, read } = run.result!;
    assert.equal(protocol, 4);
    assert.deepEqual(hosts, proxies.map((a) => `${a}:9042`).sort(), 'the driver sees the three proxies as the nodes of its cluster');
    assert.equal(written.length, 20);
    assert.deepEqual([...read].sort(), [...written].sort(), 'it reads its own writes back through the proxies');
    assert.deepEqual(await statusesOn(ctx.topo.origin, 'python-v4'), [...written].sort(), 'every row it wrote is on Origin');
    assert.deepEqual(await statusesOn(ctx.topo.target, 'python-v4'), [...written].sort(), 'every row it wrote is on Target');
  });

  test('protocol v5: the Python driver works with Cassandra 5.0 directly, and fails through the proxies (recorded as a finding)', async () => {
    const direct = await pythonClient([ctx.topo.origin.address], '5', 'python-v5-direct', 'origin');
    const v5 = await pythonClient(ctx.topo.proxies.map((p) => p.address), '5', 'python-v5');
    const negotiated = await pythonClient(ctx.topo.proxies.map((p) => p.address), 'default', 'python-default');
    // a request can reach both clusters even though the driver could not read its answer
    const landed = (await statusesOn(ctx.topo.origin, 'python-v5')).length;
    const finding =
      `Python driver ${PYTHON_DRIVER_VERSION} through zdm-proxy ${ZDM_PROXY_VERSION}: protocol_version=5: ${outcome(v5)} ` +
      `(${landed} of its writes on Origin); default settings: ${outcome(negotiated)}; v5 straight to Cassandra 5.0: ${outcome(direct)}`;
    recordFinding('python-driver-v5', finding);
    console.log(`# ${finding}`);

    assert.equal(direct.code, 0, `v5 straight to Origin: ${direct.stderr}`);
    assert.equal(direct.result!.protocol, 5);
    const fixed = 'the course pins its clients to v4 because of this (steps/step6.md): revisit that';
    assert.notEqual(v5.code, 0, `protocol_version=5 through the proxies now works (${outcome(v5)}): ${fixed}`);
    // it fails while connecting or at its first request, depending on which connection reads a v5 frame first
    assert.match(v5.error, /^cassandra\.cluster\.NoHostAvailable: \('Unable to (connect to any servers|complete the operation against any hosts)'/, v5.stderr);
    assert.match(v5.error, /CRC mismatch on header/, v5.stderr);
    assert.notEqual(negotiated.code, 0, `the driver's default settings now work through the proxies (${outcome(negotiated)}): ${fixed}`);
    assert.match(negotiated.error, /^cassandra\.cluster\.NoHostAvailable: .*CRC mismatch on header/, negotiated.stderr);
  });

  test('with primary_cluster ORIGIN a read through the proxies returns the Origin row', async () => {
    const when = new Date('2024-01-01T00:00:00Z');
    const insert = 'INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)';
    await withClient(ctx.topo.origin, (c) => c.execute(insert, ['route', when, 'from-origin']));
    await withClient(ctx.topo.target, (c) => c.execute(insert, ['route', when, 'from-target']));
    assert.equal((await client.execute(ROW, ['route', when])).first()?.status, 'from-origin');
  });

  test('a bad YAML is refused and leaves the running proxies untouched', async () => {
    const file = join(ctx.topo.proxyConfigDir, CLUSTER_FILE);
    const good = readFileSync(file, 'utf8');
    const pids = await proxyPids();
    writeFileSync(file, good.replace(/^target_port: .*$/m, 'target_port: ninety'));
    const result = await zdmLab(['proxy', 'rolling-update', '--env', String(ENV)]);
    writeFileSync(file, good);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /zdm_proxy_cluster_config\.yml:\d+: target_port: ninety is not a port number/);
    assert.deepEqual(await proxyPids(), pids);
  });

  test("the cluster file holds each cluster's own login, and a login the node refuses stops a rolling update before it touches a proxy", async () => {
    const file = join(ctx.topo.proxyConfigDir, CLUSTER_FILE);
    const good = readFileSync(file, 'utf8');
    const origin = credentialsOf(ENV, 'origin');
    const target = credentialsOf(ENV, 'target');
    assert.notEqual(origin.password, target.password);
    assert.match(good, new RegExp(`^origin_username: cassandra\\norigin_password: ${origin.password}$`, 'm'));
    assert.match(good, new RegExp(`^target_username: target_admin\\ntarget_password: ${target.password}$`, 'm'));
    // Each cluster takes its own login only.
    assert.equal(await tryLogin(ctx.topo.target, target), undefined);
    assert.match((await tryLogin(ctx.topo.target, origin)) ?? 'logged in', /Provided username cassandra and\/or password are incorrect/);
    assert.match((await tryLogin(ctx.topo.origin, target)) ?? 'logged in', /Provided username target_admin and\/or password are incorrect/);
    assert.match((await tryLogin(ctx.topo.target, DEFAULT_CREDENTIALS)) ?? 'logged in', /Provided username cassandra and\/or password are incorrect/, "Target's default superuser is closed");
    const pids = await proxyPids();
    writeFileSync(file, good.replace(/^target_password: .*$/m, 'target_password: cassandra'));
    const result = await zdmLab(['proxy', 'rolling-update', '--env', String(ENV)]);
    writeFileSync(file, good);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /target refuses the login of target_username\/target_password in zdm_proxy_cluster_config\.yml: this environment's target login is shown by zdm-lab env \(TARGET_USERNAME, TARGET_PASSWORD\)/);
    assert.deepEqual(await proxyPids(), pids);
  });

  test('a rolling update to primary_cluster TARGET under steady load has zero client errors', async () => {
    const set = await zdmLab(['proxy', 'config', 'set', 'primary_cluster=TARGET', '--env', String(ENV)]);
    assert.equal(set.code, 0, set.stderr);
    const pidsBefore = await proxyPids();

    const acknowledged: Date[] = [];
    const errors: string[] = [];
    let reads = 0;
    let running = true;
    const insert = 'INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)';
    const writer = (async () => {
      for (let i = 0; running; i++) {
        const when = new Date(Date.UTC(2030, 0, 1) + i);
        const tick = sleep(25); // 40 writes/s
        client.execute(insert, ['load', when, `w${i}`]).then(
          () => acknowledged.push(when),
          (e: Error) => errors.push(`write ${i}: ${e.message}`),
        );
        await tick;
      }
    })();
    const reader = (async () => {
      while (running) {
        const tick = sleep(50); // 20 reads/s
        client.execute("SELECT status FROM zdmapp.user_status WHERE user = 'eva' LIMIT 1").then(
          () => reads++,
          (e: Error) => errors.push(`read: ${e.message}`),
        );
        await tick;
      }
    })();

    const update = await zdmLab(['proxy', 'rolling-update', '--pause', '2', '--env', String(ENV)]);
    running = false;
    await Promise.all([writer, reader]);
    await sleep(2000); // let the last requests answer

    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /proxy-1: stopping[\s\S]*proxy-1: ready[\s\S]*proxy-2: stopping[\s\S]*proxy-3: ready/);
    const pidsAfter = await proxyPids();
    pidsAfter.forEach((pid, i) => assert.notEqual(pid, pidsBefore[i], `${ctx.topo.proxies[i].name} was not restarted`));
    assert.deepEqual(errors, []);
    assert.ok(acknowledged.length > 100, `only ${acknowledged.length} writes were acknowledged`);
    assert.ok(reads > 50, `only ${reads} reads answered`);

    for (const node of [ctx.topo.origin, ctx.topo.target]) {
      const stored = await withClient(node, async (c) => {
        const rs = await c.execute("SELECT when FROM zdmapp.user_status WHERE user = 'load'", [], { fetchSize: 100000 });
        return new Set(rs.rows.map((r) => (r.when as Date).getTime()));
      });
      const missing = acknowledged.filter((w) => !stored.has(w.getTime()));
      assert.equal(missing.length, 0, `${missing.length} acknowledged writes missing on ${node.name}`);
    }
    console.log(`rolling update under load: ${acknowledged.length} writes and ${reads} reads acknowledged, 0 errors`);
  });

  test('after the update to primary_cluster TARGET a read returns the Target row', async () => {
    const status = await zdmLab(['proxy', 'status', '--env', String(ENV)]);
    assert.equal(status.stdout.split('\n').filter((l) => l.includes('TARGET/PRIMARY_ONLY')).length, 3, status.stdout);
    assert.equal((await client.execute(ROW, ['route', new Date('2024-01-01T00:00:00Z')])).first()?.status, 'from-target');
  });

  test('infra down stops the proxies and the nodes, leaving no process', async () => {
    await client.shutdown();
    const result = await zdmLab(['infra', 'down', '--env', String(ENV)]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(labProcesses(ctx.topo.dir), []);
  });
});

