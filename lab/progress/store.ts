/**
 * Learner progress per environment, in an embedded SQLite database
 * (better-sqlite3), so it survives a server restart: the page being read,
 * which pages have been shown (their onLoad commands ran), how often each
 * block was run, and every check result. Rows are keyed by environment and by
 * course directory, so two courses served from one data folder never mix.
 * The learners an instructor created are kept here too, so invite links
 * still work after a restart: each learner's name, the SHA-256 of their
 * token (never the token) and the salt the token is derived from with the
 * server's key (tokenFor in server/access.ts), which lives beside the
 * database, not in it. The database file is its owner's only (0600).
 * For the instructor's "who is stuck": the time spent on each page (the
 * current page's since the learner arrived), check attempts, and the hands
 * learners raise until the instructor clears them.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export interface CheckResult {
  ok: boolean;
  output: string;
  timedOut: boolean;
  at: number;
}

export interface Progress {
  current: string | null;
  visited: string[];
  runs: Record<string, number>;
  checks: Record<string, CheckResult>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS current_page (env INTEGER, course TEXT, page TEXT NOT NULL, PRIMARY KEY (env, course));
CREATE TABLE IF NOT EXISTS visits (env INTEGER, course TEXT, page TEXT, first_at INTEGER NOT NULL, PRIMARY KEY (env, course, page));
CREATE TABLE IF NOT EXISTS runs (env INTEGER, course TEXT, block TEXT, count INTEGER NOT NULL, last_at INTEGER NOT NULL, PRIMARY KEY (env, course, block));
CREATE TABLE IF NOT EXISTS checks (id INTEGER PRIMARY KEY AUTOINCREMENT, env INTEGER, course TEXT, page TEXT, ok INTEGER NOT NULL, timed_out INTEGER NOT NULL, output TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS checks_by_page ON checks (env, course, page, id);
CREATE TABLE IF NOT EXISTS learners (env INTEGER, course TEXT, name TEXT NOT NULL, token_hash TEXT NOT NULL, token_salt TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (env, course));
CREATE TABLE IF NOT EXISTS page_time (env INTEGER, course TEXT, page TEXT, ms INTEGER NOT NULL, PRIMARY KEY (env, course, page));
CREATE TABLE IF NOT EXISTS settings (course TEXT, key TEXT, value TEXT NOT NULL, PRIMARY KEY (course, key));
CREATE TABLE IF NOT EXISTS help (id INTEGER PRIMARY KEY AUTOINCREMENT, env INTEGER, course TEXT, page TEXT NOT NULL, message TEXT NOT NULL, raised_at INTEGER NOT NULL, cleared_at INTEGER);
`;

/** A learner's raised hand: on which page, with the last failing check's message, since when. */
export interface Hand {
  page: string;
  message: string;
  at: number;
}

/** How a learner fares on one page: time there, check attempts, the last failing check's message. */
export interface PageStats {
  ms: number;
  checkAttempts: number;
  lastFailure: string | null;
}

/** One learner environment as the instructor created it. */
export interface LearnerRecord {
  env: number;
  name: string;
  /** SHA-256 of the token, hex. */
  tokenHash: string;
  /** What the token is derived from with the server's key; null for a token given from outside (tests), which a restart replaces. */
  tokenSalt: string | null;
  createdAt: number;
  /** A warm seat: started and kept ready for a learner who has not arrived yet. */
  reserved?: boolean;
  /** Minutes added to the class's lifetime for this environment ("extend"). */
  extendedMinutes?: number;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class ProgressStore {
  private readonly db: Database.Database;

  /** `now`: the clock time is counted with (tests give their own). */
  constructor(
    path: string,
    private readonly now: () => number = Date.now,
  ) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      // SQLite gives its -wal and -shm files the database file's mode.
      closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.migrateLearners();
    this.db.exec(SCHEMA);
    // Databases from before time on a page was counted: the current page gets a start time.
    const columns = (this.db.prepare("SELECT name FROM pragma_table_info('current_page')").all() as { name: string }[]).map((c) => c.name);
    if (!columns.includes('since')) this.db.exec('ALTER TABLE current_page ADD COLUMN since INTEGER');
    // Databases from before warm seats: every environment there is a learner's.
    const learnerColumns = (this.db.prepare("SELECT name FROM pragma_table_info('learners')").all() as { name: string }[]).map((c) => c.name);
    if (!learnerColumns.includes('reserved')) this.db.exec('ALTER TABLE learners ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0');
    if (!learnerColumns.includes('extended_minutes')) this.db.exec('ALTER TABLE learners ADD COLUMN extended_minutes INTEGER NOT NULL DEFAULT 0');
  }

