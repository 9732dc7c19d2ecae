/**
 * Environment 41's Cassandra clusters and ZDM proxies on the local
 * Kubernetes cluster, as a learner meets them: the lab's Cassandra and
 * zdm-proxy images (built with Docker, as the Docker backend's suites build
 * them) are imported into the cluster's containerd; Origin and Target run as
 * StatefulSets on local volumes in the environment's namespace (Pod Security
 * `restricted` enforced) and answer cqlsh in their pods with their cluster
 * names and the environment's generated login, not the default one; the
 * three proxies come up ready, and a write through them lands on Origin and
 * Target; a rolling update of the proxies to another read mode, while a
 * writer keeps writing through them, replaces one proxy at a time (never
 * fewer than two ready) and ends with no failed write and none missing on
 * either cluster; `down` leaves nothing on the host.
 *
 * Not shown here: that another environment cannot reach these pods
 * (NetworkPolicy is accepted but not enforced by the local cluster's bridge
 * plugin, infra/kube/README.md). The writer runs on the cluster's host and
 * reaches the proxies at their Services' addresses, as a client outside
 * the cluster's pod network would through its own route.
 *
 * Needs what kube-cluster.test.ts needs, and a Docker daemon with the lab's
 * images (test/support/docker.ts starts dockerd and builds them if needed).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import cassandra from 'cassandra-driver';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { defaultPauseMs } from '../../infra/commands/proxy.js';
import { setProxyConfigValue } from '../../infra/config/proxy.js';
import { credentialsOf } from '../../infra/credentials.js';
import { apiGet, importFromDocker, NODE_NAME } from '../../infra/kube/cluster.js';
import { createEnvironment, namespaceOf, type EnvironmentBudget } from '../../infra/kube/environment.js';
import { LOCAL_STORAGE_CLASS, provideLocalVolumes } from '../../infra/kube/storage.js';
import { deployNodes, deployProxies, nodeClaims, PROXY_NAME, rollingUpdateProxies, type WorkloadOptions } from '../../infra/kube/workloads.js';
import { projectRoot } from '../../infra/paths.js';
import { consoleReporter } from '../../infra/progress.js';
import { CQL_PORT, DATACENTER, topology } from '../../infra/topology.js';
import { loadCourse } from '../../lab/course/load.js';
import { dockerLabWithProxy, type DockerSetup } from '../support/docker.js';
import { recordFinding } from '../support/findings.js';
import { assertNothingLeft, execIn, hostDirsNow, kubeCli, kubeHostProblem } from '../support/kube.js';
import { required } from '../support/requirement.js';

const ENV = 41;
const NAMESPACE = namespaceOf(ENV);
const report = consoleReporter('  workloads: ');

function courseBudget(): EnvironmentBudget {
  const { course, problems } = loadCourse(join(projectRoot, 'steps'));
  assert.ok(course, `the course does not load: ${JSON.stringify(problems)}`);
  return { memoryBytes: course.environments.memoryBytes, cpus: course.environments.cpus };
}

/** cqlsh in a node's pod, as the environment's login (its credentials file in the container), or with the login given. */
async function cqlshIn(admin: KubeConfig, pod: string, statement: string, login?: { username: string; password: string }): Promise<{ ok: boolean; out: string }> {
  const args = login ? ['-u', login.username, '-p', login.password, '--insecure-password-without-warning'] : [];
  const result = await execIn(admin, NAMESPACE, pod, ['cqlsh', ...args, '-e', statement], 'cassandra');
  return { ok: result.status.status === 'Success', out: result.stdout };
}

/** The one number a `SELECT count(*)` prints. */
function countOf(out: string): number {
  const match = /^\s*(\d+)\s*$/m.exec(out);
  assert.ok(match, `no count in cqlsh's output:\n${out}`);
  return Number(match[1]);
}

/** A client of the proxies as the lab's clients are configured (DESIGN.md): protocol v4, the proxies' port, idempotent statements. */
function proxyClient(addresses: string[]): cassandra.Client {
  const { username, password } = credentialsOf(ENV, 'target');
  return new cassandra.Client({
    contactPoints: addresses.map((a) => `${a}:${CQL_PORT}`),
    localDataCenter: DATACENTER,
    credentials: { username, password },
    protocolOptions: { port: CQL_PORT, maxVersion: 4 },
    queryOptions: { isIdempotent: true, consistency: cassandra.types.consistencies.localQuorum, prepare: true },
    socketOptions: { connectTimeout: 5000, readTimeout: 12000 },
  });
}

/**
 * A client of the proxies, connected. Right after the proxies are in their
 * Services, kube-proxy may not have programmed those yet (it follows them
 * within a second or so): the first connection is tried again for a while.
 */
async function connectedClient(addresses: string[]): Promise<cassandra.Client> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const client = proxyClient(addresses);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.shutdown();
      if (Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
}

