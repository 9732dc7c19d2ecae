/**
 * Learner environment K on a Kubernetes cluster: its namespace `zdmlab-env-K`
 * and what seals it there, before anything of the course runs in it.
 *
 * - The namespace, labelled with its number and as the lab's, with Pod
 *   Security admission `restricted` enforced. No part of the environment
 *   needs root or a capability: Cassandra's official image skips its
 *   chown-and-drop-privileges step when started as a non-root user (with
 *   fsGroup on its volume), zdm-proxy is one static binary, and the lab's
 *   own images are built for it. Volumes must then be
 *   PersistentVolumeClaims (local PersistentVolumes on a cluster without a
 *   provisioner), never hostPath.
 * - A ResourceQuota holding the whole namespace to the course's
 *   per-environment budget (course.json "environments": memoryGiB and cpus,
 *   the figures the local backend's control group gets), and a LimitRange
 *   that gives a container without resources an even share of it and lets no
 *   container ask for more than the whole. Kubernetes has no per-namespace
 *   process budget (the local backend's task limit): a node's pids per pod
 *   are the kubelet's podPidsLimit.
 * - NetworkPolicies: a default deny of all ingress and egress, and one that
 *   admits ingress from the namespace itself and from the lab (namespaces
 *   labelled `zdmlab.io/role: lab`, and the lab's host addresses when it runs
 *   outside the cluster), and egress to the namespace itself, the lab, the
 *   cluster DNS and the API server. The cluster's network plugin enforces
 *   them, or not: the local cluster's bridge plugin does not (README).
 * - A ServiceAccount `zdm-lab` whose Role, bound in the namespace only, allows
 *   what the learner's `zdm-lab` commands need there and nothing else.
 * - When the lab runs as a service account (in the cluster,
 *   deploy/kubernetes), a RoleBinding of that account to the ClusterRole
 *   `zdm-lab-environment`, made right after the namespace: the lab may write
 *   an environment's objects, and open shells there, only in the namespaces
 *   it bound itself in, and an admission policy keeps those binds to its
 *   environments' namespaces (deploy/kubernetes/rbac.yaml).
 *
 * Objects are written with server-side apply (field manager `zdm-lab`), so
 * that creating an environment again brings it back to this shape.
 */
import { ApiException, AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, DiscoveryV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject, type V1EndpointSlice, type V1LimitRange, type V1Namespace, type V1NetworkPolicy, type V1ResourceQuota, type V1Role, type V1RoleBinding, type V1ServiceAccount } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Reporter } from '../progress.js';
import { components, topology } from '../topology.js';

export const FIELD_MANAGER = 'zdm-lab';
export const SERVICE_ACCOUNT = 'zdm-lab';
export const LABELS = { environment: 'zdmlab.io/environment', role: 'zdmlab.io/role', managedBy: 'app.kubernetes.io/managed-by' } as const;
/** The label that marks the lab's own namespace, whose pods every environment admits. */
export const LAB_SELECTOR = { [LABELS.role]: 'lab' };
export const POD_SECURITY_LEVEL = 'restricted';
/** The ClusterRole a lab running as a service account binds itself to in each environment's namespace (deploy/kubernetes/rbac.yaml). */
export const LAB_ENVIRONMENT_ROLE = 'zdm-lab-environment';

/** A service account, as the API server names it in `system:serviceaccount:NAMESPACE:NAME`. */
export interface ServiceAccountName {
  namespace: string;
  name: string;
}

/** What one environment may use: the course's figures (lab/course: EnvironmentSpec). */
export interface EnvironmentBudget {
  memoryBytes: number;
  /** CPUs' worth of time; undefined: the course caps no CPU, and neither does the quota. */
  cpus?: number;
}

export interface EnvironmentOptions {
  budget: EnvironmentBudget;
  /** Addresses (CIDRs) of the lab when it runs outside the cluster, admitted like the lab's namespace. */
  labAddresses?: string[];
  /** Where the API server is: its addresses (CIDRs) and ports; read from the `kubernetes` Service's EndpointSlices when not given. */
  apiServer?: ApiServerEndpoints;
  /** Where the cluster DNS answers, as a policy sees it; read from the `kube-dns` Service's EndpointSlices when not given. */
  clusterDns?: DnsEndpoints;
  /**
   * The service account the lab runs as, bound to LAB_ENVIRONMENT_ROLE in the namespace; null: the lab
   * runs as someone else (an administrator's kubeconfig), who needs no binding; undefined: ask the API
   * server (labServiceAccount).
   */
  labAccount?: ServiceAccountName | null;
}

export interface ApiServerEndpoints {
  addresses: string[];
  ports: number[];
}

/** The cluster DNS's endpoints: addresses (CIDRs) and its DNS ports with their protocols (none when it has no endpoints). */
export interface DnsEndpoints {
  addresses: string[];
  ports: { protocol: 'UDP' | 'TCP'; port: number }[];
}

