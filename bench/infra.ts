/**
 * Infrastructure benchmark: prints `infra up` time cold (artifacts fetched
 * into an empty cache and an empty Maven repository) and warm, each node's
 * time to readiness, `infra reset` time, `proxy deploy` and
 * `proxy rolling-update` times, and the RSS of every process of the
 * environment. Goals: warm up < 60 s, reset < 10 s, whole environment
 * < 2.5 GiB RSS.
 *
 *   npm run bench:infra [-- --skip-cold]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topology } from '../infra/topology.js';
import { labProcesses, zdmLab, type CliResult } from '../test/support/cli.js';
import { zdmProxyUnavailable } from '../test/support/lab.js';

const ENV = 9;
const topo = topology(ENV);
const skipCold = process.argv.includes('--skip-cold');

async function timed(label: string, args: string[], env: Record<string, string> = {}): Promise<{ seconds: number; result: CliResult }> {
  process.stderr.write(`running: zdm-lab ${args.join(' ')} ${label}\n`);
  const started = Date.now();
  const result = await zdmLab([...args, '--env', String(ENV)], env);
  const seconds = (Date.now() - started) / 1000;
  if (result.code !== 0) throw new Error(`zdm-lab ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return { seconds, result };
}

function readyTimes(stderr: string): string {
  return [...stderr.matchAll(/(origin|target): ready, CQL login accepted \(([\d.]+)s\)/g)].map((m) => `${m[1]} ${m[2]} s`).join(', ');
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

function processName(pid: number): string {
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
  const dir = /ZDM_LAB_COMPONENT=([^\0]+)/.exec(environ)?.[1] ?? '?';
  return dir.split('/').pop() ?? dir;
}

const rows: [string, string][] = [];
const line = (name: string, value: string) => {
  rows.push([name, value]);
  console.log(`${name.padEnd(34)} ${value}`);
};

await zdmLab(['infra', 'down', '--env', String(ENV)]);
rmSync(topo.dir, { recursive: true, force: true });

if (!skipCold) {
  const cache = mkdtempSync(join(tmpdir(), 'zdm-lab-cache-'));
  const repo = mkdtempSync(join(tmpdir(), 'zdm-lab-m2-'));
  const cold = await timed('(cold)', ['infra', 'up'], {
    ZDM_LAB_CACHE: cache,
    MAVEN_OPTS: `-Dmaven.repo.local=${repo}`,
  });
  line('infra up, cold (fetch + start)', `${cold.seconds.toFixed(1)} s  (${readyTimes(cold.result.stderr)})`);
  await zdmLab(['infra', 'down', '--env', String(ENV)], { ZDM_LAB_CACHE: cache });
  rmSync(topo.dir, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
}

const warm = await timed('(warm)', ['infra', 'up']);
line('infra up, warm', `${warm.seconds.toFixed(1)} s`);
line('time to readiness per node', readyTimes(warm.result.stderr));

const reset = await timed('', ['infra', 'reset']);
line('infra reset', `${reset.seconds.toFixed(1)} s`);

const proxyProblem = await zdmProxyUnavailable();
if (proxyProblem) {
  line('proxy deploy / rolling-update', `not measured: ${proxyProblem}`);
} else {
  const deploy = await timed('', ['proxy', 'deploy']);
  line('proxy deploy (3 proxies)', `${deploy.seconds.toFixed(1)} s`);
  const rolling = await timed('', ['proxy', 'rolling-update']);
  line('proxy rolling-update (5 s pauses)', `${rolling.seconds.toFixed(1)} s`);
}

let total = 0;
for (const pid of labProcesses(topo.dir)) {
  const kib = rssKiB(pid);
  total += kib;
  line(`RSS ${processName(pid)} (pid ${pid})`, `${(kib / 1024).toFixed(0)} MiB`);
}
line('RSS whole environment', `${(total / 1024 / 1024).toFixed(2)} GiB`);

await timed('', ['infra', 'down']);
rmSync(topo.dir, { recursive: true, force: true });
