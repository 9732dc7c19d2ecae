/**
 * A real single-node Kubernetes cluster on this machine, for the lab's
 * kubernetes backend and its tests: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubelet and kube-proxy built
 * from source (build.ts), with a containerd of its own (own config, root,
 * state and socket; the host's Docker is never touched), runc, and the CNI
 * bridge plugin on a bridge the cluster creates, and CoreDNS as its DNS
 * (dns.ts).
 *
 * Everything it serves listens on loopback or on the pod bridge's gateway
 * address (the API server and kubelet listen there, so that pods reach the
 * API server through the `kubernetes` Service). Pods get no route off the
 * host: no masquerading, and the host forwards only from the pod bridge
 * back onto it (a pod reaching a Service of other pods; host.ts).
 *
 * All of it lives in one state folder (ZDM_LAB_KUBE_HOME, by default
 * `.lab-envs/kube`), and `down` removes every trace of it from the host:
 * processes, mounts, the bridge and pod namespaces, cgroups, packet filter
 * rules, log links, and the folder itself. The binaries stay in the cache.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { envsDir, projectRoot } from '../paths.js';
import type { Reporter } from '../progress.js';
import { ensureBinaries, type Binaries } from './build.js';
import { CLUSTER_DOMAIN, DNS_SERVICE_IP, startDns } from './dns.js';
import { isRunning } from '../../common/processes.js';
import * as host from './host.js';
import { importDockerImages, importImages, localImage, type LocalImage } from './images.js';
import { makePki, pkiAt, type Identity, type Pki } from './pki.js';

export const NODE_NAME = 'zdm-lab-node';
export const BRIDGE = 'zdmkube0';
/** Pods get addresses from .10 up; .1 is the gateway, where the API server and kubelet listen. */
export const POD_CIDR = '10.213.0.0/24';
export const GATEWAY = '10.213.0.1';
export const SERVICE_CIDR = '10.213.128.0/24';
/** The `kubernetes` Service's address: the first of the Service range. */
export const API_SERVICE_IP = '10.213.128.1';
export const API_PORT = 6443;
/** Pods and Services both lie in this block, which must be unused on the host. */
const NETWORK = '10.213.0.0/16';
const ETCD_CLIENT = 'http://127.0.0.1:12379';
const ETCD_PEER = 'http://127.0.0.1:12380';
const CGROUP_ROOT = 'zdm-lab-kube';
const CNI_NETWORK = 'zdm-lab-kube';
const CNI_BIN = '/usr/lib/cni';
/** Whether bridged IPv4 passes through iptables (br_netfilter). */
const BRIDGE_NF_CALL = 'net.bridge.bridge-nf-call-iptables';
/** The kubelet links every container's log here (a fixed path in the kubelet). */
const CONTAINER_LOG_LINKS = '/var/log/containers';
/** Where libcni caches each attachment's result (fixed in containerd 1.6). */
const CNI_RESULTS = '/var/lib/cni/results';
/** The kubelet's device-plugin socket and checkpoint live here whatever its root folder (fixed in the kubelet). */
const DEVICE_PLUGINS = '/var/lib/kubelet/device-plugins';
/** Host folders the components create when missing, deepest first; /var/lib/kubelet holds only the device-plugin files. */
export const HOST_DIRS = [DEVICE_PLUGINS, '/var/lib/kubelet', CNI_RESULTS, '/var/lib/cni', CONTAINER_LOG_LINKS, '/run/containerd/s', '/run/containerd'];

export const stateDir = process.env.ZDM_LAB_KUBE_HOME ?? join(envsDir, 'kube');
const paths = {
  record: join(stateDir, 'cluster.json'),
  logs: join(stateDir, 'logs'),
  pki: join(stateDir, 'pki'),
  etcd: join(stateDir, 'etcd'),
  containerd: join(stateDir, 'containerd'),
  socket: join(stateDir, 'containerd', 'containerd.sock'),
  cniConf: join(stateDir, 'cni', 'net.d'),
  cniIpam: join(stateDir, 'cni', 'ipam'),
  kubelet: join(stateDir, 'kubelet'),
  podLogs: join(stateDir, 'pod-logs'),
  images: join(stateDir, 'images'),
  config: join(stateDir, 'config'),
};

/** The kubeconfig of the cluster's administrator (group system:masters). */
export const adminKubeconfig = join(paths.pki, 'admin.kubeconfig');

