/**
 * What environment K runs on Kubernetes, in its namespace (environment.ts):
 * the objects of Origin and Target and of the three ZDM proxies, written
 * with server-side apply from the same sources the other backends start
 * from. The lab writes them with the environment (provision.ts), the
 * StatefulSets at zero; the learner's `zdm-lab` starts, stops and
 * reconfigures them (infra/backends/kubernetes.ts).
 *
 * - Each Cassandra cluster is a one-replica StatefulSet (`origin`,
 *   `target`) with a PersistentVolumeClaim for its data, the lab's
 *   cassandra.yaml (the Docker backend's generator, cluster name origin or
 *   target) in a ConfigMap, and a headless Service, so that its pod is
 *   `origin-0.origin` in the cluster's DNS. The container starts the image's
 *   own entrypoint as Cassandra's user (uid 999; as non-root it skips its
 *   chown step), with the small profile's heap and start-up settings. A
 *   script of ours around it gives the node the environment's login from the
 *   Secret `cassandra-credentials` the first time it starts on empty data
 *   (Origin: Cassandra's superuser gets the generated password; Target: its
 *   own role, and the default superuser a random password), as the lab's
 *   host-side clients do on the other backends (cql/client.ts
 *   loginOrAdopt), and leaves a cqlsh credentials file in the container's
 *   HOME, so that `cqlsh` in the pod logs in as the environment. The node is
 *   ready once that login has worked and it answers on the CQL port.
 * - The proxies are one StatefulSet `zdm-proxy` of three. Each pod's
 *   ZDM_PROXY_TOPOLOGY_INDEX is its ordinal (the pod-index label, through
 *   the downward API). zdm-proxy takes only IP addresses in
 *   ZDM_PROXY_TOPOLOGY_ADDRESSES, and a pod's address changes when it is
 *   replaced, so each proxy pod has a Service of its own (`zdm-proxy-0`…),
 *   whose ClusterIP stays for the environment's life: those three addresses
 *   are the topology, and what clients connect to. The ZDM_* variables the
 *   learner's two YAML files become (proxy.ts proxyEnvironment, with
 *   Origin's and Target's addresses replaced by their pods' DNS names, as
 *   the Docker backend replaces them by container names) are in the pod
 *   template itself, and with the two files in the ConfigMap `zdm-proxy`
 *   for whoever reads the environment. Readiness: GET /health/readiness on
 *   14001.
 * - A changed configuration is a new revision of the StatefulSet (the
 *   variables are in its template), which replaces no pod by itself
 *   (updateStrategy OnDelete): a rolling update goes as the lab's does on
 *   the other backends (and the official automation), one proxy at a time,
 *   each pod deleted, its replacement waited for until ready, then a pause
 *   before the next. (The controller's own RollingUpdate replaces the next
 *   pod as soon as one is ready: minReadySeconds did not pace it here.)
 *
 * Every pod meets Pod Security `restricted`: non-root, no privilege
 * escalation, no capability, the runtime's seccomp profile, volumes only
 * from claims, ConfigMaps and Secrets. Each container states its memory and
 * CPU, within the namespace's quota.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, type KubernetesObject, type V1ConfigMap, type V1Container, type V1PodSecurityContext, type V1Secret, type V1Service, type V1StatefulSet } from '@kubernetes/client-node';
import { containerCassandraYaml } from '../backends/docker.js';
import { FAST_START, HEAP, SMALL_START_HEAP } from '../config/cassandra.js';
import { CLUSTER_FILE, CORE_FILE, proxyEnvironment, readProxyConfig } from '../config/proxy.js';
import { credentialsOf, credentialsText } from '../credentials.js';
import type { Reporter } from '../progress.js';
import { clusterNodeName, clusterProxyName, CQL_PORT, PROXY_COUNT, PROXY_METRICS_PORT, type NodeSpec, type Topology } from '../topology.js';
import { apiMessage, applyObjects, LABELS, namespaceOf, waitForCluster } from './environment.js';

export const PROXY_NAME = 'zdm-proxy';
export const CREDENTIALS_SECRET = 'cassandra-credentials';
/** Where a node's data lives in its container, and the claim template's name (`data-origin-0`). */
const DATA_DIR = '/var/lib/cassandra';
const DATA_CLAIM = 'data';
const DATA_SIZE = '1Gi';
/** Cassandra's user in the lab's image, as in the official one. */
const CASSANDRA_UID = 999;
/** The proxy needs no account of its own: nobody. */
const PROXY_UID = 65534;
/** HOME in a node's container: where its start script leaves cqlsh's credentials file. */
const NODE_HOME = '/tmp/zdm-lab-home';
const READY_FILE = '/tmp/zdm-lab-ready';

