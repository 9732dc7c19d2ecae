/**
 * Node settings benchmark: the lab's Cassandra node settings against the
 * previous ones (ZDM_LAB_NODE_PROFILE=previous: 512 MiB heap, G1, both JIT
 * compilers, server-sized pools, no class data archive), in the same run,
 * one after the other in the same environment. For each it prints the warm
 * `infra up` time and each node's time to readiness, each node's RSS and
 * PSS (/proc/PID/smaps_rollup: the class data archive's pages are shared
 * between the nodes, so PSS is what a node really costs), and the whole
 * environment's RSS in the course's Phase 2 state: both nodes, three proxies
 * deployed, the sample API writing through them, Target's schema created
 * and Origin's rows migrated. Goals: the environment under 1.0 GiB RSS, and
 * `infra up` no slower than with the previous settings.
 *
 *   npx tsx bench/nodes.ts [--env K] [--rounds N]
 */
import { readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SCHEMA_FILE } from '../infra/commands/environment.js';
import { topology } from '../infra/topology.js';
import { labProcesses, zdmLab } from '../test/support/cli.js';
import { zdmProxyUnavailable } from '../test/support/lab.js';
import { connectionText, eventually, http, startApi } from '../test/support/sample-api.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const { values } = parseArgs({ options: { env: { type: 'string' }, rounds: { type: 'string' } } });
const ENV = Number(values.env ?? 9);
const ROUNDS = Number(values.rounds ?? 1);
const topo = topology(ENV);
const PROFILES = ['previous', 'small'] as const;
type Profile = (typeof PROFILES)[number];

interface Figures {
  upSeconds: number[];
  ready: Record<string, number[]>;
  rss: Record<string, number[]>;
  pss: Record<string, number[]>;
  phase2Rss: number[];
  phase2Pss: number[];
  phase2Processes: string;
}

function kib(pid: number, file: string, field: string): number {
  const text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

function processName(pid: number): string {
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return /ZDM_LAB_COMPONENT=([^\0]+)/.exec(environ)?.[1]?.split('/').pop() ?? String(pid);
}

async function cli(profile: Profile, args: string[]) {
  const result = await zdmLab([...args, '--env', String(ENV)], { ZDM_LAB_NODE_PROFILE: profile });
  if (result.code !== 0) throw new Error(`zdm-lab ${args.join(' ')} (${profile}) failed:\n${result.stdout}${result.stderr}`);
  return result;
}

async function clean(profile: Profile): Promise<void> {
  await zdmLab(['infra', 'down', '--env', String(ENV)], { ZDM_LAB_NODE_PROFILE: profile });
  rmSync(topo.dir, { recursive: true, force: true });
}

function push(map: Record<string, number[]>, key: string, value: number): void {
  (map[key] ??= []).push(value);
}

async function round(profile: Profile, figures: Figures, proxies: boolean): Promise<void> {
  await clean(profile);
  process.stderr.write(`${profile}: infra up\n`);
  const started = Date.now();
  const up = await cli(profile, ['infra', 'up']);
  figures.upSeconds.push((Date.now() - started) / 1000);
  for (const m of up.stderr.matchAll(/(origin|target): ready, CQL login accepted \(([\d.]+)s\)/g)) push(figures.ready, m[1]!, Number(m[2]));
  for (const node of [topo.origin, topo.target]) {
    const pid = JSON.parse(readFileSync(join(node.dir, 'pid.json'), 'utf8')).pid as number;
    push(figures.rss, node.name, kib(pid, 'status', 'VmRSS'));
    push(figures.pss, node.name, kib(pid, 'smaps_rollup', 'Pss'));
  }
  if (!proxies) return;

  // Phase 2: Target's schema, three proxies, the API writing through them, Origin's rows copied.
  process.stderr.write(`${profile}: Phase 2 (schema on Target, proxy deploy, the API through the proxies, migrate)\n`);
  await cli(profile, ['cqlsh', 'target', '-f', SCHEMA_FILE]);
  await cli(profile, ['proxy', 'deploy']);
  const modeFile = join(topo.dir, 'bench-connection-mode');
  writeFileSync(modeFile, connectionText(ENV, 'ZDM_PROXY'), { mode: 0o600 });
  const api = startApi({ LAB_ENV: String(ENV), CLIENT_CONNECTION_MODE_FILE: modeFile });
  try {
    await api.waitForOutput(/listening on/, 60_000);
    const base = `http://${topo.api.address}:${topo.api.port}`;
    await eventually('the API connected through the proxies', async () => (await http('GET', `${base}/health`)).status === 200, 60_000);
    for (let i = 0; i < 200; i++) {
      const answer = await http('POST', `${base}/status/bench-${i % 20}/status-${i}`);
      if (answer.status !== 200) throw new Error(`the API answered ${answer.status} to write ${i}: ${JSON.stringify(answer.body)}`);
    }
    await cli(profile, ['migrate', '--keyspace', 'zdmapp']);
    const pids = [...labProcesses(topo.dir), api.child.pid!];
    let rss = 0;
    let pss = 0;
    const names: string[] = [];
    for (const pid of pids) {
      rss += kib(pid, 'status', 'VmRSS');
      pss += kib(pid, 'smaps_rollup', 'Pss');
      names.push(pid === api.child.pid ? 'api' : processName(pid));
    }
    figures.phase2Rss.push(rss);
    figures.phase2Pss.push(pss);
    figures.phase2Processes = names.sort().join(', ');
  } finally {
    await api.stop();
  }
}

const mib = (k: number) => `${(k / 1024).toFixed(0)} MiB`;
const gib = (k: number) => `${(k / 1024 / 1024).toFixed(2)} GiB`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const seconds = (xs: number[]) => `${mean(xs).toFixed(1)} s${xs.length > 1 ? ` (${xs.map((x) => x.toFixed(1)).join(', ')})` : ''}`;

const proxyProblem = await zdmProxyUnavailable();
const results = {} as Record<Profile, Figures>;
for (const profile of PROFILES) results[profile] = { upSeconds: [], ready: {}, rss: {}, pss: {}, phase2Rss: [], phase2Pss: [], phase2Processes: '' };
try {
  // Alternating rounds, so that neither profile gets the quieter minutes of the machine.
  for (let r = 0; r < ROUNDS; r++) for (const profile of PROFILES) await round(profile, results[profile], !proxyProblem);
} finally {
  await clean('small');
}

const rows: [string, (f: Figures) => string][] = [
  ['infra up, warm', (f) => seconds(f.upSeconds)],
  ['origin: ready after', (f) => seconds(f.ready.origin ?? [])],
  ['target: ready after', (f) => seconds(f.ready.target ?? [])],
  ['origin: RSS / PSS after infra up', (f) => `${mib(mean(f.rss.origin ?? []))} / ${mib(mean(f.pss.origin ?? []))}`],
  ['target: RSS / PSS after infra up', (f) => `${mib(mean(f.rss.target ?? []))} / ${mib(mean(f.pss.target ?? []))}`],
  ['environment after Phase 2: RSS', (f) => (proxyProblem ? `not measured: ${proxyProblem}` : gib(mean(f.phase2Rss)))],
  ['environment after Phase 2: PSS', (f) => (proxyProblem ? '-' : gib(mean(f.phase2Pss)))],
];
console.log(`${''.padEnd(36)} ${'previous settings'.padEnd(24)} lab settings`);
for (const [label, value] of rows) console.log(`${label.padEnd(36)} ${value(results.previous).padEnd(24)} ${value(results.small)}`);
if (!proxyProblem) console.log(`(Phase 2 processes: ${results.small.phase2Processes})`);
