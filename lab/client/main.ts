/**
 * The browser client's entry: lay out the course pane and the terminals the
 * course declares (stacked or tabbed), then show pages as the URL hash says.
 * Showing a page fetches its HTML, marks the blocks already run, tells the
 * server (which runs onLoad commands the first time); clicking a block asks
 * the server to run it by id and marks it; the Check button runs the page's
 * check and shows pass or fail with its output. The course's panels, if it
 * has any, get tabs beside the terminals. A strip over a terminal says when
 * the instructor watches it or types in it (with a button to take the
 * keyboard back), and a panel above the terminals shows, read-only, the
 * terminal the instructor shows to the class. When the instructor gives
 * environments a lifetime, the header counts down to its end and offers to
 * extend it; an environment put to sleep after a while without activity
 * says so and wakes when the learner is back.
 */
import '@xterm/xterm/css/xterm.css';
import './style.css';
import type { CourseOutline, PageView } from '../server/course.js';
import { api, ENV, type ProgressView } from './api.js';
import { setupPanels } from './panels.js';
import { TerminalView } from './terminal.js';
import type { PresenceArgs } from '../terminals/protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const terminals = new Map<string, TerminalView>();
let course: CourseOutline;
let progress: ProgressView;
let current: PageView | undefined;

async function boot(): Promise<void> {
  [course, progress] = await Promise.all([api.course(), api.progress()]);
  document.title = course.title;
  layoutTerminals();
  void setupPanels($('terminal-pane'), ENV, () => terminals.forEach((t) => t.refit())).catch((err: Error) => console.error(err.message));
  renderStepList();
  $('back-button').onclick = () => back();
  $('next-button').onclick = () => next();
  $('check-button').onclick = () => void runCheck();
  $('reset-button').onclick = () => void resetEnvironment();
  $('help-button').onclick = () => void askForHelp();
  $('extend-button').onclick = () => void extendLifetime();
  $('wake-button').onclick = () => void wakeUp();
  $('page').addEventListener('click', onPageClick);
  window.addEventListener('hashchange', () => void show(pageFromHash()));
  window.addEventListener('resize', () => terminals.forEach((t) => t.refit()));
  showSetup(progress.setup, progress.setupNote);
  showHand(progress.hand);
  showBroadcast(progress.broadcast);
  showLifetime(progress.lifetime);
  // the learner is back: an environment asleep wakes up (the setup shows its progress)
  if (progress.lifetime.lifecycle === 'asleep') void wakeUp();
  watchResets(progress.generation);
  await show(pageFromHash() ?? progress.current ?? course.pages[0]!.id);
}

function pageFromHash(): string | undefined {
  const id = decodeURIComponent(location.hash.slice(1));
  return course.pages.some((p) => p.id === id) ? id : undefined;
}

// ---------------------------------------------------------------- terminals

function layoutTerminals(): void {
  const pane = $('terminal-pane');
  pane.classList.add(course.layout);
  const tabs = $('terminal-tabs');
  const box = $('terminals');
  tabs.hidden = course.layout !== 'tabbed';
  for (const spec of course.terminals) {
    const el = document.createElement('div');
    el.className = 'lab-terminal';
    el.dataset.terminal = spec.id;
    const title = document.createElement('div');
    title.className = 'lab-terminal-title';
    const name = document.createElement('span');
    name.textContent = spec.name;
    const status = document.createElement('span');
    status.className = 'lab-terminal-status';
    title.append(name, status);
    const host = document.createElement('div');
    host.className = 'xterm-host';
    const banner = document.createElement('div');
    banner.className = 'presence-banner';
    banner.setAttribute('role', 'status');
    banner.hidden = true;
    el.append(title, banner, host);
    box.append(el);
    if (course.layout === 'tabbed') {
      const tab = document.createElement('button');
      tab.type = 'button';
      tab.role = 'tab';
      tab.textContent = spec.name;
      tab.dataset.terminal = spec.id;
      tab.onclick = () => activateTab(spec.id);
      tabs.append(tab);
    }
    const view: TerminalView = new TerminalView(spec.id, host, status, ENV, { onPresence: (p) => showPresence(banner, view, p) });
    terminals.set(spec.id, view);
  }
  if (course.layout === 'tabbed') activateTab(course.terminals[0]!.id);
}

