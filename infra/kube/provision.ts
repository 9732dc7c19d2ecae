/**
 * Environment K on Kubernetes, as the lab makes it for a learner: its
 * namespace with quota, policies and ServiceAccount (environment.ts), and
 * every workload of it (workloads.ts, workstation.ts) written once, by the
 * lab's own identity. Origin, Target and the proxies are there from the
 * start with no pod running (their StatefulSets at zero), as the course's
 * first step finds them on every backend: the learner's `zdm-lab infra up`
 * and `proxy deploy` start them from the workstation, whose ServiceAccount
 * may scale and configure them but not create anything
 * (infra/backends/kubernetes.ts). The workstation itself runs at once.
 *
 * Made again (a lab that starts again makes its environments again), an
 * environment is brought back to shape, but a StatefulSet of Origin, Target
 * or the proxies that is there already is left as the learner's commands
 * made it: running or not, with the learner's proxy configuration.
 */
import { AppsV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { ensureProxyConfig } from '../config/proxy.js';
import type { Reporter } from '../progress.js';
import { topology } from '../topology.js';
import { applyObjects, createEnvironment, destroyEnvironment, namespaceOf, type EnvironmentOptions } from './environment.js';
import { provideLocalVolumes, releaseLocalVolumes } from './storage.js';
import { credentialsSecret, nodeClaims, nodeObjects, proxyAddresses, proxyObjects, type WorkloadImages } from './workloads.js';
import { deployWorkstation } from './workstation.js';

export interface ProvisionOptions extends EnvironmentOptions {
  images: Required<WorkloadImages>;
  /** The nodes' StorageClass: LOCAL_STORAGE_CLASS on the lab's local cluster, another by name, or (none) the cluster's default. */
  storageClass?: string;
  /** The nodes' volumes are made here, as folders of this machine (the local cluster, run from its host: storage.ts). */
  localVolumes?: boolean;
}

/** Makes environment K (or brings it back to shape) and waits until its workstation runs; the seconds it took. */
export async function provisionEnvironment(config: KubeConfig, env: number, options: ProvisionOptions, report: Reporter): Promise<number> {
  const started = Date.now();
  await createEnvironment(config, env, options, report);
  if (options.localVolumes) await provideLocalVolumes(config, nodeClaims(env));
  const topo = topology(env);
  const workloads = { images: options.images, storageClass: options.storageClass, replicas: 0 };
  const sets = await config.makeApiClient(AppsV1Api).listNamespacedStatefulSet({ namespace: namespaceOf(env) });
  const existing = new Set(sets.items.map((set) => set.metadata?.name));
  const absent = (object: KubernetesObject) => object.kind !== 'StatefulSet' || !existing.has(object.metadata?.name);
  await applyObjects(config, [credentialsSecret(env), ...nodeObjects(topo.origin, workloads), ...nodeObjects(topo.target, workloads)].filter(absent), `environment ${env}'s nodes`);
  ensureProxyConfig(topo);
  await applyObjects(config, proxyObjects(topo, await proxyAddresses(config, env), { images: options.images, replicas: 0 }).filter(absent), `environment ${env}'s proxies`);
  await deployWorkstation(config, env, { image: options.images.workstation }, report);
  const seconds = (Date.now() - started) / 1000;
  report(`environment ${env} is ready for its learner in ${seconds.toFixed(1)}s (namespace ${namespaceOf(env)}; Origin, Target and the proxies not started)`);
  return seconds;
}

/** Removes environment K: its namespace with everything in it, and the local volumes made for it. */
export async function removeEnvironment(config: KubeConfig, env: number, options: { localVolumes?: boolean }, report: Reporter): Promise<number> {
  const seconds = await destroyEnvironment(config, env, report);
  if (options.localVolumes) await releaseLocalVolumes(config, namespaceOf(env));
  return seconds;
}
