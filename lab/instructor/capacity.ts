/**
 * How many more learner environments this host can hold, by memory and by
 * CPU, from measured figures where there are some. Memory: what the
 * kernel says is available (MemAvailable in /proc/meminfo) over what one
 * environment uses, measured as the highest peak of the isolated
 * environments running (their control groups), else as the course declares
 * it (course.json "environments.memoryGiB", measured with bench/class.ts)
 * or the instructor overrides it. CPU: the cores not busy (from /proc/stat,
 * keeping a fifth of the host for the lab and for bursts) over the CPU one
 * environment uses on average (its control group's CPU time over the last
 * minute). A new environment is refused when memory cannot hold one more,
 * counting the environments still starting; CPU only slows a class down, so
 * its figure is shown, not enforced.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export const GIB = 1024 ** 3;

export interface MemoryInfo {
  totalBytes: number;
  availableBytes: number;
}

export function readMemoryInfo(path = '/proc/meminfo'): MemoryInfo {
  const text = readFileSync(path, 'utf8');
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`${path} has no ${key} line`);
    return Number(m[1]) * 1024;
  };
  return { totalBytes: kib('MemTotal'), availableBytes: kib('MemAvailable') };
}

export interface Capacity {
  bytesPerEnvironment: number;
  /** Whence bytesPerEnvironment: measured over N environments, or declared by the course (or the instructor). */
  memoryFrom: { measuredOver: number } | 'declared';
  availableBytes: number;
  totalBytes: number;
  /** Environments created whose infrastructure is still starting. */
  starting: number;
  /** How many more environments fit now, by memory (enforced). */
  room: number;
  /** The host's CPU: its cores, how many are busy (null until measured), what one environment uses (null until measured), and how many more fit by it. */
  cpu: { cores: number; busyCores: number | null; perEnvironment: number | null; measuredOver: number; room: number | null };
  /** What runs out first: memory or CPU (CPU only once measured). */
  binding: 'memory' | 'cpu';
}

/** Of the host's cores, the share environments may fill; the rest is the lab's and the bursts'. */
export const CPU_SHARE = 0.8;

/** What the lab measured of its environments and its host (classroom.ts samples it). */
export interface Measured {
  /** Peak memory of each isolated environment that is set up. */
  peaks: number[];
  /** CPU use of each isolated environment that is set up, in cores, over the last window. */
  cpus: number[];
  /** Busy cores of the whole host over the last window. */
  busyCores: number | null;
}

export const NOTHING_MEASURED: Measured = { peaks: [], cpus: [], busyCores: null };

/**
 * Busy and total CPU time of the host so far (/proc/stat's first line, in
 * clock ticks): two readings give the busy cores between them.
 */
export function readHostCpu(path = '/proc/stat'): { busy: number; total: number } {
  const fields = readFileSync(path, 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  // idle and iowait are the idle ones
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
}

export class CapacityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CapacityError';
  }
}

export function capacity(declaredBytes: number, starting: number, memory: MemoryInfo, measured: Measured = NOTHING_MEASURED, cores = availableParallelism()): Capacity {
  const bytesPerEnvironment = measured.peaks.length ? Math.max(...measured.peaks) : declaredBytes;
  const room = Math.max(0, Math.floor(memory.availableBytes / bytesPerEnvironment) - starting);
  const perEnvironment = measured.cpus.length ? measured.cpus.reduce((a, b) => a + b, 0) / measured.cpus.length : null;
  const cpuRoom =
    perEnvironment === null || measured.busyCores === null ? null : Math.max(0, Math.floor((cores * CPU_SHARE - measured.busyCores) / Math.max(perEnvironment, 0.01)) - starting);
  return {
    bytesPerEnvironment,
    memoryFrom: measured.peaks.length ? { measuredOver: measured.peaks.length } : 'declared',
    availableBytes: memory.availableBytes,
    totalBytes: memory.totalBytes,
    starting,
    room,
    cpu: { cores, busyCores: measured.busyCores, perEnvironment, measuredOver: measured.cpus.length, room: cpuRoom },
    binding: cpuRoom !== null && cpuRoom < room ? 'cpu' : 'memory',
  };
}

/** One line for the console: how many more fit by memory and by CPU, and which binds. */
export function describeCapacity(c: Capacity): string {
  const each = c.memoryFrom === 'declared' ? `about ${formatGiB(c.bytesPerEnvironment)} each, as the course declares` : `${formatGiB(c.bytesPerEnvironment)} each at most, measured over ${c.memoryFrom.measuredOver}`;
  const memory = `${c.room} more by memory (${formatGiB(c.availableBytes)} of ${formatGiB(c.totalBytes)} free, ${each})`;
  const cpu =
    c.cpu.room === null
      ? `CPU not measured yet (${c.cpu.cores} cores)`
      : `${c.cpu.room} more by CPU (${c.cpu.busyCores!.toFixed(1)} of ${c.cpu.cores} cores busy, ${c.cpu.perEnvironment!.toFixed(2)} cores each on average over ${c.cpu.measuredOver})`;
  return `room for ${memory}; ${cpu}${c.cpu.room !== null ? `: ${c.binding === 'cpu' ? 'CPU' : 'memory'} runs out first` : ''}`;
}

/** Throws a CapacityError saying what is free and what one more environment needs. */
export function ensureRoom(c: Capacity): void {
  if (c.room > 0) return;
  const still = c.starting > 0 ? `, and ${c.starting} environment${c.starting > 1 ? 's are' : ' is'} still starting` : '';
  throw new CapacityError(
    `not enough memory for another environment: this host has ${formatGiB(c.availableBytes)} available of ${formatGiB(c.totalBytes)}${still}, ` +
      `and an environment needs about ${formatGiB(c.bytesPerEnvironment)}; destroy an environment first (zdm-lab env destroy K) or use a bigger host`,
  );
}

export function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(1)} GiB`;
}