  /** Minutes added to environment `env`'s lifetime. */
  saveExtension(env: number, course: string, minutes: number): void {
    this.db.prepare('UPDATE learners SET extended_minutes = ? WHERE env = ? AND course = ?').run(minutes, env, course);
  }

  /** A course-wide setting the instructor chose (the number of warm seats), or undefined. */
  setting(course: string, key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM settings WHERE course = ? AND key = ?').get(course, key) as { value: string } | undefined;
    return row?.value;
  }

  removeSetting(course: string, key: string): void {
    this.db.prepare('DELETE FROM settings WHERE course = ? AND key = ?').run(course, key);
  }

  saveSetting(course: string, key: string, value: string): void {
    this.db.prepare('INSERT INTO settings (course, key, value) VALUES (?, ?, ?) ON CONFLICT (course, key) DO UPDATE SET value = excluded.value').run(course, key, value);
  }

  /** A database from before token hashes kept tokens themselves: they are replaced by their hashes (the learners' links keep working until the next restart, which issues new ones). */
  private migrateLearners(): void {
    const columns = (this.db.prepare("SELECT name FROM pragma_table_info('learners')").all() as { name: string }[]).map((c) => c.name);
    if (!columns.includes('token')) return;
    this.db.transaction(() => {
      this.db.exec('ALTER TABLE learners ADD COLUMN token_hash TEXT');
      this.db.exec('ALTER TABLE learners ADD COLUMN token_salt TEXT');
      const rows = this.db.prepare('SELECT env, course, token FROM learners').all() as { env: number; course: string; token: string }[];
      for (const r of rows) this.db.prepare('UPDATE learners SET token_hash = ? WHERE env = ? AND course = ?').run(hashToken(r.token), r.env, r.course);
      this.db.exec('ALTER TABLE learners DROP COLUMN token');
    })();
    this.db.exec('VACUUM');
  }

  get(env: number, course: string): Progress {
    const current = this.db.prepare('SELECT page FROM current_page WHERE env = ? AND course = ?').get(env, course) as { page: string } | undefined;
    const visited = (this.db.prepare('SELECT page FROM visits WHERE env = ? AND course = ? ORDER BY first_at').all(env, course) as { page: string }[]).map((r) => r.page);
    const runs: Record<string, number> = {};
    for (const r of this.db.prepare('SELECT block, count FROM runs WHERE env = ? AND course = ?').all(env, course) as { block: string; count: number }[]) runs[r.block] = r.count;
    const checks: Record<string, CheckResult> = {};
    const rows = this.db
      .prepare('SELECT page, ok, timed_out, output, at FROM checks WHERE id IN (SELECT MAX(id) FROM checks WHERE env = ? AND course = ? GROUP BY page)')
      .all(env, course) as { page: string; ok: number; timed_out: number; output: string; at: number }[];
    for (const r of rows) checks[r.page] = { ok: r.ok === 1, timedOut: r.timed_out === 1, output: r.output, at: r.at };
    return { current: current?.page ?? null, visited, runs, checks };
  }

  /** The learner is on `page`: the time on the page they leave is added to that page's. */
  setCurrent(env: number, course: string, page: string): void {
    const now = this.now();
    this.db.transaction(() => {
      const was = this.db.prepare('SELECT page, since FROM current_page WHERE env = ? AND course = ?').get(env, course) as { page: string; since: number | null } | undefined;
      if (was?.page === page && was.since !== null) return;
      if (was && was.since !== null) this.addTime(env, course, was.page, now - was.since);
      this.db.prepare('INSERT INTO current_page (env, course, page, since) VALUES (?, ?, ?, ?) ON CONFLICT (env, course) DO UPDATE SET page = excluded.page, since = excluded.since').run(env, course, page, now);
    })();
  }

