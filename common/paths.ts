/**
 * Whether every account of the host can reach a file: each folder on the
 * way to it lets others pass (o+x). An isolated learner environment runs as
 * its own account, so what it runs (the lab's commands, the course, the
 * interpreters in the cache) must pass this test.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The first folder on the way to `path` (a folder itself included) that others cannot pass, or undefined when there is none. */
export function closedFolderOn(path: string): string | undefined {
  const abs = resolve(path);
  let start = dirname(abs);
  try {
    if (statSync(abs).isDirectory()) start = abs;
  } catch {
    // a path that does not exist yet: its folders count
  }
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) return dir;
    } catch {
      return dir;
    }
    if (dir === '/') return undefined;
  }
}
