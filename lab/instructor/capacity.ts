/**
 * How many learner environments this host can hold, from the memory one
 * environment needs as the course declares it (course.json
 * "environments.memoryGiB"; the ZDM course measures its own with
 * bench/instructor.ts) or as the instructor overrides it. A new
 * environment is refused when the memory the kernel says is available
 * (MemAvailable in /proc/meminfo) cannot hold one more, counting the
 * environments still starting, whose memory is not in use yet.
 */
import { readFileSync } from 'node:fs';

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
  availableBytes: number;
  totalBytes: number;
  /** Environments created whose infrastructure is still starting. */
  starting: number;
  /** How many more environments fit now. */
  room: number;
}

export class CapacityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CapacityError';
  }
}

export function capacity(bytesPerEnvironment: number, starting: number, memory: MemoryInfo): Capacity {
  const room = Math.max(0, Math.floor(memory.availableBytes / bytesPerEnvironment) - starting);
  return { bytesPerEnvironment, availableBytes: memory.availableBytes, totalBytes: memory.totalBytes, starting, room };
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
