/**
 * The binaries of the lab's local Kubernetes cluster, built from source once
 * and kept in the lab's cache, keyed by version: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubelet and kube-proxy, kubectl,
 * CoreDNS for the cluster DNS, and kube-netpol (kube-router's network policy
 * controller) for NetworkPolicy. Nothing of their source is in the project:
 * each is built in a module the build writes into the cache, CoreDNS's and
 * kube-netpol's with a short main the build writes too. The cluster's
 * module requires k8s.io/kubernetes and restates that module's staging `replace` lines (./staging/src/k8s.io/* in
 * its own tree, which Go ignores in a dependency) as the published k8s.io/*
 * releases, read from k8s.io/kubernetes' own go.mod; CoreDNS and kube-netpol
 * have modules of their own, so that their k8s.io/* requirements never move
 * the versions the cluster is built from. Go writes each module's go.sum as
 * it downloads (-mod=mod), checked against the checksum database as every
 * download is.
 *
 * Builds run at the lowest CPU and I/O priority (nice 19, ionice idle): the
 * machine is shared with Cassandra tests and benchmarks, and a build that
 * takes a little longer is better than a benchmark that measures it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatDuration } from '../migrate/progress.js';
import { cacheDir } from '../paths.js';
import type { Reporter } from '../progress.js';
import { requireTool } from '../tools.js';
import { COREDNS_PLUGINS } from './dns.js';

export const KUBERNETES_VERSION = '1.37.2';
/** The etcd release k8s.io/kubernetes v1.37.2 itself requires. */
export const ETCD_VERSION = '3.7.0';
export const COREDNS_VERSION = '1.15.0';
/**
 * The only kube-router release the Go module proxy serves. Its reported
 * advisory (GHSA-phqm-jgc3-qf8g) is in the service proxy, which kube-netpol
 * does not link.
 */
export const KUBE_ROUTER_VERSION = '2.1.0';
const GO_VERSION = '1.26.0';

export const binDir = join(cacheDir, `kubernetes-${KUBERNETES_VERSION}`, 'bin');
/** The modules the binaries are built in (written by the build). */
const modulesDir = join(cacheDir, `kubernetes-${KUBERNETES_VERSION}`, 'modules');

/** Each cluster binary and the package it is built from, in build order. */
const clusterBinaries = {
  etcd: 'go.etcd.io/etcd/server/v3',
  'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
  'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
  'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
  kubelet: 'k8s.io/kubernetes/cmd/kubelet',
  'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
  // The client: an instructor's `kubectl apply -k deploy/kubernetes` against the local cluster, and its test.
  kubectl: 'k8s.io/kubernetes/cmd/kubectl',
} as const;

export type ClusterBinary = keyof typeof clusterBinaries;

