/**
 * What one terminal of a Kubernetes workstation costs the lab's side: the
 * memory and start time of its exec client, bundled (infra/kube/exec-client.ts,
 * what terminals run now) beside its anchor, the same client run through tsx
 * with `zdm-lab kube env shell`'s own Node.js kept beside it, as terminals
 * ran it before. Each client loads everything it needs and then connects to
 * an API server that refuses at once (a kubeconfig naming 127.0.0.1:1), so
 * the figures are the client's whole weight without a cluster; a connected
 * client holds a few MiB more (kube-workloads reports one).
 *
 *   npx tsx bench/exec-client.ts [--runs 5]
 *
 * Prints, per way, the median peak resident memory (GNU time's %M) and the
 * median wall time from start to exit, and the memory 200 terminals (a class
 * of 50 with four terminals each) take on the lab's side.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execClient } from '../infra/kube/exec-client.js';
import { projectRoot } from '../infra/paths.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a whole number of runs, not ${JSON.stringify(values.runs)}`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'bench-exec-client-'));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  ['apiVersion: v1', 'kind: Config', 'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]', 'users: [{name: u, user: {token: t}}]', 'contexts: [{name: x, context: {cluster: c, user: u}}]', 'current-context: x', ''].join('\n'),
);
const loader = join(projectRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const target = ['zdmlab-env-1', 'workstation-0', 'shell'];

/** Peak resident MiB and wall seconds of one run of `args` under Node.js. */
function measure(args: string[], env: Record<string, string> = {}): { mib: number; seconds: number } {
  const started = process.hrtime.bigint();
  const run = spawnSync('/usr/bin/time', ['-f', 'peak-kb %M', process.execPath, ...args], { cwd: projectRoot, env: { ...process.env, KUBECONFIG: kubeconfig, ...env }, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const kb = Number(/peak-kb (\d+)/.exec(run.stderr)?.[1]);
  if (!(kb > 0)) throw new Error(`no figure from GNU time (apt-get install time): ${run.stderr.slice(-500)}`);
  return { mib: kb / 1024, seconds };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function row(name: string, args: string[], env?: Record<string, string>): { mib: number; seconds: number } {
  const samples = Array.from({ length: runs }, () => measure(args, env));
  const result = { mib: median(samples.map((s) => s.mib)), seconds: median(samples.map((s) => s.seconds)) };
  console.log(`${name.padEnd(58)} ${result.mib.toFixed(0).padStart(5)} MiB ${result.seconds.toFixed(2).padStart(6)} s`);
  return result;
}

try {
  const bundle = execClient();
  console.log(`exec client of a workstation terminal, median of ${runs} runs (peak resident memory, start to exit)\n`);
  const bundled = row('bundled client (now)', [bundle, ...target]);
  const viaTsx = row('anchor: the client through tsx', ['--import', loader, join(projectRoot, 'infra', 'kube', 'exec-shell.ts'), ...target]);
  // Before, `zdm-lab kube env shell` stayed beside its client as its parent; now it writes the client's line and is gone.
  const parent = row('anchor: `zdm-lab kube env shell` beside it', ['--import', loader, join(projectRoot, 'infra', 'kube', 'cli.ts'), 'env', 'shell', '1'], { ZDM_LAB_EXEC_LINE: '1' });
  const before = viaTsx.mib + parent.mib;
  console.log(`\nper terminal on the lab's side: ${bundled.mib.toFixed(0)} MiB now, ${before.toFixed(0)} MiB before (${(before / bundled.mib).toFixed(1)}x)`);
  console.log(`200 terminals (50 learners, four each): ${((200 * bundled.mib) / 1024).toFixed(1)} GiB now, ${((200 * before) / 1024).toFixed(1)} GiB before`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
