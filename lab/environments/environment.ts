/**
 * One learner environment: its id (k = 1, 2, …), its working directory, the
 * variables its shells and checks see, its terminals, and its progress. All
 * the things a learner does go through here: show a page (its onLoad commands
 * run the first time), run a block (macros, maxInvocations, counted in
 * progress), run a page's check, reset. One server can hold several
 * environments; each owns its shells and nothing else. A reset or a destroy
 * first stops whatever still works on the environment (an autopilot play,
 * the setup command), then ends every shell with everything it started, so
 * it can be taken in the middle of anything.
 */
import { constants, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import type { Course, PageSpec } from '../course/schema.js';
import { pageBlocks } from '../course/page.js';
import { POSITIONAL_ID } from '../course/blocks.js';
import type { CheckResult, Hand, PageStats, Progress, ProgressStore } from '../progress/store.js';
import { READY_MARKER, TerminalSession } from '../terminals/session.js';
import { Recorder, type RecordingInfo } from '../terminals/recording.js';
import type { Sandbox } from './isolation.js';
import type { Workstation } from './workstation.js';
import { MAX_STATE_BYTES, type StateShelf } from './states.js';
import { runShell, type ShellResult, type Wrap } from './shell.js';

const SETUP_TIMEOUT_MS = 30 * 60 * 1000;

/**
 * Every terminal's bash reads this startup file, not the user's ~/.bashrc: a
 * lab shell must start the same way every time and fast, and a user's
 * startup file can be slow or wait on a lock (pyenv's rehash does). PATH and
 * the rest come from the server's own environment.
 */
const SHELL_RC = `# Written by the lab for its terminals: the system startup file, the
# environment's addresses and Cassandra login (what the sample API logs in
# with), a prompt, then a marker telling the lab the prompt is ready for commands.
[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
command -v zdm-lab >/dev/null && eval "$(zdm-lab env --shell --export)"
PS1='\\[\\e[1;32m\\]\\u@\\h\\[\\e[0m\\]:\\[\\e[1;34m\\]\\w\\[\\e[0m\\]\\$ '
printf '${READY_MARKER.replace('\x1b', '\\033').replace('\x07', '\\007')}'
`;
const RESET_TIMEOUT_MS = 10 * 60 * 1000;
/** Folders of the environment's own where the course's state commands write a state and read one back. */
const STATE_OUT = '.lab-state-out';
const STATE_IN = '.lab-state-in';

export type SetupState = 'none' | 'running' | 'done' | 'failed';

/** An idle environment is put to sleep (its parts stopped, data kept) and woken when its learner is back. */
export type SleepState = 'awake' | 'going to sleep' | 'asleep' | 'waking';

/** Progress keeps onLoad runs beside block runs, under keys that start so (Katapod's own name for them). */
export const ON_LOAD_COUNTER = 'onLoad_';

export interface EnvironmentOptions {
  id: number;
  course: Course;
  store: ProgressStore;
  /** Parent of every environment's working directory; env k works in `<root>/<k>`. */
  envRoot: string;
  /** Folders put first on the shells' PATH (e.g. the repo's bin/). */
  pathPrefix?: string[];
  runSetup?: boolean;
  /** Isolation: the environment's account, budget and rules (isolation.ts); without it everything runs as the server's user. */
  sandbox?: Sandbox;
  /** The learner's terminals and the course's commands run in this workstation, off the lab's host (workstation.ts); not with a sandbox. */
  workstation?: Workstation;
  /** Where each terminal's output is recorded (asciicast, one file per terminal; the server's own folder, out of the learner's reach). */
  recordingDir?: string;
  /**
   * How the environment's terminals reach the lab (LAB_URL, LAB_SHELL_TOKEN):
   * `zdm-lab infra up` typed there asks the lab to bring the environment to
   * the learner's page (restoreToPage). The token opens that and nothing else.
   */
  shellAccess?: { url: () => string; token: string };
}

/**
 * What of the server's own environment an isolated environment's processes
 * see: the locale, the tools' paths, and the variables the course's tools
 * read (ZDM_*). Anything else (a token an operator exported, say) stays
 * with the server.
 */
const PASSED_TO_ISOLATED = /^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|JAVA_HOME|ZDM_[A-Z0-9_]+)$/;