export function namespaceOf(env: number): string {
  if (!Number.isInteger(env) || env < 1) throw new Error(`an environment is a whole number from 1 up, got ${env}`);
  return `zdmlab-env-${env}`;
}

/**
 * The parts one environment runs (its Cassandra nodes and proxies, and the
 * workstation, where the sample API runs too): the share a container
 * without its own resources gets is the budget over their number.
 */
function partsPerEnvironment(): number {
  return components(topology(1)).length + 1;
}

function checkBudget(budget: EnvironmentBudget): void {
  if (!Number.isFinite(budget.memoryBytes) || budget.memoryBytes <= 0) throw new Error(`an environment's memory budget must be a number of bytes > 0, got ${budget.memoryBytes}`);
  if (budget.cpus !== undefined && (!Number.isFinite(budget.cpus) || budget.cpus <= 0)) throw new Error(`an environment's CPU budget must be a number > 0 (or none), got ${budget.cpus}`);
}

const mebibytes = (bytes: number) => `${Math.floor(bytes / 1024 ** 2)}Mi`;
const millicores = (cpus: number) => `${Math.floor(cpus * 1000)}m`;

/** Every object of environment K, namespace first (then the lab's own binding there, if any), as they are applied. */
export function environmentObjects(env: number, options: EnvironmentOptions & { apiServer: ApiServerEndpoints }): KubernetesObject[] {
  const dns = options.clusterDns ?? { addresses: [], ports: [] };
  checkBudget(options.budget);
  const namespace = namespaceOf(env);
  const labels = { [LABELS.environment]: String(env), [LABELS.managedBy]: 'zdm-lab' };
  const { memoryBytes, cpus } = options.budget;
  const parts = partsPerEnvironment();

  const ns: V1Namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: {
        ...labels,
        'pod-security.kubernetes.io/enforce': POD_SECURITY_LEVEL,
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': POD_SECURITY_LEVEL,
        'pod-security.kubernetes.io/audit': POD_SECURITY_LEVEL,
      },
    },
  };

  const hard: Record<string, string> = { 'requests.memory': mebibytes(memoryBytes), 'limits.memory': mebibytes(memoryBytes) };
  if (cpus !== undefined) Object.assign(hard, { 'requests.cpu': millicores(cpus), 'limits.cpu': millicores(cpus) });
  const quota: V1ResourceQuota = { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'budget', namespace, labels }, spec: { hard } };

  // What a container that declares no resources gets (its limit and its request): an even share of the budget.
  const perPart = { memory: mebibytes(memoryBytes / parts), ...(cpus === undefined ? {} : { cpu: millicores(cpus / parts) }) };
  const limitRange: V1LimitRange = {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: { name: 'budget', namespace, labels },
    spec: {
      limits: [
        {
          type: 'Container',
          max: { memory: mebibytes(memoryBytes), ...(cpus === undefined ? {} : { cpu: millicores(cpus) }) },
          _default: perPart,
          defaultRequest: perPart,
        },
      ],
    },
  };

  const denyAll: V1NetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'default-deny', namespace, labels },
    spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
  };
  const self = { podSelector: {} };
  const lab = { namespaceSelector: { matchLabels: LAB_SELECTOR } };
  const labHosts = (options.labAddresses ?? []).map((cidr) => ({ ipBlock: { cidr } }));
  const allow: V1NetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'environment-and-lab', namespace, labels },
    spec: {
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ _from: [self, lab, ...labHosts] }],
      egress: [
        { to: [self, lab, ...labHosts] },
        {
          to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
          ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
        },
        // A cluster DNS in the nodes' network (the local cluster's CoreDNS) is no pod a selector finds: its endpoints,
        // as the policy sees a packet once the Service's address is translated.
        ...(dns.addresses.length > 0 && dns.ports.length > 0 ? [{ to: dns.addresses.map((cidr) => ({ ipBlock: { cidr } })), ports: dns.ports }] : []),
        // The workstation's `zdm-lab` commands talk to the API server, which is no pod: its addresses.
        { to: options.apiServer.addresses.map((cidr) => ({ ipBlock: { cidr } })), ports: options.apiServer.ports.map((port) => ({ protocol: 'TCP', port })) },
      ],
    },
  };

  const account: V1ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SERVICE_ACCOUNT, namespace, labels } };
  const role: V1Role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: SERVICE_ACCOUNT, namespace, labels },
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
      // The exec stream opens as a GET upgraded to a WebSocket; the API server asks for create on it too.
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'patch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'update', 'patch'] },
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    ],
  };
  const binding: V1RoleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: SERVICE_ACCOUNT, namespace, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SERVICE_ACCOUNT },
    subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace }],
  };
  const labBinding: V1RoleBinding[] = options.labAccount
    ? [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'zdm-lab-server', namespace, labels },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: LAB_ENVIRONMENT_ROLE },
          subjects: [{ kind: 'ServiceAccount', ...options.labAccount }],
        },
      ]
    : [];
  return [ns, ...labBinding, quota, limitRange, denyAll, allow, account, role, binding];
}