/** The strip over a terminal: the instructor watches it, types in it (the learner can take the keyboard back), or shows it to the class. */
function showPresence(banner: HTMLElement, view: TerminalView, p: PresenceArgs): void {
  const parts: string[] = [];
  if (p.control === 'instructor') parts.push('⌨ Your instructor has the keyboard of this terminal: your keys wait until you take it back.');
  else if (p.watching > 0) parts.push('Your instructor is watching this terminal.');
  if (p.shown) parts.push('It is shown to the class.');
  banner.hidden = parts.length === 0;
  banner.dataset.control = p.control;
  banner.textContent = parts.join(' ');
  if (p.control === 'instructor') {
    const take = document.createElement('button');
    take.type = 'button';
    take.className = 'take-back';
    take.textContent = 'Take the keyboard back';
    take.onclick = () => view.control(true);
    banner.append(' ', take);
  }
  const wasVisible = banner.dataset.visible === 'true';
  banner.dataset.visible = String(!banner.hidden);
  if (wasVisible !== !banner.hidden) view.refit();
}

/** The terminal the instructor shows to the class, read-only, above this page's terminals (polled with the progress). */
let shown: { view: TerminalView; since: number } | undefined;
function showBroadcast(broadcast: ProgressView['broadcast']): void {
  const panel = $('broadcast');
  if (shown && shown.since !== broadcast?.since) {
    shown.view.dispose();
    shown = undefined;
    terminals.forEach((t) => t.refit());
    $('broadcast-terminal').replaceChildren();
  }
  // a learner whose own terminal is shown sees it where it is, with its banner
  const visible = broadcast !== null && !broadcast.yours;
  panel.hidden = !visible;
  if (!visible || shown) return;
  $('broadcast-title').textContent = `Shown by your instructor: ${broadcast.name}`;
  const host = document.createElement('div');
  host.className = 'xterm-host';
  $('broadcast-terminal').append(host);
  shown = { view: new TerminalView('broadcast', host, $('broadcast-status'), ENV, { mode: 'broadcast' }), since: broadcast.since };
  terminals.forEach((t) => t.refit());
}

function activateTab(id: string): void {
  if (course.layout !== 'tabbed') return;
  for (const el of document.querySelectorAll<HTMLElement>('#terminals .lab-terminal, #terminal-tabs button')) {
    el.classList.toggle('active', el.dataset.terminal === id);
  }
  terminals.get(id)?.refit();
}

// ---------------------------------------------------------------- pages

async function show(id: string | undefined): Promise<void> {
  if (!id) return;
  if (location.hash.slice(1) !== encodeURIComponent(id)) history.replaceState(null, '', `#${encodeURIComponent(id)}`);
  const view = await fetchPage(id);
  current = view;
  const article = $('page');
  article.innerHTML = view.html;
  for (const b of view.blocks) markBlock(b.id, progress.runs[b.id] ?? 0);
  followed(id);
  const spine = mainPath();
  const at = spine.findIndex((p) => p.id === anchorOf(id));
  const branch = course.pages.find((p) => p.id === id)?.branchOf !== undefined;
  $('position').textContent = `${at + 1} / ${spine.length}${branch ? ' · alternative' : ''}`;
  ($('back-button') as HTMLButtonElement).disabled = trail.length <= 1 && at <= 0 && !branch;
  ($('next-button') as HTMLButtonElement).disabled = at >= spine.length - 1;
  $('check-box').hidden = !view.hasCheck;
  showCheckResult(progress.checks[id]);
  $('course-pane').scrollTop = 0;
  article.scrollTop = 0;
  progress.current = id;
  if (!progress.visited.includes(id)) progress.visited.push(id);
  renderStepList();
  await api.visit(id);
  const ahead = spine[at + 1];
  if (ahead) void fetchPage(ahead.id).catch(() => pages.delete(ahead.id));
}

/** Pages fetched so far; the next page is fetched ahead so Next feels instant. */
const pages = new Map<string, Promise<PageView>>();

function fetchPage(id: string): Promise<PageView> {
  let page = pages.get(id);
  if (!page) {
    page = api.page(id);
    pages.set(id, page);
    page.catch(() => pages.delete(id));
  }
  return page;
}

/**
 * Where Back and Next lead. The main path is the course's pages without the
 * pages that branch off it (alternatives reached by a link): Next goes to the
 * main page after the current one (after the one a branch came from), so it
 * never walks the learner into an alternative they did not choose. Back
 * retraces the learner's own path (kept for the tab's life in
 * sessionStorage), and off it, the main page before.
 */
