/**
 * The autopilot: plays a course in an environment's real terminals, page by
 * page, as a learner would click through it. Each page is shown (its onLoad
 * commands run), each runnable block is run in its terminal and waited for,
 * then the page's check runs until it passes. A block is waited for by the
 * output it declares (`waitFor`, in `waitForTerminal`, for `waitForSeconds`),
 * else until its command has ended and the shell is back at its prompt.
 * Everything goes through the environment, so runs, checks and the current
 * page are recorded exactly as a learner's clicks record them. Instructors use
 * it to fast-forward an environment (`zdm-lab course play --to step6`), tests
 * to reach a page; the waiting rules are exported for tests whose clicks are a
 * browser's. It knows nothing about any particular course.
 */
import type { Environment } from '../environments/environment.js';
import { pageBlocks } from '../course/page.js';
import type { Block, Course, PageSpec } from '../course/schema.js';
import type { CheckResult, Progress } from '../progress/store.js';
import { TerminalWatch } from './watch.js';

/** How long a block's `waitFor` output may take when the block names no time. */
export const DEFAULT_WAIT_SECONDS = 60;
/** How long a block without `waitFor` may take to end when the block names no time. */
export const DEFAULT_RUN_SECONDS = 300;
/** How long the shell must stay at its prompt before a command counts as ended. */
export const SETTLE_MS = 1000;
/** A failing check is tried again (a learner clicks Check again) until this long after the first try… */
export const CHECK_PATIENCE_MS = 30_000;
/** …this long apart. */
export const CHECK_RETRY_MS = 3000;
const POLL_MS = 100;

export interface PlayOptions {
  /** Stop when this page is reached: the pages before it are played, it becomes the current page. Default: play every page. */
  to?: string;
  /** One line per thing done, for a console or a log. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
  /**
   * Called at the start of each page the play reaches after its first (the
   * earlier pages played, their checks passed), and at `to`: where a saved
   * state of the course is taken (environments/states.ts).
   */
  atPageStart?: (page: PageSpec) => Promise<void>;
}

export interface PagePlayed {
  id: string;
  title: string;
  /** Already done before the play started (its check had passed): nothing was run. */
  skipped: boolean;
  /** Ids of the blocks that were run. */
  blocks: string[];
  check?: CheckResult;
}

export interface PlayResult {
  pages: PagePlayed[];
  /** The learner's current page at the end. */
  current: string;
  seconds: number;
}

/** Playing stopped: on which page and block, and why, in words an instructor can act on. */
export class PlayError extends Error {
  constructor(
    message: string,
    readonly pageId?: string,
    readonly blockId?: string,
  ) {
    super(message);
    this.name = 'PlayError';
  }
}

/** A block about to be run, watched from before the run so none of its output is missed. */
export interface BlockWait {
  readonly block: Block;
  /** Resolves once the block's output came or its command ended; rejects with a PlayError saying what did not come. */
  settled(signal?: AbortSignal): Promise<void>;
  cancel(): void;
}

/** Start watching for `block`; call before the block is run (by the autopilot or by a click). */
export function expectBlock(env: Environment, block: Block): BlockWait {
  const where = describeBlock(env.course, block);
  const watchedId = block.waitFor !== undefined ? (block.waitForTerminal ?? block.terminalId) : block.terminalId;
  const watch = new TerminalWatch(env.terminal(watchedId));
  return {
    block,
    cancel: () => watch.stop(),
    async settled(signal) {
      const since = Date.now();
      try {
        if (block.waitFor !== undefined) await waitForOutput(watch, watchedId, new RegExp(block.waitFor, 'm'), (block.waitForSeconds ?? DEFAULT_WAIT_SECONDS) * 1000, signal);
        else await waitForEnd(watch, block, (block.waitForSeconds ?? DEFAULT_RUN_SECONDS) * 1000, since, signal);
      } catch (err) {
        throw new PlayError(`${where}: ${(err as Error).message}`, block.pageId, block.id);
      } finally {
        watch.stop();
      }
    },
  };
}