/**
 * The service account the lab runs as, from the API server's own answer
 * (a SelfSubjectReview, which anyone may ask); null when it runs as anyone
 * else.
 */
export async function labServiceAccount(config: KubeConfig): Promise<ServiceAccountName | null> {
  const review = await config.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(review.status?.userInfo?.username ?? '');
  return match ? { namespace: match[1]!, name: match[2]! } : null;
}

/** The HTTP status of a refusal of the API server's, if it is one. */
export function apiStatus(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** The API server's own words for a refusal (its Status message), else the error's first line. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = error.body;
    try {
      const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string };
      if (status?.message) return `${error.code}: ${status.message}`;
    } catch {
      // not a Status
    }
    return `${error.code}: ${String(body).slice(0, 300)}`;
  }
  return (error as Error).message.split('\n')[0];
}

/**
 * Writes `objects` with server-side apply as the lab's field manager, in
 * order (so that creating them again brings them back to shape); what the
 * API server returned. A refusal names the object, `what` it belongs to and
 * the API server's words.
 */
export async function applyObjects<T extends KubernetesObject>(config: KubeConfig, objects: T[], what: string): Promise<T[]> {
  const client = KubernetesObjectApi.makeApiClient(config);
  const applied: T[] = [];
  for (const object of objects) {
    try {
      applied.push(await client.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
    } catch (error) {
      throw new Error(`could not apply ${object.kind} ${object.metadata?.name} of ${what}: ${apiMessage(error)}`);
    }
  }
  return applied;
}

/**
 * Asks `done` every `stepMs` until it holds; every 5 s it reports what it
 * waits for, with `why` (asked only then, since it may cost API calls), and
 * after `timeoutMs` it fails with the same. The seconds it took.
 */
export async function waitForCluster(what: string, done: () => Promise<boolean>, report: Reporter, timeoutMs: number, options: { stepMs?: number; why?: () => Promise<string> } = {}): Promise<number> {
  const started = Date.now();
  let lastReport = started;
  const why = async () => (options.why ? `: ${await options.why()}` : '');
  for (;;) {
    if (await done()) return (Date.now() - started) / 1000;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000}s${await why()}`);
    if (Date.now() - lastReport >= 5000) {
      report(`waiting for ${what} (${Math.round((Date.now() - started) / 1000)}s)${await why()}`);
      lastReport = Date.now();
    }
    await sleep(options.stepMs ?? 250);
  }
}

/** Every endpoint address of the slices, once each, as a CIDR of that one address (/32, or /128 for IPv6). */
function endpointCidrs(slices: V1EndpointSlice[]): string[] {
  return [...new Set(slices.flatMap((slice) => slice.endpoints.flatMap((e) => e.addresses.map((a) => (a.includes(':') ? `${a}/128` : `${a}/32`)))))];
}

/** The API server's addresses (as /32s) and ports, from the `kubernetes` Service's EndpointSlices. */
async function apiServerEndpoints(config: KubeConfig): Promise<ApiServerEndpoints> {
  const slices = await config.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=kubernetes' });
  const addresses = endpointCidrs(slices.items);
  const ports = [...new Set(slices.items.flatMap((slice) => (slice.ports ?? []).flatMap((p) => (p.port === undefined ? [] : [p.port]))))];
  if (addresses.length === 0 || ports.length === 0) throw new Error('the `kubernetes` Service in namespace default has no endpoints: is the API server up?');
  return { addresses, ports };
}

/** The cluster DNS's endpoints, from the EndpointSlices of kube-system's `kube-dns` Service: the ports named dns and dns-tcp, as clusters name them. */
async function clusterDnsEndpoints(config: KubeConfig): Promise<DnsEndpoints> {
  const slices = await config.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: 'kube-system', labelSelector: 'kubernetes.io/service-name=kube-dns' });
  const addresses = endpointCidrs(slices.items);
  const ports = new Map<string, { protocol: 'UDP' | 'TCP'; port: number }>();
  for (const p of slices.items.flatMap((slice) => slice.ports ?? [])) {
    if ((p.name === 'dns' || p.name === 'dns-tcp') && p.port !== undefined && (p.protocol === 'UDP' || p.protocol === 'TCP')) ports.set(`${p.protocol}/${p.port}`, { protocol: p.protocol, port: p.port });
  }
  return { addresses, ports: [...ports.values()] };
}

export interface CreatedEnvironment {
  namespace: string;
  seconds: number;
}

/**
 * Creates environment K (or brings it back to shape) and waits until it can
 * take pods: the namespace is Active, the quota has been counted (the API
 * server refuses pods in a namespace whose quota it has not counted yet) and
 * the service account exists.
 */
export async function createEnvironment(config: KubeConfig, env: number, options: EnvironmentOptions, report: Reporter, timeoutMs = 60_000): Promise<CreatedEnvironment> {
  const started = Date.now();
  const core = config.makeApiClient(CoreV1Api);
  const labAccount = options.labAccount === undefined ? await labServiceAccount(config) : options.labAccount;
  const objects = environmentObjects(env, {
    ...options,
    labAccount,
    apiServer: options.apiServer ?? (await apiServerEndpoints(config)),
    clusterDns: options.clusterDns ?? (await clusterDnsEndpoints(config)),
  });
  const namespace = namespaceOf(env);
  if (labAccount) {
    // The namespace and the lab's binding there first: the rest may be written once the binding holds.
    await applyObjects(config, objects.slice(0, 2), `environment ${env}`);
    await waitForCluster(
      `the lab's binding in namespace ${namespace} to take effect`,
      async () => {
        const review = await config.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace, verb: 'create', resource: 'resourcequotas' } } } });
        return review.status?.allowed === true;
      },
      report,
      30_000,
      { stepMs: 100 },
    );
    await applyObjects(config, objects.slice(2), `environment ${env}`);
  } else {
    await applyObjects(config, objects, `environment ${env}`);
  }
  let state = '';
  await waitForCluster(
    `namespace ${namespace} of environment ${env} to be ready`,
    async () => {
      const ns = await core.readNamespace({ name: namespace });
      const quota = await core.readNamespacedResourceQuota({ name: 'budget', namespace });
      const counted = quota.status?.hard !== undefined && Object.keys(quota.spec?.hard ?? {}).every((k) => quota.status?.hard?.[k] !== undefined);
      state = `namespace ${ns.status?.phase}, quota ${counted ? 'counted' : 'not counted yet (is the controller manager running?)'}`;
      return ns.status?.phase === 'Active' && counted;
    },
    report,
    timeoutMs,
    { stepMs: 200, why: async () => state },
  );
  const seconds = (Date.now() - started) / 1000;
  report(`environment ${env}: namespace ${namespace} ready in ${seconds.toFixed(1)}s`);
  return { namespace, seconds };
}