const TRAIL_KEY = `lab-trail-${ENV}`;
const trail: string[] = (() => {
  try {
    const saved: unknown = JSON.parse(sessionStorage.getItem(TRAIL_KEY) ?? '[]');
    return Array.isArray(saved) ? saved.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
})();
let retracing = false;

function mainPath(): CourseOutline['pages'] {
  return course.pages.filter((p) => p.branchOf === undefined);
}

/** The main page a page belongs to: itself, or the one it branches from. */
function anchorOf(id: string): string {
  return course.pages.find((p) => p.id === id)?.branchOf ?? id;
}

/** The learner is on `id`: a step back drops the page left, any other move adds the page reached. */
function followed(id: string): void {
  if (retracing) retracing = false;
  else if (trail.at(-1) !== id) trail.push(id);
  if (trail.length > 200) trail.splice(0, trail.length - 200);
  sessionStorage.setItem(TRAIL_KEY, JSON.stringify(trail));
}

function next(): void {
  const spine = mainPath();
  const target = spine[spine.findIndex((p) => p.id === anchorOf(current?.id ?? '')) + 1];
  if (target) location.hash = encodeURIComponent(target.id);
}

function back(): void {
  let target: string | undefined;
  if (trail.length > 1 && trail.at(-1) === current?.id) {
    trail.pop();
    target = trail.at(-1);
    retracing = true;
  } else {
    const spine = mainPath();
    const id = current?.id ?? '';
    const at = spine.findIndex((p) => p.id === anchorOf(id));
    // From an alternative, back to the page it branches from; from a main page, the one before.
    target = anchorOf(id) !== id ? anchorOf(id) : spine[at - 1]?.id;
  }
  if (target) location.hash = encodeURIComponent(target);
}

function renderStepList(): void {
  const list = $('steps');
  const item = (p: CourseOutline['pages'][number]) => {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `#${encodeURIComponent(p.id)}`;
    a.textContent = p.title;
    li.append(a);
    li.classList.toggle('current', p.id === progress.current);
    li.classList.toggle('visited', progress.visited.includes(p.id));
    const check = progress.checks[p.id];
    if (check) li.classList.add(check.ok ? 'passed' : 'failed');
    return li;
  };
  const spine = mainPath();
  list.replaceChildren(
    ...spine.flatMap((p, n) => {
      // A page's alternatives follow it, marked as such: the learner picks one by its link on the page.
      const alternatives = course.pages.filter((b) => b.branchOf === p.id).map((b) => {
        const li = item(b);
        li.classList.add('alternative');
        li.title = `an alternative of "${p.title}", reached by a link on that page`;
        return li;
      });
      const main = item(p);
      // Numbered as steps of the main path, whatever alternatives come between.
      main.value = n + 1;
      return [main, ...alternatives];
    }),
  );
  const id = progress.current ?? '';
  const index = spine.findIndex((p) => p.id === anchorOf(id));
  const seen = course.pages.filter((p) => progress.visited.includes(p.id)).length;
  const title = course.pages.find((p) => p.id === id)?.title ?? '';
  $('steps-summary').textContent = `Step ${index + 1} of ${spine.length}: ${title} — ${seen} seen`;
}

// ---------------------------------------------------------------- blocks

function onPageClick(ev: MouseEvent): void {
  const target = ev.target as HTMLElement;
  const blockEl = target.closest<HTMLElement>('.lab-block');
  if (!blockEl) return;
  const block = current?.blocks.find((b) => b.id === blockEl.dataset.block);
  if (!block) return;
  if (target.closest('.lab-copy')) {
    void copy(block.command, target.closest('.lab-copy') as HTMLElement);
    return;
  }
  if (!block.execute || window.getSelection()?.toString()) return;
  void run(block.id, block.terminalId, blockEl);
}

async function run(blockId: string, terminalId: string, el: HTMLElement): Promise<void> {
  activateTab(terminalId);
  el.classList.add('running');
  try {
    const result = await api.run(blockId);
    if (result.ok) {
      progress.runs[blockId] = result.count;
      markBlock(blockId, result.count);
    } else {
      flash(el, result.error);
    }
  } catch (err) {
    flash(el, (err as Error).message);
  } finally {
    el.classList.remove('running');
  }
  terminals.get(terminalId)?.focus();
}

function markBlock(blockId: string, count: number): void {
  const el = document.getElementById(`block-${blockId}`);
  if (!el || count === 0) return;
  el.classList.add('executed');
  const state = el.querySelector('.lab-block-state');
  if (state) state.textContent = count === 1 ? '✓ ran' : `✓ ran ${count}×`;
}

function flash(el: HTMLElement, message: string): void {
  const state = el.querySelector('.lab-block-state');
  if (state) state.textContent = message;
  el.classList.add('refused');
  setTimeout(() => el.classList.remove('refused'), 1500);
}

async function copy(text: string, button: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => (button.textContent = 'Copy'), 1200);
}

// ---------------------------------------------------------------- checks, setup, reset

async function runCheck(): Promise<void> {
  if (!current) return;
  const page = current.id;
  const button = $('check-button') as HTMLButtonElement;
  button.disabled = true;
  button.textContent = 'Checking…';
  try {
    const result = await api.check(page);
    progress.checks[page] = result;
    if (current.id === page) showCheckResult(result);
  } catch (err) {
    showCheckResult({ ok: false, output: (err as Error).message, timedOut: false, at: Date.now() });
  } finally {
    button.disabled = false;
    button.textContent = 'Check';
    renderStepList();
  }
}

