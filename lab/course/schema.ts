/**
 * The course format, as types. A course is either a `course.json` in a
 * directory of markdown pages, or a Katapod scenario directory
 * (`.katapod_config.json` + `intro.md`, `step1.md`…, `finish.md`). Both load
 * into the same `Course`; everything after loading (renderer, server, client)
 * sees only `Course`, never the file it came from.
 *
 * course.json, documented by example:
 *
 *   {
 *     "title": "Zero Downtime Migration",
 *     "terminals": [{ "id": "host", "name": "host" }, { "id": "api", "name": "API log" }],
 *     "layout": "stacked",                      // or "tabbed"; default "stacked"
 *     "prepare": "./prepare.sh",                // optional: run once when the server starts, as the server's
 *                                               //   own user, before any environment's setup (shared downloads)
 *     "setup": "./setup.sh",                    // optional: run when an environment starts (each server
 *                                               //   start) and after a reset, so it must be idempotent;
 *                                               //   its output goes to <env dir>/setup.log
 *     "reset": "./reset.sh",                    // optional: run when an environment is reset, after its
 *                                               //   terminals have ended
 *     "teardown": "./teardown.sh",              // optional: run when an instructor destroys an environment
 *     "suspend": "./suspend.sh",                // optional: run when an idle environment is put to sleep, after
 *                                               //   its terminals ended: stop what costs memory, keep the data;
 *                                               //   the learner's return runs the setup (and "resume") again
 *     "status": "./status.sh",                  // optional: prints the health of the environment's parts as
 *                                               //   JSON [{"name", "state": "up"|"starting"|"down", "detail"?}]
 *     "states": {                               // optional: saved states, so a reset to page N restores
 *       "save": "./state.sh save",              //   instead of replaying: "save" stores the environment (at
 *       "restore": "./state.sh restore"         //   the start of a page, when the autopilot plays from the
 *     },                                        //   first page) into $LAB_STATE_DIR; "restore" takes it back
 *     "resume": [                               // optional: after a restart of the lab, once the setup has
 *       { "terminal": "api", "command": "./api.sh",  //   brought the environment back, what the learner's page
 *         "from": "step2", "until": "cleanup" }      //   expects running in a terminal is started again there,
 *     ],                                        //   for pages from "from" up to (not including) "until"
 *     "pages": [
 *       {
 *         "id": "intro", "file": "intro.md", "title": "Introduction",
 *         "onLoad": [{ "terminal": "host", "command": "cd ~" }],   // run the first time the page is shown
 *                                                                   //   ("maxInvocations": 2 or "unlimited": on more visits)
 *         "check": "./checks/intro.sh",                             // optional: the page's Check button
 *         "checkTimeoutSeconds": 60,                                // default 60
 *         "confirmsRestore": false                                  // optional: the check proves what happened, not a
 *                                                                   //   state, so a restored later page is confirmed by
 *                                                                   //   the check before this one (see "states")
 *       }
 *     ],
 *     "panels": [                              // optional: views in tabs beside the terminals
 *       { "id": "monitoring", "title": "Monitoring",
 *         "module": "panels/monitoring.ts",     // server side: exports createPanel({ id, vars })
 *         "client": "panels/monitoring-view.ts" }  // browser side: exports mount(host, { dataUrl })
 *     ]
 *   }
 *
 * Shell commands (setup, reset, check) run with `bash -c` in the environment's
 * working directory, with the environment's variables (LAB_ENV, LAB_COURSE_DIR,
 * LAB_ENV_DIR). course.json is checked against one schema (course-json.ts):
 * an unknown key is an error, with the known key it is closest to.
 */

export type Layout = 'stacked' | 'tabbed';

/** A terminal the course declares: `id` is what blocks name, `name` is its label. */
export interface TerminalSpec {
  id: string;
  name: string;
}

/** A command typed into a terminal when a page is shown: on the first visit, or on as many as `maxInvocations` says. */
export interface OnLoadCommand {
  terminal: string;
  command: string;
  /**
   * How many visits of the page run it (Katapod's onLoadCommands key; absent:
   * 1, the first visit only). It is counted per page and terminal in a
   * Katapod scenario, as Katapod counts it, and per command in course.json.
   */
  maxInvocations?: number | 'unlimited';
  /** The terminal id as the scenario wrote it, when it named one it does not declare (the command runs in the first terminal; Katapod counts it under the written name). */
  writtenTerminal?: string;
}

export interface PageSpec {
  id: string;
  title: string;
  /** Path of the markdown file, relative to the course directory. */
  file: string;
  onLoad: OnLoadCommand[];
  check?: string;
  checkTimeoutSeconds: number;
  /**
   * false for a check that proves what happened rather than a state (say,
   * writes that failed since the proxies started), which a restored state
   * does not bring back: a reset restoring a later page confirms it with
   * the check of an earlier page instead of this one.
   */
  confirmsRestore?: false;
  /**
   * A page off the course's main path, reached only by a link (in a Katapod
   * scenario: a page not named intro, stepN or finish, such as one of two
   * alternatives of a step): the main page it branches from. Next and Back
   * never lead into it; the learner's own path does.
   */
  branchOf?: string;
}