/**
 * Deletes environment K's namespace and everything in it, and waits until
 * the namespace is gone. Returns the seconds it took; an environment that is
 * not there is no error.
 */
export async function destroyEnvironment(config: KubeConfig, env: number, report: Reporter, timeoutMs = 300_000): Promise<number> {
  const started = Date.now();
  const core = config.makeApiClient(CoreV1Api);
  const namespace = namespaceOf(env);
  try {
    await core.deleteNamespace({ name: namespace });
  } catch (error) {
    if (apiStatus(error) === 404) {
      report(`environment ${env}: namespace ${namespace} is not there`);
      return 0;
    }
    throw error;
  }
  let state = '';
  await waitForCluster(
    `namespace ${namespace} to be removed`,
    async () => {
      let ns: V1Namespace;
      try {
        ns = await core.readNamespace({ name: namespace });
      } catch (error) {
        if (apiStatus(error) === 404) return true;
        throw error;
      }
      const waitingOn = (ns.status?.conditions ?? []).filter((c) => c.status === 'True').map((c) => `${c.type}: ${c.message}`);
      state = [ns.status?.phase, ...waitingOn].join('; ');
      return false;
    },
    report,
    timeoutMs,
    { why: async () => state },
  );
  const seconds = (Date.now() - started) / 1000;
  report(`environment ${env}: namespace ${namespace} removed in ${seconds.toFixed(1)}s`);
  return seconds;
}

/** The kubeconfig of environment K's service account, from a short-lived token (TokenRequest): what its workstation's `zdm-lab` acts with. */
export async function serviceAccountConfig(config: KubeConfig, env: number, expirationSeconds = 3600): Promise<KubeConfig> {
  const core = config.makeApiClient(CoreV1Api);
  const namespace = namespaceOf(env);
  const request = await core.createNamespacedServiceAccountToken({ name: SERVICE_ACCOUNT, namespace, body: { spec: { audiences: [], expirationSeconds } } });
  const token = request.status?.token;
  if (!token) throw new Error(`the API server gave no token for service account ${namespace}/${SERVICE_ACCOUNT}`);
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig names no current cluster');
  const scoped = new KubeConfig();
  scoped.loadFromOptions({
    clusters: [cluster],
    users: [{ name: SERVICE_ACCOUNT, token }],
    contexts: [{ name: namespace, cluster: cluster.name, user: SERVICE_ACCOUNT, namespace }],
    currentContext: namespace,
  });
  return scoped;
}
