/**
 * What the local cluster changes on the host, and how each change is undone:
 * the pod bridge, the control-group folders the kubelet runs pods under,
 * mounts under the cluster's state folder, the daemons it started, packet
 * filter chains and tables the Kubernetes components add, the bridge's own
 * forwarding and the table that keeps it on the bridge, and the one
 * sysctl the bridge plugin may switch on. Every function here acts only on
 * what carries the cluster's own names (its bridge, its cgroup root, its
 * state folder, the KUBE-* chains, kube-proxy's nft tables), never on the
 * host's other networks, containers or rules.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRunning, signal, waitUntil } from '../../common/processes.js';

export function run(command: string, args: string[], what?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw new Error(`${command} could not be run${what ? ` (${what})` : ''}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${(result.stderr || result.stdout).trim()}`);
  return result.stdout;
}

function tryRun(command: string, args: string[]): { ok: boolean; out: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

// ---- the pod bridge ----

export function bridgeExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The pod bridge with the gateway address; the API server and kubelet listen on that address. */
export function createBridge(name: string, gatewayCidr: string): void {
  if (!bridgeExists(name)) run('ip', ['link', 'add', name, 'type', 'bridge'], 'iproute2 is needed: apt-get install iproute2');
  tryRun('ip', ['addr', 'add', gatewayCidr, 'dev', name]);
  run('ip', ['link', 'set', name, 'up']);
}

/** Deletes the bridge; the pods' veths went with their network namespaces. */
export function deleteBridge(name: string): void {
  if (bridgeExists(name)) run('ip', ['link', 'delete', name]);
}

/** The veths still attached to the bridge (none once every pod namespace is gone). */
export function bridgePorts(name: string): string[] {
  const dir = `/sys/class/net/${name}/brif`;
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Routes on the host that lie within `cidr` (a sign that someone else uses those addresses). */
export function routesWithin(cidr: string): string[] {
  return run('ip', ['-4', '-o', 'route', 'show', 'table', 'all', 'root', cidr]).split('\n').filter(Boolean);
}

// ---- forwarding within the bridge ----

/**
 * The nft table that keeps what the host forwards for the pods on the pod
 * bridge: a packet that came in on it may leave only by it, and no packet
 * is forwarded onto it from elsewhere.
 */
export const FORWARD_TABLE = 'inet zdm-lab-kube';
const [FORWARD_FAMILY, FORWARD_NAME] = FORWARD_TABLE.split(' ');

/**
 * Lets the host forward between pods on the bridge and nowhere else. A pod
 * that reaches a Service whose endpoint is another pod sends to the gateway;
 * after kube-proxy's DNAT the host sends the packet back out on the bridge,
 * which is forwarding. IPv4 decides forwarding by the interface a packet came
 * in on, so it is switched on for the bridge only (the host's
 * net.ipv4.ip_forward stays as it is), and the cluster's own table drops
 * anything that would cross from or to another interface. Both go with the
 * bridge and the table.
 */
export function forwardWithinBridge(bridge: string): void {
  const table = [FORWARD_FAMILY, FORWARD_NAME];
  run('nft', ['add', 'table', ...table]);
  run('nft', ['add', 'chain', ...table, 'forward', '{ type filter hook forward priority filter ; policy accept ; }']);
  run('nft', ['add', 'rule', ...table, 'forward', 'iifname', bridge, 'oifname', '!=', bridge, 'counter', 'drop']);
  run('nft', ['add', 'rule', ...table, 'forward', 'oifname', bridge, 'iifname', '!=', bridge, 'counter', 'drop']);
  writeSysctl(`net.ipv4.conf.${bridge}.forwarding`, '1');
}

/** Removes the table of forwardWithinBridge; false when it could not be removed. */
export function removeForwardTable(): boolean {
  return !forwardTableExists() || tryRun('nft', ['delete', 'table', FORWARD_FAMILY, FORWARD_NAME]).ok;
}

export function forwardTableExists(): boolean {
  return tryRun('nft', ['list', 'table', FORWARD_FAMILY, FORWARD_NAME]).ok;
}

// ---- sysctl ----

export function readSysctl(key: string): string {
  return readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8').trim();
}

export function writeSysctl(key: string, value: string): void {
  writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
}

// ---- control groups (v1: one hierarchy per controller; the unified one beside them) ----

function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map((f) => f[1]);
}