const identities: Identity[] = [
  { name: 'admin', user: 'zdm-lab-admin', groups: ['system:masters'] },
  { name: 'kube-controller-manager', user: 'system:kube-controller-manager' },
  { name: 'kube-scheduler', user: 'system:kube-scheduler' },
  { name: 'kubelet', user: `system:node:${NODE_NAME}`, groups: ['system:nodes'] },
  { name: 'kube-proxy', user: 'system:kube-proxy' },
  { name: 'apiserver-kubelet-client', user: 'kube-apiserver-kubelet-client', groups: ['system:masters'] },
  // The API server's bootstrap roles have none for a policy controller: it reads pods, namespaces, nodes and policies cluster-wide.
  { name: 'kube-netpol', user: 'zdm-lab:kube-netpol', groups: ['system:masters'] },
];

type Daemon = 'containerd' | 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubelet' | 'kube-proxy' | 'kube-netpol';

/** What `up` did to the host, written as it goes so that `down` can undo a half-finished `up` too. */
interface ClusterRecord {
  startedAt: string;
  processes: { name: Daemon; pid: number; binary: string }[];
  ipForwardBefore: string;
  /** net.bridge.bridge-nf-call-iptables before `up` (absent in records of clusters without NetworkPolicy). */
  bridgeNfCallBefore?: string;
  nftTablesBefore: string[];
  /** Which of HOST_DIRS were there before `up`; `down` removes the others once it has emptied them. */
  hostDirsBefore: string[];
  images: Record<string, string>;
}

/** The recorded daemon still runs as that binary (its pid not reused by another program). */
function stillOurs(p: ClusterRecord['processes'][number]): boolean {
  return isRunning(p.pid) && host.commandLine(p.pid)[0] === p.binary;
}

function readRecord(): ClusterRecord | undefined {
  try {
    return JSON.parse(readFileSync(paths.record, 'utf8')) as ClusterRecord;
  } catch {
    return undefined;
  }
}

function writeRecord(record: ClusterRecord): void {
  writeFileSync(paths.record, `${JSON.stringify(record, null, 2)}\n`);
}

// ---- configuration files ----

function containerdConfig(sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${JSON.stringify(join(paths.containerd, 'root'))}`,
    `state = ${JSON.stringify(join(paths.containerd, 'state'))}`,
    // Plugins that would look at or create host folders of their own (/opt/containerd) or cannot work here.
    'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
    '[grpc]',
    `  address = ${JSON.stringify(paths.socket)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(`${paths.socket}.ttrpc`)}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    `[${cri}]`,
    `  sandbox_image = ${JSON.stringify(sandboxImage)}`,
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  disable_apparmor = true',
    // Without CAP_SYS_RESOURCE (as in some VMs and containers) no process may lower its OOM score,
    // which the kubelet asks for pod sandboxes (-998): keep scores at or above containerd's own.
    '  restrict_oom_score_adj = true',
    '  enable_selinux = false',
    // Pod network namespaces are bind-mounted under the state folder instead of /run/netns.
    '  netns_mounts_under_state_dir = true',
    `[${cri}.cni]`,
    `  bin_dir = ${JSON.stringify(CNI_BIN)}`,
    `  conf_dir = ${JSON.stringify(paths.cniConf)}`,
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `  Root = ${JSON.stringify(join(paths.containerd, 'runc'))}`,
    '',
  ].join('\n');
}

/**
 * The pod network: the bridge plugin on the cluster's own bridge, addresses
 * from host-local kept in the state folder. isGateway is off because the
 * bridge already carries the gateway address (so the plugin leaves the
 * host's forwarding alone); pods route through it to reach Services.
 */
function cniConfig(): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: CNI_NETWORK,
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: POD_CIDR, rangeStart: '10.213.0.10', gateway: GATEWAY }]],
            routes: [{ dst: '0.0.0.0/0', gw: GATEWAY }],
            dataDir: paths.cniIpam,
          },
        },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(pki: Pki): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: GATEWAY,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki.caCert } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${paths.socket}`,
    imageServiceEndpoint: `unix://${paths.socket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${CGROUP_ROOT}`,
    // This host has cgroup v1, which the kubelet still supports when told to.
    failCgroupV1: false,
    failSwapOn: false,
    clusterDomain: CLUSTER_DOMAIN,
    clusterDNS: [DNS_SERVICE_IP],
    // No host resolver inside pods: they are given no route off the host anyway.
    resolvConf: '',
    podLogsDir: paths.podLogs,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    registerNode: true,
  });
}