  private addTime(env: number, course: string, page: string, ms: number): void {
    this.db.prepare('INSERT INTO page_time (env, course, page, ms) VALUES (?, ?, ?, ?) ON CONFLICT (env, course, page) DO UPDATE SET ms = ms + excluded.ms').run(env, course, page, Math.max(0, ms));
  }

  /** Milliseconds spent on each page, the current one up to now. */
  timeOnPages(env: number, course: string): Record<string, number> {
    const times: Record<string, number> = {};
    for (const r of this.db.prepare('SELECT page, ms FROM page_time WHERE env = ? AND course = ?').all(env, course) as { page: string; ms: number }[]) times[r.page] = r.ms;
    const current = this.db.prepare('SELECT page, since FROM current_page WHERE env = ? AND course = ?').get(env, course) as { page: string; since: number | null } | undefined;
    if (current?.since != null) times[current.page] = (times[current.page] ?? 0) + Math.max(0, this.now() - current.since);
    return times;
  }

  /** Time on `page`, how often its check ran, and the message of the latest check if it failed. */
  pageStats(env: number, course: string, page: string): PageStats {
    const { n } = this.db.prepare('SELECT COUNT(*) AS n FROM checks WHERE env = ? AND course = ? AND page = ?').get(env, course, page) as { n: number };
    const last = this.db.prepare('SELECT ok, output FROM checks WHERE env = ? AND course = ? AND page = ? ORDER BY id DESC LIMIT 1').get(env, course, page) as { ok: number; output: string } | undefined;
    const failure = last && last.ok === 0 ? last.output.trim().split('\n').filter(Boolean).at(-1) ?? 'the check failed' : null;
    return { ms: this.timeOnPages(env, course)[page] ?? 0, checkAttempts: n, lastFailure: failure };
  }

  /** The learner asks for help on `page`; a hand already raised stays as it was. */
  raiseHand(env: number, course: string, page: string, message: string): Hand {
    const open = this.openHand(env, course);
    if (open) return open;
    const at = this.now();
    this.db.prepare('INSERT INTO help (env, course, page, message, raised_at) VALUES (?, ?, ?, ?, ?)').run(env, course, page, message, at);
    return { page, message, at };
  }

  /** The instructor has answered: the hand goes down (it still counts among the help requests). */
  clearHand(env: number, course: string): boolean {
    return this.db.prepare('UPDATE help SET cleared_at = ? WHERE env = ? AND course = ? AND cleared_at IS NULL').run(this.now(), env, course).changes > 0;
  }

  openHand(env: number, course: string): Hand | null {
    const r = this.db.prepare('SELECT page, message, raised_at FROM help WHERE env = ? AND course = ? AND cleared_at IS NULL ORDER BY id LIMIT 1').get(env, course) as { page: string; message: string; raised_at: number } | undefined;
    return r ? { page: r.page, message: r.message, at: r.raised_at } : null;
  }

  helpRequests(env: number, course: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM help WHERE env = ? AND course = ?').get(env, course) as { n: number }).n;
  }

