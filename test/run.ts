/**
 * Test entry point for `npm test`: finds the test files and hands them to
 * Node's own test runner (with tsx for TypeScript). Suites that start real
 * Cassandra JVMs run one file at a time, since a 2-core machine should not
 * run two of them at once; the rest run beside them (see the lanes below).
 *
 *   npm test                 every suite: unit, integration, e2e
 *   npm test -- unit         only the files under test/unit
 *   npm test -- infra        only files whose path contains "infra"
 *
 * At the end it prints the five slowest files and the eight slowest tests
 * with their wall times, every failure with the first lines of its error, and the
 * one-line findings the suites recorded (test/support/findings.ts).
 *
 * The suites play the course many times, each play with several rolling
 * updates: they pause 3 s between proxies (ZDM_LAB_PROXY_PAUSE) instead of
 * the automation's 10 s, which the course keeps for learners. Every play
 * still proves zero failed and zero lost writes at 3 s.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { findingsDir } from './support/findings.js';

const root = new URL('..', import.meta.url).pathname;
const suites = ['test/unit', 'test/integration', 'test/e2e'];

function findTests(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = suites
  .flatMap((suite) => findTests(join(root, suite)))
  .map((file) => relative(root, file))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));

if (files.length === 0) {
  console.error(`no test file matches ${filters.join(' ') || '(any)'}`);
  process.exit(1);
}

const results = join(root, 'test-results');
const timings = join(results, 'timings.tsv');
rmSync(findingsDir, { recursive: true, force: true });
rmSync(timings, { force: true });
mkdirSync(results, { recursive: true });

/**
 * Two lanes. Files that start real components (they use the test support for
 * environments, Docker, the sample API, or declare a requirement) run one at a
 * time in the real-infrastructure lane. The others (units, the lab server and
 * browser suites on fixture courses) run at the same time in a second lane,
 * whose output is held and printed after the first lane's, so the two never
 * interleave. Node's runner takes each lane's files in the order of their
 * paths, so the first lane starts with the whole-course suites (test/e2e).
 */
const sources = new Map(files.map((file) => [file, readFileSync(join(root, file), 'utf8')]));
const needsInfrastructure = (file: string) => /support\/(lab|docker|sample-api|requirement)\.js/.test(sources.get(file)!);
/**
 * The local Kubernetes cluster's suites run last in their lane (a run of their own, since Node's
 * runner orders a lane's files by path), because their first run waits for the cluster's binaries,
 * which CI builds in the background (.ci/run) while the other suites run. Those that start no
 * Cassandra run in the second lane; one that starts nodes in the cluster's pods (it uses the test
 * support for the lab's environments or Docker) runs after the first lane's files, one at a time like them,
 * and once the second lane's cluster is down.
 */
const needsKubernetes = (file: string) => /\/kube-[^/]*\.test\.ts$/.test(file);
const startsNodes = (file: string) => /support\/(lab|docker|sample-api)\.js/.test(sources.get(file)!);
const infrastructure = files.filter((file) => needsInfrastructure(file) && !needsKubernetes(file));
const light = files.filter((file) => !needsInfrastructure(file) && !needsKubernetes(file));
const kubernetes = files.filter((file) => needsKubernetes(file) && !startsNodes(file));
const kubernetesNodes = files.filter((file) => needsKubernetes(file) && startsNodes(file));
const lightLog = join(results, 'light-lane.log');

function lane(laneFiles: string[], timingsFile: string, output: 'inherit' | string): Promise<number> {
  if (laneFiles.length === 0) return Promise.resolve(0);
  const out = output === 'inherit' ? 'inherit' : openSync(output, 'a');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${join(root, 'test/support/timings.mjs')}`,
      `--test-reporter-destination=${timingsFile}`,
      ...laneFiles,
    ],
    { cwd: root, stdio: ['ignore', out, out], env: { ...process.env, ZDM_LAB_PROXY_PAUSE: process.env.ZDM_LAB_PROXY_PAUSE ?? '3' } },
  );
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const others = light.length + kubernetes.length;
const heavy = infrastructure.length + kubernetesNodes.length;
if (others > 0 && heavy > 0) console.log(`${heavy} files on real infrastructure, one at a time; ${others} others beside them (their output follows)\n`);
const lightTimings = `${timings}.light`;
const kubernetesTimings = `${timings}.kubernetes`;
const kubernetesNodesTimings = `${timings}.kubernetes-nodes`;
const held = heavy > 0 ? lightLog : 'inherit';
rmSync(lightLog, { force: true });
// The local cluster is one per host: the suite that starts nodes in it waits for the others' cluster to be down.
let kubernetesDone = () => {};
const otherClusterDown = new Promise<void>((resolve) => (kubernetesDone = resolve));
const [heavyStatus, lightStatus] = await Promise.all([
  (async () => {
    const first = await lane(infrastructure, timings, 'inherit');
    await otherClusterDown;
    return (await lane(kubernetesNodes, kubernetesNodesTimings, 'inherit')) || first;
  })(),
  (async () => {
    const first = await lane(light, lightTimings, held);
    const status = (await lane(kubernetes, kubernetesTimings, held)) || first;
    kubernetesDone();
    return status;
  })(),
]);
if (heavy > 0 && others > 0) process.stdout.write(`\n== the other ${others} files\n${readFileSync(lightLog, 'utf8')}`);
for (const file of [kubernetesNodesTimings, lightTimings, kubernetesTimings]) {
  if (existsSync(file)) appendFileSync(timings, readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
}
const status = heavyStatus || lightStatus;

const records = existsSync(timings)
  ? readFileSync(timings, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t'))
  : [];
const byTime = (kind: string) =>
  records
    .filter((r) => r[0] === kind)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .slice(0, kind === 'file' ? 5 : 8);
const seconds = (ms: string) => `${(Number(ms) / 1000).toFixed(1).padStart(7)} s`;
const slowestFiles = byTime('file');
if (slowestFiles.length > 0) {
  console.log('\nslowest test files:');
  for (const [, ms, file] of slowestFiles) console.log(`  ${seconds(ms)}  ${relative(root, file)}`);
}
const slowestTests = byTime('test');
if (slowestTests.length > 0) {
  console.log('\nslowest tests:');
  for (const [, ms, file, name] of slowestTests) console.log(`  ${seconds(ms)}  ${relative(root, file)}: ${name}`);
}
// Last but the findings, where the tail of a long log shows them: what failed, and why.
const failed = records.filter((r) => r[0] === 'fail');
if (failed.length > 0) {
  console.log(`\nfailed (${failed.length}):`);
  for (const [, file, name, why] of failed) console.log(`  ✖ ${relative(root, file)}: ${name}\n      ${why}`);
}
const findings = existsSync(findingsDir) ? readdirSync(findingsDir).sort() : [];
if (findings.length > 0) console.log('');
for (const name of findings) process.stdout.write(readFileSync(join(findingsDir, name), 'utf8'));
process.exit(status);