export interface ResetResult {
  ok: boolean;
  output: string;
  /** How long the reset took (the setup that follows it is not included). */
  seconds: number;
  /** Of which the course's reset command took this long (the rest: stopping plays, setup and shells). */
  commandSeconds: number;
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
  /** The terminals' bash startup file (SHELL_RC), shared by every environment and written by the server only. */
  private readonly rcFile: string;
  readonly vars: Record<string, string>;
  /** The account, budget and rules of an isolated environment. */
  readonly sandbox: Sandbox | undefined;
  /** Where the terminals and the course's commands run when not on the lab's host. */
  readonly workstation: Workstation | undefined;
  /** The workstation was made (or brought back to shape) since this lab started. */
  private workstationMade = false;
  readonly course: Course;
  private readonly store: ProgressStore;
  private readonly sessions = new Map<string, TerminalSession>();
  private readonly recorders = new Map<string, Recorder>();
  private readonly recordingDir: string | undefined;
  private readonly shellAccess: EnvironmentOptions['shellAccess'];
  private setupState: SetupState = 'none';
  private note = '';
  private setupRun: { controller: AbortController; done: Promise<void> } | undefined;
  private readonly activities = new Set<{ controller: AbortController; done: Promise<unknown> }>();
  private readonly resetListeners: (() => void)[] = [];
  private resetting: Promise<ResetResult> | undefined;
  private resets = 0;
  private lastActivityAt = Date.now();
  private closed = false;
  private sleepState: SleepState = 'awake';

  constructor(opts: EnvironmentOptions) {
    this.id = opts.id;
    this.course = opts.course;
    this.store = opts.store;
    this.workDir = resolve(opts.envRoot, String(opts.id));
    this.sandbox = opts.sandbox;
    this.workstation = opts.workstation;
    if (this.sandbox && this.workstation) throw new Error(`environment ${opts.id}: a workstation is isolated by where it runs; it takes no sandbox`);
    this.recordingDir = opts.recordingDir;
    this.shellAccess = opts.shellAccess;
    if (this.recordingDir) mkdirSync(this.recordingDir, { recursive: true, mode: 0o700 });
    if (this.sandbox) this.sandbox.open();
    else mkdirSync(this.workDir, { recursive: true });
    this.shellDir = this.course.format === 'katapod' ? this.course.dir : this.workDir;
    this.rcFile = join(resolve(opts.envRoot), '.lab-bashrc');
    const path = [...(opts.pathPrefix ?? []), process.env.PATH ?? '/usr/bin:/bin'].join(':');
    const inherited = stringEnv(process.env);
    this.vars = {
      ...(this.sandbox ? Object.fromEntries(Object.entries(inherited).filter(([k]) => PASSED_TO_ISOLATED.test(k))) : inherited),
      ...this.sandbox?.identity,
      ...(this.sandbox ? { LAB_ENV_HOME: this.sandbox.home } : {}),
      PATH: path,
      TERM: 'xterm-256color',
      COLORTERM: 'truecolor',
      LAB_ENV: String(opts.id),
      LAB_ENV_DIR: this.workDir,
      LAB_COURSE_DIR: this.course.dir,
    };
    this.carryPositionalProgress();
    if (opts.runSetup !== false) void this.setup();
  }

  /**
   * Runs recorded under the block ids of before stable ids (`page:index`) go
   * to the ids of the blocks now at those places, once.
   */
  private carryPositionalProgress(): void {
    const old = Object.keys(this.progress().runs).filter((key) => POSITIONAL_ID.test(key));
    for (const key of old) {
      const [, pageId, index] = POSITIONAL_ID.exec(key)!;
      const page = this.course.pages.find((p) => p.id === pageId);
      const block = page && existsSync(join(this.course.dir, page.file)) ? pageBlocks(this.course, page)[Number(index)] : undefined;
      if (block) this.store.renameRun(this.id, this.course.dir, key, block.id);
    }
  }

  get setupStatus(): SetupState {
    return this.setupState;
  }

