/**
 * A memory, process and CPU budget for one learner environment, as a control
 * group nested under the lab server's own (so a limit set on the lab as a
 * whole still holds). Both layouts are handled: cgroup v2 (one unified
 * hierarchy; the lab server moves itself into a leaf of its own group so the
 * group may hand controllers to its children) and cgroup v1 (a hierarchy per
 * controller: memory, pids, cpu).
 *
 * The same budget holds an environment's Docker containers, which the daemon
 * starts outside the lab server's groups: they are created under a group of
 * the environment's at the top of each hierarchy (DockerCgroupParent), named
 * to Docker as the containers' CgroupParent. On cgroup v1 that group is the
 * environment's own group as well (its shells and everything they start
 * join it), so one budget holds the environment as a whole.
 *
 * Written by hand: the job is a few files under /sys/fs/cgroup, and no
 * maintained Node.js library manages cgroups (systemd-run would, where
 * systemd runs, which is not every host the lab serves from).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../../common/processes.js';

const ROOT = '/sys/fs/cgroup';
/** memory, pids and cpu set the budget; cpuacct counts the CPU time used (on hosts that mount it with cpu, both name one folder). */
const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'] as const;
const CPU_PERIOD_US = 100_000;

export interface Budget {
  memoryBytes: number;
  /** CPUs' worth of time per period (1.5: one and a half cores); undefined: no cap, a fair share only. */
  cpus?: number;
  /** Processes and threads together. */
  tasks: number;
}

/** The layout this host uses, or why budgets cannot be set. */
export function cgroupProblem(): string | undefined {
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    const available = readFileSync(join(ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/);
    const missing = ['memory', 'pids', 'cpu'].filter((c) => !available.includes(c));
    return missing.length ? `the cgroup v2 hierarchy lacks the ${missing.join(', ')} controller(s)` : undefined;
  }
  const missing = V1_CONTROLLERS.filter((c) => !existsSync(join(ROOT, c, 'cgroup.procs')));
  return missing.length ? `no cgroup hierarchy for ${missing.join(', ')} under ${ROOT}` : undefined;
}

/** Whether this host uses cgroup v2's one unified hierarchy (else v1's, one per controller). */
export function isCgroupV2(): boolean {
  return existsSync(join(ROOT, 'cgroup.controllers'));
}

/** This process's group in a hierarchy: "" for v2's unified one, else the v1 controller's name. */
function ownGroup(controller: string): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controller === '' ? controllers === '' : controllers!.split(',').includes(controller)) return path;
  }
  throw new Error(`this process is in no ${controller || 'cgroup v2'} group (/proc/self/cgroup)`);
}

function write(dir: string, file: string, value: string): void {
  try {
    writeFileSync(join(dir, file), value);
  } catch (err) {
    throw new Error(`cannot set ${join(dir, file)} to ${value}: ${(err as Error).message}`);
  }
}

