/**
 * Command-line entry for checking a course: `tsx lab/cli/course-check.ts [dir]`
 * (the zdm-lab CLI calls `courseCheck` for `zdm-lab course check`).
 */
import { courseCheck } from '../course/check.js';

process.exit(courseCheck(process.argv[2] ?? 'steps'));