function kubeProxyConfig(pki: Pki): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'nftables',
    clientConnection: { kubeconfig: pki.kubeconfig('kube-proxy') },
    hostnameOverride: NODE_NAME,
    clusterCIDR: POD_CIDR,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    nodePortAddresses: [`${GATEWAY}/32`],
    // Leave the host's conntrack settings as they are.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  });
}

// ---- daemons ----

function daemonArgs(name: Daemon, pki: Pki): string[] {
  const config = (file: string) => join(paths.config, file);
  switch (name) {
    case 'containerd':
      return ['--config', config('containerd.toml')];
    case 'etcd':
      return [
        '--name', 'zdm-lab', '--data-dir', paths.etcd,
        '--listen-client-urls', ETCD_CLIENT, '--advertise-client-urls', ETCD_CLIENT,
        '--listen-peer-urls', ETCD_PEER, '--initial-advertise-peer-urls', ETCD_PEER,
        '--initial-cluster', `zdm-lab=${ETCD_PEER}`,
        // A throw-away test cluster on a shared disk: no fsync.
        '--unsafe-no-fsync',
      ];
    case 'kube-apiserver':
      return [
        `--etcd-servers=${ETCD_CLIENT}`,
        `--bind-address=${GATEWAY}`, `--advertise-address=${GATEWAY}`, `--secure-port=${API_PORT}`,
        `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--kubelet-client-certificate=${pki.cert('apiserver-kubelet-client')}`, `--kubelet-client-key=${pki.key('apiserver-kubelet-client')}`,
        // The node's host name resolves nowhere; its address on the bridge does.
        '--kubelet-preferred-address-types=InternalIP',
        `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
        `--service-account-key-file=${pki.serviceAccountPublicKey}`, `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true',
        '--profiling=false',
      ];
    case 'kube-controller-manager':
      return [
        `--kubeconfig=${pki.kubeconfig('kube-controller-manager')}`,
        `--authentication-kubeconfig=${pki.kubeconfig('kube-controller-manager')}`,
        `--authorization-kubeconfig=${pki.kubeconfig('kube-controller-manager')}`,
        '--bind-address=127.0.0.1',
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--profiling=false',
      ];
    case 'kube-scheduler':
      return [
        `--kubeconfig=${pki.kubeconfig('kube-scheduler')}`,
        `--authentication-kubeconfig=${pki.kubeconfig('kube-scheduler')}`,
        `--authorization-kubeconfig=${pki.kubeconfig('kube-scheduler')}`,
        '--bind-address=127.0.0.1',
        '--leader-elect=false',
        '--profiling=false',
      ];
    case 'kubelet':
      return [
        `--config=${config('kubelet.yaml')}`,
        `--kubeconfig=${pki.kubeconfig('kubelet')}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${GATEWAY}`,
        `--root-dir=${join(paths.kubelet, 'root')}`,
        `--cert-dir=${join(paths.kubelet, 'pki')}`,
      ];
    case 'kube-proxy':
      return [`--config=${config('kube-proxy.yaml')}`];
    case 'kube-netpol':
      return [`--kubeconfig=${pki.kubeconfig('kube-netpol')}`, `--hostname-override=${NODE_NAME}`, `--service-cluster-ip-range=${SERVICE_CIDR}`];
  }
}

/**
 * The kubelet is started without iptables on its PATH: on finding it, it
 * would add chains (KUBE-FIREWALL, canaries) to the host's tables that this
 * cluster does not need; kube-proxy keeps its rules in nft tables of its own.
 */
const KUBELET_PATH = '/usr/local/bin:/usr/bin:/bin';

function startDaemon(name: Daemon, binary: string, pki: Pki, record: ClusterRecord): number {
  const log = openSync(join(paths.logs, `${name}.log`), 'a');
  const env = name === 'kubelet' ? { ...process.env, PATH: KUBELET_PATH } : process.env;
  const child = spawn(binary, daemonArgs(name, pki), { detached: true, stdio: ['ignore', log, log], env });
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`${name} (${binary}) could not be started`);
  record.processes.push({ name, pid: child.pid, binary });
  writeRecord(record);
  return child.pid;
}