/** Run the page's check until it passes or the patience is spent, as a learner clicking Check again would. */
export async function checkUntilPassed(
  env: Environment,
  pageId: string,
  options: { signal?: AbortSignal; onAttempt?: (result: CheckResult, attempt: number) => void } = {},
): Promise<CheckResult> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const result = await env.check(pageId);
    options.onAttempt?.(result, attempt);
    if (result.ok || result.timedOut || Date.now() - started >= CHECK_PATIENCE_MS) return result;
    await pause(CHECK_RETRY_MS, options.signal);
  }
}

export async function playCourse(env: Environment, options: PlayOptions = {}): Promise<PlayResult> {
  const started = Date.now();
  const say = options.onProgress ?? (() => {});
  const { course } = env;
  const { signal } = options;
  // The main path: a page that branches off it is played only when asked for, after the page it branches from.
  const path = course.pages.filter((p) => p.branchOf === undefined);
  let end = path.length;
  if (options.to !== undefined) {
    const target = course.pages.find((p) => p.id === options.to);
    if (!target) throw new PlayError(`no page "${options.to}" in this course; its pages are: ${course.pages.map((p) => p.id).join(', ')}`);
    end = target.branchOf === undefined ? path.indexOf(target) : path.findIndex((p) => p.id === target.branchOf) + 1;
  }

  await waitForSetup(env, say, signal);
  const progress = env.progress();
  const played: PagePlayed[] = [];
  let first = 0;
  while (first < end && pageDone(course, path[first]!, progress)) {
    const page = path[first]!;
    say(`${page.id}: already done (${page.check ? 'its check passed' : 'every block ran'}), skipped`);
    played.push({ id: page.id, title: page.title, skipped: true, blocks: [], check: progress.checks[page.id] });
    first++;
  }
  for (const [i, page] of path.slice(first, end).entries()) {
    if (i > 0) await options.atPageStart?.(page);
    played.push(await playPage(env, page, say, signal));
  }
  if (end < path.length && end > first && path[end]!.id === options.to) await options.atPageStart?.(path[end]!);

  const last = options.to ?? path[Math.max(0, end - 1)]!.id;
  if (options.to !== undefined) {
    env.visit(options.to);
    say(`${options.to}: reached, the learner's current page`);
  }
  return { pages: played, current: last, seconds: Math.round((Date.now() - started) / 1000) };
}

async function playPage(env: Environment, page: PageSpec, say: (line: string) => void, signal?: AbortSignal): Promise<PagePlayed> {
  const where = describePage(page);
  stopIfAborted(signal, where);
  say(`${page.id}: ${page.title}`);
  env.visit(page.id);
  const blocks = pageBlocks(env.course, page).filter((b) => b.execute && b.maxInvocations !== 0);
  const ran: string[] = [];
  for (const block of blocks) {
    stopIfAborted(signal, describeBlock(env.course, block));
    say(`  ▶ ${blockPlace(block)} [${block.terminalId}] ${firstLine(block.command)}`);
    const wait = expectBlock(env, block);
    try {
      const outcome = await env.run(block.id);
      if (!outcome.ok) throw new PlayError(`${describeBlock(env.course, block)}: the lab refused to run it: ${outcome.error}`, page.id, block.id);
      await wait.settled(signal);
    } finally {
      wait.cancel();
    }
    ran.push(block.id);
  }
  if (!page.check) return { id: page.id, title: page.title, skipped: false, blocks: ran };
  const check = await checkUntilPassed(env, page.id, {
    signal,
    onAttempt: (r, n) => say(`  ${r.ok ? '✔' : '✘'} check${n > 1 ? ` (try ${n})` : ''}: ${firstLine(r.output.trim(), 300) || (r.ok ? 'passed' : 'failed')}`),
  });
  if (!check.ok) {
    throw new PlayError(`${where}: its check ${check.timedOut ? 'timed out' : 'still fails'} after every block ran: ${check.output.trim()}`, page.id);
  }
  return { id: page.id, title: page.title, skipped: false, blocks: ran, check };
}