/** On v2 a group with processes cannot give its children controllers: the lab server steps into a leaf of its own first. */
function v2Parent(): string {
  const own = join(ROOT, ownGroup(''));
  if (own === ROOT) return ROOT;
  const enabled = readFileSync(join(own, 'cgroup.subtree_control'), 'utf8');
  if (!/\bmemory\b/.test(enabled) || !/\bpids\b/.test(enabled) || !/\bcpu\b/.test(enabled)) {
    const leaf = join(own, 'lab-server');
    mkdirSync(leaf, { recursive: true });
    for (const pid of readFileSync(join(own, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        writeFileSync(join(leaf, 'cgroup.procs'), pid);
      } catch {
        // a process that ended meanwhile
      }
    }
    write(own, 'cgroup.subtree_control', '+memory +pids +cpu');
  }
  return own;
}

export class EnvironmentCgroup {
  /** The groups' folders (one on v2, one per controller on v1). */
  readonly dirs: string[];
  protected readonly v2: boolean;

  /** `atTop`: at the top of each hierarchy, rather than under the lab server's own group. */
  constructor(
    readonly name: string,
    atTop = false,
  ) {
    this.v2 = isCgroupV2();
    if (atTop) this.dirs = this.v2 ? [join(ROOT, name)] : V1_CONTROLLERS.map((c) => join(ROOT, c, name));
    else this.dirs = this.v2 ? [join(v2Parent(), name)] : V1_CONTROLLERS.map((c) => join(ROOT, c, ownGroup(c), name));
  }

  /** Whether the groups are there (created and not yet removed). */
  get exists(): boolean {
    return existsSync(this.dirs[0]!);
  }

  /** Creates the groups (or takes over those a crashed server left) and sets the budget. */
  create(budget: Budget): void {
    for (const dir of this.dirs) mkdirSync(dir, { recursive: true });
    const quota = budget.cpus === undefined ? undefined : Math.max(1000, Math.round(budget.cpus * CPU_PERIOD_US));
    if (this.v2) {
      const [dir] = this.dirs as [string];
      write(dir, 'memory.max', String(budget.memoryBytes));
      if (existsSync(join(dir, 'memory.swap.max'))) write(dir, 'memory.swap.max', '0');
      write(dir, 'pids.max', String(budget.tasks));
      write(dir, 'cpu.max', `${quota ?? 'max'} ${CPU_PERIOD_US}`);
      return;
    }
    const [memory, pids, cpu] = this.dirs as [string, string, string];
    // Swap counts against the same budget, so a hog cannot spill into swap. The kernel wants memory ≤ memory+swap
    // at every moment: a higher budget raises memory+swap first, a lower one lowers memory first.
    const limits = ['memory.limit_in_bytes', ...(existsSync(join(memory, 'memory.memsw.limit_in_bytes')) ? ['memory.memsw.limit_in_bytes'] : [])];
    const current = Number(readFileSync(join(memory, 'memory.limit_in_bytes'), 'utf8'));
    for (const file of budget.memoryBytes > current ? limits.reverse() : limits) write(memory, file, String(budget.memoryBytes));
    write(pids, 'pids.max', String(budget.tasks));
    write(cpu, 'cpu.cfs_period_us', String(CPU_PERIOD_US));
    write(cpu, 'cpu.cfs_quota_us', String(quota ?? -1));
  }

  /** The files a process writes its own pid into to join every group. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => join(d, 'cgroup.procs'));
  }

  /** Every process in the groups. */
  members(): number[] {
    const pids = new Set<number>();
    for (const file of this.procsFiles) {
      try {
        for (const line of readFileSync(file, 'utf8').split('\n')) if (line) pids.add(Number(line));
      } catch {
        // not created (yet) or removed
      }
    }
    return [...pids];
  }

  /** Memory in use now and at most so far (v1: the peak since creation; v2 ≥ 5.19: memory.peak), in bytes. */
  memory(): { current: number; peak: number | undefined } {
    const dir = this.dirs[0]!;
    const read = (file: string) => (existsSync(join(dir, file)) ? Number(readFileSync(join(dir, file), 'utf8').trim()) : undefined);
    return this.v2 ? { current: read('memory.current') ?? 0, peak: read('memory.peak') } : { current: read('memory.usage_in_bytes') ?? 0, peak: read('memory.max_usage_in_bytes') };
  }

  /** CPU time the group's processes have used so far, in seconds (v1: cpuacct.usage; v2: cpu.stat's usage_usec). */
  cpuSeconds(): number | undefined {
    try {
      if (this.v2) {
        const m = /^usage_usec (\d+)$/m.exec(readFileSync(join(this.dirs[0]!, 'cpu.stat'), 'utf8'));
        return m ? Number(m[1]) / 1e6 : undefined;
      }
      return Number(readFileSync(join(this.dirs[3]!, 'cpuacct.usage'), 'utf8').trim()) / 1e9;
    } catch {
      return undefined;
    }
  }

  /** Removes the groups once their processes are gone (the kernel refuses to remove a group in use). */
  async remove(): Promise<void> {
    for (const dir of this.removable()) {
      if (!existsSync(dir)) continue;
      const removed = await waitUntil(() => {
        try {
          for (const child of readdirSync(dir, { withFileTypes: true })) if (child.isDirectory()) rmdirSync(join(dir, child.name));
          rmdirSync(dir);
          return true;
        } catch {
          return !existsSync(dir);
        }
      }, 10_000, 100);
      if (!removed) throw new Error(`cannot remove ${dir}: processes are still in it (${this.members().join(', ')})`);
    }
  }

  /** The folders remove() takes away. */
  protected removable(): string[] {
    return this.dirs;
  }
}

/**
 * Environment K's Docker containers, all together, held to its budget: a
 * group at the top of each hierarchy (`/zdmlab-docker-K`), which the lab's
 * Docker gateway names as every container's CgroupParent. On cgroup v1 the
 * environment's own processes join the same group (its Sandbox's group), so
 * the budget holds the environment as a whole. Docker's cgroupfs
 * driver reads an absolute CgroupParent from the top of each hierarchy and
 * makes a group per container in it, so the limits set here hold the sum of
 * the containers' memory, tasks and CPU time. The runtime creates the same
 * folder in the hierarchies the budget does not use (cpuset, devices,
 * freezer, …); remove() takes those away too.
 */
export class DockerCgroupParent extends EnvironmentCgroup {
  constructor(env: number) {
    super(`zdmlab-docker-${env}`, true);
  }

  /** What Docker's HostConfig.CgroupParent names. */
  get path(): string {
    return `/${this.name}`;
  }

  protected override removable(): string[] {
    if (this.v2) return this.dirs;
    const hierarchies = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory() || d.isSymbolicLink());
    return [...new Set([...this.dirs, ...hierarchies.map((d) => join(ROOT, d.name, this.name))])];
  }
}