/**
 * What each container may use. A node's memory is its heap (256 MiB at
 * most) and what the JVM keeps beside it (268–303 MiB working set once
 * started); a proxy is one Go process; the workstation is the learner's
 * shells and what the course starts in them: the sample API (one Node.js
 * process), the writer loop, cqlsh, `zdm-lab`, and Prometheus once the
 * learner starts the monitoring (about 310 MiB then, with a cqlsh). The six limits add up to the
 * course's budget (course.json: 1331Mi and 2 CPUs, the namespace's quota),
 * so that the environment always fits its quota whole. The requests, what
 * the scheduler sets aside, are about what each part was measured to use
 * while the course's writer loop runs (bench:class: a node 0.045 cores, a
 * proxy 0.009, the sample API and the shells 0.053; memory from the
 * kube-workloads test's working sets).
 */
export const RESOURCES = {
  node: { requests: { memory: '320Mi', cpu: '60m' }, limits: { memory: '384Mi', cpu: '600m' } },
  proxy: { requests: { memory: '32Mi', cpu: '10m' }, limits: { memory: '56Mi', cpu: '100m' } },
  workstation: { requests: { memory: '192Mi', cpu: '60m' }, limits: { memory: '395Mi', cpu: '500m' } },
} as const;

export interface WorkloadImages {
  cassandra: string;
  proxy: string;
  /** The workstation and sample API (infra/images/workstation). */
  workstation?: string;
}

export interface WorkloadOptions {
  images: WorkloadImages;
  /** The StorageClass of the nodes' claims: storage.ts's on the local cluster, another by name, or (none) the cluster's default one. */
  storageClass?: string;
}

export const restrictedPod = (uid: number): V1PodSecurityContext => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: uid,
  fsGroup: uid,
  seccompProfile: { type: 'RuntimeDefault' },
});
export const restrictedContainer = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

function hashOf(data: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(data).sort()) hash.update(key).update('\0').update(data[key]).update('\0');
  return hash.digest('hex').slice(0, 16);
}

export const labelsOf = (env: number, component: string) => ({ [LABELS.environment]: String(env), [LABELS.managedBy]: 'zdm-lab', 'app.kubernetes.io/name': component });


/** The claim a node's StatefulSet makes for its pod (`data-origin-0`): for clusters whose volumes are made by hand. */
export function nodeClaims(env: number): { namespace: string; name: string; size: string }[] {
  return (['origin', 'target'] as const).map((name) => ({ namespace: namespaceOf(env), name: `${DATA_CLAIM}-${name}-0`, size: DATA_SIZE }));
}

/** The JVM settings a node gets beyond the image's options file: the small profile's starting heap and the fast single-node start. */
const NODE_JVM_EXTRAS = [`-Xms${SMALL_START_HEAP}`, ...FAST_START].join(' ');

/**
 * The node container's command: the image's entrypoint with the lab's
 * cassandra.yaml (copied, since the entrypoint writes the pod's address into
 * it), and beside it the one-time login step. The passwords reach cqlsh in
 * files of mode 0600 (cqlsh's own rule), never on a command line.
 */
const START_SCRIPT = `#!/bin/bash
# Starts Cassandra through the image's entrypoint with the lab's cassandra.yaml,
# and gives the node this environment's login (CQL_USERNAME, CQL_PASSWORD from
# the Secret) the first time it starts on empty data.
set -u
umask 077
mkdir -p "$HOME/.cassandra"
printf '[plain_text_auth]\\nusername = %s\\npassword = %s\\n' "$CQL_USERNAME" "$CQL_PASSWORD" > "$HOME/.cassandra/credentials"
printf '[plain_text_auth]\\nusername = cassandra\\npassword = cassandra\\n' > "$HOME/.cassandra/default-credentials"
if [ "$CQL_USERNAME" = cassandra ]; then
  printf "CONSISTENCY ALL;\\nALTER ROLE cassandra WITH PASSWORD = '%s';\\n" "$CQL_PASSWORD" > "$HOME/.cassandra/adopt.cql"
else
  printf "CONSISTENCY ALL;\\nCREATE ROLE IF NOT EXISTS %s WITH PASSWORD = '%s' AND SUPERUSER = true AND LOGIN = true;\\nALTER ROLE cassandra WITH PASSWORD = '%s';\\n" \\
    "$CQL_USERNAME" "$CQL_PASSWORD" "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" > "$HOME/.cassandra/adopt.cql"
fi
umask 022
rm -f ${READY_FILE}
cp /zdm-lab/cassandra.yaml "$CASSANDRA_CONF/cassandra.yaml"
docker-entrypoint.sh cassandra -f &
node=$!
trap 'kill -TERM "$node"' TERM INT

logins() {
  until (exec 3<>/dev/tcp/127.0.0.1/${CQL_PORT}) 2>/dev/null; do
    kill -0 "$node" 2>/dev/null || return
    sleep 1
  done
  while kill -0 "$node" 2>/dev/null; do
    if cqlsh -e 'SELECT cluster_name FROM system.local' >/dev/null 2>&1; then
      touch ${READY_FILE}
      echo "zdm-lab: the node takes the environment's login ($CQL_USERNAME)"
      return
    fi
    if cqlsh --credentials "$HOME/.cassandra/default-credentials" -f "$HOME/.cassandra/adopt.cql" >/dev/null 2>&1; then
      echo "zdm-lab: the node was given the environment's login ($CQL_USERNAME) in place of the default one"
    fi
    sleep 2
  done
}
logins &

code=0
# A signal ends the first wait early; the container ends with the node.
while kill -0 "$node" 2>/dev/null; do
  wait "$node"
  code=$?
done
exit "$code"
`;