/** A page needs no playing when its latest check passed (or, without a check, each of its blocks ran). */
function pageDone(course: Course, page: PageSpec, progress: Progress): boolean {
  if (page.check) return progress.checks[page.id]?.ok === true;
  const blocks = pageBlocks(course, page).filter((b) => b.execute && b.maxInvocations !== 0);
  return blocks.length > 0 && blocks.every((b) => (progress.runs[b.id] ?? 0) > 0);
}

async function waitForSetup(env: Environment, say: (line: string) => void, signal?: AbortSignal): Promise<void> {
  if (env.setupStatus === 'running') say(`waiting for environment ${env.id}'s setup to finish (${env.workDir}/setup.log)`);
  while (env.setupStatus === 'running') await pause(1000, signal);
  if (env.setupStatus === 'failed') throw new PlayError(`environment ${env.id}'s setup failed, so nothing was played: see ${env.workDir}/setup.log, then reset the environment`);
}

async function waitForOutput(watch: TerminalWatch, terminalId: string, pattern: RegExp, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(watch.output)) {
    if (watch.ended) throw new Error(`the shell of terminal "${terminalId}" ended before it showed ${pattern}`);
    if (Date.now() > deadline) throw new Error(`terminal "${terminalId}" did not show ${pattern} within ${timeoutMs / 1000} s; its last lines:\n${watch.tail() || '(nothing)'}`);
    await pause(POLL_MS, signal);
  }
}

/**
 * The command has ended when the shell has taken it (its echo came, or a
 * program ran in the foreground) and the shell has stayed in the foreground
 * for SETTLE_MS since. A shell that shows neither within a few seconds ran a
 * builtin so fast that nothing could be seen: it counts as taken too.
 */
async function waitForEnd(watch: TerminalWatch, block: Block, timeoutMs: number, since: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const echo = squash(lastLine(block.command)).slice(-24);
  let taken = false;
  let idleSince: number | undefined;
  for (;;) {
    if (watch.ended) return;
    const idle = watch.shellInForeground();
    taken ||= !idle || (echo !== '' && squash(watch.output).includes(echo)) || Date.now() - since > 5000;
    if (taken && idle) {
      idleSince ??= Date.now();
      if (Date.now() - idleSince >= SETTLE_MS) return;
    } else {
      idleSince = undefined;
    }
    if (Date.now() > deadline) {
      throw new Error(`the command in terminal "${block.terminalId}" did not end within ${timeoutMs / 1000} s (a block that keeps running needs "waitFor"); its last lines:\n${watch.tail() || '(nothing)'}`);
    }
    await pause(POLL_MS, signal);
  }
}

export function describeBlock(course: Course, block: Block): string {
  const page = course.pages.find((p) => p.id === block.pageId);
  return `${page ? describePage(page) : `page "${block.pageId}"`}, block ${blockPlace(block)} (terminal "${block.terminalId}": ${firstLine(block.command)})`;
}

/** Where a block is, for people: its page and its place there, counted from 0 (`step6:0`). */
export function blockPlace(block: Block): string {
  return `${block.pageId}:${block.index}`;
}

function describePage(page: PageSpec): string {
  return `page "${page.id}" (${page.title})`;
}

function firstLine(text: string, max = 80): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function lastLine(text: string): string {
  return text.split('\n').filter((l) => l.trim() !== '').pop() ?? '';
}

function squash(text: string): string {
  return text.replace(/\s+/g, '');
}

function stopIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new PlayError(`stopped before ${where}: the play was cancelled`);
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new PlayError('the play was cancelled'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new PlayError('the play was cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