  /** Counts resets: a learner's page that sees it change starts over from the first page. */
  get generation(): number {
    return this.resets;
  }

  /** When the learner last did something (showed a page, ran a block, typed, checked), in ms since the epoch. */
  get lastActivity(): number {
    return this.lastActivityAt;
  }

  get isResetting(): boolean {
    return this.resetting !== undefined;
  }

  /** The learner did something: it counts as activity, and an environment asleep wakes up. */
  touch(): void {
    this.lastActivityAt = Date.now();
    this.wake();
  }

  get sleep(): SleepState {
    return this.sleepState;
  }

  /**
   * Put an idle environment to sleep to free its memory: plays and the setup
   * stopped, terminals ended (last first, as for a reset), then the course's
   * suspend command, which stops its parts and keeps their data. Progress
   * stays. Refused (false) while a reset runs or when it is not awake.
   */
  async sleepNow(): Promise<ShellResult | undefined> {
    if (!this.course.suspend) throw new Error('this course declares no suspend command, so its environments cannot sleep');
    if (this.closed || this.sleepState !== 'awake' || this.resetting) return undefined;
    const generation = this.resets;
    this.sleepState = 'going to sleep';
    await this.stopActivities();
    await this.closeTerminals();
    const result = await this.shell(this.course.suspend, { timeoutMs: RESET_TIMEOUT_MS });
    // a shell a browser re-opened meanwhile goes too; a reset taken meanwhile has set the environment up again
    await this.closeTerminals();
    if (this.resets !== generation || this.closed) return result;
    this.setupState = 'none';
    this.note = result.ok ? 'asleep: its parts were stopped after a while without activity, its data is kept' : `going to sleep failed: ${lastLine(result.output)}`;
    this.sleepState = 'asleep';
    for (const listener of this.resetListeners) listener();
    return result;
  }

  /** The learner is back: the setup brings the environment to their page again, and what ran in its terminals is started again. */
  wake(): void {
    if (this.sleepState !== 'asleep' || this.closed) return;
    if (!this.course.setup) {
      this.sleepState = 'awake';
      return;
    }
    this.sleepState = 'waking';
    // the setup's end marks it awake (runSetup), before anyone waiting for the setup hears of it
    void this.setup();
  }

  /**
   * `zdm-lab infra up` from one of the environment's terminals: the setup
   * runs again, as at a start of the lab, and brings the environment to the
   * learner's page (the step-1 state on the first pages, else what the page
   * expects); then what the page expects in a terminal starts where that
   * terminal is idle. A setup already running is the one to follow; an
   * environment asleep wakes, which is the same. Refused while a reset runs.
   */
  restoreToPage(): 'started' | 'running' {
    if (this.closed) throw new Error(`environment ${this.id} is closed`);
    if (!this.course.setup) throw new Error('this course declares no setup command, so there is nothing to bring back');
    if (this.resetting) throw new Error('a reset of this environment is running; its setup follows it');
    this.lastActivityAt = Date.now();
    if (this.setupRun) return 'running';
    if (this.sleepState === 'asleep') {
      this.wake();
      return 'started';
    }
    void this.setup(true);
    return 'started';
  }

  /** LAB_URL and LAB_SHELL_TOKEN for the terminals, once the lab listens. */
  private shellVariables(): Record<string, string> {
    const url = this.shellAccess?.url();
    return url ? { LAB_URL: url, LAB_SHELL_TOKEN: this.shellAccess!.token } : {};
  }

  /** Called after every reset and when it falls asleep (the server drops the terminals' connections, so browsers attach to the new shells). */
  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  /** The last line the setup printed (what it did, e.g. what it restored after a restart), for the learner's page. */
  get setupNote(): string {
    return this.note;
  }

  /**
   * What the learner's page expects running in a terminal (course.json
   * "resume"), started again there once the setup has brought the rest back:
   * after a restart of the lab, the shells that ran it are new. With
   * `idleOnly` (a restore asked from a terminal, whose shells live on), a
   * terminal where something still runs is left as it is.
   */
  private resume(pageId: string, idleOnly: boolean): void {
    const at = this.course.pages.findIndex((p) => p.id === pageId);
    if (at < 0) return;
    const index = (id: string | undefined) => (id === undefined ? this.course.pages.length : this.course.pages.findIndex((p) => p.id === id));
    for (const r of this.course.resume) {
      if (!(index(r.from) <= at && at < index(r.until))) continue;
      const open = this.sessions.get(r.terminal);
      if (idleOnly && open && !open.exited && !open.atPrompt) continue;
      void this.terminal(r.terminal).type(r.command);
    }
  }

