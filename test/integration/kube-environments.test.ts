/**
 * Learner environments as namespaces of the local Kubernetes cluster, as an
 * instructor and a learner would meet them: environments 1 and 2 each get
 * their namespace with the course's budget as quota and limit range, the
 * network policies and a service account; a pod over the budget is refused
 * with the quota's message, a pod that asks for root with Pod Security's;
 * with environment 1's service-account token (TokenRequest) a learner lists
 * and execs into a pod of their own namespace, and is Forbidden in
 * environment 2's and cluster-wide; destroying environment 1 removes its
 * namespace and leaves environment 2; and `down` leaves nothing on the host.
 *
 * NetworkPolicy is enforced (the local cluster runs kube-router's policy
 * controller, kube-netpol from infra/kube/build.ts): a pod of environment 1
 * reaches another of its own and the lab on the host reaches both
 * environments' pods, while environment 2's pods cannot reach environment
 * 1's nor the reverse.
 *
 * Needs what kube-cluster.test.ts needs (root, containerd, runc, the CNI
 * plugins; Go when the binaries are not cached yet).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, AppsV1Api, CoreV1Api, KubeConfig, NetworkingV1Api, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import { API_SERVICE_IP, clusterStatus, GATEWAY } from '../../infra/kube/cluster.js';
import { createEnvironment, destroyEnvironment, LABELS, namespaceOf, SERVICE_ACCOUNT, serviceAccountConfig, type EnvironmentBudget } from '../../infra/kube/environment.js';
import { projectRoot } from '../../infra/paths.js';
import { consoleReporter } from '../../infra/progress.js';
import { loadCourse } from '../../lab/course/load.js';
import { recordFinding } from '../support/findings.js';
import { assertCliOk, assertNothingLeft, execIn, hostDirsNow, kubeCli, kubeHostProblem, waitForPodRunning } from '../support/kube.js';
import { required } from '../support/requirement.js';

const A = 1;
const B = 2;
const report = consoleReporter('  environments: ');

/** The course's per-environment budget, as course.json declares it. */
function courseBudget(): EnvironmentBudget {
  const { course, problems } = loadCourse(join(projectRoot, 'steps'));
  assert.ok(course, `the course does not load: ${JSON.stringify(problems)}`);
  return { memoryBytes: course.environments.memoryBytes, cpus: course.environments.cpus };
}

/** A pod of the probe image that meets Pod Security `restricted`, with the given resources per container. */
function probePod(name: string, image: string, containers: { memory?: string; args?: string[] }[] = [{}]): V1Pod {
  return {
    metadata: { name },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
      containers: containers.map((c, i) => ({
        name: i === 0 ? 'probe' : `probe-${i + 1}`,
        image,
        imagePullPolicy: 'Never',
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        ...(c.memory ? { resources: { limits: { memory: c.memory }, requests: { memory: c.memory } } } : {}),
        ...(c.args ? { args: c.args } : {}),
      })),
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
    },
  };
}

/** The API's refusal of `call`: its HTTP status and the API server's message. */
async function refusal(call: () => Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call();
  } catch (error) {
    if (error instanceof ApiException) {
      const body: unknown = error.body;
      let message = typeof body === 'string' ? body : JSON.stringify(body);
      try {
        message = ((typeof body === 'string' ? JSON.parse(body) : body) as { message?: string }).message ?? message;
      } catch {
        // not a Status
      }
      return { code: error.code, message };
    }
    throw error;
  }
  assert.fail('the call was allowed');
}

const problem = required('local Kubernetes cluster', kubeHostProblem());
/** Where each environment's server pod listens. */
const SERVER_PORT = 8080;