  /** Record that a page was shown; true the first time only. */
  markVisited(env: number, course: string, page: string): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO visits (env, course, page, first_at) VALUES (?, ?, ?, ?)').run(env, course, page, this.now()).changes === 1;
  }

  runCount(env: number, course: string, block: string): number {
    const row = this.db.prepare('SELECT count FROM runs WHERE env = ? AND course = ? AND block = ?').get(env, course, block) as { count: number } | undefined;
    return row?.count ?? 0;
  }

  /** Progress kept under an older key of a block is carried to its new key (a key it already has wins). */
  renameRun(env: number, course: string, from: string, to: string): void {
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO runs (env, course, block, count, last_at) SELECT env, course, ?, count, last_at FROM runs WHERE env = ? AND course = ? AND block = ?').run(to, env, course, from);
      this.db.prepare('DELETE FROM runs WHERE env = ? AND course = ? AND block = ?').run(env, course, from);
    })();
  }

  /** Count one more run of a block; returns the new count. */
  recordRun(env: number, course: string, block: string): number {
    this.db
      .prepare('INSERT INTO runs (env, course, block, count, last_at) VALUES (?, ?, ?, 1, ?) ON CONFLICT (env, course, block) DO UPDATE SET count = count + 1, last_at = excluded.last_at')
      .run(env, course, block, this.now());
    return this.runCount(env, course, block);
  }

  recordCheck(env: number, course: string, page: string, result: Omit<CheckResult, 'at'>): CheckResult {
    const at = this.now();
    this.db.prepare('INSERT INTO checks (env, course, page, ok, timed_out, output, at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(env, course, page, result.ok ? 1 : 0, result.timedOut ? 1 : 0, result.output, at);
    return { ...result, at };
  }

  /**
   * Progress as a saved state has it (environments/states.ts): the pages
   * shown, the runs, and each check's outcome, whose output says it was
   * taken over (it was printed in the environment that saved the state);
   * the learner is on `current`. Replaces what the environment had.
   */
  restore(env: number, course: string, saved: { visited: string[]; runs: Record<string, number>; checks: Record<string, { ok: boolean; timedOut: boolean }> }, current: string): void {
    const now = this.now();
    this.db.transaction(() => {
      this.clear(env, course);
      for (const page of saved.visited) this.db.prepare('INSERT OR IGNORE INTO visits (env, course, page, first_at) VALUES (?, ?, ?, ?)').run(env, course, page, now);
      for (const [block, count] of Object.entries(saved.runs)) this.db.prepare('INSERT INTO runs (env, course, block, count, last_at) VALUES (?, ?, ?, ?, ?)').run(env, course, block, count, now);
      for (const [page, c] of Object.entries(saved.checks)) {
        const output = c.ok ? '✔ passed (restored from a saved state of the course)' : '✘ had not passed (restored from a saved state of the course)';
        this.db.prepare('INSERT INTO checks (env, course, page, ok, timed_out, output, at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(env, course, page, c.ok ? 1 : 0, c.timedOut ? 1 : 0, output, now);
      }
    })();
    this.setCurrent(env, course, current);
  }

  /** Forget everything about one environment's run of a course (environment reset). */
  clear(env: number, course: string): void {
    for (const table of ['current_page', 'visits', 'runs', 'checks', 'page_time', 'help']) this.db.prepare(`DELETE FROM ${table} WHERE env = ? AND course = ?`).run(env, course);
  }

  learners(course: string): LearnerRecord[] {
    const rows = this.db.prepare('SELECT env, name, token_hash, token_salt, created_at, reserved, extended_minutes FROM learners WHERE course = ? ORDER BY env').all(course) as {
      env: number;
      name: string;
      token_hash: string;
      token_salt: string | null;
      created_at: number;
      reserved: number;
      extended_minutes: number;
    }[];
    return rows.map((r) => ({
      env: r.env,
      name: r.name,
      tokenHash: r.token_hash,
      tokenSalt: r.token_salt,
      createdAt: r.created_at,
      reserved: r.reserved === 1,
      extendedMinutes: r.extended_minutes,
    }));
  }

  saveLearner(course: string, learner: LearnerRecord): void {
    this.db
      .prepare(
        'INSERT INTO learners (env, course, name, token_hash, token_salt, created_at, reserved) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (env, course) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash, token_salt = excluded.token_salt, created_at = excluded.created_at, reserved = excluded.reserved',
      )
      .run(learner.env, course, learner.name, learner.tokenHash, learner.tokenSalt, learner.createdAt, learner.reserved ? 1 : 0);
  }

  forgetLearner(env: number, course: string): void {
    this.db.prepare('DELETE FROM learners WHERE env = ? AND course = ?').run(env, course);
  }

  close(): void {
    this.db.close();
  }
}