/** The cgroup root the kubelet puts pods under must exist in every hierarchy before it starts. */
export function createCgroupRoot(root: string): void {
  for (const mount of cgroupMounts()) {
    const dir = join(mount, root);
    spawnSync('mkdir', ['-p', dir]);
    if (mount.endsWith('/cpuset')) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        if (readFileSync(join(dir, file), 'utf8').trim() === '') writeFileSync(join(dir, file), readFileSync(join(mount, file), 'utf8'));
      }
    }
  }
}

/** A group and every group under it, deepest first. Groups the runtime removes meanwhile are left out. */
function cgroupTree(dir: string): string[] {
  let children: string[];
  try {
    children = readdirSync(dir).filter((name) => statSync(join(dir, name), { throwIfNoEntry: false })?.isDirectory());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return [...children.flatMap((name) => cgroupTree(join(dir, name))), dir];
}

/** Every process in the cgroup root, in any hierarchy: the pods' processes. */
export function cgroupProcesses(root: string): number[] {
  const pids = new Set<number>();
  for (const mount of cgroupMounts()) {
    for (const dir of cgroupTree(join(mount, root))) {
      let listed: string;
      try {
        listed = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
      } catch (error) {
        // Gone, or being removed by the container's runtime while this walks the tree (ENODEV): no process in it.
        if (['ENOENT', 'ENODEV'].includes((error as NodeJS.ErrnoException).code ?? '')) continue;
        throw error;
      }
      for (const line of listed.split('\n')) if (line) pids.add(Number(line));
    }
  }
  return [...pids];
}

/** Kills the pods' processes and removes the cgroup root's folders, deepest first. */
export async function removeCgroupRoot(root: string): Promise<string[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const pids = cgroupProcesses(root);
    if (pids.length === 0) break;
    signal(pids, 'SIGKILL');
    await sleep(100);
  }
  const left: string[] = [];
  for (const mount of cgroupMounts()) {
    for (const dir of cgroupTree(join(mount, root))) {
      try {
        rmdirSync(dir);
      } catch (error) {
        // A container's runtime may remove its own group while this walks the tree: gone is what was wanted.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') left.push(`${dir} (${(error as Error).message})`);
      }
    }
  }
  return left;
}

export function cgroupRootExists(root: string): string[] {
  return cgroupMounts().map((mount) => join(mount, root)).filter((dir) => existsSync(dir));
}

// ---- processes ----

export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Every process whose command line contains `text` (e.g. the cluster's containerd socket). */
export function processesMentioning(text: string): number[] {
  return processesWhere((args) => args.some((arg) => arg.includes(text)));
}

/** Every process but this one whose command line passes `test`. */
export function processesWhere(test: (args: string[]) => boolean): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid && test(commandLine(pid)));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone (or 5 s after the SIGKILL). */
export async function stopProcess(pid: number, graceMs: number): Promise<void> {
  const gone = () => !isRunning(pid);
  signal([pid], 'SIGTERM');
  if (await waitUntil(gone, graceMs, 100)) return;
  signal([pid], 'SIGKILL');
  await waitUntil(gone, 5000, 100);
}

