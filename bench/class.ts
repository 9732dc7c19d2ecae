/**
 * Class density benchmark on the ZDM course: how many learner environments
 * one lab server and this host carry while every one of them writes. For
 * each N given, N environments (51, 52, …) are brought to the start of step
 * 7, i.e. step 6 done: the three proxies up, the API writing through them,
 * the writer loop writing phase 1 — the first environment by playing the
 * course once (which saves the course's state at each page), every other one
 * by restoring that saved state. Environment 51 is instead put back on step
 * 6 and, while all N write, the autopilot plays its step 6 (the API switched
 * to the proxies, the loop restarted as phase 1): the time a learner's step
 * takes in a full class. For the window (--minutes), each environment also
 * gets a probe of the bench, ~5 writes a second to its API, whose latency is
 * measured request by request.
 *
 * One row per N: resident memory per environment and in all (RSS, and PSS,
 * which shares the pages the nodes share between them), the CPU the
 * environments' processes used (per environment and in all), the host's
 * busy cores and load, the probes' p50 and p99 latency (the p99 once the
 * play of step 6 has ended, and the class's p99: every write but the played
 * environment's own while its step, which restarts its API, plays), failed
 * requests of the probes and of the writer loops (writer.log lines whose
 * code is not 200), and the step 6 → 7 time. Then the largest N with no
 * failed request and the class's p99 under 100 ms, and how the per-environment figures scale to a
 * 64 or 128 GiB host. Goal on a 2-core, 24 GiB host: N ≥ 12.
 *
 *   npx tsx bench/class.ts 1 2 4 [--minutes 2] [--probe-rate 5] [--isolate]
 *
 * Without --isolate the environments run as the lab's own user (no budget);
 * with it (as root) each has its account and budget, and its CPU is read
 * from its control group. Every environment is destroyed at the end, Ctrl-C
 * included.
 */
import { openSync, readFileSync, readSync, readdirSync, closeSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { envDir } from '../infra/paths.js';
import { formatGiB, GIB, readMemoryInfo } from '../lab/instructor/capacity.js';
import { CapacityError } from '../lab/instructor/classroom.js';
import { playCourse } from '../lab/autopilot/play.js';
import type { Environment } from '../lab/environments/environment.js';
import { zdmProxyUnavailable } from '../test/support/lab.js';
import { requireIsolation, say, startBenchLab } from './course-lab.js';

const FIRST_ENV = 51;
const LAST_ENV = 70;
/** The environment whose step 6 is played in each window. */
const PLAYER = FIRST_ENV;
/** The page every environment writes on: step 6 done, the API through the proxies. */
const WRITING_PAGE = 'step7';
/** Kept free for the system and the lab server when counting what fits. */
const RESERVE_BYTES = 1 * GIB;
const P99_GOAL_MS = 100;
const GOAL_N = 12;
/** Pause after the restores, so that their work is not counted in the window. */
const SETTLE_MS = 15_000;
const SAMPLE_MS = 10_000;
const CLOCK_TICKS = 100;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { minutes: { type: 'string' }, 'probe-rate': { type: 'string' }, isolate: { type: 'boolean' } },
});
const counts = [...new Set(positionals.map(Number))].sort((a, b) => a - b);
if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > LAST_ENV - FIRST_ENV + 1)) {
  console.error(`usage: npx tsx bench/class.ts N… [--minutes M] [--probe-rate W] [--isolate]   (each N from 1 to ${LAST_ENV - FIRST_ENV + 1}, e.g. 1 2 4)`);
  process.exit(2);
}
const windowMs = Number(values.minutes ?? 2) * 60_000;
const probeRate = Number(values['probe-rate'] ?? 5);
if (!(windowMs > 0) || !(probeRate > 0)) {
  console.error('--minutes and --probe-rate take a number above 0');
  process.exit(2);
}
const isolate = values.isolate === true;
requireIsolation(isolate);

// ---- what the environments' processes use, from /proc

interface Usage {
  rssBytes: number;
  pssBytes: number;
  /** CPU ticks (user + system, with reaped children's) by "pid starttime". */
  ticks: Map<string, number>;
  /** The part each of those processes belongs to: its component (origin, proxy-1, …) or, for what the terminals started, its command. */
  parts: Map<string, string>;
}

