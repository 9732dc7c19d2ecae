/**
 * The local cluster's DNS: CoreDNS (built here, build.ts) in
 * kube-system behind the Service `kube-dns` at a fixed address of the
 * Service range, which the kubelet gives every pod as its resolver
 * (clusterDNS). It answers for the cluster's domain only, from the API
 * server (the `kubernetes` plugin: Services, headless Services' pods by
 * their host names, pod addresses); anything else is refused, since pods
 * have no route off the host.
 *
 * CoreDNS runs in the node's network, bound to the pod bridge's gateway
 * address only, on an unprivileged port as an unprivileged user; the
 * Service maps port 53 to it. The cluster DNS is then a Service whose
 * endpoint is the host, as the `kubernetes` Service's is, and answers
 * whatever the host forwards (host.ts: only within the pod bridge).
 */
import { AppsV1Api, KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Reporter } from '../progress.js';
import { applyObjects, waitForCluster } from './environment.js';

export const DNS_SERVICE_IP = '10.213.128.10';
export const CLUSTER_DOMAIN = 'cluster.local';
const NAMESPACE = 'kube-system';
const NAME = 'coredns';
const PORT = 1053;
const READY_PORT = 8181;
const labels = { 'k8s-app': 'kube-dns' };

/**
 * The plugins the Corefile below uses, in CoreDNS's execution order (its
 * plugin.cfg): the build links these and no others (build.ts), since the
 * cloud back ends of a full CoreDNS are most of its build time.
 */
export const COREDNS_PLUGINS = ['bind', 'ready', 'errors', 'kubernetes'] as const;

/** The server block: the cluster's domain and reverse zones on `address` only. */
export const corefile = (address: string) => `.:${PORT} {
    bind ${address}
    errors
    ready ${address}:${READY_PORT}
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
}
`;

/** The objects of the cluster DNS, CoreDNS from `image` listening on the node's `address`. */
export function dnsObjects(image: string, address: string): KubernetesObject[] {
  const account = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace: NAMESPACE } };
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'zdm-lab:coredns' },
    rules: [
      { apiGroups: [''], resources: ['services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'zdm-lab:coredns' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'zdm-lab:coredns' },
    subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE }],
  };
  const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: NAME, namespace: NAMESPACE }, data: { Corefile: corefile(address) } };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME, namespace: NAMESPACE, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: NAME,
          hostNetwork: true,
          // Its own resolver would be itself.
          dnsPolicy: 'Default',
          securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: NAME,
              image,
              imagePullPolicy: 'Never',
              args: ['-conf', '/etc/coredns/Corefile'],
              ports: [
                { name: 'dns', containerPort: PORT, protocol: 'UDP' },
                { name: 'dns-tcp', containerPort: PORT, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/ready', port: READY_PORT }, periodSeconds: 2 },
              resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '96Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: NAME } }],
          terminationGracePeriodSeconds: 1,
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kube-dns', namespace: NAMESPACE, labels },
    spec: {
      clusterIP: DNS_SERVICE_IP,
      selector: labels,
      ports: [
        { name: 'dns', port: 53, targetPort: PORT, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, targetPort: PORT, protocol: 'TCP' },
      ],
    },
  };
  return [account, role, binding, config, deployment, service];
}

/** Starts the cluster DNS (or brings it back to shape) and waits until it answers (its readiness). */
export async function startDns(kubeconfig: string, image: string, address: string, report: Reporter, timeoutMs = 120_000): Promise<void> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  await applyObjects(config, dnsObjects(image, address), 'the cluster DNS');
  const apps = config.makeApiClient(AppsV1Api);
  let conditions = '';
  const seconds = await waitForCluster(
    `the cluster DNS (deployment ${NAMESPACE}/${NAME}) to be ready`,
    async () => {
      const deployment = await apps.readNamespacedDeployment({ name: NAME, namespace: NAMESPACE });
      conditions = JSON.stringify(deployment.status?.conditions ?? []);
      return (deployment.status?.readyReplicas ?? 0) >= 1;
    },
    report,
    timeoutMs,
    { why: async () => conditions },
  );
  report(`cluster DNS ready at ${DNS_SERVICE_IP} in ${seconds.toFixed(1)}s`);
}
