/**
 * Instructor benchmark on the ZDM course (environment 10, hosted by a lab
 * server as a learner's environment): prints the time of a reset taken with
 * the API and the writer loop running, the time of a reset to step 10 (when
 * the real zdm-proxy is available), the resident memory of everything one
 * environment runs (Cassandra nodes, proxies, the API, the terminals' shells
 * and programs), and how many environments fit on this host. Goals: reset
 * ≤ 10 s; at least 6 concurrent environments.
 *
 *   npx tsx bench/instructor.ts
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { infraDown } from '../infra/commands/environment.js';
import { topology } from '../infra/topology.js';
import { formatGiB, GIB, readMemoryInfo } from '../lab/instructor/capacity.js';
import { startLab } from '../lab/server/app.js';
import { testContext, zdmProxyUnavailable } from '../test/support/lab.js';

const ENV = 10;
const root = new URL('..', import.meta.url).pathname;
/** Kept free for the system and the lab server itself when counting what fits. */
const RESERVE_BYTES = 1 * GIB;

/** Every process of the environment: its infrastructure (ZDM_LAB_COMPONENT) and what its terminals and setup started (LAB_ENV_DIR). */
function environmentProcesses(envDir: string, workDir: string): { pid: number; name: string; rssBytes: number }[] {
  const found: { pid: number; name: string; rssBytes: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!environ.some((v) => v.startsWith(`ZDM_LAB_COMPONENT=${envDir}/`) || v === `LAB_ENV_DIR=${workDir}`)) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      const name = /Name:\s+(\S+)/.exec(status)?.[1] ?? '?';
      found.push({ pid: Number(entry), name, rssBytes: rss });
    } catch {
      // ended while we looked
    }
  }
  return found;
}

function memoryReport(label: string, envDir: string, workDir: string): number {
  const procs = environmentProcesses(envDir, workDir);
  const total = procs.reduce((s, p) => s + p.rssBytes, 0);
  const byName = new Map<string, number>();
  for (const p of procs) byName.set(p.name, (byName.get(p.name) ?? 0) + p.rssBytes);
  const parts = [...byName.entries()].sort((a, b) => b[1] - a[1]).map(([n, b]) => `${n} ${(b / 1024 ** 2).toFixed(0)} MiB`);
  console.log(`memory of one environment (${label}): ${formatGiB(total)} in ${procs.length} processes — ${parts.join(', ')}`);
  return total;
}

const dataDir = mkdtempSync(join(tmpdir(), 'bench-instructor-'));
const lab = await startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, environmentId: null });
const progress = (line: string) => process.stderr.write(`  ${line}\n`);
try {
  const proxyMissing = await zdmProxyUnavailable();
  lab.classroom.create({ env: ENV, name: 'bench' });
  const env = lab.environments.get(ENV)!;
  process.stderr.write(`environment ${ENV}: setting up (infra up)\n`);
  const setup = await env.setupDone();
  if (setup !== 'done') throw new Error(`environment ${ENV}'s setup failed: see ${env.workDir}/setup.log`);

  process.stderr.write('playing to step 2 (the API and the writer loop running)\n');
  await lab.classroom.reset(ENV, { to: 'step2', onProgress: progress });
  const envDir = topology(ENV).dir;
  let perEnv = memoryReport('Cassandra nodes, API, writer loop', envDir, env.workDir);

  const reset = await lab.classroom.reset(ENV, { onProgress: progress });
  console.log(`reset with the API and the writer loop running: ${reset.resetSeconds.toFixed(1)} s (the course's reset command, zdm-lab infra reset: ${reset.resetCommandSeconds.toFixed(1)} s); ready for step 1 again after ${reset.readySeconds.toFixed(1)} s (goal ≤ 10 s)`);

  if (proxyMissing) {
    console.log(`reset to step 10: skipped (${proxyMissing})`);
  } else {
    try {
      const toTen = await lab.classroom.reset(ENV, { to: 'step10', onProgress: progress });
      console.log(`reset to step 10 (reset, then the autopilot plays intro … step 9): ${toTen.playedSeconds!.toFixed(1)} s`);
      perEnv = Math.max(perEnv, memoryReport('at step 10: nodes, three proxies, API, writer loop', envDir, env.workDir));
    } catch (err) {
      console.log(`reset to step 10: failed: ${(err as Error).message}`);
    }
  }

  const mem = readMemoryInfo();
  const fitTotal = Math.floor((mem.totalBytes - RESERVE_BYTES) / perEnv);
  const fitNow = Math.floor(mem.availableBytes / perEnv);
  console.log(
    `environments that fit on this ${formatGiB(mem.totalBytes)} host: ${fitTotal} (at ${formatGiB(perEnv)} each, ${formatGiB(RESERVE_BYTES)} kept for the system and the lab server; goal ≥ 6); ` +
      `${fitNow} more right now (${formatGiB(mem.availableBytes)} available)`,
  );
} finally {
  const env = lab.environments.get(ENV);
  if (env) await lab.classroom.destroy(ENV).catch((err: Error) => process.stderr.write(`destroy: ${err.message}\n`));
  await lab.close();
  await infraDown(testContext(ENV));
  rmSync(dataDir, { recursive: true, force: true });
}