  /** Resolves once the setup command (if one is running) has ended. */
  async setupDone(): Promise<SetupState> {
    await this.setupRun?.done;
    return this.setupState;
  }

  /**
   * Runs `work` (an autopilot play) as something a reset or a destroy must
   * stop first: its signal aborts when the environment is reset, destroyed,
   * or when `signal` aborts.
   */
  async track<T>(work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const controller = new AbortController();
    const forward = () => controller.abort();
    if (signal?.aborted) controller.abort();
    else signal?.addEventListener('abort', forward, { once: true });
    const done = work(controller.signal);
    const entry = { controller, done };
    this.activities.add(entry);
    try {
      return await done;
    } finally {
      this.activities.delete(entry);
      signal?.removeEventListener('abort', forward);
    }
  }

  /** True once the environment was destroyed or the lab stopped. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The terminal `id`, started on first use and started anew after its shell ended. */
  terminal(id: string): TerminalSession {
    if (this.closed) throw new Error(`environment ${this.id} is closed`);
    if (!this.course.terminals.some((t) => t.id === id)) {
      throw new Error(`no terminal "${id}" in this course; it declares: ${this.course.terminals.map((t) => t.id).join(', ')}`);
    }
    let session = this.sessions.get(id);
    if (!session || session.exited) {
      this.writeShellRc();
      const args = ['--rcfile', this.rcFile, '-i'];
      session = new TerminalSession({
        cwd: this.shellDir,
        env: { ...this.vars, ...this.shellVariables(), LAB_TERMINAL: id },
        shell: 'bash',
        args,
        launcher: this.workstation ? this.workstation.terminal() : this.sandbox ? this.sandbox.wrap('bash', args) : undefined,
        marksPrompt: this.workstation?.marksPrompt,
        recorder: this.recorder(id),
      });
      this.sessions.set(id, session);
    }
    return session;
  }

  /** Terminal `id`'s recorder, one per terminal for the environment's life (none without a recording folder). */
  private recorder(id: string): Recorder | undefined {
    if (!this.recordingDir) return undefined;
    let recorder = this.recorders.get(id);
    if (!recorder) {
      recorder = new Recorder(join(this.recordingDir, `${id}.cast`), { cols: 100, rows: 30 });
      this.recorders.set(id, recorder);
    }
    return recorder;
  }

  /** The terminals recorded so far: the file of each, and its earlier part once it passed the cap. */
  recordings(): { terminal: string; info: RecordingInfo }[] {
    return [...this.recorders].map(([terminal, r]) => ({ terminal, info: r.info }));
  }

  /**
   * (Re)write the terminals' startup file when it is missing or stale (a reset
   * may have emptied the folder). Written to a temporary name and renamed, so
   * a bash starting at the same moment never reads a half-written file.
   */
  private writeShellRc(): void {
    if (existsSync(this.rcFile) && readFileSync(this.rcFile, 'utf8') === SHELL_RC) return;
    const tmp = `${this.rcFile}.${process.pid}.tmp`;
    writeFileSync(tmp, SHELL_RC, { mode: 0o644 });
    renameSync(tmp, this.rcFile);
  }

  /** The learner asks for help: a hand goes up in the console, with the page and its last failing check's message. */
  askForHelp(): Hand {
    this.touch();
    const page = this.progress().current ?? this.course.pages[0]!.id;
    const { lastFailure } = this.store.pageStats(this.id, this.course.dir, page);
    return this.store.raiseHand(this.id, this.course.dir, page, lastFailure ?? 'no check has failed on this page');
  }

  get hand(): Hand | null {
    return this.store.openHand(this.id, this.course.dir);
  }

  /** The instructor has answered the raised hand; false when none was up. */
  clearHand(): boolean {
    return this.store.clearHand(this.id, this.course.dir);
  }