export interface Binaries {
  cluster: Record<ClusterBinary, string>;
  coredns: string;
  netpol: string;
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

/**
 * `go build` of one package into `output` (written whole or not at all), reporting every 30 s.
 * One builder at a time: the build holds the cache's lock (flock(1)), so a second caller (a test
 * while CI builds in the background) waits for it and then finds the binary built instead of
 * building it again.
 */
async function goBuild(name: string, pkg: string, output: string, report: Reporter, cwd: string): Promise<number> {
  const partial = `${output}.partial`;
  const lock = join(dirname(output), '.build.lock');
  const go = ['nice', '-n', '19', 'ionice', '-c3', 'go', 'build', '-trimpath', '-ldflags', ['-s', '-w', ...versionFlags()].join(' '), '-o', partial, pkg];
  // Under the lock: nothing to do when the binary is there; else build beside it and move it in place.
  const args = ['-x', lock, 'sh', '-c', 'test -e "$0" && exit 0; out=$0 part=$1; shift; rm -f "$part"; "$@" && mv "$part" "$out"', output, partial, ...go];
  const started = Date.now();
  const child = spawn('flock', args, { cwd, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: [process.env.GOFLAGS, '-mod=mod'].filter(Boolean).join(' ') }, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const ticker = setInterval(() => report(`still building ${name}, or waiting for another build of it (${formatDuration(Date.now() - started)})`), 30_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(ticker);
  if (code !== 0) {
    throw new Error(`go build ${pkg} (in ${cwd}) failed with exit code ${code}:\n${errors.trim().split('\n').slice(-20).join('\n')}`);
  }
  return Date.now() - started;
}

/** Writes a module's go.mod into the cache (whole, or not at all); returns its folder. */
function writeModule(name: string, goMod: string): string {
  const dir = join(modulesDir, name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'go.mod');
  if (existsSync(path) && readFileSync(path, 'utf8') === goMod) return dir;
  writeFileSync(`${path}.partial`, goMod);
  renameSync(`${path}.partial`, path);
  return dir;
}

/**
 * The cluster's module: k8s.io/kubernetes and etcd, with the staging modules
 * k8s.io/kubernetes requires (at v0.0.0 from its own tree) required and
 * replaced at their published release. Its replace lines are read from
 * k8s.io/kubernetes' go.mod as the Go module proxy serves it.
 */
function clusterModule(): string {
  const download = spawnSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@v${KUBERNETES_VERSION}`], { encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod' } });
  const info = download.status === 0 ? (JSON.parse(download.stdout) as { GoMod?: string }) : {};
  if (!info.GoMod) throw new Error(`go mod download k8s.io/kubernetes@v${KUBERNETES_VERSION} failed: ${(download.stderr || download.stdout).trim().slice(-2000)}`);
  const upstream = readFileSync(info.GoMod, 'utf8');
  const release = `v0.${KUBERNETES_VERSION.split('.').slice(1).join('.')}`;
  const staged = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+) => \.\/staging\/src\/\1\s*$/gm)].map((m) => m[1]!);
  const required = new Set([...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+) v0\.0\.0\b/gm)].map((m) => m[1]!));
  if (staged.length === 0) throw new Error(`no staging replace lines in ${info.GoMod}: the build does not know this go.mod's shape`);
  return writeModule(
    'cluster',
    [
      `module zdm-lab/kube-build`,
      ``,
      `go ${GO_VERSION}`,
      ``,
      `require (`,
      `\tgo.etcd.io/etcd/server/v3 v${ETCD_VERSION}`,
      `\tk8s.io/kubernetes v${KUBERNETES_VERSION}`,
      ...staged.filter((m) => required.has(m)).map((m) => `\t${m} ${release}`),
      `)`,
      ``,
      `replace (`,
      ...staged.map((m) => `\t${m} => ${m} ${release}`),
      `)`,
      ``,
    ].join('\n'),
  );
}

/**
 * CoreDNS's module, with a main of its own in it: CoreDNS's documented way to
 * choose plugins at build time (import them, set the directives, run
 * coremain) instead of every plugin of its plugin.cfg. It links only the
 * plugins the cluster's Corefile uses (dns.ts).
 */
function corednsModule(): string {
  const dir = writeModule('coredns', `module zdm-lab/kube-coredns\n\ngo ${GO_VERSION}\n\nrequire github.com/coredns/coredns v${COREDNS_VERSION}\n`);
  const main = [
    `// The local cluster's DNS: CoreDNS with the plugins its Corefile uses (written by infra/kube/build.ts).`,
    `package main`,
    ``,
    `import (`,
    `\t"github.com/coredns/coredns/core/dnsserver"`,
    `\t"github.com/coredns/coredns/coremain"`,
    ...COREDNS_PLUGINS.map((plugin) => `\t_ "github.com/coredns/coredns/plugin/${plugin}"`),
    `)`,
    ``,
    `func init() {`,
    `\tif err := dnsserver.SetDirectives([]string{${COREDNS_PLUGINS.map((p) => `"${p}"`).join(', ')}}); err != nil {`,
    `\t\tpanic(err)`,
    `\t}`,
    `}`,
    ``,
    `func main() {`,
    `\tcoremain.Run()`,
    `}`,
    ``,
  ].join('\n');
  writeIfChanged(join(dir, 'main.go'), main);
  return dir;
}

/**
 * kube-netpol's module, with a main of its own in it: kube-router's network
 * policy controller alone, as k3s's agent runs it. It turns each policy into
 * iptables chains and ipsets for this node's pods (bridged traffic reaches
 * iptables through br_netfilter); kube-router's route controller and
 * service proxy are not linked in, kube-proxy serves Services. Its
 * heartbeats, meant for kube-router's health checker, are drained.
 */
function netpolModule(): string {
  const dir = writeModule('netpol', `module zdm-lab/kube-netpol\n\ngo ${GO_VERSION}\n\nrequire github.com/cloudnativelabs/kube-router/v2 v${KUBE_ROUTER_VERSION}\n`);
  const main = [
    `// The local cluster's NetworkPolicy: kube-router's policy controller alone (written by infra/kube/build.ts).`,
    `package main`,
    ``,
    `import (`,
    `	"flag"`,
    `	"os"`,
    `	"os/signal"`,
    `	"sync"`,
    `	"syscall"`,
    `	"time"`,
    ``,
    `	"github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"`,
    `	"github.com/cloudnativelabs/kube-router/v2/pkg/healthcheck"`,
    `	"github.com/cloudnativelabs/kube-router/v2/pkg/options"`,
    `	"k8s.io/client-go/informers"`,
    `	"k8s.io/client-go/kubernetes"`,
    `	"k8s.io/client-go/tools/clientcmd"`,
    `	"k8s.io/klog/v2"`,
    `)`,
    ``,
    `func main() {`,
    `	kubeconfig := flag.String("kubeconfig", "", "the controller's kubeconfig")`,
    `	node := flag.String("hostname-override", "", "the node whose pods it guards")`,
    `	services := flag.String("service-cluster-ip-range", "", "the Services' address range")`,
    `	syncPeriod := flag.Duration("sync-period", time.Minute, "how often the rules are rewritten whole, besides on every change")`,
    `	klog.InitFlags(nil)`,
    `	flag.Parse()`,
    ``,
    `	restConfig, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)`,
    `	if err != nil {`,
    `		klog.Fatalf("kubeconfig %s: %v", *kubeconfig, err)`,
    `	}`,
    `	client, err := kubernetes.NewForConfig(restConfig)`,
    `	if err != nil {`,
    `		klog.Fatalf("client: %v", err)`,
    `	}`,
    `	config := options.NewKubeRouterConfig()`,
    `	config.HostnameOverride = *node`,
    `	config.ClusterIPCIDRs = []string{*services}`,
    `	config.EnableIPv4 = true`,
    `	config.RunFirewall = true`,
    `	config.IPTablesSyncPeriod = *syncPeriod`,
    ``,
    `	stop := make(chan struct{})`,
    `	factory := informers.NewSharedInformerFactory(client, 0)`,
    `	pods := factory.Core().V1().Pods().Informer()`,
    `	namespaces := factory.Core().V1().Namespaces().Informer()`,
    `	policies := factory.Networking().V1().NetworkPolicies().Informer()`,
    `	factory.Start(stop)`,
    `	factory.WaitForCacheSync(stop)`,
    ``,
    `	tables, sets, err := netpol.NewIPTablesHandlers(config)`,
    `	if err != nil {`,
    `		klog.Fatalf("iptables and ipset: %v", err)`,
    `	}`,
    `	var ipsetMutex sync.Mutex`,
    `	controller, err := netpol.NewNetworkPolicyController(client, config, pods, policies, namespaces, &ipsetMutex, tables, sets)`,
    `	if err != nil {`,
    `		klog.Fatalf("network policy controller: %v", err)`,
    `	}`,
    `	if _, err := pods.AddEventHandler(controller.PodEventHandler); err != nil {`,
    `		klog.Fatalf("pod events: %v", err)`,
    `	}`,
    `	if _, err := namespaces.AddEventHandler(controller.NamespaceEventHandler); err != nil {`,
    `		klog.Fatalf("namespace events: %v", err)`,
    `	}`,
    `	if _, err := policies.AddEventHandler(controller.NetworkPolicyEventHandler); err != nil {`,
    `		klog.Fatalf("policy events: %v", err)`,
    `	}`,
    `	// The controller reports its heartbeats to kube-router's health checker, which does not run here.`,
    `	heartbeats := make(chan *healthcheck.ControllerHeartbeat, 10)`,
    `	go func() {`,
    `		for range heartbeats {`,
    `		}`,
    `	}()`,
    `	var running sync.WaitGroup`,
    `	running.Add(1)`,
    `	go controller.Run(heartbeats, stop, &running)`,
    ``,
    `	signals := make(chan os.Signal, 1)`,
    `	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)`,
    `	<-signals`,
    `	close(stop)`,
    `	running.Wait()`,
    `}`,
    ``,
  ].join('\n');
  writeIfChanged(join(dir, 'main.go'), main);
  return dir;
}

/** Writes `text` to `path` (whole, or not at all) unless it is there already. */
function writeIfChanged(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  writeFileSync(`${path}.partial`, text);
  renameSync(`${path}.partial`, path);
}

/**
 * Every binary the cluster needs, building what the cache lacks. Reports
 * each build with its time; a warm call builds nothing and says so.
 */
export async function ensureBinaries(report: Reporter): Promise<Binaries> {
  mkdirSync(binDir, { recursive: true });
  const cluster = {} as Record<ClusterBinary, string>;
  let built = 0;
  let module: string | undefined;
  for (const [name, pkg] of Object.entries(clusterBinaries) as [ClusterBinary, string][]) {
    const path = join(binDir, name);
    cluster[name] = path;
    if (existsSync(path)) continue;
    requireTool('go');
    if (built === 0) report(`building the cluster's binaries into ${binDir}: the first build takes 20 minutes or more on 2 cores`);
    module ??= clusterModule();
    report(`building ${name} v${name === 'etcd' ? ETCD_VERSION : KUBERNETES_VERSION} from ${pkg}`);
    const ms = await goBuild(name, pkg, path, report, module);
    built++;
    report(`built ${name} in ${formatDuration(ms)}`);
  }
  // Named by its plugins too: another set is another binary.
  const coredns = join(binDir, `coredns-${COREDNS_VERSION}-${COREDNS_PLUGINS.join('-')}`);
  if (!existsSync(coredns)) {
    requireTool('go');
    report(`building CoreDNS v${COREDNS_VERSION} (the cluster DNS) from github.com/coredns/coredns with the plugins ${COREDNS_PLUGINS.join(', ')}`);
    const ms = await goBuild('coredns', '.', coredns, report, corednsModule());
    built++;
    report(`built coredns in ${formatDuration(ms)}`);
  }
  const netpol = join(binDir, `kube-netpol-${KUBE_ROUTER_VERSION}`);
  if (!existsSync(netpol)) {
    requireTool('go');
    report(`building kube-netpol (NetworkPolicy) from github.com/cloudnativelabs/kube-router/v2 v${KUBE_ROUTER_VERSION}`);
    const ms = await goBuild('kube-netpol', '.', netpol, report, netpolModule());
    built++;
    report(`built kube-netpol in ${formatDuration(ms)}`);
  }
  if (built === 0) report(`all cluster binaries found in ${binDir}`);
  return { cluster, coredns, netpol };
}
