/**
 * deploy/kubernetes against what the lab's code makes on a cluster: the
 * role the lab binds itself to in each environment's namespace holds every
 * permission of the Role it gives each learner's workstation (the API server
 * lets it grant nothing it does not hold) and may write every kind of object
 * an environment is made of, while across the cluster the lab holds only
 * namespaces, its own binds (kept to its environments' namespaces by the
 * admission policy, for the lab's own account) and the API server's addresses; the
 * lab's namespace carries the label the environments' NetworkPolicy admits;
 * the settings name every image and variable the lab server reads; and the
 * lab's pod meets Pod Security "restricted", as the learners' do. A
 * mismatch here is a lab that deploys and then fails at its first learner.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { KubernetesObject, V1ClusterRole, V1ClusterRoleBinding, V1Deployment, V1Namespace, V1PolicyRule, V1Role, V1RoleBinding, V1ServiceAccount, V1ValidatingAdmissionPolicy } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { environmentObjects, LAB_ENVIRONMENT_ROLE, LAB_SELECTOR, namespaceOf } from '../../infra/kube/environment.js';
import { credentialsSecret, nodeObjects, proxyServices } from '../../infra/kube/workloads.js';
import { workstationObjects } from '../../infra/kube/workstation.js';
import { projectRoot } from '../../infra/paths.js';
import { topology } from '../../infra/topology.js';

const deployDir = join(projectRoot, 'deploy', 'kubernetes');
const documents = (file: string) => parseAllDocuments(readFileSync(join(deployDir, file), 'utf8')).map((d) => d.toJS() as KubernetesObject);
const objects = ['namespace.yaml', 'rbac.yaml', 'lab-server.yaml'].flatMap(documents);
const kustomization = documents('kustomization.yaml')[0] as unknown as { resources: string[]; namespace: string; configMapGenerator: { name: string; literals: string[] }[] };
const clusterRoleBinding = objects.find((o) => o.kind === 'ClusterRoleBinding') as V1ClusterRoleBinding;
/** What the lab holds across the cluster. */
const clusterRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === clusterRoleBinding.roleRef.name) as V1ClusterRole;
/** What the lab holds in each environment's namespace, where it binds itself to it. */
const environmentRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === LAB_ENVIRONMENT_ROLE) as V1ClusterRole;
const account = objects.find((o) => o.kind === 'ServiceAccount') as V1ServiceAccount;
const policy = objects.find((o) => o.kind === 'ValidatingAdmissionPolicy') as V1ValidatingAdmissionPolicy;
const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;

/** Whether `rules` allow `verb` on `resource` of `group` (no wildcards are used on either side). */
function allows(rules: V1PolicyRule[], group: string, resource: string, verb: string): boolean {
  return rules.some((r) => (r.apiGroups ?? []).includes(group) && (r.resources ?? []).includes(resource) && r.verbs.includes(verb));
}

/** The API group of an object's apiVersion: "" for v1. */
const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');
/** The resource of a kind, as RBAC names it. */
const resourceOf = (kind: string) => ({ NetworkPolicy: 'networkpolicies', ResourceQuota: 'resourcequotas', LimitRange: 'limitranges', ServiceAccount: 'serviceaccounts', RoleBinding: 'rolebindings', Role: 'roles', ConfigMap: 'configmaps', Secret: 'secrets', Service: 'services', StatefulSet: 'statefulsets', Namespace: 'namespaces' })[kind];

const labAccount = { namespace: 'zdm-lab', name: 'zdm-lab' };
const environment = environmentObjects(7, { budget: { memoryBytes: 1331 * 1024 ** 2, cpus: 2 }, apiServer: { addresses: ['10.0.0.1/32'], ports: [6443] }, labAccount });
const topo = topology(7);
const images = { cassandra: 'c', proxy: 'p', workstation: 'w' };
// The proxies' StatefulSet and ConfigMap are of the kinds the nodes' objects have (their content needs the learner's proxy files).
const workloads = [credentialsSecret(7), ...nodeObjects(topo.origin, { images, replicas: 0 }), ...proxyServices(7), ...workstationObjects(7, { image: 'w' })];