/** Every process of an environment: its infrastructure (ZDM_LAB_COMPONENT under its folder) and what its terminals and setup started (LAB_ENV_DIR). */
function usageOf(env: Environment): Usage {
  const component = `ZDM_LAB_COMPONENT=${env.sandbox ? join(env.sandbox.home, `env-${env.id}`) : envDir(env.id)}/`;
  const terminal = `LAB_ENV_DIR=${env.workDir}`;
  const usage: Usage = { rssBytes: 0, pssBytes: 0, ticks: new Map(), parts: new Map() };
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const tag = environ.find((v) => v.startsWith(component));
      if (!tag && !environ.includes(terminal)) continue;
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      usage.rssBytes += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
      usage.pssBytes += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // the fields after "pid (name) ": state is [0], utime [11], stime [12], cutime [13], cstime [14], starttime [19]
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const key = `${pid} ${f[19]}`;
      usage.ticks.set(key, Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
      const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      usage.parts.set(key, tag ? tag.slice(component.length).split('/')[0]! : `terminals: ${command}`);
    } catch {
      // ended while we looked
    }
  }
  return usage;
}

/**
 * CPU seconds an environment used between two looks, by part (as usageOf
 * names them): each process's growth, a process born since counted whole. A
 * process that ended in between is counted through its parent's reaped
 * children's time, so short-lived commands (checks, curl) are in; a little
 * of what ran before the window may be too.
 */
function cpuSecondsByPart(before: Usage, after: Usage): Map<string, number> {
  const parts = new Map<string, number>();
  for (const [key, t] of after.ticks) {
    const part = after.parts.get(key)!;
    parts.set(part, (parts.get(part) ?? 0) + (t - (before.ticks.get(key) ?? 0)) / CLOCK_TICKS);
  }
  return parts;
}

function cpuSecondsBetween(before: Usage, after: Usage): number {
  return [...cpuSecondsByPart(before, after).values()].reduce((s, x) => s + x, 0);
}

