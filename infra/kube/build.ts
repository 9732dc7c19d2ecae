/**
 * The binaries of the lab's local Kubernetes cluster, built from source once
 * and kept in the lab's cache, keyed by version: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubelet and kube-proxy from the
 * wrapper module in infra/kube/build (go.mod there restates Kubernetes'
 * staging modules as the published k8s.io/* releases), and the two tiny
 * programs the cluster's local images carry (the pod sandbox and a probe
 * for tests), keyed by the hash of their source.
 *
 * Builds run at the lowest CPU and I/O priority (nice 19, ionice idle): the
 * machine is shared with Cassandra tests and benchmarks, and a build that
 * takes a little longer is better than a benchmark that measures it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheDir, projectRoot } from '../paths.js';
import type { Reporter } from '../progress.js';
import { requireTool } from '../tools.js';

export const KUBERNETES_VERSION = '1.37.2';
/** The etcd release k8s.io/kubernetes v1.37.2 itself requires. */
export const ETCD_VERSION = '3.7.0';

export const buildModule = join(projectRoot, 'infra', 'kube', 'build');
export const binDir = join(cacheDir, `kubernetes-${KUBERNETES_VERSION}`, 'bin');

/** Each cluster binary and the package it is built from, in build order. */
const clusterBinaries = {
  etcd: 'go.etcd.io/etcd/server/v3',
  'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
  'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
  'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
  kubelet: 'k8s.io/kubernetes/cmd/kubelet',
  'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
} as const;

export type ClusterBinary = keyof typeof clusterBinaries;

/**
 * The programs of the cluster's own images, under infra/kube/build/images:
 * the pod sandbox, the tests' probe, and the cluster DNS (CoreDNS, a module
 * of its own there, so that its k8s.io/* requirements never move the
 * versions the cluster is built from).
 */
export type ImageProgram = 'pause' | 'probe' | 'coredns';
const imagePrograms: ImageProgram[] = ['pause', 'probe', 'coredns'];

/** Where an image's program is built from: its own module's folder, or a package of the wrapper module. */
function programSource(program: ImageProgram): { cwd: string; pkg: string } {
  const dir = join(buildModule, 'images', program);
  return existsSync(join(dir, 'go.mod')) ? { cwd: dir, pkg: '.' } : { cwd: buildModule, pkg: `./images/${program}` };
}

export interface Binaries {
  cluster: Record<ClusterBinary, string>;
  images: Record<ImageProgram, string>;
}

/** What a release build stamps in, so that nodes and clients see v1.37.2 rather than v0.0.0. */
function versionFlags(): string[] {
  const [major, minor] = KUBERNETES_VERSION.split('.');
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=v${KUBERNETES_VERSION}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ]);
}

function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * `go build` of one package into `output` (written whole or not at all), reporting every 30 s.
 * One builder at a time: the build holds the cache's lock (flock(1)), so a second caller (a test
 * while CI builds in the background) waits for it and then finds the binary built instead of
 * building it again.
 */
async function goBuild(name: string, pkg: string, output: string, report: Reporter, cwd = buildModule): Promise<number> {
  const partial = `${output}.partial`;
  const lock = join(dirname(output), '.build.lock');
  const go = ['nice', '-n', '19', 'ionice', '-c3', 'go', 'build', '-trimpath', '-ldflags', ['-s', '-w', ...versionFlags()].join(' '), '-o', partial, pkg];
  // Under the lock: nothing to do when the binary is there; else build beside it and move it in place.
  const args = ['-x', lock, 'sh', '-c', 'test -e "$0" && exit 0; out=$0 part=$1; shift; rm -f "$part"; "$@" && mv "$part" "$out"', output, partial, ...go];
  const started = Date.now();
  const child = spawn('flock', args, { cwd, env: { ...process.env, CGO_ENABLED: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const ticker = setInterval(() => report(`still building ${name}, or waiting for another build of it (${formatSeconds(Date.now() - started)})`), 30_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(ticker);
  if (code !== 0) {
    throw new Error(`go build ${pkg} (in ${cwd}) failed with exit code ${code}:\n${errors.trim().split('\n').slice(-20).join('\n')}`);
  }
  return Date.now() - started;
}

/** The hash of a program's source: its main.go, and its go.mod and go.sum when it is a module of its own. */
function sourceHash(program: ImageProgram): string {
  const hash = createHash('sha256');
  for (const file of ['main.go', 'go.mod', 'go.sum']) {
    const path = join(buildModule, 'images', program, file);
    if (existsSync(path)) hash.update(readFileSync(path));
  }
  return hash.digest('hex').slice(0, 12);
}

/**
 * Every binary the cluster needs, building what the cache lacks. Reports
 * each build with its time; a warm call builds nothing and says so.
 */
export async function ensureBinaries(report: Reporter): Promise<Binaries> {
  mkdirSync(binDir, { recursive: true });
  const cluster = {} as Record<ClusterBinary, string>;
  let built = 0;
  for (const [name, pkg] of Object.entries(clusterBinaries) as [ClusterBinary, string][]) {
    const path = join(binDir, name);
    cluster[name] = path;
    if (existsSync(path)) continue;
    requireTool('go');
    if (built === 0) report(`building the cluster's binaries into ${binDir}: the first build takes 20 minutes or more on 2 cores`);
    report(`building ${name} v${name === 'etcd' ? ETCD_VERSION : KUBERNETES_VERSION} from ${pkg}`);
    const ms = await goBuild(name, pkg, path, report);
    built++;
    report(`built ${name} in ${formatSeconds(ms)}`);
  }
  const images = {} as Record<ImageProgram, string>;
  for (const program of imagePrograms) {
    const path = join(binDir, `${program}-${sourceHash(program)}`);
    images[program] = path;
    if (existsSync(path)) continue;
    requireTool('go');
    const { cwd, pkg } = programSource(program);
    if (program === 'coredns') report('building CoreDNS (the cluster DNS) from github.com/coredns/coredns: a few minutes on 2 cores');
    const ms = await goBuild(program, pkg, path, report, cwd);
    built++;
    report(`built ${program} in ${formatSeconds(ms)}`);
  }
  if (built === 0) report(`all cluster binaries found in ${binDir}`);
  return { cluster, images };
}