function logTail(name: Daemon, lines = 15): string {
  try {
    return readFileSync(join(paths.logs, `${name}.log`), 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitFor(what: string, name: Daemon, pid: number, check: () => Promise<boolean>, report: Reporter, timeoutMs: number): Promise<void> {
  const started = Date.now();
  let lastReport = started;
  while (Date.now() - started < timeoutMs) {
    if (!isRunning(pid)) throw new Error(`${name} exited while waiting for ${what}; ${join(paths.logs, `${name}.log`)} ends:\n${logTail(name)}`);
    if (await check()) return;
    if (Date.now() - lastReport >= 5000) {
      report(`waiting for ${what} (${Math.round((Date.now() - started) / 1000)}s)`);
      lastReport = Date.now();
    }
    await sleep(250);
  }
  throw new Error(`${what} did not come within ${timeoutMs / 1000}s; ${join(paths.logs, `${name}.log`)} ends:\n${logTail(name)}`);
}

async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/** A GET on the API server as the administrator: status and body, or undefined when it does not answer. */
export function apiGet(path: string, pki: Pki = pkiAt(paths.pki)): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: GATEWAY, port: API_PORT, path, method: 'GET', timeout: 3000,
        ca: readFileSync(pki.caCert), cert: readFileSync(pki.cert('admin')), key: readFileSync(pki.key('admin')),
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

async function nodeConditions(): Promise<NodeCondition[] | undefined> {
  const answer = await apiGet(`/api/v1/nodes/${NODE_NAME}`);
  if (answer?.status !== 200) return undefined;
  return (JSON.parse(answer.body) as { status?: { conditions?: NodeCondition[] } }).status?.conditions ?? [];
}

function isReady(conditions: NodeCondition[] | undefined): boolean {
  return conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

// ---- up ----

export interface UpResult {
  kubeconfig: string;
  images: Record<string, string>;
  seconds: number;
}

/** Debian's static busybox (busybox-static), which runs the scripts of the pause and probe images. */
const BUSYBOX = '/bin/busybox';
const imageScripts = join(projectRoot, 'infra', 'kube', 'images');

/** The images `up` imports: the pod sandbox, the cluster DNS and the probe used by tests. */
function clusterImages(binaries: Binaries): LocalImage[] {
  const script = (name: string) => localImage(name, [{ path: '/busybox', source: BUSYBOX }, { path: `/${name}`, source: join(imageScripts, name) }]);
  return [script('pause'), localImage('coredns', [{ path: '/coredns', source: binaries.coredns }]), script('probe')];
}

function checkHost(): void {
  const missing: string[] = [];
  for (const [tool, install] of [
    ['/usr/bin/containerd', 'apt-get install containerd'],
    ['/usr/sbin/runc', 'apt-get install runc'],
    ['/usr/bin/ctr', 'apt-get install containerd'],
    [join(CNI_BIN, 'bridge'), 'apt-get install containernetworking-plugins'],
    ['/usr/sbin/nft', 'apt-get install nftables'],
    ['/usr/bin/openssl', 'apt-get install openssl'],
    [BUSYBOX, 'apt-get install busybox-static'],
    // NetworkPolicy (kube-netpol): its rules and address sets.
    ['/usr/sbin/iptables', 'apt-get install iptables'],
    ['/usr/sbin/ipset', 'apt-get install ipset'],
  ]) {
    if (!existsSync(tool)) missing.push(`${tool} (${install})`);
  }
  if (!existsSync(`/proc/sys/${BRIDGE_NF_CALL.replaceAll('.', '/')}`)) missing.push(`${BRIDGE_NF_CALL} (modprobe br_netfilter)`);
  if (missing.length > 0) throw new Error(`the local Kubernetes cluster needs: ${missing.join(', ')}`);
  if (process.getuid?.() !== 0) throw new Error('the local Kubernetes cluster must be started as root (it creates a bridge, cgroups and mounts)');
}

/** A daemon of a local cluster: a binary of a kubernetes-* cache folder (build.ts), whichever copy of the lab built it. */
const DAEMON_BINARY = /\/kubernetes-[^/]+\/bin\/(etcd|kube-[a-z-]+|kubelet|coredns-[^/]*|kube-netpol-[^/]*)$/;

/** The local clusters' daemons running on this host, from any copy of the lab. */
function clusterDaemonsRunning(): string[] {
  return host.processesWhere((args) => DAEMON_BINARY.test(args[0] ?? '')).map((pid) => `pid ${pid}: ${host.commandLine(pid)[0]}`);
}

function containerdAnswers(): boolean {
  return existsSync(paths.socket) && spawnSync('ctr', ['--address', paths.socket, 'version'], { timeout: 5000 }).status === 0;
}

/**
 * Builds what is missing, starts the cluster and waits until its node is
 * Ready. When the cluster is already up it says so and returns. When a
 * step fails, everything started so far is torn down before the error is
 * thrown.
 */
export async function up(report: Reporter): Promise<UpResult> {
  const started = Date.now();
  checkHost();
  const binaries = await ensureBinaries(report);
  if (existsSync(paths.record)) {
    const status = await clusterStatus();
    if (status.running.length === status.expected && status.nodeReady) {
      report(`the cluster is already up (state in ${stateDir})`);
      return { kubeconfig: adminKubeconfig, images: readRecord()?.images ?? {}, seconds: 0 };
    }
    report(`a cluster that is not whole is left in ${stateDir}: tearing it down first`);
    await down(report);
  }
  if (host.bridgeExists(BRIDGE)) {
    // The host's side of a cluster outlives its processes: a machine whose processes were all ended (a stopped
    // session, a killed test run in another clone) keeps the bridge, the packet filter rules and the cgroup folder.
    const live = clusterDaemonsRunning();
    if (live.length > 0) {
      throw new Error(`a network interface named ${BRIDGE} already exists and another local cluster runs on this host (no state of it is at ${stateDir}): ${live.join('; ')}; stop it with the \`down\` of the copy that started it`);
    }
    report(`the bridge ${BRIDGE} of a cluster none of whose processes runs is left on this host: removing what that cluster left`);
    // Its pods' network namespaces and volumes stay mounted in its state folder, which may be another copy's.
    const left = [...host.unmountClusterMounts().map((point) => `mount ${point}`), ...(await down(report))];
    if (left.length > 0) throw new Error(`what an earlier cluster left on this host could not all be removed: ${left.join('; ')}`);
  }
  const taken = host.routesWithin(NETWORK);
  if (taken.length > 0) throw new Error(`the cluster's addresses (${NETWORK}) are already routed on this host: ${taken.join('; ')}`);
  const upStarted = Date.now();
  for (const dir of [paths.logs, paths.config, paths.cniConf, paths.cniIpam, paths.kubelet, paths.podLogs, paths.images, paths.etcd]) mkdirSync(dir, { recursive: true });
  const record: ClusterRecord = {
    startedAt: new Date().toISOString(),
    processes: [],
    ipForwardBefore: host.readSysctl('net.ipv4.ip_forward'),
    bridgeNfCallBefore: host.readSysctl(BRIDGE_NF_CALL),
    nftTablesBefore: host.nftTables(),
    hostDirsBefore: HOST_DIRS.filter((dir) => existsSync(dir)),
    images: {},
  };
  writeRecord(record);
  try {
    host.createBridge(BRIDGE, `${GATEWAY}/24`);
    // The host reaches Services through the bridge, from the gateway's address (whatever its default route), so that
    // clients on the host (the lab's, tests) reach a Service's pods as one more address of the pod network. It goes with the bridge.
    host.run('ip', ['route', 'replace', SERVICE_CIDR, 'dev', BRIDGE, 'src', GATEWAY]);
    // A pod reaches a Service whose endpoints are pods through the host, on the bridge only (host.ts).
    host.forwardWithinBridge(BRIDGE);
    // Pod to pod on the bridge is bridged, not routed: NetworkPolicy's iptables rules see it only through br_netfilter.
    host.writeSysctl(BRIDGE_NF_CALL, '1');
    host.createCgroupRoot(CGROUP_ROOT);
    report('making certificates');
    const pki = makePki(paths.pki, `https://${GATEWAY}:${API_PORT}`, [GATEWAY, API_SERVICE_IP, '127.0.0.1'], identities);
    const images = clusterImages(binaries);
    const pause = images[0];
    writeFileSync(join(paths.config, 'containerd.toml'), containerdConfig(pause.reference));
    writeFileSync(join(paths.cniConf, '10-zdm-lab.conflist'), cniConfig());
    writeFileSync(join(paths.config, 'kubelet.yaml'), kubeletConfig(pki));
    writeFileSync(join(paths.config, 'kube-proxy.yaml'), kubeProxyConfig(pki));

    report('starting containerd');
    const containerd = startDaemon('containerd', '/usr/bin/containerd', pki, record);
    await waitFor('containerd', 'containerd', containerd, async () => containerdAnswers(), report, 30_000);
    const imported = await importImages(paths.socket, images, (image) => join(paths.images, `${image.reference.split('/')[1].replace(':', '-')}.tar`));
    for (const image of images) record.images[image.entrypoint.slice(1)] = image.reference;
    writeRecord(record);
    report(`images in containerd: ${images.map((i) => i.reference).join(', ')}${imported.length ? ` (imported ${imported.length})` : ''}`);

    report('starting etcd');
    const etcd = startDaemon('etcd', binaries.cluster.etcd, pki, record);
    await waitFor('etcd', 'etcd', etcd, () => httpOk(`${ETCD_CLIENT}/health`), report, 60_000);

    report('starting kube-apiserver');
    const apiserver = startDaemon('kube-apiserver', binaries.cluster['kube-apiserver'], pki, record);
    await waitFor('the API server to be ready', 'kube-apiserver', apiserver, async () => (await apiGet('/readyz', pki))?.status === 200, report, 180_000);

    report('starting kube-controller-manager, kube-scheduler, kubelet and kube-proxy');
    for (const name of ['kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'] as const) startDaemon(name, binaries.cluster[name], pki, record);
    const kubelet = record.processes.find((p) => p.name === 'kubelet')!.pid;
    let lastConditions = '';
    await waitFor(
      `node ${NODE_NAME} to be Ready`,
      'kubelet',
      kubelet,
      async () => {
        for (const p of record.processes) {
          if (!isRunning(p.pid)) throw new Error(`${p.name} exited; ${join(paths.logs, `${p.name}.log`)} ends:\n${logTail(p.name)}`);
        }
        const conditions = await nodeConditions();
        const ready = conditions?.find((c) => c.type === 'Ready');
        const summary = conditions === undefined ? 'node not registered yet' : `Ready=${ready?.status ?? '?'}${ready?.message ? ` (${ready.message})` : ''}`;
        if (summary !== lastConditions) report(summary);
        lastConditions = summary;
        return isReady(conditions);
      },
      report,
      240_000,
    );
    report(`node ${NODE_NAME} is Ready ${((Date.now() - upStarted) / 1000).toFixed(1)}s after the start`);
    // It guards the pods of a node it looks up by name: started once the node is there.
    report('starting kube-netpol (NetworkPolicy)');
    const netpol = startDaemon('kube-netpol', binaries.netpol, pki, record);
    const controllerManager = record.processes.find((p) => p.name === 'kube-controller-manager')!.pid;
    await waitFor('the controller manager to give namespace default its ServiceAccount', 'kube-controller-manager', controllerManager,
      async () => (await apiGet('/api/v1/namespaces/default/serviceaccounts/default'))?.status === 200, report, 60_000);
    report('starting the cluster DNS');
    await startDns(adminKubeconfig, images.find((i) => i.entrypoint === '/coredns')!.reference, GATEWAY, report);
    await waitFor('kube-netpol\'s first rules', 'kube-netpol', netpol, async () => host.kubeChains().some((chain) => chain.endsWith(' KUBE-ROUTER-FORWARD')), report, 60_000);
    report(`the cluster is up ${((Date.now() - upStarted) / 1000).toFixed(1)}s after the start (node Ready, namespace default has its ServiceAccount, DNS ready, NetworkPolicy enforced); kubeconfig: ${adminKubeconfig}`);
    return { kubeconfig: adminKubeconfig, images: record.images, seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    report(`up failed: ${(error as Error).message.split('\n')[0]}; tearing down what was started`);
    await down(report);
    throw error;
  }
}

/**
 * Copies images the Docker daemon holds (the lab's Cassandra and zdm-proxy
 * images) into the running cluster's containerd, those it does not hold yet;
 * the references it imported.
 */
export async function importFromDocker(references: string[]): Promise<string[]> {
  if (!containerdAnswers()) throw new Error(`the cluster's containerd does not answer at ${paths.socket}: is the cluster up?`);
  return importDockerImages(paths.socket, references);
}

// ---- down ----

/** Sockets of containerd's runc shims, which containerd 1.6 keeps under /run/containerd/s whatever its state folder. */
const SHIM_SOCKETS = '/run/containerd/s';

function shimSocketsOf(pids: number[]): string[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const match = /^socket:\[(\d+)\]$/.exec(target);
        if (match) inodes.add(match[1]);
      }
    } catch {
      // gone
    }
  }
  const sockets: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && inodes.has(fields[6]) && fields[7].startsWith(`${SHIM_SOCKETS}/`)) sockets.push(fields[7]);
  }
  return [...new Set(sockets)];
}