  /** Time on a page, its check attempts and last failing message (for the instructor's "who is stuck"). */
  pageStats(pageId: string): PageStats {
    return this.store.pageStats(this.id, this.course.dir, pageId);
  }

  timeOnPages(): Record<string, number> {
    return this.store.timeOnPages(this.id, this.course.dir);
  }

  get helpRequests(): number {
    return this.store.helpRequests(this.id, this.course.dir);
  }

  /** The learner's progress; the runs are the blocks' (onLoad runs are counted apart, under ON_LOAD_COUNTER keys). */
  progress(): Progress {
    const progress = this.store.get(this.id, this.course.dir);
    return { ...progress, runs: Object.fromEntries(Object.entries(progress.runs).filter(([key]) => !key.startsWith(ON_LOAD_COUNTER))) };
  }

  /**
   * The learner is on `pageId`: remember it, and run each of its onLoad
   * commands that has runs left (maxInvocations, 1 by default: the first
   * visit only). Counted as Katapod counts them: per page and terminal in a
   * Katapod scenario, per command in course.json.
   */
  visit(pageId: string): { firstTime: boolean } {
    const page = this.page(pageId);
    this.touch();
    this.store.setCurrent(this.id, this.course.dir, page.id);
    const firstTime = this.store.markVisited(this.id, this.course.dir, page.id);
    page.onLoad.forEach((c, j) => {
      const counter = this.course.format === 'katapod' ? `${ON_LOAD_COUNTER}${page.id}_${c.writtenTerminal ?? c.terminal}` : `${ON_LOAD_COUNTER}${page.id}_${j}`;
      // A page visited before onLoad runs were counted ran its commands on that first visit.
      const count = this.store.runCount(this.id, this.course.dir, counter) || (firstTime ? 0 : 1);
      const max = c.maxInvocations ?? 1;
      if (max !== 'unlimited' && count >= max) return;
      this.store.recordRun(this.id, this.course.dir, counter);
      void this.terminal(c.terminal).type(c.command);
    });
    return { firstTime };
  }

  /** Run block `blockId` (`<page>:<terminal>-<digest>`, see course/blocks.ts) of the course in its terminal. */
  async run(blockId: string): Promise<RunOutcome> {
    const page = this.course.pages.find((p) => blockId.startsWith(`${p.id}:`));
    const block = page ? pageBlocks(this.course, page).find((b) => b.id === blockId) : undefined;
    if (!page || !block) return { ok: false, status: 404, error: `no block "${blockId}" in this course` };
    if (!block.execute) return { ok: false, status: 409, error: 'this block is display-only (execute: false)' };
    if (this.resetting) return { ok: false, status: 409, error: 'the environment is being reset; run the block again once the page has reloaded' };
    this.touch();
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
    this.touch();
    const result = await this.shell(page.check, { timeoutMs: page.checkTimeoutSeconds * 1000 });
    return this.store.recordCheck(this.id, this.course.dir, page.id, { ok: result.ok, output: result.output, timedOut: result.timedOut });
  }

  /**
   * Back to the start: stop any play and the setup, end every shell (and all
   * it started), run the course's reset command, forget progress, empty the
   * working folder, and set up again (not awaited; see `setupDone`). A second
   * reset asked for meanwhile shares the first one's result.
   */
  reset(): Promise<ResetResult> {
    if (this.closed) return Promise.reject(new Error(`environment ${this.id} is closed`));
    this.resetting ??= this.doReset().finally(() => (this.resetting = undefined));
    return this.resetting;
  }

  private async doReset(): Promise<ResetResult> {
    const started = Date.now();
    this.resets += 1;
    // the setup that follows brings an environment asleep back
    this.sleepState = 'awake';
    await this.stopActivities();
    await this.closeTerminals();
    let result = { ok: true, output: '' };
    const commandStarted = Date.now();
    if (this.course.reset) result = await this.shell(this.course.reset, { timeoutMs: RESET_TIMEOUT_MS });
    const commandSeconds = (Date.now() - commandStarted) / 1000;
    // A shell a browser re-opened during the reset saw the old state: end it too.
    await this.closeTerminals();
    this.store.clear(this.id, this.course.dir);
    await this.emptyWorkDir();
    this.touch();
    const seconds = (Date.now() - started) / 1000;
    for (const listener of this.resetListeners) listener();
    void this.setup();
    return { ok: result.ok, output: result.output, seconds, commandSeconds };
  }