/** Each pod's working-set memory in MiB, from the kubelet's summary, once it has a figure for each of the five (a new pod's comes after a few seconds). */
async function podMemory(): Promise<Record<string, number>> {
  let memory: Record<string, number> = {};
  for (let attempt = 0; attempt < 40; attempt++) {
    const answer = await apiGet(`/api/v1/nodes/${NODE_NAME}/proxy/stats/summary`);
    assert.equal(answer?.status, 200, `the kubelet's summary: ${answer?.body.slice(0, 200)}`);
    const summary = JSON.parse(answer.body) as { pods: { podRef: { name: string; namespace: string }; memory?: { workingSetBytes?: number } }[] };
    memory = Object.fromEntries(
      summary.pods.filter((p) => p.podRef.namespace === NAMESPACE).map((p) => [p.podRef.name, Math.round((p.memory?.workingSetBytes ?? 0) / 1024 ** 2)]),
    );
    if (Object.keys(memory).length === 5 && Object.values(memory).every((mib) => mib > 0)) break;
    await sleep(500);
  }
  return Object.fromEntries(Object.entries(memory).sort());
}

const kubeProblem = required('local Kubernetes cluster', kubeHostProblem());
// A Docker daemon and the lab's images (built when missing), only where the cluster can run.
const lab: { setup?: DockerSetup; skip?: string } = kubeProblem === undefined ? await dockerLabWithProxy() : { skip: kubeProblem };