/** The host's busy and total CPU time so far (/proc/stat), in ticks. */
function hostTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((s, x) => s + x, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

function load1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

// ---- the probes: the bench's own writes through each environment's API

class Probe {
  /** Each answered write: when it was sent (ms since the window began) and how long it took. */
  readonly writes: { at: number; ms: number }[] = [];
  readonly failures: string[] = [];
  private running = false;
  private done: Promise<void> = Promise.resolve();
  private n = 0;

  constructor(
    readonly env: number,
    private readonly since: number,
  ) {}

  start(): void {
    this.running = true;
    const api = `http://127.0.${this.env}.20:8000`;
    const every = 1000 / probeRate;
    this.done = (async () => {
      while (this.running) {
        const t0 = performance.now();
        const status = `probe-${++this.n}`;
        try {
          const res = await fetch(`${api}/status/bench-probe/${status}`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
          await res.text();
          if (res.status === 200) this.writes.push({ at: t0 - this.since, ms: performance.now() - t0 });
          else this.failures.push(`${status}: HTTP ${res.status}`);
        } catch (err) {
          this.failures.push(`${status}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, every - (performance.now() - t0))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The writer loop's record from `offset` on: its requests and those whose code is not 200. */
function loopRecord(env: Environment, offset: number): { requests: number; failed: string[] } {
  const file = join(env.workDir, 'writer.log');
  let text = '';
  try {
    const size = statSync(file).size;
    if (size > offset) {
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      text = buf.toString('utf8');
    }
  } catch {
    // no record yet
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return { requests: lines.length, failed: lines.filter((l) => !/ 200$/.test(l)) };
}

function logSize(env: Environment): number {
  try {
    return statSync(join(env.workDir, 'writer.log')).size;
  } catch {
    return 0;
  }
}

// ---- the class

const baselineAvailable = readMemoryInfo().availableBytes;
const { lab, dataDir, used, cleanUp } = await startBenchLab('class', isolate);

interface Row {
  n: number;
  rssPerEnv: number;
  pssPerEnv: number;
  rssTotal: number;
  hostDrop: number;
  cpuPerEnv: number;
  cpuTotal: number;
  labCpu: number;
  hostBusy: number;
  load: number;
  probeWrites: number;
  p50: number;
  p99: number;
  /** p99 of the writes sent after the play of step 6 ended. */
  p99Quiet: number;
  /** p99 of the class: every write but the played environment's own while its step 6 (which restarts its API) plays. */
  p99Class: number;
  probeFailed: number;
  loopRequests: number;
  loopFailed: number;
  playSeconds: number | null;
  /** Cores per environment by part, the largest first. */
  cpuByPart: [string, number][];
}

const progress = (k: number) => (line: string) => say(`  [${k}] ${line}`);

/** Environment k created and set up; refused (null) when the host's memory cannot hold it. */
async function create(k: number): Promise<Environment | null> {
  try {
    lab.classroom.create({ env: k, name: `bench ${k}` });
  } catch (err) {
    if (err instanceof CapacityError) return null;
    throw err;
  }
  used.add(k);
  const env = lab.environments.get(k)!;
  say(`environment ${k}: setting up (two Cassandra nodes)`);
  if ((await env.setupDone()) !== 'done') throw new Error(`environment ${k}'s setup failed: see ${env.workDir}/setup.log`);
  return env;
}

async function measure(n: number): Promise<Row> {
  const envs = Array.from({ length: n }, (_, i) => lab.environments.get(FIRST_ENV + i)!);
  const player = envs[0]!;
  say(`N=${n}: environment ${PLAYER} back on step 6 (its saved state)`);
  await lab.classroom.reset(PLAYER, { to: 'step6', onProgress: progress(PLAYER) });
  await new Promise((r) => setTimeout(r, SETTLE_MS));

  const offsets = envs.map(logSize);
  const before = envs.map(usageOf);
  const cgroupBefore = envs.map((e) => e.sandbox?.cgroup.cpuSeconds());
  const hostBefore = hostTicks();
  const labBefore = process.cpuUsage();
  const started = performance.now();
  const probes = envs.map((e) => new Probe(e.id, started));
  for (const p of probes) p.start();

  say(`N=${n}: ${(windowMs / 60_000).toFixed(1)} min of writing; environment ${PLAYER} plays step 6 meanwhile`);
  const play = player
    .track((signal) => playCourse(player, { to: 'step7', signal, onProgress: progress(PLAYER) }))
    .then(
      () => (performance.now() - started) / 1000,
      (err: Error) => {
        say(`environment ${PLAYER}: step 6 did not play: ${err.message}`);
        return null;
      },
    );
  let played: number | null | undefined;
  void play.then((s) => (played = s));

  let peak = { rss: 0, pss: 0 };
  let minAvailable = Infinity;
  let lastSay = 0;
  while (performance.now() - started < windowMs || played === undefined) {
    const sample = envs.map(usageOf);
    const rss = sample.reduce((s, u) => s + u.rssBytes, 0);
    const pss = sample.reduce((s, u) => s + u.pssBytes, 0);
    if (pss > peak.pss) peak = { rss, pss };
    minAvailable = Math.min(minAvailable, readMemoryInfo().availableBytes);
    const elapsed = (performance.now() - started) / 1000;
    if (elapsed - lastSay >= 30) {
      lastSay = elapsed;
      const writes = probes.reduce((s, p) => s + p.writes.length, 0);
      const failed = probes.reduce((s, p) => s + p.failures.length, 0);
      say(`N=${n}: ${elapsed.toFixed(0)} s of ${(windowMs / 1000).toFixed(0)}: probes ${writes} writes, ${failed} failed; ${formatGiB(rss)} RSS; load ${load1()}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(SAMPLE_MS, Math.max(1000, windowMs - (performance.now() - started)))));
  }
  const seconds = (performance.now() - started) / 1000;
  const after = envs.map(usageOf);
  const hostAfter = hostTicks();
  const labCpu = process.cpuUsage(labBefore);
  await Promise.all(probes.map((p) => p.stop()));

  const cpu = envs.map((e, i) => {
    const fromGroup = e.sandbox?.cgroup.cpuSeconds();
    const groupBefore = cgroupBefore[i];
    return fromGroup !== undefined && groupBefore !== undefined ? fromGroup - groupBefore : cpuSecondsBetween(before[i]!, after[i]!);
  });
  const cpuTotal = cpu.reduce((s, c) => s + c, 0) / seconds;
  const byPart = new Map<string, number>();
  for (const [i, b] of before.entries()) for (const [part, sec] of cpuSecondsByPart(b, after[i]!)) byPart.set(part, (byPart.get(part) ?? 0) + sec);
  const cpuByPart = [...byPart].map(([part, sec]): [string, number] => [part, sec / seconds / n]).sort((a, b) => b[1] - a[1]);
  const latencies = probes.flatMap((p) => p.writes.map((w) => w.ms)).sort((a, b) => a - b);
  // The same once the play has ended: the class only writing.
  const quiet = played ? probes.flatMap((p) => p.writes.filter((w) => w.at > played! * 1000).map((w) => w.ms)).sort((a, b) => a - b) : [];
  const ofClass = probes
    .flatMap((p) => p.writes.filter((w) => p.env !== PLAYER || (played ? w.at > played * 1000 : false)).map((w) => w.ms))
    .sort((a, b) => a - b);
  const loops = envs.map((e, i) => loopRecord(e, offsets[i]!));
  for (const p of probes) for (const f of p.failures.slice(0, 3)) say(`  probe of environment ${p.env} failed: ${f}`);
  for (const [i, l] of loops.entries()) for (const f of l.failed.slice(0, 3)) say(`  writer loop of environment ${envs[i]!.id}: ${f}`);
  return {
    n,
    rssPerEnv: peak.rss / n,
    pssPerEnv: peak.pss / n,
    rssTotal: peak.rss,
    hostDrop: baselineAvailable - minAvailable,
    cpuPerEnv: cpuTotal / n,
    cpuTotal,
    labCpu: (labCpu.user + labCpu.system) / 1e6 / seconds,
    hostBusy: ((hostAfter.busy - hostBefore.busy) / (hostAfter.total - hostBefore.total)) * cpus().length,
    load: load1(),
    probeWrites: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p99Quiet: percentile(quiet, 99),
    p99Class: percentile(ofClass, 99),
    probeFailed: probes.reduce((s, p) => s + p.failures.length, 0),
    loopRequests: loops.reduce((s, l) => s + l.requests, 0),
    loopFailed: loops.reduce((s, l) => s + l.failed.length, 0),
    playSeconds: played ?? null,
    cpuByPart,
  };
}

const COLUMNS: [string, number, (r: Row) => string][] = [
  ['N', 3, (r) => String(r.n)],
  ['RSS/env', 9, (r) => formatGiB(r.rssPerEnv)],
  ['PSS/env', 9, (r) => formatGiB(r.pssPerEnv)],
  ['RSS all', 9, (r) => formatGiB(r.rssTotal)],
  ['host mem', 9, (r) => formatGiB(r.hostDrop)],
  ['CPU/env', 8, (r) => r.cpuPerEnv.toFixed(2)],
  ['CPU all', 8, (r) => r.cpuTotal.toFixed(2)],
  ['lab+probes', 11, (r) => r.labCpu.toFixed(2)],
  ['host busy', 10, (r) => `${r.hostBusy.toFixed(2)}/${cpus().length}`],
  ['load1', 6, (r) => r.load.toFixed(2)],
  ['probe writes', 13, (r) => String(r.probeWrites)],
  ['p50', 8, (r) => `${r.p50.toFixed(0)} ms`],
  ['p99', 8, (r) => `${r.p99.toFixed(0)} ms`],
  ['p99 after', 10, (r) => (Number.isNaN(r.p99Quiet) ? '-' : `${r.p99Quiet.toFixed(0)} ms`)],
  ['p99 class', 10, (r) => (Number.isNaN(r.p99Class) ? '-' : `${r.p99Class.toFixed(0)} ms`)],
  ['failed probe/loop', 18, (r) => `${r.probeFailed}/${r.loopFailed} of ${r.loopRequests}`],
  ['step 6→7', 9, (r) => (r.playSeconds === null ? 'failed' : `${r.playSeconds.toFixed(1)} s`)],
];
const line = (cells: string[]) => cells.map((c, i) => c.padStart(COLUMNS[i]![1])).join(' ');
const meets = (r: Row) => r.probeFailed === 0 && r.loopFailed === 0 && r.p99Class < P99_GOAL_MS && r.playSeconds !== null;

const rows: Row[] = [];
try {
  const proxyMissing = await zdmProxyUnavailable();
  if (proxyMissing) throw new Error(`the class writes through the proxies, so the real zdm-proxy is needed: ${proxyMissing}`);
  say(`lab at ${lab.url} (${isolate ? 'isolated environments' : 'environments not isolated'}); data in ${dataDir}`);

  const first = await create(PLAYER);
  if (!first) throw new Error(`not enough memory for one environment (${formatGiB(readMemoryInfo().availableBytes)} available)`);
  say(`environment ${PLAYER}: playing the course to ${WRITING_PAGE} once, saving the state at each page`);
  const playedOnce = await lab.classroom.reset(PLAYER, { to: WRITING_PAGE, onProgress: progress(PLAYER) });
  say(`environment ${PLAYER}: on ${WRITING_PAGE} after ${playedOnce.playedSeconds?.toFixed(1)} s (played)`);

  let headerShown = false;
  for (const n of counts) {
    const missing = Array.from({ length: n }, (_, i) => FIRST_ENV + i).filter((k) => !lab.environments.has(k));
    let short = false;
    // Two at a time: a node's start takes most of a core for a while.
    const slot = pLimit(2);
    await Promise.all(
      missing.map((k) =>
        slot(async () => {
          if (short) return;
          const env = await create(k);
          if (!env) {
            short = true;
            return;
          }
          const restored = await lab.classroom.reset(k, { to: WRITING_PAGE, onProgress: progress(k) });
          say(`environment ${k}: on ${WRITING_PAGE} after ${restored.playedSeconds?.toFixed(1)} s (${restored.restored ? 'restored' : 'played'})`);
        }),
      ),
    );
    if (short) {
      say(`N=${n}: not measured, the host's memory holds no more environments (${formatGiB(readMemoryInfo().availableBytes)} available)`);
      break;
    }
    const row = await measure(n);
    rows.push(row);
    if (!headerShown) {
      console.log(
        `class density on this ${cpus().length}-core, ${formatGiB(readMemoryInfo().totalBytes)} host, ${(windowMs / 60_000).toFixed(1)} min per N, every environment on ${WRITING_PAGE} ` +
          `(step 6 done: API through three proxies, writer loop phase 1), environment ${PLAYER} playing step 6 in the window${isolate ? ', isolated' : ''}:`,
      );
      console.log(line(COLUMNS.map((c) => c[0])));
      headerShown = true;
    }
    console.log(line(COLUMNS.map((c) => c[2](row))));
  }
  if (rows.length === 0) throw new Error('no N was measured');
  for (const r of rows) {
    const shown = r.cpuByPart.filter(([, cores]) => cores >= 0.005);
    console.log(`CPU by part, N=${r.n} (cores per environment, from /proc): ${shown.map(([part, cores]) => `${part} ${cores.toFixed(3)}`).join(', ')}`);
  }

  console.log(
    `memory: peak over the window of the environments' processes (RSS; PSS shares the pages the nodes share); host mem: how far MemAvailable fell from before the first environment. ` +
      `CPU in cores over the window: the environments' processes${isolate ? ' (their control groups)' : ''}, the lab server with the bench's probes, the whole host. ` +
      `Latency: the bench's probes, ${probeRate} writes a second per environment through the same API as the writer loop (POST /status/bench-probe/…), beside it; p99 after: only the writes sent once the play of step 6 had ended; p99 class: every write but those of environment ${PLAYER} while its step 6 played (the step restarts its API); ` +
      `failed: the probes' failed writes / the loops' requests not answered 200 (writer.log) of all they made in the window.`,
  );
  const good = rows.filter(meets);
  const best = good.at(-1);
  const largest = rows.at(-1)!.n;
  console.log(
    best
      ? `largest N with 0 failed requests and p99 of the class under ${P99_GOAL_MS} ms: ${best.n} (p99 of the class ${best.p99Class.toFixed(0)} ms)${best.n === largest ? `, the largest tried` : ''}; goal N ≥ ${GOAL_N}: ${best.n >= GOAL_N ? 'met' : largest < GOAL_N ? `not tried up to ${GOAL_N}` : 'not met'}`
      : `no N met 0 failed requests and p99 of the class under ${P99_GOAL_MS} ms`,
  );

  // Scaling from the largest class measured: its per-environment figures carry the most sharing.
  const r = rows.at(-1)!;
  const fitBy = (bytes: number, hostBytes: number) => Math.floor((hostBytes - RESERVE_BYTES) / bytes);
  const host = readMemoryInfo().totalBytes;
  const byMemory = fitBy(r.pssPerEnv, host);
  const byCpu = Math.floor(cpus().length / r.cpuPerEnv);
  console.log(
    `scaling (from N=${r.n}): ${formatGiB(r.pssPerEnv)} PSS (${formatGiB(r.rssPerEnv)} RSS) and ${r.cpuPerEnv.toFixed(2)} cores per environment → ` +
      `${(1 / r.cpuPerEnv).toFixed(1)} environments per core at full use; ` +
      [64, 128]
        .map((g) => {
          const fit = fitBy(r.pssPerEnv, g * GIB);
          return `a ${g} GiB host holds ${fit} by memory (${fitBy(r.rssPerEnv, g * GIB)} by RSS), which need ${Math.ceil(fit * r.cpuPerEnv)} cores`;
        })
        .join('; ') +
      `; this host: ${byMemory} by memory, ${byCpu} by CPU: ${byCpu < byMemory ? 'CPU binds' : 'memory binds'} ` +
      `(${formatGiB(RESERVE_BYTES)} kept for the system and the lab server; CPU at full use, so keep headroom for p99).`,
  );
} finally {
  await cleanUp();
}
