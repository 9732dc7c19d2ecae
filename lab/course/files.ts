/**
 * The one gate between a course-relative path (a page file, an image src) and
 * the file system: a path resolves only if it stays inside the course
 * directory and names no hidden file, so a page or a request can never reach
 * `../../etc/passwd` or the course's `.katapod_config.json`.
 */
import { realpathSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';

/** A reference to a file of the course: no scheme (https:, mailto:, command:), not `//host`, not `#anchor` or `?query` alone. */
export function isLocalFile(ref: string): boolean {
  return ref !== '' && !/^([a-z][a-z0-9+.-]*:|\/\/|#|\?)/i.test(ref);
}

/** The absolute path of `rel` inside `courseDir`, or undefined if it would escape it. */
export function resolveCourseFile(courseDir: string, rel: string): string | undefined {
  if (rel === '' || rel.includes('\0') || isAbsolute(rel)) return undefined;
  const root = resolve(courseDir);
  const path = resolve(root, rel);
  const inside = within(root, path);
  if (inside === undefined || inside.split(sep).some((part) => part.startsWith('.'))) return undefined;
  return path;
}

/** `path` relative to `root` when it lies below it, else undefined. */
function within(root: string, path: string): string | undefined {
  const inside = relative(root, path);
  return inside === '' || inside.startsWith('..') || isAbsolute(inside) ? undefined : inside;
}

/** What a page can show or offer for download; a course's scripts, checks, course.json and panel code are none of it. */
const SERVABLE = new Set(['.svg', '.png', '.jpg', '.jpeg', '.gif', '.webp', '.ico', '.mp4', '.webm', '.mp3', '.pdf', '.csv', '.zip']);

/**
 * The file behind a `/course/files/` request, or undefined: it must be a
 * media or download type, and its real path (symbolic links followed) must
 * stay inside the course's real folder.
 */
export function servableCourseFile(courseDir: string, rel: string): string | undefined {
  const path = resolveCourseFile(courseDir, rel);
  if (!path || !SERVABLE.has(extname(path).toLowerCase())) return undefined;
  try {
    const real = realpathSync(path);
    return within(realpathSync(courseDir), real) === undefined ? undefined : real;
  } catch {
    return undefined;
  }
}