/**
 * Stops everything `up` started and removes every trace of it. Idempotent:
 * with no cluster it finds nothing to remove. Returns what could not be
 * removed (empty when the host is clean).
 */
export async function down(report: Reporter): Promise<string[]> {
  const started = Date.now();
  const record = readRecord();
  const byName = (name: Daemon) => (record?.processes ?? []).filter((p) => p.name === name && stillOurs(p));

  // The node agents first, so that nothing restarts the pods being removed.
  for (const name of ['kube-netpol', 'kubelet', 'kube-proxy', 'kube-scheduler', 'kube-controller-manager'] as const) {
    for (const p of byName(name)) await host.stopProcess(p.pid, 10_000);
  }
  const podProcesses = host.cgroupProcesses(CGROUP_ROOT);
  if (podProcesses.length > 0) report(`stopping ${podProcesses.length} pod processes`);
  const shims = host.processesMentioning(paths.socket).filter((pid) => host.commandLine(pid)[0]?.includes('containerd-shim'));
  const shimSockets = shimSocketsOf(shims);
  const cgroupsLeft = await host.removeCgroupRoot(CGROUP_ROOT);
  for (const p of byName('containerd')) await host.stopProcess(p.pid, 10_000);
  // A shim outlives containerd; its container is gone, so it is only waiting to be told.
  for (const pid of host.processesMentioning(paths.socket)) await host.stopProcess(pid, 3000);
  for (const socket of shimSockets) rmSync(socket, { force: true });
  for (const name of ['kube-apiserver', 'etcd'] as const) for (const p of byName(name)) await host.stopProcess(p.pid, 15_000);

  const problems: string[] = [];
  const mountsLeft = existsSync(stateDir) ? host.unmountAll(stateDir) : [];
  problems.push(...mountsLeft.map((m) => `mount ${m}`));
  problems.push(...cgroupsLeft.map((c) => `cgroup ${c}`));
  if (host.bridgeExists(BRIDGE)) host.deleteBridge(BRIDGE);
  if (!host.removeForwardTable()) problems.push(`nft table ${host.FORWARD_TABLE}`);
  const tablesBefore = new Set(record?.nftTablesBefore ?? host.nftTables());
  problems.push(...host.removeKubeRules(host.nftTables().filter((t) => !tablesBefore.has(t) && /^(ip|ip6) (filter|nat|mangle)$/.test(t))));
  problems.push(...host.removePolicySets());
  if (record && host.readSysctl('net.ipv4.ip_forward') !== record.ipForwardBefore) host.writeSysctl('net.ipv4.ip_forward', record.ipForwardBefore);
  if (record?.bridgeNfCallBefore !== undefined && host.readSysctl(BRIDGE_NF_CALL) !== record.bridgeNfCallBefore) host.writeSysctl(BRIDGE_NF_CALL, record.bridgeNfCallBefore);
  for (const link of podLogLinks()) rmSync(link);
  // libcni names each cached result <network>-<sandbox id>-<interface>: this network's, and the loopback ones of this cluster's sandboxes.
  const sandboxes = join(paths.containerd, 'root', 'io.containerd.grpc.v1.cri', 'sandboxes');
  const sandboxIds = existsSync(sandboxes) ? readdirSync(sandboxes) : [];
  if (existsSync(CNI_RESULTS)) {
    for (const name of readdirSync(CNI_RESULTS)) {
      if (name.startsWith(`${CNI_NETWORK}-`) || sandboxIds.some((id) => name.includes(`-${id}-`))) rmSync(join(CNI_RESULTS, name), { force: true });
    }
  }
  for (const name of ['kubelet.sock', 'kubelet_internal_checkpoint']) rmSync(join(DEVICE_PLUGINS, name), { force: true });
  if (record) {
    for (const dir of HOST_DIRS.filter((d) => !record.hostDirsBefore.includes(d) && existsSync(d))) {
      if (readdirSync(dir).length === 0) rmdirSync(dir);
      else problems.push(`${dir} (made by the cluster, not empty: ${readdirSync(dir).slice(0, 3).join(', ')})`);
    }
  } else {
    // Without a record nobody knows which of them were there before: the empty ones go, as a whole cluster's down removes them.
    for (const dir of HOST_DIRS.filter((d) => existsSync(d) && readdirSync(d).length === 0)) rmdirSync(dir);
  }

  const stillRunning = [...(record?.processes ?? []).filter(stillOurs).map((p) => `${p.name} (pid ${p.pid})`),
    ...host.processesMentioning(stateDir).map((pid) => `pid ${pid}: ${host.commandLine(pid).join(' ').slice(0, 120)}`)];
  problems.push(...stillRunning.map((p) => `process ${p}`));
  if (mountsLeft.length === 0 && stillRunning.length === 0) rmSync(stateDir, { recursive: true, force: true });
  else problems.push(`state folder ${stateDir} kept because of the above`);
  if (host.bridgeExists(BRIDGE)) problems.push(`bridge ${BRIDGE}`);
  if (problems.length === 0) report(`cluster torn down in ${((Date.now() - started) / 1000).toFixed(1)}s; nothing of it is left`);
  else report(`cluster torn down in ${((Date.now() - started) / 1000).toFixed(1)}s, but these are left:\n  ${problems.join('\n  ')}`);
  return problems;
}

