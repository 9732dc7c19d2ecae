/**
 * Process supervision shared by the engine (shells, terminals) and the
 * infrastructure (Cassandra nodes, proxies, Prometheus): start a program in
 * the background in a process group of its own, tagged through its
 * environment so that it can be recognised later (after a restart of the
 * lab, a reused pid is not ours); read /proc once per question; stop a group
 * with TERM and then KILL, each wait bounded by a deadline. It knows nothing
 * of what it runs.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** The fields of /proc/<pid>/stat the lab uses. */
export interface ProcStat {
  /** R, S, D, Z, T, … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** The terminal's foreground process group. */
  tpgid: number;
}

/** /proc/<pid>/stat, or undefined when there is no such process. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), session: Number(fields[3]), tpgid: Number(fields[5]) };
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** Every live process, with its stat; processes that end while the list is read are left out. */
export function processes(): { pid: number; stat: ProcStat }[] {
  const found: { pid: number; stat: ProcStat }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.state !== 'Z') found.push({ pid: Number(name), stat });
  }
  return found;
}

/** Every live process of a session (a terminal's shell and every job it started). */
export function sessionMembers(sid: number): number[] {
  return processes()
    .filter((p) => p.stat.session === sid)
    .map((p) => p.pid);
}

/** A NAME=value pair in a process's environment marks it as started by the lab for one thing. */
export interface Tag {
  name: string;
  value: string;
}

/** A process's environment as NAME=value entries; none when it is gone or not ours to read. */
function environ(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** True when pid runs (not a zombie) and carries the tag: it is the process started for that thing. */
export function isTagged(pid: number, tag: Tag): boolean {
  return isRunning(pid) && environ(pid).includes(`${tag.name}=${tag.value}`);
}

/** Live processes whose tag value starts with `prefix` (every component of one environment, say). */
export function findTagged(name: string, prefix: string): number[] {
  return processes()
    .map((p) => p.pid)
    .filter((pid) => environ(pid).some((e) => e.startsWith(`${name}=${prefix}`)));
}

/** Sends a signal to each pid (negative: a process group); a process already gone is no error. */
export function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * Waits until `gone()` is true, checking every `stepMs`, for at most
 * `deadlineMs`. Returns whether it happened in time.
 */
export async function waitUntil(gone: () => boolean, deadlineMs: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (gone()) return true;
    if (Date.now() >= end) return false;
    await sleep(Math.min(stepMs, Math.max(1, end - Date.now())));
  }
}

/**
 * Stops a process group: TERM, up to `graceMs` for it to end, then KILL and
 * up to `killMs` more. `gone()` says whether it has ended. Returns
 * how it ended; 'stuck' (a process in uninterruptible sleep outlives even
 * KILL for a while) is reported rather than waited on forever.
 */
export async function stopGroup(
  pgid: number,
  gone: () => boolean,
  opts: { graceMs: number; killMs?: number },
): Promise<'stopped' | 'killed' | 'stuck'> {
  signal([-pgid], 'SIGTERM');
  if (await waitUntil(gone, opts.graceMs, 100)) return 'stopped';
  signal([-pgid], 'SIGKILL');
  return (await waitUntil(gone, opts.killMs ?? 5_000)) ? 'killed' : 'stuck';
}

/** What a supervised program's pid file holds. */
export interface PidFile {
  pid: number;
  startedAt: number;
}

export interface Status {
  running: boolean;
  pid?: number;
  startedAt?: number;
  /** Why it is not running: "never started", "stopped", "process 123 is gone". */
  detail?: string;
}

/**
 * One background program the lab keeps running, known by its folder: the
 * folder holds its pid file (pid.json) and the folder's path is the tag in
 * the program's environment, so that status and stop find exactly it.
 */
export class Supervised {
  private readonly tag: Tag;

  constructor(
    readonly dir: string,
    tagName: string,
  ) {
    this.tag = { name: tagName, value: dir };
  }

  private get pidPath(): string {
    return join(this.dir, 'pid.json');
  }

  private readPid(): PidFile | undefined {
    try {
      return JSON.parse(readFileSync(this.pidPath, 'utf8')) as PidFile;
    } catch {
      return undefined;
    }
  }

  /** The pid when it runs (and is ours), else undefined. */
  pid(): number | undefined {
    const file = this.readPid();
    return file && isTagged(file.pid, this.tag) ? file.pid : undefined;
  }

  status(neverStarted: () => boolean = () => false): Status {
    const file = this.readPid();
    if (!file) return { running: false, detail: neverStarted() ? 'never started' : 'stopped' };
    if (!isTagged(file.pid, this.tag)) return { running: false, detail: `process ${file.pid} is gone` };
    return { running: true, pid: file.pid, startedAt: file.startedAt };
  }

  /**
   * Starts the program detached, in its own process group, output appended
   * to `logFile`, unless it already runs. Returns its pid.
   */
  start(command: string, args: string[], opts: { env?: Record<string, string>; logFile: string; cwd?: string }): number {
    const running = this.pid();
    if (running !== undefined) return running;
    mkdirSync(this.dir, { recursive: true });
    const out = openSync(opts.logFile, 'a');
    let pid: number | undefined;
    try {
      const child = spawn(command, args, {
        cwd: opts.cwd ?? this.dir,
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, ...opts.env, [this.tag.name]: this.tag.value },
      });
      pid = child.pid;
      child.on('error', () => {
        // reported below through the missing pid, or later as "process … is gone"
      });
      child.unref();
    } finally {
      closeSync(out);
    }
    if (pid === undefined) throw new Error(`could not start ${command}`);
    writeFileSync(this.pidPath, JSON.stringify({ pid, startedAt: Date.now() } satisfies PidFile));
    return pid;
  }

  /** Stops it (TERM, then KILL after `graceMs`) and forgets its pid; false when it was not running. */
  async stop(graceMs: number): Promise<boolean> {
    const pid = this.pid();
    if (pid === undefined) {
      rmSync(this.pidPath, { force: true });
      return false;
    }
    // done once the whole group has ended, not only its leader: what it started gets the signal too, and may end a moment later
    const outcome = await stopGroup(pid, () => !isTagged(pid, this.tag) && !processes().some((p) => p.stat.pgrp === pid), { graceMs });
    if (outcome === 'stuck') throw new Error(`process ${pid} (${this.dir}) did not end even after SIGKILL`);
    rmSync(this.pidPath, { force: true });
    return true;
  }
}
