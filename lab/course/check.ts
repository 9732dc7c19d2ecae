/**
 * `zdm-lab course check [--strict] [dir]`: load a course the way the lab will
 * and print every problem as `file:line: error|warning: message`, so an
 * author finds them all in one run instead of one per page view. Returns the
 * process exit code: 1 when the course has errors (it cannot run as
 * written), 0 when it has none (warnings are what Katapod tolerates, and the
 * lab runs the course as Katapod would); with `strict`, warnings fail too.
 */
import { relative, resolve } from 'node:path';
import { loadCourse } from './load.js';
import { errorsOf, formatProblem } from './schema.js';

export function courseCheck(dir = 'steps', out: (line: string) => void = (l) => console.log(l), opts: { strict?: boolean } = {}): number {
  const abs = resolve(dir);
  const { course, problems } = loadCourse(abs);
  const shown = relative(process.cwd(), abs) || '.';
  for (const p of problems) {
    const file = p.file.startsWith('/') ? p.file : `${shown}/${p.file}`;
    out(formatProblem({ ...p, file }));
  }
  const errors = errorsOf(problems).length;
  const warnings = problems.length - errors;
  const blocks = course ? `${course.pages.length} pages, ${course.terminals.length} terminal(s)` : '';
  if (errors > 0 || (opts.strict && warnings > 0)) {
    out(`${shown}: ${errors} error(s), ${warnings} warning(s)${errors === 0 ? ' (--strict fails on warnings)' : ''}`);
    return 1;
  }
  out(`${shown}: ok (${course?.format}: ${blocks})${warnings ? `, ${warnings} warning(s)` : ''}`);
  return 0;
}