  /**
   * Saves the environment as it is now as the state at the start of `page`
   * (course.json "states"): the course's save command writes into a folder
   * of the environment, and the shelf keeps a copy with the progress. In a
   * workstation the folder is in the learner's folder there, and its files
   * come to the lab as a tar stream through the workstation's `exec`.
   * Throws, with the command's last line, when it fails.
   */
  async saveState(page: string, shelf: StateShelf, signal?: AbortSignal): Promise<void> {
    const states = this.course.states;
    if (!states) throw new Error('this course declares no "states"');
    const { workstation } = this;
    // In a workstation the command writes into the learner's folder there, and the files come here through its exec stream.
    const out = workstation ? `"$LAB_ENV_DIR"/${STATE_OUT}` : shellQuote(join(this.workDir, STATE_OUT));
    const made = await this.shell(`rm -rf ${out} && mkdir -m 700 ${out}`, { timeoutMs: 30_000 });
    if (!made.ok) throw new Error(`no folder for the state: ${lastLine(made.output)}`);
    const here = join(this.workDir, STATE_OUT);
    try {
      const result = await this.shell(`LAB_STATE_DIR=${out}; export LAB_STATE_DIR; ${states.save}`, { timeoutMs: RESET_TIMEOUT_MS, signal });
      if (!result.ok) throw new Error(lastLine(result.output) || 'the course\'s save command failed');
      if (workstation) {
        rmSync(here, { recursive: true, force: true });
        mkdirSync(here, { mode: 0o700 });
        await workstation.download(STATE_OUT, here, MAX_STATE_BYTES, signal);
      }
      shelf.keep(page, here, this.progress());
    } finally {
      await this.shell(`rm -rf ${out}`, { timeoutMs: 30_000 });
      if (workstation) rmSync(here, { recursive: true, force: true });
    }
  }

  /**
   * A reset to `page` from its saved state: plays and the setup stopped,
   * terminals ended, as for a reset; then, instead of the course's reset
   * command, the state's files are put in the environment (into a
   * workstation as a tar stream, through its `input`) and the course's
   * restore command runs; progress becomes the state's, with the learner on
   * `page`; and the setup brings back what the page expects (for the ZDM
   * course: proxies, Prometheus, the API and the loop), as after a restart
   * of the lab. A restore that fails leaves progress cleared and the setup
   * of the first page running, as a reset does.
   */
  restoreTo(page: string, shelf: StateShelf): Promise<ResetResult> {
    if (this.closed) return Promise.reject(new Error(`environment ${this.id} is closed`));
    if (this.resetting) return Promise.reject(new Error(`environment ${this.id} is being reset`));
    const restoring = this.doRestore(page, shelf).finally(() => (this.resetting = undefined));
    this.resetting = restoring;
    return restoring;
  }