describe('learner environments as namespaces of a real Kubernetes cluster', { skip: problem, timeout: 60 * 60_000 }, () => {
  let admin: KubeConfig;
  let core: CoreV1Api;
  let probeImage: string;
  let budget: EnvironmentBudget;
  let learnerA: KubeConfig;
  const seconds: { create: number[]; destroy: number[] } = { create: [], destroy: [] };
  let torn = false;
  const hostDirsBefore = hostDirsNow();

  before(async () => {
    budget = courseBudget();
    const result = await kubeCli('up');
    assertCliOk(result, 'up');
    admin = new KubeConfig();
    admin.loadFromFile(result.stdout.trim().split('\n').at(-1)!);
    core = admin.makeApiClient(CoreV1Api);
    probeImage = (await clusterStatus()).images.probe;
    assert.ok(probeImage, 'the cluster reports no probe image');
  });

  after(async () => {
    if (!torn) await kubeCli('down');
  });

  test('environments 1 and 2 are created, each a namespace with the course\'s budget, network policies and a service account', async () => {
    for (const env of [A, B]) seconds.create.push((await createEnvironment(admin, env, { budget }, report)).seconds);
    const mebibytes = `${Math.floor(budget.memoryBytes / 1024 ** 2)}Mi`;
    const networking = admin.makeApiClient(NetworkingV1Api);
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    for (const env of [A, B]) {
      const namespace = namespaceOf(env);
      const ns = await core.readNamespace({ name: namespace });
      assert.equal(ns.status?.phase, 'Active');
      assert.equal(ns.metadata?.labels?.[LABELS.environment], String(env));
      assert.equal(ns.metadata?.labels?.[LABELS.managedBy], 'zdm-lab');
      assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');

      const quota = await core.readNamespacedResourceQuota({ name: 'budget', namespace });
      assert.equal(quota.status?.hard?.['limits.memory'], mebibytes, 'the quota holds the namespace to the course\'s memoryGiB');
      assert.equal(quota.status?.hard?.['requests.memory'], mebibytes);
      assert.equal(quota.status?.hard?.['limits.cpu'], String(budget.cpus), 'and to its cpus');
      const limits = (await core.readNamespacedLimitRange({ name: 'budget', namespace })).spec?.limits[0];
      assert.equal(limits?.type, 'Container');
      assert.equal(limits?.max?.memory, mebibytes, 'no container may ask for more than the whole budget');
      assert.ok(limits?._default?.memory && limits.defaultRequest?.memory, 'a container without resources gets a share of the budget');

      const policies = (await networking.listNamespacedNetworkPolicy({ namespace })).items;
      assert.deepEqual(policies.map((p) => p.metadata?.name).sort(), ['default-deny', 'environment-and-lab']);
      const deny = policies.find((p) => p.metadata?.name === 'default-deny')!;
      assert.deepEqual(deny.spec?.policyTypes, ['Ingress', 'Egress']);
      assert.equal(deny.spec?.ingress, undefined, 'the default deny admits nothing');
      assert.equal(deny.spec?.egress, undefined);
      const allow = policies.find((p) => p.metadata?.name === 'environment-and-lab')!;
      const from = allow.spec?.ingress?.[0]._from ?? [];
      assert.ok(from.some((peer) => peer.podSelector && !peer.namespaceSelector), 'ingress from the namespace itself');
      assert.ok(from.some((peer) => peer.namespaceSelector?.matchLabels?.[LABELS.role] === 'lab'), 'ingress from the lab');
      assert.equal(from.length, 2, 'and from nothing else');
      // Beyond pods, egress to the node's address on the API server's port and the cluster DNS's (its CoreDNS runs in the node's network).
      const toAddresses = (allow.spec?.egress ?? []).filter((rule) => rule.to?.some((peer) => peer.ipBlock));
      assert.deepEqual(toAddresses.flatMap((rule) => rule.to!.map((peer) => peer.ipBlock?.cidr)), [`${GATEWAY}/32`, `${GATEWAY}/32`]);
      assert.deepEqual(toAddresses.flatMap((rule) => rule.ports!.map((p) => `${p.protocol}/${p.port}`)).sort(), ['TCP/1053', 'TCP/6443', 'UDP/1053'], 'to the API server and the cluster DNS on their ports only');

      await core.readNamespacedServiceAccount({ name: SERVICE_ACCOUNT, namespace });
      const binding = await rbac.readNamespacedRoleBinding({ name: SERVICE_ACCOUNT, namespace });
      assert.deepEqual({ ...binding.roleRef }, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SERVICE_ACCOUNT });
      assert.deepEqual(binding.subjects?.map((s) => ({ ...s })), [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace }]);
    }
    const clusterBindings = (await rbac.listClusterRoleBinding()).items;
    assert.ok(!clusterBindings.some((b) => b.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === SERVICE_ACCOUNT)), 'no cluster-wide binding names the service account');
  });

  test('creating an environment again brings it back to shape', async () => {
    const namespace = namespaceOf(A);
    await core.deleteNamespacedResourceQuota({ name: 'budget', namespace });
    await createEnvironment(admin, A, { budget }, report);
    const quota = await core.readNamespacedResourceQuota({ name: 'budget', namespace });
    assert.equal(quota.spec?.hard?.['limits.memory'], `${Math.floor(budget.memoryBytes / 1024 ** 2)}Mi`);
  });

  test('a pod asking for more than the environment\'s budget is refused by its quota, with the quota\'s message', async () => {
    // Each container within the limit range's maximum; together over the namespace's memory.
    const each = `${Math.ceil((budget.memoryBytes * 0.6) / 1024 ** 2)}Mi`;
    const refused = await refusal(() => core.createNamespacedPod({ namespace: namespaceOf(A), body: probePod('too-big', probeImage, [{ memory: each }, { memory: each }]) }));
    assert.equal(refused.code, 403);
    assert.match(refused.message, /exceeded quota: budget/);
    assert.match(refused.message, /limits\.memory/);
  });

  test('a pod that would run as root is refused by Pod Security restricted, with its message', async () => {
    const refused = await refusal(() =>
      core.createNamespacedPod({ namespace: namespaceOf(A), body: { metadata: { name: 'as-root' }, spec: { containers: [{ name: 'probe', image: probeImage, imagePullPolicy: 'Never' }] } } }),
    );
    assert.equal(refused.code, 403);
    assert.match(refused.message, /violates PodSecurity "restricted:latest"/);
    assert.match(refused.message, /runAsNonRoot/);
  });

  test('with environment 1\'s service-account token a learner lists, reads the log of and execs into a pod of their own namespace', async () => {
    for (const env of [A, B]) await core.createNamespacedPod({ namespace: namespaceOf(env), body: probePod('probe', probeImage) });
    for (const env of [A, B]) await waitForPodRunning(core, 'probe', namespaceOf(env), 120_000);
    learnerA = await serviceAccountConfig(admin, A, 600);
    const own = learnerA.makeApiClient(CoreV1Api);
    const pods = await own.listNamespacedPod({ namespace: namespaceOf(A) });
    assert.deepEqual(pods.items.map((p) => p.metadata?.name), ['probe']);
    assert.match(await own.readNamespacedPodLog({ name: 'probe', namespace: namespaceOf(A), container: 'probe' }), /probe running/);
    const said = await execIn(learnerA, namespaceOf(A), 'probe', ['/probe', 'say', 'hello', 'from', 'environment', '1']);
    assert.equal(said.status.status, 'Success', JSON.stringify(said.status));
    assert.equal(said.stdout.trim(), 'hello from environment 1');
    const apps = learnerA.makeApiClient(AppsV1Api);
    assert.deepEqual((await apps.listNamespacedStatefulSet({ namespace: namespaceOf(A) })).items, [], 'it may list its StatefulSets (none yet)');
  });

  test('the same token is Forbidden in environment 2\'s namespace and cluster-wide, and for what its Role does not name', async () => {
    const own = learnerA.makeApiClient(CoreV1Api);
    const other = namespaceOf(B);
    const forbidden: [string, () => Promise<unknown>][] = [
      [`list pods in ${other}`, () => own.listNamespacedPod({ namespace: other })],
      [`read pod ${other}/probe`, () => own.readNamespacedPod({ name: 'probe', namespace: other })],
      [`delete pod ${other}/probe`, () => own.deleteNamespacedPod({ name: 'probe', namespace: other })],
      [`read the log of ${other}/probe`, () => own.readNamespacedPodLog({ name: 'probe', namespace: other, container: 'probe' })],
      ['list pods in every namespace', () => own.listPodForAllNamespaces()],
      ['list namespaces', () => own.listNamespace()],
      ['list nodes', () => own.listNode()],
      [`delete namespace ${other}`, () => own.deleteNamespace({ name: other })],
      [`list secrets in its own namespace`, () => own.listNamespacedSecret({ namespace: namespaceOf(A) })],
      [`create a pod in its own namespace`, () => own.createNamespacedPod({ namespace: namespaceOf(A), body: probePod('mine', probeImage) })],
      [`change its own quota`, () => own.deleteNamespacedResourceQuota({ name: 'budget', namespace: namespaceOf(A) })],
    ];
    for (const [what, call] of forbidden) {
      const refused = await refusal(call);
      assert.equal(refused.code, 403, `${what}: ${refused.message}`);
      assert.match(refused.message, /forbidden/i, what);
      assert.match(refused.message, new RegExp(`system:serviceaccount:${namespaceOf(A)}:${SERVICE_ACCOUNT}`), what);
    }
    const failure = (await execIn(learnerA, other, 'probe', ['/probe', 'say', 'should not run']).then(
      () => undefined,
      (error: unknown) => error,
    )) as { message?: string; error?: { message?: string } } | undefined;
    assert.ok(failure, `exec into ${other}/probe is refused`);
    assert.match(`${failure.message ?? ''} ${failure.error?.message ?? ''}`, /403/, `exec into ${other}/probe is refused with 403`);
  });

  test('NetworkPolicy is enforced: a pod of environment 1 asks the cluster DNS and reaches another pod of its own, and the lab (the host) reaches both environments\' pods; environment 2\'s pods cannot reach environment 1\'s, nor 1\'s reach 2\'s', async () => {
    for (const env of [A, B]) await core.createNamespacedPod({ namespace: namespaceOf(env), body: probePod('server', probeImage, [{ args: ['serve', String(SERVER_PORT)] }]) });
    const server: Record<number, string> = {};
    for (const env of [A, B]) server[env] = `${await waitForPodRunning(core, 'server', namespaceOf(env), 120_000)}:${SERVER_PORT}`;
    const connects = async (env: number, target: string) => (await execIn(admin, namespaceOf(env), 'probe', ['/probe', 'connect', target])).status.status === 'Success';
    const hostConnects = (target: string) => spawnSync('/bin/busybox', ['sh', '-c', `echo | /bin/busybox timeout 5 /bin/busybox nc -w 5 ${target.replace(':', ' ')}`]).status === 0;

    const dns = await execIn(admin, namespaceOf(A), 'probe', ['/probe', 'resolve', 'kubernetes.default.svc.cluster.local.']);
    assert.equal(dns.stdout.trim(), API_SERVICE_IP, `environment 1's probe asks the cluster DNS through its policy: ${JSON.stringify(dns)}`);
    assert.ok(await connects(A, server[A]), `environment 1's probe reaches environment 1's server at ${server[A]}`);
    assert.ok(await connects(B, server[B]), `environment 2's probe reaches environment 2's server at ${server[B]}`);
    for (const env of [A, B]) assert.ok(hostConnects(server[env]), `the lab (the host) reaches environment ${env}'s server at ${server[env]}`);
    // The policy controller writes a new pod's rules a moment after the pod starts: a crossing may still pass the first time
    // (it is tried again), never twice in a row once refused.
    for (const [from, to] of [[B, A], [A, B]]) {
      let refusedTwice = false;
      for (let attempt = 0; attempt < 5 && !refusedTwice; attempt++) {
        if (attempt > 0) await sleep(1000);
        refusedTwice = !(await connects(from, server[to])) && !(await connects(from, server[to]));
      }
      assert.ok(refusedTwice, `environment ${from}'s probe is refused at environment ${to}'s server ${server[to]}`);
    }
    assert.ok(await connects(A, server[A]), 'and environment 1 still reaches its own');
    for (const env of [A, B]) await core.deleteNamespacedPod({ name: 'server', namespace: namespaceOf(env), gracePeriodSeconds: 0 });
  });

  test('destroying environment 1 removes its namespace and everything in it, and leaves environment 2', async () => {
    seconds.destroy.push(await destroyEnvironment(admin, A, report));
    assert.equal((await refusal(() => core.readNamespace({ name: namespaceOf(A) }))).code, 404);
    const afterwards = await refusal(() => learnerA.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: namespaceOf(A) }));
    // 403 here (its Role went with the namespace) until the API server's token cache forgets it, 401 after.
    assert.ok([401, 403].includes(afterwards.code), `its token no longer lists pods once its namespace is gone: ${afterwards.code} ${afterwards.message}`);
    assert.equal((await core.readNamespace({ name: namespaceOf(B) })).status?.phase, 'Active');
    assert.equal((await core.readNamespacedPod({ name: 'probe', namespace: namespaceOf(B) })).status?.phase, 'Running');
    assert.equal(await destroyEnvironment(admin, A, report), 0, 'destroying it again finds nothing to do');
    seconds.destroy.push(await destroyEnvironment(admin, B, report));
  });

  test('down leaves nothing of the cluster on the host', async () => {
    const result = await kubeCli('down');
    torn = true;
    assertCliOk(result, 'down');
    assertNothingLeft(hostDirsBefore);
    const fmt = (list: number[]) => list.map((s) => `${s.toFixed(1)} s`).join(', ');
    recordFinding('kube-environments', `kube-environments: namespace per environment created in ${fmt(seconds.create)}, destroyed (a running pod in it) in ${fmt(seconds.destroy)}; RBAC isolation proven with real calls; NetworkPolicy enforced (kube-netpol): environment 2's pod refused at environment 1's and the reverse, own pods and the lab admitted`);
  });
});
