/**
 * The Docker backend's Cassandra nodes, for real, through the zdm-lab command
 * line as a learner uses it: `infra up --backend docker` gives a seeded
 * Origin and an empty Target in containers reached on the same loopback
 * addresses as the embedded backend, later commands keep using Docker
 * without naming it, cqlsh runs inside the node, status and reset behave as
 * on the embedded backend, a daemon that does not answer or an image that
 * cannot be had gives one clear error, and `down` removes exactly what the
 * lab labelled. Runs on environment 6 against a dockerd started here, with
 * locally built images carrying the real Cassandra 5.0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerClient } from '../../infra/backends/docker-daemon.js';
import { withClient } from '../../infra/cql/client.js';
import { topology } from '../../infra/topology.js';
import { zdmLab } from '../support/cli.js';
import { dockerLab, labelled, type DockerSetup } from '../support/docker.js';

const ENV = 6;
const topo = topology(ENV);
const lab = await dockerLab();
const skip = typeof lab === 'string' ? lab : undefined;
const setup = lab as DockerSetup;
const env = ['--env', String(ENV)];

async function rows(node: typeof topo.origin, cql: string): Promise<Record<string, unknown>[]> {
  return withClient(node, async (client) => (await client.execute(cql)).rows);
}

async function keyspaceNames(node: typeof topo.origin): Promise<string[]> {
  const result = await rows(node, 'SELECT keyspace_name FROM system_schema.keyspaces');
  return result.map((r) => String(r.keyspace_name)).filter((k) => !k.startsWith('system'));
}

function statusLine(stdout: string, component: string): string {
  return stdout.split('\n').find((l) => l.startsWith(`${component} `)) ?? '';
}

describe('zdm-lab infra on the Docker backend', { skip, timeout: 900_000 }, () => {
  before(async () => {
    // an environment left over from an interrupted run
    await zdmLab(['infra', 'down', '--backend', 'docker', ...env]);
  });
  after(async () => {
    if (skip) return;
    await zdmLab(['infra', 'down', '--backend', 'docker', ...env]);
    await setup.stop();
  });

  test('a daemon that does not answer gives one clear line', async () => {
    const result = await zdmLab(['infra', 'up', '--backend', 'docker', ...env], { DOCKER_HOST: 'unix:///tmp/zdm-lab-no-daemon.sock' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^zdm-lab: the Docker daemon does not answer at unix:\/\/\/tmp\/zdm-lab-no-daemon\.sock \(.*\): start Docker/m);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  test('an image that cannot be had gives one clear line and creates nothing', async () => {
    const result = await zdmLab(['infra', 'up', '--backend', 'docker', ...env], { ZDM_LAB_ORIGIN_IMAGE: 'zdm-lab-local/no-such-cassandra:1' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /zdm-lab: image zdm-lab-local\/no-such-cassandra:1 \(Origin\) is not on this machine and could not be pulled: .+ set ZDM_LAB_ORIGIN_IMAGE to an image you have/);
    assert.deepEqual(await labelled(ENV), { containers: [], networks: [], volumes: [] });
  });

  test('infra up --backend docker starts Origin (seeded) and Target (empty) on the environment addresses', async () => {
    const result = await zdmLab(['infra', 'up', '--backend', 'docker', ...env]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /environment 6 is up: Origin 127\.0\.6\.1:9042 \(seeded\), Target 127\.0\.6\.2:9042 \(empty\)/);
    const seed = await rows(topo.origin, 'SELECT user, status FROM zdmapp.user_status');
    assert.deepEqual(seed.map((r) => `${r.user}:${r.status}`).sort(), ['eva:commuting', 'eva:hiking', 'eva:lunch', 'marco:cooking']);
    assert.deepEqual(await keyspaceNames(topo.target), []);
    const [cluster] = await rows(topo.target, 'SELECT cluster_name, release_version FROM system.local');
    assert.equal(cluster.cluster_name, 'target');
    assert.match(String(cluster.release_version), /^5\.0\./);
    assert.deepEqual(await labelled(ENV), {
      containers: ['zdm-lab-6-origin', 'zdm-lab-6-target'],
      networks: ['zdm-lab-6'],
      volumes: ['zdm-lab-6-origin-data', 'zdm-lab-6-target-data'],
    });
  });

  test('authentication is on: a wrong password is refused', async () => {
    const cassandra = (await import('cassandra-driver')).default;
    const client = new cassandra.Client({
      contactPoints: [`${topo.origin.address}:9042`],
      localDataCenter: 'datacenter1',
      credentials: { username: 'cassandra', password: 'wrong' },
    });
    await assert.rejects(client.connect(), /Authentication|credentials|Provided username/i);
    await client.shutdown();
  });

  test('later commands use Docker without naming it, and a second up changes nothing', async () => {
    const before = await zdmLab(['infra', 'status', ...env]);
    const result = await zdmLab(['infra', 'up', ...env]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /already up/);
    const after = await zdmLab(['infra', 'status', ...env]);
    assert.match(statusLine(after.stdout, 'origin'), /^origin\s+127\.0\.6\.1:9042\s+up\s+\d+\s/);
    assert.match(statusLine(after.stdout, 'proxy-1'), /^proxy-1\s+127\.0\.6\.11:9042\s+down\s/);
    const pid = (text: string, c: string) => statusLine(text, c).split(/\s+/)[3];
    assert.equal(pid(after.stdout, 'origin'), pid(before.stdout, 'origin'));
    assert.equal(pid(after.stdout, 'target'), pid(before.stdout, 'target'));
  });

  test('cqlsh runs real CQL inside the node, with -e and with a host file', async () => {
    const e = await zdmLab(['cqlsh', 'origin', ...env, '-e', "SELECT status FROM zdmapp.user_status WHERE user = 'marco'"]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /cooking/);
    assert.match(e.stdout, /\(1 rows\)/);
    const dir = mkdtempSync(join(tmpdir(), 'zdm-lab-cql-'));
    const file = join(dir, 'schema.cql');
    writeFileSync(file, "CREATE KEYSPACE fromfile WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\n");
    const f = await zdmLab(['cqlsh', 'target', ...env, '-f', file]);
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(await keyspaceNames(topo.target), ['fromfile']);
  });

  test('infra reset restores the step-1 state without restarting healthy containers', async () => {
    const pidsBefore = await zdmLab(['infra', 'status', ...env]);
    await withClient(topo.origin, (c) => c.execute("INSERT INTO zdmapp.user_status (user, when, status) VALUES ('zoe', toTimestamp(now()), 'extra')"));
    const result = await zdmLab(['infra', 'reset', ...env]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /back to the start of step 1/);
    assert.equal((await rows(topo.origin, 'SELECT user FROM zdmapp.user_status')).length, 4);
    assert.deepEqual(await keyspaceNames(topo.target), []);
    const pidsAfter = await zdmLab(['infra', 'status', ...env]);
    for (const c of ['origin', 'target']) assert.equal(statusLine(pidsAfter.stdout, c).split(/\s+/)[3], statusLine(pidsBefore.stdout, c).split(/\s+/)[3]);
  });

  test('infra status shows a killed node as down, and reset brings it back with its data', async () => {
    await dockerClient().getContainer('zdm-lab-6-origin').kill();
    const status = await zdmLab(['infra', 'status', ...env]);
    assert.match(statusLine(status.stdout, 'origin'), /^origin\s+127\.0\.6\.1:9042\s+down\s+-\s+-\s+container exited with code 137/);
    const reset = await zdmLab(['infra', 'reset', ...env]);
    assert.equal(reset.code, 0, reset.stderr);
    const back = await zdmLab(['infra', 'status', ...env]);
    assert.match(statusLine(back.stdout, 'origin'), /^origin\s+127\.0\.6\.1:9042\s+up\s/);
    assert.equal((await rows(topo.origin, 'SELECT user FROM zdmapp.user_status')).length, 4);
  });

  test('infra down removes exactly what the lab labelled and nothing else', async () => {
    const docker = dockerClient();
    // look-alikes the lab did not create must survive
    await docker.createVolume({ Name: 'zdm-lab-6-not-ours' });
    await docker.createVolume({ Name: 'zdm-lab-6-other-env', Labels: { 'zdm-lab.managed': 'true', 'zdm-lab.env': '66' } });
    try {
      const result = await zdmLab(['infra', 'down', ...env]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /environment 6 is down: no lab container, network or volume left/);
      assert.deepEqual(await labelled(ENV), { containers: [], networks: [], volumes: [] });
      const volumes = ((await docker.listVolumes()).Volumes ?? []).map((v) => v.Name);
      assert.ok(volumes.includes('zdm-lab-6-not-ours'));
      assert.ok(volumes.includes('zdm-lab-6-other-env'));
      const status = await zdmLab(['infra', 'status', ...env]);
      assert.equal(status.stdout.split('\n').filter((l) => /\sdown\s/.test(l)).length, 5, status.stdout);
    } finally {
      await docker.getVolume('zdm-lab-6-not-ours').remove().catch(() => {});
      await docker.getVolume('zdm-lab-6-other-env').remove().catch(() => {});
    }
  });
});