describe('deploy/kubernetes', () => {
  test('the kustomization lists every manifest of the folder and puts them in namespace zdm-lab', () => {
    assert.deepEqual(kustomization.resources.sort(), ['lab-server.yaml', 'namespace.yaml', 'rbac.yaml']);
    assert.equal(kustomization.namespace, 'zdm-lab');
    const clusterWide = ['ClusterRole', 'ClusterRoleBinding', 'Namespace', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];
    for (const o of objects) if (!clusterWide.includes(o.kind!)) assert.equal(o.metadata?.namespace, 'zdm-lab', `${o.kind} ${o.metadata?.name}`);
  });

  test('the lab may grant each workstation its Role: every rule of it is in the role the lab binds itself to there', () => {
    const role = environment.find((o) => o.kind === 'Role') as V1Role;
    for (const rule of role.rules ?? []) {
      for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) for (const verb of rule.verbs) assert.ok(allows(environmentRole.rules!, group, resource, verb), `${LAB_ENVIRONMENT_ROLE} lacks ${verb} on ${group || 'core'}/${resource}`);
    }
  });

  test('the lab binds itself in each environment\'s namespace, right after making it, and may then make (server-side apply: create and patch) and remove every object of it', () => {
    const [ns, own] = environment as [V1Namespace, V1RoleBinding];
    assert.equal(ns.kind, 'Namespace');
    assert.equal(own.kind, 'RoleBinding');
    assert.deepEqual(own.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: LAB_ENVIRONMENT_ROLE });
    assert.deepEqual(own.subjects, [{ kind: 'ServiceAccount', namespace: account.metadata?.namespace, name: account.metadata?.name }]);
    assert.ok(allows(clusterRole.rules!, '', 'namespaces', 'create') && allows(clusterRole.rules!, '', 'namespaces', 'patch'), 'making a namespace, and making it again');
    assert.ok(allows(clusterRole.rules!, 'rbac.authorization.k8s.io', 'rolebindings', 'create') && allows(clusterRole.rules!, 'rbac.authorization.k8s.io', 'rolebindings', 'patch'), 'its binding there');
    assert.ok(clusterRole.rules!.some((r) => r.resources?.includes('clusterroles') && r.verbs.includes('bind') && r.resourceNames?.join() === LAB_ENVIRONMENT_ROLE), `it may bind ${LAB_ENVIRONMENT_ROLE} and no other ClusterRole`);
    for (const o of [...environment.slice(2), ...workloads]) {
      const resource = resourceOf(o.kind!);
      assert.ok(resource, `a resource name for ${o.kind}`);
      for (const verb of ['get', 'create', 'patch']) assert.ok(allows(environmentRole.rules!, groupOf(o.apiVersion!), resource, verb), `${LAB_ENVIRONMENT_ROLE} lacks ${verb} on ${o.kind}`);
    }
    assert.ok(allows(clusterRole.rules!, '', 'namespaces', 'delete'), 'removing a learner deletes their namespace');
    assert.ok(allows(clusterRole.rules!, 'discovery.k8s.io', 'endpointslices', 'list'), "the API server's addresses, for each environment's egress policy");
    assert.ok(allows(environmentRole.rules!, '', 'pods/exec', 'create'), 'terminals and commands in the workstations');
  });

  test('across the cluster the lab reads no Secret and runs nothing; the admission policy keeps its namespace and RoleBinding writes to its environments\' namespaces', () => {
    const reach = new Set(clusterRole.rules!.flatMap((r) => r.resources ?? []));
    assert.deepEqual([...reach].sort(), ['clusterroles', 'endpointslices', 'namespaces', 'rolebindings']);
    // The policy matches the lab's own account, as the kustomization places it.
    const condition = policy.spec!.matchConditions![0]!.expression;
    assert.equal(condition, `request.userInfo.username == 'system:serviceaccount:${kustomization.namespace}:${account.metadata?.name}'`);
    const binding = objects.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding') as { spec: { policyName: string; validationActions: string[] } };
    assert.equal(binding.spec.policyName, policy.metadata?.name);
    assert.deepEqual(binding.spec.validationActions, ['Deny']);
    const rules = policy.spec!.matchConstraints!.resourceRules!;
    assert.deepEqual(rules.map((r) => r.resources![0]).sort(), ['namespaces', 'rolebindings']);
    for (const r of rules) assert.deepEqual(r.operations, ['CREATE', 'UPDATE', 'DELETE']);
    // Each validation: names of the lab's environments pass, others do not (the pattern is RE2's and JavaScript's alike).
    for (const v of policy.spec!.validations!) {
      const pattern = new RegExp(/matches\('([^']+)'\)/.exec(v.expression)![1]!);
      assert.ok(pattern.test(namespaceOf(7)) && pattern.test(namespaceOf(254)), v.expression);
      for (const other of ['kube-system', 'default', 'zdm-lab', 'zdmlab-env-7x', 'my-zdmlab-env-7']) assert.ok(!pattern.test(other), `${v.expression} refuses ${other}`);
    }
  });

  test('the lab\'s namespace is the one the environments\' NetworkPolicy admits, and enforces Pod Security restricted', () => {
    const ns = objects.find((o) => o.kind === 'Namespace') as V1Namespace;
    for (const [key, value] of Object.entries(LAB_SELECTOR)) assert.equal(ns.metadata?.labels?.[key], value);
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  test('the lab server\'s pod is a restricted one, with its state on the volume and every setting it reads', () => {
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0];
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(deployment.spec?.strategy?.type, 'Recreate', 'two servers never share the state');
    assert.ok(container.volumeMounts?.some((m) => m.mountPath === '/var/lib/zdm-lab' && pod.volumes?.find((v) => v.name === m.name)?.persistentVolumeClaim?.claimName === 'state'));
    const settings = kustomization.configMapGenerator.find((g) => g.name === 'zdm-lab-settings')!.literals.map((l) => l.split('=')[0]);
    assert.deepEqual(settings.sort(), ['ZDM_LAB_CASSANDRA_IMAGE', 'ZDM_LAB_PROXY_IMAGE', 'ZDM_LAB_PUBLIC_URL', 'ZDM_LAB_STORAGE_CLASS', 'ZDM_LAB_WORKSTATION_IMAGE']);
    assert.ok(container.envFrom?.some((e) => e.configMapRef?.name === 'zdm-lab-settings'));
    assert.ok(container.args?.includes('$(ZDM_LAB_PUBLIC_URL)'));
  });
});
