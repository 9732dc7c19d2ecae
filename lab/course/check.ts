/**
 * `zdm-lab course check [dir]`: load a course the way the lab will and print
 * every problem as `file:line: message`, so an author finds them all in one
 * run instead of one per page view. Returns the process exit code: 0 when the
 * course is clean, 1 when it has problems.
 */
import { relative, resolve } from 'node:path';
import { loadCourse } from './load.js';
import { formatProblem } from './schema.js';

export function courseCheck(dir = 'steps', out: (line: string) => void = (l) => console.log(l)): number {
  const abs = resolve(dir);
  const { course, problems } = loadCourse(abs);
  const shown = relative(process.cwd(), abs) || '.';
  for (const p of problems) {
    const file = p.file.startsWith('/') ? p.file : `${shown}/${p.file}`;
    out(formatProblem({ ...p, file }));
  }
  if (problems.length > 0) {
    out(`${shown}: ${problems.length} problem(s)`);
    return 1;
  }
  const blocks = course ? `${course.pages.length} pages, ${course.terminals.length} terminal(s)` : '';
  out(`${shown}: ok (${course?.format}: ${blocks})`);
  return 0;
}