function showCheckResult(result: ProgressView['checks'][string] | undefined): void {
  const box = $('check-result');
  box.hidden = result === undefined;
  if (!result) return;
  box.className = result.ok ? 'pass' : 'fail';
  $('check-verdict').textContent = result.ok ? '✓ Check passed' : result.timedOut ? '✗ Check timed out' : '✗ Check failed';
  $('check-output').textContent = result.output.trim();
}

/** A raised hand stays up, and the button says so, until the instructor clears it (polled while up). */
function showHand(hand: ProgressView['hand']): void {
  const b = $<HTMLButtonElement>('help-button');
  b.disabled = hand !== null;
  b.textContent = hand ? '✋ Help is on its way' : 'Ask for help';
  b.classList.toggle('raised', hand !== null);
  if (hand) setTimeout(() => void api.progress().then((p) => showHand(p.hand)).catch(() => showHand(hand)), 5000);
}

async function askForHelp(): Promise<void> {
  const { hand } = await api.help();
  showHand(hand);
}

/** The setup's state, then for a minute its last line: what it did (after a restart of the lab, what it restored). */
function showSetup(state: string, note = ''): void {
  const el = $('setup-status');
  el.dataset.state = state;
  el.textContent = state === 'running' ? 'preparing the environment…' : state === 'failed' ? `environment setup failed: ${note || 'see setup.log'}` : note;
  if (state === 'running') setTimeout(() => void api.progress().then((p) => showSetup(p.setup, p.setupNote)), 3000);
  if (state === 'done' && note) setTimeout(() => el.dataset.state === 'done' && el.textContent === note && (el.textContent = ''), 60_000);
}

/** The environment's end (a countdown, and "extend" while the instructor allows it) and its sleep. */
let lifetime: ProgressView['lifetime'] | undefined;
function showLifetime(view: ProgressView['lifetime']): void {
  lifetime = view;
  const asleep = view.lifecycle === 'asleep' || view.lifecycle === 'going to sleep';
  const banner = $('sleep-banner');
  banner.hidden = !asleep;
  // what the setup said before it slept no longer holds
  if (asleep && $('setup-status').dataset.state !== 'running') $('setup-status').textContent = '';
  $('lifetime').hidden = view.expiresAt === null;
  $<HTMLButtonElement>('extend-button').hidden = !view.canExtend;
  tickLifetime();
}

function tickLifetime(): void {
  if (!lifetime || lifetime.expiresAt === null) return;
  const left = Math.max(0, lifetime.expiresAt - Date.now());
  const minutes = Math.floor(left / 60_000);
  const el = $('lifetime-left');
  el.textContent = left === 0 ? 'this environment is ending' : `ends in ${minutes >= 1 ? `${minutes} min` : `${Math.ceil(left / 1000)} s`}`;
  $('lifetime').dataset.state = lifetime.lifecycle === 'expiring' || left < 10 * 60_000 ? 'expiring' : 'running';
}
setInterval(tickLifetime, 1000);

async function extendLifetime(): Promise<void> {
  try {
    showLifetime(await api.extend());
  } catch (err) {
    $('lifetime-left').textContent = (err as Error).message;
  }
}

async function wakeUp(): Promise<void> {
  showLifetime(await api.wake());
  showSetup('running');
}

/** A reset taken elsewhere (the instructor console, another tab) starts this page over on the first page. */
function watchResets(generation: number): void {
  const timer = setInterval(() => {
    api.progress().then(
      (p) => {
        showBroadcast(p.broadcast);
        showLifetime(p.lifetime);
        if (p.setup === 'running' && $('setup-status').dataset.state !== 'running') showSetup(p.setup, p.setupNote);
        if (p.generation === generation) return;
        clearInterval(timer);
        location.hash = '';
        location.reload();
      },
      (err: Error) => {
        const el = $('setup-status');
        el.dataset.state = 'failed';
        el.textContent = `this environment does not answer: ${err.message}`;
      },
    );
  }, 3000);
}

async function resetEnvironment(): Promise<void> {
  if (!confirm('Reset the environment? Every terminal ends, the course resets, and your progress starts over.')) return;
  ($('reset-button') as HTMLButtonElement).disabled = true;
  await api.reset();
  location.hash = '';
  location.reload();
}

/** For tests and debugging: what each terminal holds. */
(window as unknown as { lab: unknown }).lab = {
  terminalText: (id: string) => terminals.get(id)?.text() ?? '',
  xterm: (id: string) => terminals.get(id)?.term,
  broadcastText: () => shown?.view.text() ?? '',
};

boot().catch((err: Error) => {
  $('page').textContent = `The lab could not start: ${err.message}`;
});