export function credentialsSecret(env: number): V1Secret {
  const origin = credentialsOf(env, 'origin');
  const target = credentialsOf(env, 'target');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: CREDENTIALS_SECRET, namespace: namespaceOf(env), labels: labelsOf(env, 'cassandra') },
    type: 'Opaque',
    stringData: {
      'origin-username': origin.username,
      'origin-password': origin.password,
      'target-username': target.username,
      'target-password': target.password,
      // The files every client of the lab reads (credentials.ts), for the workstation.
      'origin-credentials': credentialsText(origin),
      'target-credentials': credentialsText(target),
    },
  };
}

/** The ConfigMap, headless Service and StatefulSet of one Cassandra cluster. */
export function nodeObjects(node: NodeSpec, options: WorkloadOptions & { replicas?: number }): KubernetesObject[] {
  const namespace = namespaceOf(node.env);
  const name = node.name;
  const labels = { ...labelsOf(node.env, 'cassandra'), 'zdmlab.io/cluster': name };
  const selector = { 'app.kubernetes.io/name': 'cassandra', 'zdmlab.io/cluster': name };
  const data = { 'cassandra.yaml': containerCassandraYaml({ ...node, dir: DATA_DIR }), 'start.sh': START_SCRIPT };
  const configMap: V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${name}-config`, namespace, labels }, data };
  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels },
    spec: {
      clusterIP: 'None',
      // The name resolves while the node starts, for whoever waits on it.
      publishNotReadyAddresses: true,
      selector,
      ports: [{ name: 'cql', port: CQL_PORT, targetPort: CQL_PORT }],
    },
  };
  const secretKey = (key: string) => ({ valueFrom: { secretKeyRef: { name: CREDENTIALS_SECRET, key: `${name}-${key}` } } });
  const container: V1Container = {
    name: 'cassandra',
    image: options.images.cassandra,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/bash', '/zdm-lab/start.sh'],
    env: [
      { name: 'MAX_HEAP_SIZE', value: HEAP },
      { name: 'JVM_EXTRA_OPTS', value: NODE_JVM_EXTRAS },
      { name: 'HOME', value: NODE_HOME },
      { name: 'CQL_USERNAME', ...secretKey('username') },
      { name: 'CQL_PASSWORD', ...secretKey('password') },
    ],
    ports: [
      { name: 'cql', containerPort: CQL_PORT },
      { name: 'storage', containerPort: 7000 },
    ],
    // Ready: the environment's login has worked once, and the CQL port answers.
    readinessProbe: { exec: { command: ['/bin/bash', '-c', `test -e ${READY_FILE} && (exec 3<>/dev/tcp/127.0.0.1/${CQL_PORT})`] }, periodSeconds: 3, timeoutSeconds: 3 },
    resources: RESOURCES.node,
    securityContext: restrictedContainer,
    volumeMounts: [
      { name: DATA_CLAIM, mountPath: DATA_DIR },
      { name: 'config', mountPath: '/zdm-lab', readOnly: true },
    ],
  };
  const statefulSet: V1StatefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace, labels },
    spec: {
      serviceName: name,
      replicas: options.replicas ?? 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations: { 'zdmlab.io/config': hashOf(data) } },
        spec: {
          securityContext: restrictedPod(CASSANDRA_UID),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          containers: [container],
          volumes: [{ name: 'config', configMap: { name: `${name}-config` } }],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: DATA_CLAIM, labels },
          spec: { accessModes: ['ReadWriteOnce'], ...(options.storageClass ? { storageClassName: options.storageClass } : {}), resources: { requests: { storage: DATA_SIZE } } },
        },
      ],
    },
  };
  return [configMap, service, statefulSet];
}

/** The Services that give each proxy pod a lasting address: `zdm-proxy-0`, `zdm-proxy-1`, `zdm-proxy-2`. */
export function proxyServices(env: number): V1Service[] {
  const namespace = namespaceOf(env);
  return Array.from({ length: PROXY_COUNT }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: clusterProxyName(i + 1), namespace, labels: labelsOf(env, PROXY_NAME) },
    spec: {
      selector: { 'statefulset.kubernetes.io/pod-name': `${PROXY_NAME}-${i}` },
      ports: [
        { name: 'cql', port: CQL_PORT, targetPort: CQL_PORT },
        { name: 'metrics', port: PROXY_METRICS_PORT, targetPort: PROXY_METRICS_PORT },
      ],
    },
  }));
}

/**
 * The protocol version the proxies' control connections to Origin and
 * Target start at, instead of zdm-proxy's DSE v2. Cassandra answers a
 * version it does not speak with an error and closes the connection; the
 * proxy steps down a version only when it reads that error first, and under
 * its pod's CPU limit it often saw the close first and gave up its start
 * (one proxy stayed unready for 3 minutes). Version 4 is what the lab's
 * clients speak, and every Cassandra from 3.0 on speaks it.
 */
const CONTROL_PROTOCOL = '4';

/**
 * The ZDM_* variables every proxy pod gets from the learner's files: the
 * proxy listens on all of its pod's addresses, the topology is the proxies'
 * Service addresses, and contact points that are the nodes' addresses in the
 * lab's topology become the nodes' DNS names. The topology index is each
 * pod's own (its ordinal), so it is not among them.
 */
export function proxyVariables(topo: Topology, addresses: string[]): Record<string, string> {
  const config = readProxyConfig(topo);
  const names = new Map([topo.origin, topo.target].map((node) => [node.address, clusterNodeName(node.name)]));
  const inCluster = (points: string) =>
    points
      .split(',')
      .map((p) => p.trim())
      .map((p) => names.get(p) ?? p)
      .join(',');
  const env = proxyEnvironment(topo, topo.proxies[0], config);
  delete (env as Partial<typeof env>).ZDM_PROXY_TOPOLOGY_INDEX;
  return {
    ...env,
    ZDM_PROXY_LISTEN_ADDRESS: '0.0.0.0',
    ZDM_METRICS_ADDRESS: '0.0.0.0',
    ZDM_PROXY_TOPOLOGY_ADDRESSES: addresses.join(','),
    ZDM_CONTROL_CONN_MAX_PROTOCOL_VERSION: CONTROL_PROTOCOL,
    ZDM_ORIGIN_CONTACT_POINTS: inCluster(env.ZDM_ORIGIN_CONTACT_POINTS),
    ZDM_TARGET_CONTACT_POINTS: inCluster(env.ZDM_TARGET_CONTACT_POINTS),
  };
}

/** The ConfigMap (the learner's files and their ZDM_* variables), headless Service and StatefulSet of the proxies. */
export function proxyObjects(topo: Topology, addresses: string[], options: { images: Pick<WorkloadImages, 'proxy'>; replicas: number }): KubernetesObject[] {
  const env = topo.env;
  const namespace = namespaceOf(env);
  const labels = labelsOf(env, PROXY_NAME);
  const selector = { 'app.kubernetes.io/name': PROXY_NAME };
  const variables = proxyVariables(topo, addresses);
  const files = Object.fromEntries([CORE_FILE, CLUSTER_FILE].map((file) => [file, readFileSync(join(topo.proxyConfigDir, file), 'utf8')]));
  const configMap: V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PROXY_NAME, namespace, labels }, data: { ...files, ...variables } };
  const headless: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: PROXY_NAME, namespace, labels },
    spec: { clusterIP: 'None', selector, ports: [{ name: 'cql', port: CQL_PORT, targetPort: CQL_PORT }] },
  };
  const container: V1Container = {
    name: 'zdm-proxy',
    image: options.images.proxy,
    imagePullPolicy: 'IfNotPresent',
    // The values themselves, not references to the ConfigMap: the template, and so each revision, holds its configuration.
    env: [
      ...Object.keys(variables)
        .sort()
        .map((name) => ({ name, value: variables[name] })),
      { name: 'ZDM_PROXY_TOPOLOGY_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } },
    ],
    ports: [
      { name: 'cql', containerPort: CQL_PORT },
      { name: 'metrics', containerPort: PROXY_METRICS_PORT },
    ],
    readinessProbe: { httpGet: { path: '/health/readiness', port: PROXY_METRICS_PORT }, periodSeconds: 2, timeoutSeconds: 2 },
    resources: RESOURCES.proxy,
    securityContext: { ...restrictedContainer, readOnlyRootFilesystem: true },
  };
  const statefulSet: V1StatefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: PROXY_NAME, namespace, labels },
    spec: {
      serviceName: PROXY_NAME,
      replicas: options.replicas,
      // All three start at once; a changed template replaces no pod by itself: the lab replaces one at a time (rollingUpdateProxies, the backend's restartProxy).
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...labels, ...selector } },
        spec: {
          securityContext: restrictedPod(PROXY_UID),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 5,
          containers: [container],
        },
      },
    },
  };
  return [configMap, headless, statefulSet];
}

/** Why a StatefulSet's pods are not ready: each pod's phase and its container's waiting or last state. */
async function podTroubles(core: CoreV1Api, namespace: string, selector: string): Promise<string> {
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  if (pods.length === 0) return 'no pod yet';
  return pods
    .map((pod) => {
      const status = pod.status?.containerStatuses?.[0];
      const waiting = status?.state?.waiting;
      const terminated = status?.lastState?.terminated;
      const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
      return `${pod.metadata?.name}: ${pod.status?.phase}${status?.ready ? ' ready' : ''}${waiting ? ` (${waiting.reason}: ${waiting.message ?? ''})` : ''}${terminated ? ` (last exit ${terminated.exitCode}: ${terminated.reason})` : ''}${scheduled ? ` (${scheduled.message})` : ''}${status?.restartCount ? `, ${status.restartCount} restarts` : ''}`;
    })
    .join('; ');
}

/** Waits until `done` holds for the StatefulSet; its seconds. */
export async function waitForStatefulSet(config: KubeConfig, namespace: string, name: string, what: string, done: (set: V1StatefulSet) => boolean, report: Reporter, timeoutMs: number): Promise<number> {
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  let selector = '';
  return waitForCluster(
    what,
    async () => {
      const set = await apps.readNamespacedStatefulSet({ name, namespace });
      selector = Object.entries(set.spec?.selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      const observed = (set.status?.observedGeneration ?? 0) >= (set.metadata?.generation ?? 1);
      return observed && done(set);
    },
    report,
    timeoutMs,
    { stepMs: 500, why: () => podTroubles(core, namespace, selector) },
  );
}

export const allReady = (set: V1StatefulSet) => (set.status?.readyReplicas ?? 0) === set.spec?.replicas && (set.status?.updatedReplicas ?? 0) === set.spec?.replicas;

/** The proxies' lasting addresses, creating their Services when missing (the lab's part). */
export async function proxyAddresses(config: KubeConfig, env: number): Promise<string[]> {
  return clusterAddresses(await applyObjects(config, proxyServices(env), `environment ${env}'s proxies`));
}

