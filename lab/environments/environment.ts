/**
 * One learner environment: its id (k = 1, 2, …), its working directory, the
 * variables its shells and checks see, its terminals, and its progress. All
 * the things a learner does go through here: show a page (its onLoad commands
 * run the first time), run a block (macros, maxInvocations, counted in
 * progress), run a page's check, reset. One server can hold several
 * environments; each owns its shells and nothing else.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Course, PageSpec } from '../course/schema.js';
import { renderPage } from '../course/render.js';
import type { CheckResult, Progress, ProgressStore } from '../progress/store.js';
import { TerminalSession } from '../terminals/session.js';
import { runShell } from './shell.js';

const SETUP_TIMEOUT_MS = 30 * 60 * 1000;
const RESET_TIMEOUT_MS = 10 * 60 * 1000;

export type SetupState = 'none' | 'running' | 'done' | 'failed';

export interface EnvironmentOptions {
  id: number;
  course: Course;
  store: ProgressStore;
  /** Parent of every environment's working directory; env k works in `<root>/<k>`. */
  envRoot: string;
  /** Folders put first on the shells' PATH (e.g. the repo's bin/). */
  pathPrefix?: string[];
  runSetup?: boolean;
}

export type RunOutcome =
  | { ok: true; count: number }
  | { ok: false; status: 404 | 409; error: string; count?: number };

export class Environment {
  readonly id: number;
  /** The environment's own folder: progress-independent scratch space, setup.log. */
  readonly workDir: string;
  /**
   * Where shells and checks start: the environment's folder for a course.json
   * course; the scenario folder itself for a Katapod scenario, whose pages
   * say `./wait.sh` or `SOURCE 'assets/x.cql'` relative to it.
   */
  readonly shellDir: string;
  readonly vars: Record<string, string>;
  readonly course: Course;
  private readonly store: ProgressStore;
  private readonly sessions = new Map<string, TerminalSession>();
  private setupState: SetupState = 'none';
  private closed = false;

  constructor(opts: EnvironmentOptions) {
    this.id = opts.id;
    this.course = opts.course;
    this.store = opts.store;
    this.workDir = resolve(opts.envRoot, String(opts.id));
    mkdirSync(this.workDir, { recursive: true });
    this.shellDir = this.course.format === 'katapod' ? this.course.dir : this.workDir;
    const path = [...(opts.pathPrefix ?? []), process.env.PATH ?? '/usr/bin:/bin'].join(':');
    this.vars = {
      ...stringEnv(process.env),
      PATH: path,
      TERM: 'xterm-256color',
      COLORTERM: 'truecolor',
      LAB_ENV: String(opts.id),
      LAB_ENV_DIR: this.workDir,
      LAB_COURSE_DIR: this.course.dir,
    };
    if (opts.runSetup !== false) void this.setup();
  }

  get setupStatus(): SetupState {
    return this.setupState;
  }

  /** The terminal `id`, started on first use and started anew after its shell ended. */
  terminal(id: string): TerminalSession {
    if (this.closed) throw new Error(`environment ${this.id} is closed`);
    if (!this.course.terminals.some((t) => t.id === id)) {
      throw new Error(`no terminal "${id}" in this course; it declares: ${this.course.terminals.map((t) => t.id).join(', ')}`);
    }
    let session = this.sessions.get(id);
    if (!session || session.exited) {
      session = new TerminalSession({ cwd: this.shellDir, env: { ...this.vars, LAB_TERMINAL: id } });
      this.sessions.set(id, session);
    }
    return session;
  }

  progress(): Progress {
    return this.store.get(this.id, this.course.dir);
  }

  /** The learner is on `pageId`: remember it, and run its onLoad commands if it is shown for the first time. */
  visit(pageId: string): { firstTime: boolean } {
    const page = this.page(pageId);
    this.store.setCurrent(this.id, this.course.dir, page.id);
    const firstTime = this.store.markVisited(this.id, this.course.dir, page.id);
    if (firstTime) for (const c of page.onLoad) void this.terminal(c.terminal).type(c.command);
    return { firstTime };
  }

  /** Run block `blockId` (`<page>:<index>`) of the course in its terminal. */
  async run(blockId: string): Promise<RunOutcome> {
    const [pageId, indexText] = blockId.split(':');
    const page = this.course.pages.find((p) => p.id === pageId);
    const block = page ? renderPage(this.course, page).blocks[Number(indexText)] : undefined;
    if (!page || !block || block.id !== blockId) return { ok: false, status: 404, error: `no block "${blockId}" in this course` };
    if (!block.execute) return { ok: false, status: 409, error: 'this block is display-only (execute: false)' };
    const done = this.store.runCount(this.id, this.course.dir, block.id);
    if (block.maxInvocations !== null && done >= block.maxInvocations) {
      return { ok: false, status: 409, error: `this block may run at most ${block.maxInvocations} time(s)`, count: done };
    }
    const count = this.store.recordRun(this.id, this.course.dir, block.id);
    await this.terminal(block.terminalId).type(block.command, block.macrosBefore);
    return { ok: true, count };
  }

  /** Run the page's check command in the working dir with the environment's variables; the result is recorded. */
  async check(pageId: string): Promise<CheckResult> {
    const page = this.page(pageId);
    if (!page.check) throw new Error(`page "${page.id}" declares no check`);
    const result = await runShell(page.check, { cwd: this.shellDir, env: this.vars, timeoutMs: page.checkTimeoutSeconds * 1000 });
    return this.store.recordCheck(this.id, this.course.dir, page.id, { ok: result.ok, output: result.output, timedOut: result.timedOut });
  }

  /** End every shell, run the course's reset command, forget progress, and set up again. */
  async reset(): Promise<{ ok: boolean; output: string }> {
    await this.closeTerminals();
    let result = { ok: true, output: '' };
    if (this.course.reset) result = await runShell(this.course.reset, { cwd: this.shellDir, env: this.vars, timeoutMs: RESET_TIMEOUT_MS });
    this.store.clear(this.id, this.course.dir);
    void this.setup();
    return { ok: result.ok, output: result.output };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.closeTerminals();
  }

  private async closeTerminals(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.close()));
  }

  private page(pageId: string): PageSpec {
    const page = this.course.pages.find((p) => p.id === pageId);
    if (!page) throw new Error(`no page "${pageId}" in this course`);
    return page;
  }

  /** The course's setup command, once per environment start or reset; its output goes to setup.log. */
  private async setup(): Promise<void> {
    if (!this.course.setup) return;
    this.setupState = 'running';
    const log = createWriteStream(join(this.workDir, 'setup.log'));
    const result = await runShell(this.course.setup, {
      cwd: this.shellDir,
      env: this.vars,
      timeoutMs: SETUP_TIMEOUT_MS,
      keepBackground: true,
      onOutput: (t) => log.write(t),
    });
    log.end();
    this.setupState = result.ok ? 'done' : 'failed';
    if (!result.ok) console.error(`environment ${this.id}: setup failed (see ${join(this.workDir, 'setup.log')}):\n${result.output.slice(-2000)}`);
  }
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
