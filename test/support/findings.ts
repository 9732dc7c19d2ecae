/**
 * One-line findings a suite wants shown at the end of `npm test` (the
 * course proof, say), whatever scrolled by in between: each is a file under
 * test-results/findings, which test/run.ts empties before the run and
 * prints after it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const findingsDir = join(new URL('../..', import.meta.url).pathname, 'test-results', 'findings');

export function recordFinding(name: string, line: string): void {
  mkdirSync(findingsDir, { recursive: true });
  writeFileSync(join(findingsDir, `${name}.txt`), `${line}\n`);
}