/** The proxies' lasting addresses, from their Services as the lab made them (what a learner's ServiceAccount may read). */
export async function readProxyAddresses(config: KubeConfig, env: number): Promise<string[]> {
  const core = config.makeApiClient(CoreV1Api);
  const namespace = namespaceOf(env);
  const services = await Promise.all(
    proxyServices(env).map(async (service) => {
      try {
        return await core.readNamespacedService({ name: service.metadata!.name!, namespace });
      } catch (error) {
        throw new Error(`Service ${namespace}/${service.metadata?.name}: ${apiMessage(error)}; the lab makes it with the environment`);
      }
    }),
  );
  return clusterAddresses(services);
}

function clusterAddresses(services: V1Service[]): string[] {
  return services.map((service) => {
    const ip = service.spec?.clusterIP;
    if (!ip || ip === 'None') throw new Error(`Service ${service.metadata?.name} has no cluster address`);
    return ip;
  });
}

/**
 * The revision of the proxies' StatefulSet that has its template as it is
 * now, once the controller has seen the template.
 */
export async function proxyRevision(config: KubeConfig, env: number): Promise<string> {
  const apps = config.makeApiClient(AppsV1Api);
  const namespace = namespaceOf(env);
  let revision: string | undefined;
  await waitForCluster(
    'the proxies\' new revision',
    async () => {
      const set = await apps.readNamespacedStatefulSet({ name: PROXY_NAME, namespace });
      revision = (set.status?.observedGeneration ?? 0) >= (set.metadata?.generation ?? 1) ? set.status?.updateRevision : undefined;
      return revision !== undefined;
    },
    () => {},
    30_000,
    { stepMs: 100 },
  );
  return revision!;
}
