/**
 * The saved states of a course (course.json "states"): what an environment
 * is at the start of a page, so that a reset to that page restores it in
 * seconds instead of playing every page before it. A state is saved once
 * per version of the course (a hash of its files), by the autopilot while it
 * plays an environment from a reset, and any environment of the class can
 * restore it: the course's own commands decide what a state holds and how
 * it fits another environment (for the ZDM course: the clusters' rows, the
 * proxies' settings, the writer's record; the addresses and logins stay
 * each environment's own).
 *
 * States live in the lab's data folder (`states/<version>/<page>/`), out of
 * every learner's reach: the course's save command writes into a folder of
 * the environment, and the lab copies what it finds there (regular files
 * only, no links, a size limit) onto its shelf, with the learner's progress
 * at that point. A restore copies them back into a folder the environment's
 * account can read and runs the course's restore command on it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Course } from '../course/schema.js';
import type { Progress } from '../progress/store.js';

/** What a state may weigh in all: a lab's data set is small, and a bigger folder is not one the course meant to save. */
export const MAX_STATE_BYTES = 64 * 1024 ** 2;
const PROGRESS_FILE = '.progress.json';

/** What of the learner's progress a state keeps: which pages were shown, what ran how often, which checks passed. */
export interface SavedProgress {
  visited: string[];
  runs: Record<string, number>;
  checks: Record<string, { ok: boolean; timedOut: boolean }>;
}

/** The course's files, hashed: a state saved by another version of the course is not offered. */
export function courseVersion(course: Course): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile()) hash.update(relative(course.dir, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  walk(course.dir);
  return hash.digest('hex').slice(0, 16);
}

export class StateShelf {
  readonly dir: string;

  constructor(dataDir: string, readonly course: Course) {
    this.dir = join(dataDir, 'states', courseVersion(course));
  }

  /** Pages with a saved state, in the course's order. */
  pages(): string[] {
    return this.course.pages.map((p) => p.id).filter((id) => this.has(id));
  }

  has(page: string): boolean {
    return existsSync(join(this.dir, page, PROGRESS_FILE));
  }

  progress(page: string): SavedProgress {
    return JSON.parse(readFileSync(join(this.dir, page, PROGRESS_FILE), 'utf8')) as SavedProgress;
  }

  /**
   * Keeps what the course's save command left in `from` as the state at the
   * start of `page`, with `progress`. Refuses links, folders and anything
   * over the size limit, so an environment cannot make the lab copy more
   * than its own files. Replaces a state saved before for the page.
   */
  keep(page: string, from: string, progress: Progress): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const staging = join(this.dir, `.${page}.${randomBytes(4).toString('hex')}`);
    mkdirSync(staging, { mode: 0o700 });
    try {
      let total = 0;
      for (const name of readdirSync(from)) {
        if (name === PROGRESS_FILE) continue;
        if (!lstatSync(join(from, name)).isFile()) throw new Error(`${name} is not a regular file`);
        // O_NOFOLLOW as well: a file swapped for a link after the look must not make the lab read elsewhere.
        const fd = openSync(join(from, name), constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          const st = fstatSync(fd);
          if (!st.isFile()) throw new Error(`${name} is not a regular file`);
          total += st.size;
          if (total > MAX_STATE_BYTES) throw new Error(`the state is over ${MAX_STATE_BYTES / 1024 ** 2} MiB`);
          writeFileSync(join(staging, name), readFileSync(fd), { mode: 0o600 });
        } finally {
          closeSync(fd);
        }
      }
      const saved: SavedProgress = {
        visited: progress.visited,
        runs: progress.runs,
        checks: Object.fromEntries(Object.entries(progress.checks).map(([id, c]) => [id, { ok: c.ok, timedOut: c.timedOut }])),
      };
      writeFileSync(join(staging, PROGRESS_FILE), JSON.stringify(saved), { mode: 0o600 });
      rmSync(join(this.dir, page), { recursive: true, force: true });
      renameSync(staging, join(this.dir, page));
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      throw err;
    }
  }

  /** Copies the state of `page` (without its progress) into `to`, readable by everyone: an isolated environment's account reads it there. */
  copyOut(page: string, to: string): void {
    const from = join(this.dir, page);
    for (const name of readdirSync(from)) {
      if (name === PROGRESS_FILE) continue;
      writeFileSync(join(to, name), readFileSync(join(from, name)), { mode: 0o644 });
      chmodSync(join(to, name), 0o644);
    }
  }

  /** Forgets every state of this course version (the console's "forget saved states"). */
  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
