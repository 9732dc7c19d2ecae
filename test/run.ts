/**
 * Test entry point for `npm test`: finds the test files and hands them to
 * Node's own test runner (with tsx for TypeScript), one file at a time,
 * because the integration suites start real Cassandra JVMs and a 2-core
 * machine should not run two of those suites at once.
 *
 *   npm test                 every suite: unit, integration, e2e
 *   npm test -- unit         only the files under test/unit
 *   npm test -- infra        only files whose path contains "infra"
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

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

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