// ---- status ----

export interface ClusterStatus {
  stateDir: string;
  running: string[];
  stopped: string[];
  expected: number;
  apiReady: boolean;
  nodeReady: boolean;
  kubeconfig?: string;
  /** The references of the images `up` imported, by program: pause, coredns, probe. */
  images: Record<string, string>;
}

export async function clusterStatus(): Promise<ClusterStatus> {
  const record = readRecord();
  const processes = record?.processes ?? [];
  const running = processes.filter(stillOurs).map((p) => `${p.name} (pid ${p.pid})`);
  const stopped = processes.filter((p) => !stillOurs(p)).map((p) => p.name);
  const apiReady = record !== undefined && existsSync(paths.pki) && (await apiGet('/readyz'))?.status === 200;
  const nodeReady = apiReady && isReady(await nodeConditions());
  return { stateDir, running, stopped, expected: 8, apiReady, nodeReady, kubeconfig: record ? adminKubeconfig : undefined, images: record?.images ?? {} };
}

/** What is left on the host of a cluster: empty when there is none (what tests assert after `down`). */
/**
 * The kubelet's links to this cluster's pod logs, and those left dangling by
 * a cluster whose state folder is gone (a cluster's pod logs are always in a
 * `pod-logs` folder of its state).
 */
function podLogLinks(): string[] {
  if (!existsSync(CONTAINER_LOG_LINKS)) return [];
  return readdirSync(CONTAINER_LOG_LINKS)
    .map((name) => join(CONTAINER_LOG_LINKS, name))
    .filter((link) => {
      if (!lstatSync(link).isSymbolicLink()) return false;
      const target = readlinkSync(link);
      return target.startsWith(`${paths.podLogs}/`) || (target.includes('/pod-logs/') && !existsSync(target));
    });
}

