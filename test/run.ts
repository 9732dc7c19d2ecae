/**
 * Test entry point for `npm test`: finds the test files and hands them to
 * Node's own test runner (with tsx for TypeScript), one file at a time,
 * because the integration suites start real Cassandra JVMs and a 2-core
 * machine should not run two of those suites at once.
 *
 *   npm test                 every suite: unit, integration, e2e
 *   npm test -- unit         only the files under test/unit
 *   npm test -- infra        only files whose path contains "infra"
 *
 * At the end it prints the five slowest files with their wall times and the
 * one-line findings the suites recorded (test/support/findings.ts).
 *
 * The suites play the course many times, each play with several rolling
 * updates: they pause 5 s between proxies (ZDM_LAB_PROXY_PAUSE) instead of
 * the automation's 10 s, which the course keeps for learners. Every play
 * still proves zero failed and zero lost writes at 5 s.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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

const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'test/support/timings.mjs')}`,
    `--test-reporter-destination=${timings}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, ZDM_LAB_PROXY_PAUSE: process.env.ZDM_LAB_PROXY_PAUSE ?? '5' } },
);

const slowest = existsSync(timings)
  ? readFileSync(timings, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t') as [string, string])
      .sort((a, b) => Number(b[0]) - Number(a[0]))
      .slice(0, 5)
  : [];
if (slowest.length > 0) {
  console.log('\nslowest test files:');
  for (const [ms, file] of slowest) console.log(`  ${(Number(ms) / 1000).toFixed(1).padStart(7)} s  ${relative(root, file)}`);
}
const findings = existsSync(findingsDir) ? readdirSync(findingsDir).sort() : [];
if (findings.length > 0) console.log('');
for (const name of findings) process.stdout.write(readFileSync(join(findingsDir, name), 'utf8'));
process.exit(result.status ?? 1);