  private async doRestore(page: string, shelf: StateShelf): Promise<ResetResult> {
    const states = this.course.states;
    if (!states) throw new Error('this course declares no "states"');
    const started = Date.now();
    this.resets += 1;
    this.sleepState = 'awake';
    await this.stopActivities();
    await this.closeTerminals();
    this.store.clear(this.id, this.course.dir);
    await this.emptyWorkDir();
    const { workstation } = this;
    const here = join(this.workDir, STATE_IN);
    // In a workstation the state goes into the learner's folder there, through its exec stream.
    const dir = workstation ? `"$LAB_ENV_DIR"/${STATE_IN}` : shellQuote(here);
    const commandStarted = Date.now();
    let result: ShellResult;
    if (workstation) {
      rmSync(here, { recursive: true, force: true });
      mkdirSync(here, { mode: 0o700 });
      try {
        shelf.copyOut(page, here);
        // A failure here fails the restore as a failed command would: the setup of the first page follows.
        result = await workstation.upload(here, STATE_IN).catch((error: Error) => ({ ok: false, exitCode: null, timedOut: false, output: `${error.message}\n` }));
      } finally {
        rmSync(here, { recursive: true, force: true });
      }
    } else {
      result = await this.shell(`mkdir -m 755 ${dir}`, { timeoutMs: 30_000 });
      if (result.ok) shelf.copyOut(page, here);
    }
    if (result.ok) result = await this.shell(`LAB_STATE_DIR=${dir}; export LAB_STATE_DIR; ${states.restore}`, { timeoutMs: RESET_TIMEOUT_MS });
    const commandSeconds = (Date.now() - commandStarted) / 1000;
    await this.shell(`rm -rf ${dir}`, { timeoutMs: 30_000 });
    // A shell a browser re-opened meanwhile saw the old state: end it too.
    await this.closeTerminals();
    if (result.ok) this.store.restore(this.id, this.course.dir, shelf.progress(page), page);
    this.touch();
    for (const listener of this.resetListeners) listener();
    void this.setup();
    return { ok: result.ok, output: result.output, seconds: (Date.now() - started) / 1000, commandSeconds };
  }

  /**
   * The environment is removed for good: plays and setup stopped, shells
   * ended, the course's teardown command run (it stops the infrastructure),
   * progress forgotten and the working folder deleted.
   */
  async destroy(): Promise<{ ok: boolean; output: string }> {
    await this.resetting?.catch(() => undefined);
    this.closed = true;
    await this.stopActivities();
    await this.closeTerminals();
    let result = { ok: true, output: '' };
    if (this.course.teardown) result = await this.shell(this.course.teardown, { timeoutMs: RESET_TIMEOUT_MS });
    const destroyed = await this.workstation?.destroy();
    if (destroyed && !destroyed.ok) result = { ok: false, output: `${result.output}the workstation's removal failed:\n${destroyed.output}` };
    this.store.clear(this.id, this.course.dir);
    // The sandbox ends every process of the account first, so no learner's process can swap a folder for a link meanwhile.
    if (this.sandbox) await this.sandbox.close();
    rmSync(this.workDir, { recursive: true, force: true });
    await this.closeRecorders();
    if (this.recordingDir) rmSync(this.recordingDir, { recursive: true, force: true });
    for (const listener of this.resetListeners) listener();
    return { ok: result.ok, output: result.output };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopActivities();
    await this.closeTerminals();
    await this.closeRecorders();
  }

  private async closeRecorders(): Promise<void> {
    await Promise.all([...this.recorders.values()].map((r) => r.close()));
    this.recorders.clear();
  }