export function leftovers(): string[] {
  const found: string[] = [];
  if (existsSync(stateDir)) found.push(`state folder ${stateDir}`);
  found.push(...host.mountsUnder(stateDir).map((m) => `mount ${m}`));
  found.push(...host.processesMentioning(stateDir).map((pid) => `process ${pid}: ${host.commandLine(pid).join(' ').slice(0, 120)}`));
  found.push(...host.cgroupProcesses(CGROUP_ROOT).map((pid) => `pod process ${pid}`));
  found.push(...host.cgroupRootExists(CGROUP_ROOT).map((dir) => `cgroup ${dir}`));
  if (host.bridgeExists(BRIDGE)) found.push(`bridge ${BRIDGE}`);
  if (host.forwardTableExists()) found.push(`nft table ${host.FORWARD_TABLE}`);
  found.push(...host.kubeChains());
  found.push(...host.policySets().map((name) => `ipset ${name}`));
  found.push(...podLogLinks().map((link) => `log link ${link}`));
  if (existsSync(join(DEVICE_PLUGINS, 'kubelet.sock'))) found.push(`kubelet socket ${join(DEVICE_PLUGINS, 'kubelet.sock')}`);
  if (existsSync(CNI_RESULTS)) found.push(...readdirSync(CNI_RESULTS).filter((n) => n.startsWith(`${CNI_NETWORK}-`)).map((n) => `CNI result ${join(CNI_RESULTS, n)}`));
  return found;
}