/**
 * A view the course adds beside its terminals, in its own tab. `module` (on
 * the server, relative to the course directory) exports
 * `createPanel({ id, vars })` returning `{ data(), close?() }`, created the
 * first time an environment asks for the panel; `GET /api/env/:k/<id>`
 * answers `data()` as JSON. `client` (bundled for the browser) exports
 * `mount(host, { dataUrl })`, called the first time the tab is shown.
 */
export interface PanelSpec {
  id: string;
  title: string;
  module: string;
  client: string;
}

export interface Course {
  /** Absolute path of the course directory. */
  dir: string;
  format: 'course.json' | 'katapod';
  title: string;
  terminals: TerminalSpec[];
  layout: Layout;
  /** Run once per server start, as the lab's own user, before any environment's setup: what every environment shares (downloads into a cache the learners' accounts may only read). */
  prepare?: string;
  setup?: string;
  reset?: string;
  teardown?: string;
  /** Stops an idle environment's parts, keeping their data; the setup brings them back. */
  suspend?: string;
  status?: string;
  /** Started again in their terminals after a restart of the lab, when the learner's page is in their range. */
  resume: ResumeCommand[];
  /** Saves and restores an environment's state at the start of a page (lab/environments/states.ts). */
  states?: { save: string; restore: string };
  pages: PageSpec[];
  panels: PanelSpec[];
  environments: EnvironmentSpec;
}

/**
 * What one learner environment of the course is, as the engine needs to
 * know it: the numbers environments may have (a course whose
 * infrastructure gives each number its own addresses has a range), and the
 * memory one needs once running (for the instructor's capacity check).
 * `"environments": {"first": 1, "last": 254, "memoryGiB": 2.1, "cpus": 2}` in
 * course.json (an isolated environment's budget is that memory and CPU); a course that says nothing gets any positive number and the
 * memory of a few shells.
 */
export interface EnvironmentSpec {
  first: number;
  last: number;
  memoryBytes: number;
  /** CPUs' worth of time one isolated environment may use (`"cpus"`); undefined: no cap beyond a fair share. */
  cpus?: number;
}

export const DEFAULT_ENVIRONMENTS: EnvironmentSpec = { first: 1, last: 9999, memoryBytes: 256 * 1024 ** 2 };

/**
 * What a page expects running in a terminal (a server, a loop), started
 * again there when the lab restarts with the learner on a page from `from`
 * up to, not including, `until` (to the end without it). The setup runs
 * first, with the learner's page in LAB_PAGE, so that it can bring back
 * what these depend on.
 */
export interface ResumeCommand {
  terminal: string;
  command: string;
  from: string;
  until?: string;
}

/** The macros a block may ask for before its command (Katapod's names). */
export type Macro = 'ctrl_c' | 'no_op';
export const MACROS: readonly Macro[] = ['ctrl_c', 'no_op'];

/**
 * A fenced block after its `### termId` / `### {json}` info line is read.
 * `waitFor`, `waitForTerminal` and `waitForSeconds` are our extension: when
 * the block is played automatically (lab/autopilot/), what output to wait for
 * (a regex), in which terminal (default the block's own), and for how long.
 * Without `waitFor`, playing waits for the command to end. Katapod ignores
 * these keys; so does a learner's click.
 */
export interface Block {
  /**
   * `<pageId>:<terminalId>-<digest of terminal and command>`, `.2`, `.3` … for
   * the second, third identical block of the page (blocks.ts): it stays the
   * same when other blocks of the page are added, moved or removed.
   */
  id: string;
  pageId: string;
  /** Its place among the page's blocks (the i-th fence). */
  index: number;
  terminalId: string;
  command: string;
  language: string;
  execute: boolean;
  /** null = unlimited. */
  maxInvocations: number | null;
  macrosBefore: Macro[];
  backgroundColor?: string;
  waitFor?: string;
  waitForTerminal?: string;
  waitForSeconds?: number;
}

/** One thing wrong with a course, where it is. `line` is 1-based; 0 = whole file. */
/**
 * Something the loader found. An error means the course cannot run as
 * written (malformed JSON, a page file missing, a link to nothing, a wrong
 * key in our own format); a warning is something Katapod tolerates at run
 * time, and the lab does what Katapod does (an unknown terminal id runs in
 * the first terminal, say).
 */
export interface CourseProblem {
  file: string;
  line: number;
  severity: 'error' | 'warning';
  message: string;
}

export function formatProblem(p: CourseProblem): string {
  return `${p.line > 0 ? `${p.file}:${p.line}` : p.file}: ${p.severity}: ${p.message}`;
}

export function errorsOf(problems: CourseProblem[]): CourseProblem[] {
  return problems.filter((p) => p.severity === 'error');
}

/** Raised when a course cannot be used at all; carries every error found. */
export class CourseError extends Error {
  constructor(readonly problems: CourseProblem[]) {
    super(`the course has ${problems.length} problem(s):\n` + problems.map(formatProblem).join('\n'));
    this.name = 'CourseError';
  }
}
