/**
 * The kubernetes backend: environment K's Origin, Target and proxies are the
 * StatefulSets of its namespace (infra/kube/workloads.ts), which the lab
 * creates with the environment (infra/kube/provision.ts) and this backend
 * only starts, stops and reads. It runs where the learner's `zdm-lab` runs,
 * in the environment's workstation pod, as the namespace's ServiceAccount
 * `zdm-lab`, whose Role (infra/kube/environment.ts) allows what is done here
 * and nothing else: patching the StatefulSets and the proxies' ConfigMap,
 * deleting and reading pods, reading their logs and the proxies' Services.
 * Outside a pod it uses KUBECONFIG.
 *
 * - A node starts by scaling its StatefulSet to one and stops by scaling it
 *   to none; its claim keeps its data (keepsDataWhenStopped).
 * - The proxies are one StatefulSet of three whose pods are replaced only
 *   when deleted (OnDelete): starting proxy i writes the learner's
 *   configuration into the StatefulSet's template and replaces pod i if it
 *   runs another; stopping any proxy scales the StatefulSet to none, since
 *   every command of the lab stops the proxies together; a rolling update
 *   replaces one pod at a time (`restartProxy`), the other two untouched.
 * - Addresses are the `cluster` plan's names (infra/topology.ts), resolved
 *   in the namespace; the commands check readiness over the network as on
 *   every backend.
 */
import { mkdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, Log, PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import { writeEffectiveConfig } from '../config/effective.js';
import { credentialsFile, credentialsOf, loginCluster } from '../credentials.js';
import type { Reporter } from '../progress.js';
import { clusterProxyName, PROXY_COUNT, topology, type ComponentSpec, type NodeSpec, type ProxySpec, type Topology } from '../topology.js';
import { apiMessage, apiStatus, applyObjects, FIELD_MANAGER, namespaceOf, waitForCluster } from '../kube/environment.js';
import { PROXY_NAME, proxyObjects, proxyRevision, readProxyAddresses } from '../kube/workloads.js';
import type { Backend, ComponentStatus, ExecCommand } from './backend.js';

/** The pod a component runs in: `origin-0`, `zdm-proxy-1`. */
export function podOf(component: ComponentSpec): string {
  return component.kind === 'cassandra' ? `${component.name}-0` : clusterProxyName(component.index);
}

const setOf = (component: ComponentSpec) => (component.kind === 'cassandra' ? component.name : PROXY_NAME);
/** The container of a component's pod that runs it (workloads.ts). */
const containerOf = (component: ComponentSpec) => (component.kind === 'cassandra' ? 'cassandra' : PROXY_NAME);

export class KubernetesBackend implements Backend {
  readonly name = 'kubernetes';
  readonly keepsDataWhenStopped = true;
  private readonly config: KubeConfig;

  constructor(config?: KubeConfig) {
    if (config) {
      this.config = config;
    } else {
      this.config = new KubeConfig();
      this.config.loadFromDefault();
    }
  }

  private get core(): CoreV1Api {
    return this.config.makeApiClient(CoreV1Api);
  }

  private async patchSet(env: number, name: string, spec: object): Promise<void> {
    const patch = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name, namespace: namespaceOf(env) }, spec };
    try {
      await KubernetesObjectApi.makeApiClient(this.config).patch(patch, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
    } catch (error) {
      throw new Error(`StatefulSet ${namespaceOf(env)}/${name}: ${apiMessage(error)}`);
    }
  }

  async prepare(topo: Topology, _report: Reporter): Promise<void> {
    const apps = this.config.makeApiClient(AppsV1Api);
    const namespace = namespaceOf(topo.env);
    for (const name of ['origin', 'target', PROXY_NAME]) {
      try {
        await apps.readNamespacedStatefulSet({ name, namespace });
      } catch (error) {
        throw new Error(`environment ${topo.env} has no StatefulSet ${name} in namespace ${namespace} (${apiMessage(error)}): the lab creates an environment's workloads with it`);
      }
    }
  }

  async startNode(node: NodeSpec, report: Reporter): Promise<void> {
    await this.patchSet(node.env, node.name, { replicas: 1 });
    await this.waitForPod(node, undefined, report);
  }

  /**
   * Waits until the component's pod is there, not going away, and (given a
   * revision) of that revision: from then on `status` tells how it starts,
   * and the commands' readiness checks take over.
   */
  private async waitForPod(component: ComponentSpec, revision: string | undefined, report: Reporter, replacing?: string): Promise<void> {
    await waitForCluster(
      `${podOf(component)} to be created`,
      async () => {
        const pod = await this.readPod(component);
        return (
          pod !== undefined &&
          !pod.metadata?.deletionTimestamp &&
          pod.metadata?.uid !== replacing &&
          (revision === undefined || pod.metadata?.labels?.['controller-revision-hash'] === revision)
        );
      },
      report,
      60_000,
      { stepMs: 200 },
    );
  }

  /**
   * Writes the learner's configuration into the proxies' ConfigMap and
   * template (a new revision when it changed), with all three to run; the
   * revision. The image stays the one the lab gave the StatefulSet, and the
   * Services the lab's.
   */
  private async applyProxyConfig(env: number): Promise<string> {
    const namespace = namespaceOf(env);
    const set = await this.config
      .makeApiClient(AppsV1Api)
      .readNamespacedStatefulSet({ name: PROXY_NAME, namespace })
      .catch((error: unknown) => {
        throw new Error(`StatefulSet ${namespace}/${PROXY_NAME}: ${apiMessage(error)}`);
      });
    const image = set.spec?.template.spec?.containers[0]?.image;
    if (!image) throw new Error(`StatefulSet ${namespace}/${PROXY_NAME} names no image`);
    const topo = topology(env, 'cluster');
    const objects = proxyObjects(topo, await readProxyAddresses(this.config, env), { images: { proxy: image }, replicas: PROXY_COUNT }).filter((o) => o.kind !== 'Service');
    await applyObjects(this.config, objects, `environment ${env}'s proxies`);
    return proxyRevision(this.config, env);
  }

  private async deletePod(component: ComponentSpec): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ name: podOf(component), namespace: namespaceOf(component.env) });
    } catch (error) {
      if (apiStatus(error) !== 404) throw new Error(`pod ${namespaceOf(component.env)}/${podOf(component)}: ${apiMessage(error)}`);
    }
  }

  /** The proxy on the learner's configuration as it is now: its pod is replaced when it runs another revision (start) or in any case (restart). */
  private async runProxy(proxy: ProxySpec, env: Record<string, string>, report: Reporter, replace: 'if behind' | 'always'): Promise<void> {
    const revision = await this.applyProxyConfig(proxy.env);
    const before = await this.readPod(proxy);
    const replaced = before !== undefined && !before.metadata?.deletionTimestamp && (replace === 'always' || before.metadata?.labels?.['controller-revision-hash'] !== revision);
    if (replaced) await this.deletePod(proxy);
    // Until the old pod is gone, its readiness would answer for the new one.
    await this.waitForPod(proxy, revision, report, replaced ? before.metadata?.uid : undefined);
    mkdirSync(proxy.dir, { recursive: true });
    // What the proxy was started with, where `proxy status` reads it on every backend.
    writeEffectiveConfig(proxy, env);
  }

  startProxy(proxy: ProxySpec, env: Record<string, string>, report: Reporter): Promise<void> {
    return this.runProxy(proxy, env, report, 'if behind');
  }

  /** One proxy onto the learner's configuration as it is now, the other two untouched: its pod is replaced. */
  restartProxy(proxy: ProxySpec, env: Record<string, string>, report: Reporter): Promise<void> {
    return this.runProxy(proxy, env, report, 'always');
  }

  async stop(component: ComponentSpec): Promise<void> {
    await this.patchSet(component.env, setOf(component), { replicas: 0 });
    await waitForCluster(`${podOf(component)} to stop`, async () => (await this.readPod(component)) === undefined, () => {}, component.kind === 'cassandra' ? 60_000 : 30_000);
  }

  private async readPod(component: ComponentSpec): Promise<V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ name: podOf(component), namespace: namespaceOf(component.env) });
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw new Error(`pod ${namespaceOf(component.env)}/${podOf(component)}: ${apiMessage(error)}`);
    }
  }

  async status(component: ComponentSpec): Promise<ComponentStatus> {
    const pod = await this.readPod(component);
    if (!pod) return { state: 'down', detail: 'not started' };
    if (pod.metadata?.deletionTimestamp) return { state: 'down', detail: 'stopping' };
    const container = pod.status?.containerStatuses?.[0];
    const terminated = container?.lastState?.terminated;
    if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') return { state: 'down', detail: `pod ${pod.status.phase}` };
    if (container?.state?.waiting?.reason === 'CrashLoopBackOff') {
      return { state: 'down', detail: `restarting after it exited${terminated ? ` with code ${terminated.exitCode}` : ''}` };
    }
    const started = container?.state?.running?.startedAt ?? pod.status?.startTime;
    return { state: 'running', startedAt: started ? new Date(started).getTime() : undefined };
  }

  /** Pods' logs are read through the API server, never from a file of this machine. */
  logFile(_component: ComponentSpec): string | undefined {
    return undefined;
  }

  /** The pod's last log lines; those of its container's previous run when the current one has written none yet (it crashed and restarts). */
  async logLines(component: ComponentSpec, lines: number): Promise<string | undefined> {
    const pod = await this.readPod(component);
    if (!pod) return undefined;
    const request = { name: podOf(component), namespace: namespaceOf(component.env), container: containerOf(component), tailLines: lines };
    const current = await this.core.readNamespacedPodLog(request).catch(() => '');
    if (current.trim() !== '' || !pod.status?.containerStatuses?.[0]?.restartCount) return current.trimEnd() || undefined;
    const previous = await this.core.readNamespacedPodLog({ ...request, previous: true }).catch(() => '');
    return previous.trimEnd() || undefined;
  }

  async printLogs(components: ComponentSpec[], follow: boolean): Promise<number> {
    const header = components.length > 1;
    const logs = new Log(this.config);
    const printed = components.map(async (component) => {
      const namespace = namespaceOf(component.env);
      let partial = '';
      const out = new Writable({
        write(chunk: Buffer, _encoding, done) {
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) process.stdout.write(header ? `${component.name} | ${line}\n` : `${line}\n`);
          done();
        },
      });
      try {
        const request = await logs.log(namespace, podOf(component), containerOf(component), out, { follow, tailLines: follow ? 40 : undefined });
        await new Promise<void>((resolve) => {
          out.on('finish', () => resolve());
          out.on('close', () => resolve());
          request.signal.addEventListener('abort', () => resolve());
        });
      } catch (error) {
        process.stderr.write(`${component.name}: no log (${apiMessage(error)})\n`);
        return 1;
      }
      return 0;
    });
    return Math.max(0, ...(await Promise.all(printed)));
  }

  async cqlsh(component: ComponentSpec): Promise<ExecCommand> {
    // As on the other backends: protocol v4, the environment's credentials file (Target's through the proxies).
    const cluster = loginCluster(component);
    const { username } = credentialsOf(component.env, cluster);
    return { command: 'cqlsh', args: [component.address, String(component.port), '-u', username, '--credentials', credentialsFile(component.env, cluster), '--protocol-version=4'] };
  }
}
