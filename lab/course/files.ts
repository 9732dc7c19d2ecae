/**
 * The one gate between a course-relative path (a page file, an image src) and
 * the file system: a path resolves only if it stays inside the course
 * directory and names no hidden file, so a page or a request can never reach
 * `../../etc/passwd` or the course's `.katapod_config.json`.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';

/** The absolute path of `rel` inside `courseDir`, or undefined if it would escape it. */
export function resolveCourseFile(courseDir: string, rel: string): string | undefined {
  if (rel === '' || rel.includes('\0') || isAbsolute(rel)) return undefined;
  const root = resolve(courseDir);
  const path = resolve(root, rel);
  const inside = relative(root, path);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return undefined;
  if (inside.split(sep).some((part) => part.startsWith('.'))) return undefined;
  return path;
}
