/**
 * What the suites on the local Kubernetes cluster share: whether this host
 * can run it, its command line (`infra/kube/cli.ts`) with progress passed
 * through, waiting for a pod, a command through the API server's exec
 * stream, and the check that `down` left nothing on the host.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { BRIDGE, HOST_DIRS, leftovers, stateDir } from '../../infra/kube/cluster.js';
import { projectRoot } from '../../infra/paths.js';

/** Why this host cannot run the local cluster, or undefined. */
export function kubeHostProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const [path, install] of [
    ['/usr/bin/containerd', 'apt-get install containerd'],
    ['/usr/sbin/runc', 'apt-get install runc'],
    ['/usr/lib/cni/bridge', 'apt-get install containernetworking-plugins'],
    ['/bin/busybox', 'apt-get install busybox-static'],
    ['/usr/sbin/nft', 'apt-get install nftables'],
    ['/usr/sbin/iptables', 'apt-get install iptables'],
    ['/usr/sbin/ipset', 'apt-get install ipset'],
  ]) {
    if (!existsSync(path)) return `${path} is missing (${install})`;
  }
  return undefined;
}

export interface KubeCliResult {
  code: number;
  stdout: string;
  seconds: number;
  /** Its progress, whole. */
  stderr: string;
}

/** Runs the cluster's command line (`command` is its words, by spaces; `env` over this process's), its progress passed through to stderr; resolves with the exit code, output and time. */
export function kubeCli(command: string, env: NodeJS.ProcessEnv = {}): Promise<KubeCliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'infra', 'kube', 'cli.ts'), ...command.split(' ')], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    process.stderr.write(`  ${chunk.toString().trimEnd().split('\n').join('\n  ')}\n`);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, seconds: (Date.now() - started) / 1000 })));
}

/**
 * Fails unless the command exited 0, quoting its last 25 lines of progress: the whole of it may be far above the
 * failure, in a held log.
 */
export function assertCliOk(result: KubeCliResult, command: string): void {
  assert.equal(result.code, 0, `\`infra/kube/cli.ts ${command}\` failed; its last lines:\n${result.stderr.trimEnd().split('\n').slice(-25).join('\n')}`);
}

/** Waits until the pod's first container runs and is ready; its address. */
export async function waitForPodRunning(core: CoreV1Api, name: string, namespace: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const pod = await core.readNamespacedPod({ name, namespace });
    const phase = pod.status?.phase ?? 'Unknown';
    const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
    last = `${phase}${waiting ? ` (${waiting.reason}: ${waiting.message ?? ''})` : ''}`;
    if (phase === 'Running' && pod.status?.containerStatuses?.[0]?.ready) return pod.status?.podIP ?? '';
    await sleep(500);
  }
  throw new Error(`pod ${namespace}/${name} is not running after ${timeoutMs / 1000}s: ${last}`);
}

/** A new namespace is usable once the controller manager has given it its default ServiceAccount. */
export async function waitForDefaultServiceAccount(core: CoreV1Api, namespace: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const accounts = await core.listNamespacedServiceAccount({ namespace });
    if (accounts.items.some((a) => a.metadata?.name === 'default')) return;
    if (Date.now() > deadline) throw new Error(`namespace ${namespace} got no default ServiceAccount within 30s`);
    await sleep(200);
  }
}

/** Runs a command in the pod's container through the API server's exec stream; its stdout and the final status. */
export async function execIn(config: KubeConfig, namespace: string, pod: string, command: string[], container = 'probe'): Promise<{ stdout: string; status: V1Status }> {
  let stdout = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      stdout += chunk.toString();
      done();
    },
  });
  const status = await new Promise<V1Status>((resolve, reject) => {
    new Exec(config).exec(namespace, pod, container, command, sink, process.stderr, null, false, resolve).catch(reject);
  });
  return { stdout, status };
}

/** After `down`: nothing of the cluster on the host, and the host folders its components made are gone again. */
export function assertNothingLeft(hostDirsBefore: string[], options: { emptyOnesMayGo?: boolean } = {}): void {
  assert.deepEqual(leftovers(), []);
  assert.equal(existsSync(stateDir), false, `state folder ${stateDir} is gone`);
  assert.equal(existsSync(`/sys/class/net/${BRIDGE}`), false, `bridge ${BRIDGE} is gone`);
  const now = HOST_DIRS.filter((dir) => existsSync(dir));
  if (options.emptyOnesMayGo) assert.deepEqual(now.filter((dir) => !hostDirsBefore.includes(dir)), [], 'host folders the cluster made are gone');
  else assert.deepEqual(now, hostDirsBefore, 'host folders the cluster made are gone');
}

/** The host folders the components would create, as they are before a cluster starts. */
export function hostDirsNow(): string[] {
  return HOST_DIRS.filter((dir) => existsSync(dir));
}