describe('environment 41\'s Origin, Target and proxies on a real Kubernetes cluster', { skip: lab.skip, timeout: 30 * 60_000 }, () => {
  let docker: DockerSetup | undefined;
  let admin: KubeConfig;
  let core: CoreV1Api;
  let options: WorkloadOptions;
  let addresses: string[] = [];
  let torn = false;
  const hostDirsBefore = hostDirsNow();
  const figures: string[] = [];

  before(async () => {
    docker = lab.setup!;
    const { cassandra: cassandraImage, proxy } = docker.images;
    assert.ok(proxy);
    options = { images: { cassandra: cassandraImage, proxy }, storageClass: LOCAL_STORAGE_CLASS };
    const up = await kubeCli('up');
    assert.equal(up.code, 0, '`infra/kube/cli.ts up` failed (its output is above)');
    admin = new KubeConfig();
    admin.loadFromFile(up.stdout.trim().split('\n').at(-1)!);
    core = admin.makeApiClient(CoreV1Api);
    const started = Date.now();
    const imported = await importFromDocker([cassandraImage, proxy]);
    figures.push(`images imported in ${((Date.now() - started) / 1000).toFixed(1)} s (${imported.length} of 2)`);
    report(figures.at(-1)!);
    // The learner's proxy files start from the lab's defaults, as on a new environment.
    rmSync(topology(ENV).proxyConfigDir, { recursive: true, force: true });
    await createEnvironment(admin, ENV, { budget: courseBudget() }, report);
    await provideLocalVolumes(admin, nodeClaims(ENV));
  });

  after(async () => {
    if (!torn) await kubeCli('down');
    await docker?.stop();
  });

  test('Origin and Target start in the namespace and answer cqlsh with their cluster names, with the environment\'s login only', async () => {
    const seconds = await deployNodes(admin, ENV, options, report);
    figures.push(`Origin ready in ${seconds.origin.toFixed(1)} s, Target in ${seconds.target.toFixed(1)} s`);
    for (const name of ['origin', 'target'] as const) {
      const pod = `${name}-0`;
      const said = await cqlshIn(admin, pod, 'SELECT cluster_name FROM system.local');
      assert.ok(said.ok, `cqlsh in ${pod}:\n${said.out}`);
      assert.match(said.out, new RegExp(`^\\s*${name}\\s*$`, 'm'), `${pod} says its cluster is ${name}`);
      const own = await cqlshIn(admin, pod, 'SELECT cluster_name FROM system.local', credentialsOf(ENV, name));
      assert.ok(own.ok, `the environment's ${name} login works`);
      const byDefault = await cqlshIn(admin, pod, 'SELECT cluster_name FROM system.local', { username: 'cassandra', password: 'cassandra' });
      assert.equal(byDefault.ok, false, `Cassandra's default login no longer opens ${name}`);
      const claim = await core.readNamespacedPersistentVolumeClaim({ name: `data-${pod}`, namespace: NAMESPACE });
      assert.equal(claim.status?.phase, 'Bound', `${name}'s data is on its volume`);
    }
  });

  test('the three proxies come up ready, and a write through them lands on Origin and Target', async () => {
    const deployed = await deployProxies(admin, ENV, options, report);
    addresses = deployed.addresses;
    figures.push(`proxies ready in ${deployed.seconds.toFixed(1)} s`);
    for (let i = 0; i < 3; i++) {
      const log = await core.readNamespacedPodLog({ name: `${PROXY_NAME}-${i}`, namespace: NAMESPACE });
      assert.match(log, /Proxy connected and ready to accept queries/, `${PROXY_NAME}-${i}'s log`);
      assert.match(log, /Parsed configuration: .*ReadMode\W+PRIMARY_ONLY/, `${PROXY_NAME}-${i} runs in read mode PRIMARY_ONLY`);
    }
    const client = await connectedClient(addresses);
    try {
      const peers = client.hosts.keys().map((key) => key.split(':')[0]).sort();
      assert.deepEqual(peers, [...addresses].sort(), 'the driver finds the three proxies at their Services\' addresses');
      await client.execute("CREATE KEYSPACE IF NOT EXISTS zdmlab_kube WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
      await client.execute('CREATE TABLE IF NOT EXISTS zdmlab_kube.writes (id int PRIMARY KEY, at timestamp)');
      await client.execute('INSERT INTO zdmlab_kube.writes (id, at) VALUES (?, ?)', [0, new Date()]);
    } finally {
      await client.shutdown();
    }
    for (const pod of ['origin-0', 'target-0']) {
      const row = await cqlshIn(admin, pod, 'SELECT id FROM zdmlab_kube.writes WHERE id = 0');
      assert.ok(row.ok, row.out);
      assert.match(row.out, /\(1 rows\)/, `the write through the proxies is on ${pod}`);
    }
  });

  test('a rolling update of the proxies while a writer writes through them replaces one at a time, with no failed write and none missing', async () => {
    const apps = admin.makeApiClient(AppsV1Api);
    const podsBefore = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/name=${PROXY_NAME}` })).items.map((p) => p.metadata!.uid!);
    const client = await connectedClient(addresses);
    let writing = true;
    let next = 1;
    const failures: string[] = [];
    const writer = (async () => {
      while (writing) {
        const id = next++;
        try {
          await client.execute('INSERT INTO zdmlab_kube.writes (id, at) VALUES (?, ?)', [id, new Date()]);
        } catch (error) {
          failures.push(`write ${id}: ${(error as Error).message}`);
        }
        await sleep(50);
      }
    })();
    let fewestReady = 3;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const set = await apps.readNamespacedStatefulSet({ name: PROXY_NAME, namespace: NAMESPACE });
        fewestReady = Math.min(fewestReady, set.status?.readyReplicas ?? 0);
        await sleep(250);
      }
    })();
    let seconds: number;
    let each = '';
    try {
      await sleep(2000);
      setProxyConfigValue(topology(ENV), 'read_mode', 'DUAL_ASYNC_ON_SECONDARY');
      const update = await rollingUpdateProxies(admin, ENV, options, report);
      assert.deepEqual(update.replaced.map((r) => r.name), [2, 1, 0].map((i) => `${PROXY_NAME}-${i}`), 'the proxies are replaced from the highest ordinal down');
      seconds = update.seconds;
      each = update.replaced.map((r) => `${r.seconds.toFixed(1)}`).join(', ');
      await sleep(2000);
    } finally {
      writing = false;
      watching = false;
      await writer;
      await watcher;
      await client.shutdown();
    }
    const written = next - 1 - failures.length;
    figures.push(`rolling update in ${seconds.toFixed(1)} s (each proxy ready in ${each} s, ${defaultPauseMs() / 1000} s pauses) with ${written} writes and ${failures.length} failed`);
    assert.deepEqual(failures, [], 'no write failed during the rolling update');
    assert.ok(written > 50, `the writer kept writing (${written} writes)`);
    assert.ok(fewestReady >= 2, `never fewer than two proxies ready (fewest: ${fewestReady})`);
    const podsAfter = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/name=${PROXY_NAME}` })).items;
    assert.equal(podsAfter.length, 3);
    assert.ok(podsAfter.every((p) => !podsBefore.includes(p.metadata!.uid!)), 'each proxy pod was replaced');
    // One at a time: each new pod was created only after the one before it had been ready for the pause.
    const pause = defaultPauseMs();
    const times = podsAfter
      .map((p) => ({
        name: p.metadata!.name!,
        created: Date.parse(String(p.metadata!.creationTimestamp)),
        ready: Date.parse(String(p.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime)),
      }))
      .sort((a, b) => a.created - b.created);
    for (let i = 1; i < times.length; i++) {
      const gap = times[i].created - times[i - 1].ready;
      assert.ok(gap >= pause - 1000, `${times[i].name} was created ${gap / 1000}s after ${times[i - 1].name} was ready (the pause is ${pause / 1000}s)`);
    }
    for (const pod of podsAfter) {
      const log = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NAMESPACE });
      assert.match(log, /Parsed configuration: .*ReadMode\W+DUAL_ASYNC_ON_SECONDARY/, `${pod.metadata!.name} runs the new read mode`);
    }
    for (const pod of ['origin-0', 'target-0']) {
      const count = await cqlshIn(admin, pod, 'SELECT count(*) FROM zdmlab_kube.writes');
      assert.ok(count.ok, count.out);
      assert.equal(countOf(count.out), written + 1, `every write is on ${pod}`);
    }
    const memory = await podMemory();
    figures.push(`memory (working set, MiB): ${Object.entries(memory).map(([pod, mib]) => `${pod} ${mib}`).join(', ')}`);
    report(figures.at(-1)!);
  });

  test('down leaves nothing of the cluster on the host', async () => {
    const result = await kubeCli('down');
    torn = true;
    assert.equal(result.code, 0, '`infra/kube/cli.ts down` reported leftovers (its output is above)');
    assertNothingLeft(hostDirsBefore);
    recordFinding('kube-workloads', `kube-workloads: ${figures.join('; ')}`);
  });
});