// ---- mounts ----

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    .map((point) => point.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

export function unmountAll(dir: string): string[] {
  for (let pass = 0; pass < 5; pass++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return [];
    for (const point of points) if (!tryRun('umount', [point]).ok) tryRun('umount', ['--lazy', point]);
  }
  return mountsUnder(dir);
}

/**
 * The mounts a cluster of this lab's layout makes in its state folder, wherever that folder is: containers' root
 * file systems, pod sandboxes' network namespaces and shared memory under containerd's state, and the kubelet's
 * root (a mount of its own) with the pod volumes in it.
 */
const CLUSTER_MOUNT = /\/containerd\/state\/io\.containerd\.(grpc\.v1\.cri|runtime\.v2\.task)\/|\/kubelet\/root(\/|$)/;

/** Mounts of any copy's cluster (CLUSTER_MOUNT), deepest first. */
export function clusterMounts(): string[] {
  return mountsUnder('').filter((point) => CLUSTER_MOUNT.test(point));
}

/** Unmounts them (a cluster none of whose processes runs left them); those still mounted. */
export function unmountClusterMounts(): string[] {
  for (const point of clusterMounts()) if (!tryRun('umount', [point]).ok) tryRun('umount', ['--lazy', point]);
  return clusterMounts();
}

// ---- packet filter ----

/**
 * Removes the KUBE-* chains the kubelet and kube-proxy add to the iptables
 * tables, and every rule that jumps to them; then the nft tables kube-proxy
 * owns. Tables listed in `createdTables` (absent before `up`) are deleted
 * when nothing but their empty base chains is left in them.
 */
export function removeKubeRules(createdTables: string[]): string[] {
  const left: string[] = [];
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const listed = tryRun(tool, ['-w', '-t', table, '-S']);
      if (!listed.ok) continue;
      const lines = listed.out.split('\n');
      for (const line of lines.filter((l) => l.startsWith('-A ') && / -j KUBE-/.test(l) && !l.startsWith('-A KUBE-'))) {
        const args = line.slice(3).match(/(?:[^\s"]+|"[^"]*")+/g)!.map((a) => a.replace(/^"|"$/g, ''));
        tryRun(tool, ['-w', '-t', table, '-D', ...args]);
      }
      const chains = lines.filter((l) => l.startsWith('-N KUBE-')).map((l) => l.slice(3).trim());
      for (const chain of chains) tryRun(tool, ['-w', '-t', table, '-F', chain]);
      for (const chain of chains) if (!tryRun(tool, ['-w', '-t', table, '-X', chain]).ok) left.push(`${tool} -t ${table} chain ${chain}`);
    }
  }
  for (const family of ['ip', 'ip6']) tryRun('nft', ['delete', 'table', family, 'kube-proxy']);
  for (const table of createdTables) {
    const listed = tryRun('nft', ['list', 'table', ...table.split(' ')]);
    if (!listed.ok) continue;
    const hasRules = listed.out.split('\n').some((l) => {
      const t = l.trim();
      return t !== '' && !/^(table|chain|type|policy|}|counter packets \d+ bytes \d+ comment)/.test(t) && !t.startsWith('type ');
    });
    if (hasRules) left.push(`nft table ${table} still holds rules`);
    else tryRun('nft', ['delete', 'table', ...table.split(' ')]);
  }
  return left;
}

/** The ipsets of the cluster's NetworkPolicy controller (kube-router names them KUBE-SRC-* and KUBE-DST-*). */
export function policySets(): string[] {
  const listed = tryRun('ipset', ['list', '-n']);
  return listed.ok ? listed.out.split('\n').map((l) => l.trim()).filter((name) => /^KUBE-(SRC|DST)-/.test(name)) : [];
}

/** Destroys those ipsets once no rule refers to them (after removeKubeRules); those it could not destroy. */
export function removePolicySets(): string[] {
  for (const name of policySets()) tryRun('ipset', ['destroy', name]);
  return policySets().map((name) => `ipset ${name}`);
}

/** The nft tables that exist now, as "family name". */
export function nftTables(): string[] {
  const listed = tryRun('nft', ['list', 'tables']);
  return listed.ok ? listed.out.split('\n').filter((l) => l.startsWith('table ')).map((l) => l.slice('table '.length).trim()) : [];
}

/** The KUBE-* chains present in any iptables table. */
export function kubeChains(): string[] {
  const found: string[] = [];
  for (const tool of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const listed = tryRun(tool, ['-w', '-t', table, '-S']);
      if (listed.ok) for (const l of listed.out.split('\n')) if (l.startsWith('-N KUBE-')) found.push(`${tool} ${table} ${l.slice(3)}`);
    }
  }
  for (const family of ['ip', 'ip6']) if (tryRun('nft', ['list', 'table', family, 'kube-proxy']).ok) found.push(`nft table ${family} kube-proxy`);
  return found;
}