  /** Abort plays and the setup command, and wait (a little) for them to give up. */
  private async stopActivities(): Promise<void> {
    const running = [...this.activities];
    for (const a of running) a.controller.abort();
    this.setupRun?.controller.abort();
    const settled = Promise.allSettled([...running.map((a) => a.done), this.setupRun?.done]);
    await Promise.race([settled, new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  /**
   * The working folder holds only what the course's commands wrote there
   * (mode files, logs): all of it goes. An isolated environment's folder is
   * its account's, so the account empties it: the server never walks a
   * folder a learner's process may be changing.
   */
  private async emptyWorkDir(): Promise<void> {
    if (this.workstation) {
      // The learner's folder is the workstation's; the lab's own folder here (setup.log) is emptied below.
      const result = await this.shell('find "$LAB_ENV_DIR" -mindepth 1 -delete', { timeoutMs: 60_000 });
      if (!result.ok) console.error(`environment ${this.id}: emptying the workstation's folder left something: ${result.output.trim()}`);
    } else if (this.sandbox) {
      const result = await this.shell(`find ${shellQuote(this.workDir)} -mindepth 1 -delete`, { timeoutMs: 60_000, cwd: '/' });
      if (!result.ok) console.error(`environment ${this.id}: emptying ${this.workDir} left something: ${result.output.trim()}`);
      return;
    }
    for (const name of readdirSync(this.workDir)) rmSync(join(this.workDir, name), { recursive: true, force: true });
  }

  /**
   * One of the course's commands for this environment: as the environment's
   * own account when it is isolated (never as the lab's user), in its
   * workstation when it has one (there with the workstation's variables and
   * folder, and the per-call ones of `opts.env`).
   */
  shell(command: string, opts: { timeoutMs: number; cwd?: string; keepBackground?: boolean; signal?: AbortSignal; onOutput?: (text: string) => void; env?: Record<string, string> }): Promise<ShellResult> {
    const { workstation, sandbox } = this;
    const wrap: Wrap | undefined = workstation ? (c, a) => workstation.wrap(c, a, opts.env) : sandbox ? (c, a) => sandbox.wrap(c, a) : undefined;
    return runShell(command, { ...opts, cwd: opts.cwd ?? this.shellDir, env: { ...this.vars, ...opts.env }, wrap });
  }

  /**
   * Last terminal first, each once the one after it has ended: a course
   * lists its servers before their clients (the API, then the loop writing
   * to it), and a client that saw its server vanish would count a failure
   * the learner never caused.
   */
  private async closeTerminals(): Promise<void> {
    const order = this.course.terminals.map((t) => t.id);
    const sessions = [...this.sessions.entries()].sort(([a], [b]) => order.indexOf(b) - order.indexOf(a));
    this.sessions.clear();
    for (const [, session] of sessions) await session.close();
  }

  private page(pageId: string): PageSpec {
    const page = this.course.pages.find((p) => p.id === pageId);
    if (!page) throw new Error(`no page "${pageId}" in this course`);
    return page;
  }

  /** The course's setup command, once per environment start or reset; its output goes to setup.log. */
  private setup(idleOnly = false): Promise<void> {
    if (!this.course.setup || this.closed) return Promise.resolve();
    const controller = new AbortController();
    const done = this.runSetup(this.course.setup, controller.signal, idleOnly);
    const run = { controller, done };
    this.setupRun = run;
    return done.finally(() => {
      if (this.setupRun === run) this.setupRun = undefined;
    });
  }

  private async runSetup(command: string, signal: AbortSignal, idleOnly: boolean): Promise<void> {
    this.setupState = 'running';
    // O_NOFOLLOW: the folder may be a learner's, and a link planted there must not aim the server's write elsewhere.
    let log: { write(text: string): void; end(done: () => void): void } = { write: () => undefined, end: (done) => done() };
    try {
      const fd = openSync(join(this.workDir, 'setup.log'), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
      log = createWriteStream('', { fd }).on('error', (err) => console.error(`environment ${this.id}: setup.log: ${err.message}`));
    } catch (err) {
      console.error(`environment ${this.id}: no setup.log: ${(err as Error).message}`);
    }
    // The learner's page: the setup brings the environment to what that page expects (a restart of the lab resumes there).
    const page = this.progress().current ?? '';
    this.note = '';
    // Its workstation first, once per start of the lab; the course's setup runs there.
    let result: ShellResult | undefined;
    if (this.workstation && !this.workstationMade) {
      const made = await this.workstation.create({ signal, onOutput: (t) => log.write(t) });
      this.workstationMade = made.ok;
      if (!made.ok) {
        const why = `Setup failed: ${lastLine(made.output)}`;
        log.write(`${why}\n`);
        result = { ...made, output: `${made.output}\n${why}` };
      }
    }
    result ??= await this.shell(command, {
      timeoutMs: SETUP_TIMEOUT_MS,
      keepBackground: true,
      signal,
      onOutput: (t) => log.write(t),
      env: { LAB_PAGE: page },
    });
    // The log is whole before the setup says how it ended: whoever reads it then reads all of it.
    await new Promise<void>((done) => log.end(done));
    if (this.sleepState === 'waking') this.sleepState = 'awake';
    if (signal.aborted) return;
    if (result.ok) this.resume(page, idleOnly);
    this.note = lastLine(result.output);
    this.setupState = result.ok ? 'done' : 'failed';
    if (!result.ok) console.error(`environment ${this.id}: setup failed (see ${join(this.workDir, 'setup.log')}):\n${result.output.slice(-2000)}`);
  }
}

function lastLine(output: string): string {
  return stripVTControlCharacters(output).split('\n').map((l) => l.trim()).filter(Boolean).at(-1) ?? '';
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
