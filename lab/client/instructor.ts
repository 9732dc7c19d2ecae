/**
 * The instructor console in the browser: a table of every learner
 * environment, refreshed every two seconds from the instructor API, the rows
 * that need attention first (a raised hand, a failed setup, a part down, a
 * check that keeps failing, a long time on one page) — learner, current step,
 * time and check attempts on it with the last failing message, blocks run,
 * checks passed, the health of each part as the course reports it, last
 * activity, and what an action is doing right now (a reset to a page shows
 * the autopilot's latest line). Each row can be reset, reset to a page, or
 * destroyed, its raised hand cleared and its invite link copied; the same
 * resets can be taken for every row at once, and the class's progress
 * exported as CSV.
 *
 * Any terminal of a row can be watched live in a panel under the table
 * (read-only, with what the terminal still holds), taken over with one click
 * and handed back, and shown to the whole class (each learner page shows it
 * read-only until the instructor stops). The instructor keeps a number of
 * warm seats (environments set up before learners arrive) and sees how many
 * are ready, starting and in use, and sets how long environments live (an
 * idle time after which they sleep, a lifetime, how far learners may extend
 * it); each row shows whether its environment sleeps, wakes or ends soon,
 * and can be extended. An isolated environment's row shows its memory in
 * use against its budget; **Budget** opens a form under the table with its
 * memory and CPU budget, which the instructor changes there (the lab applies
 * it to the running environment at once, or says why not). Each terminal's session is recorded:
 * the console plays a row's recordings back (asciinema-player) and downloads
 * them as asciicast files.
 */
import '@xterm/xterm/css/xterm.css';
import 'asciinema-player/dist/bundle/asciinema-player.css';
import * as AsciinemaPlayer from 'asciinema-player';
import './instructor.css';
import type { PresenceArgs } from '../terminals/protocol.js';
import { TerminalView } from './terminal.js';
import type { EnvironmentList, EnvironmentView, InstructorEvent, RecordingView } from '../server/instructor.js';
import { requestJson } from './http.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const REFRESH_MS = 2000;

let list: EnvironmentList | undefined;
/** Rows whose action this page started and is waiting for (buttons stay disabled). */
const busy = new Set<number>();
/** The lifetime rules' fields the instructor has typed in since the last apply: a refresh leaves them as typed. */
const editedRules = new Set<string>();
/** The page picked in each row's "reset to" list, kept across refreshes. */
const chosen = new Map<number, string>();

const call = requestJson;

/** A reset streams its progress; the table shows it through the environment's activity, so only the end matters here. */
async function reset(env: number, to?: string): Promise<void> {
  busy.add(env);
  render();
  try {
    const res = await fetch(`/api/instructor/environments/${env}/reset`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(to ? { to } : {}),
      credentials: 'same-origin',
    });
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      throw new Error(body.error ?? `${res.status} ${res.statusText}`);
    }
    const lines = (await res.text()).trim().split('\n');
    const last = JSON.parse(lines.at(-1) ?? '{}') as InstructorEvent;
    if (last.type === 'error') throw new Error(last.message);
  } catch (err) {
    message(`environment ${env}: ${(err as Error).message}`, true);
  } finally {
    busy.delete(env);
    await refresh();
  }
}

async function destroy(env: number, name: string): Promise<void> {
  if (!confirm(`Destroy environment ${env} (${name})? Its terminals, infrastructure and progress are removed and the invite link stops working.`)) return;
  busy.add(env);
  render();
  try {
    await call('DELETE', `/api/instructor/environments/${env}`);
  } catch (err) {
    message(`environment ${env}: ${(err as Error).message}`, true);
  } finally {
    busy.delete(env);
    await refresh();
  }
}

async function create(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const name = $<HTMLInputElement>('create-name').value.trim();
  const envText = $<HTMLInputElement>('create-env').value.trim();
  const button = $<HTMLButtonElement>('create-button');
  button.disabled = true;
  try {
    const created = await call<{ env: number; name: string; inviteUrl: string; warm: boolean }>('POST', '/api/instructor/environments', {
      ...(name ? { name } : {}),
      ...(envText ? { env: Number(envText) } : {}),
    });
    const how = created.warm ? ' from a warm seat, ready now' : '';
    message(`environment ${created.env} created for ${created.name}${how}; send them their invite link (Copy link in its row)`, false);
    $<HTMLInputElement>('create-name').value = '';
    $<HTMLInputElement>('create-env').value = '';
  } catch (err) {
    message((err as Error).message, true);
  } finally {
    button.disabled = false;
    await refresh();
  }
}

function message(text: string, error: boolean): void {
  const el = $('create-message');
  el.textContent = text;
  el.classList.toggle('error', error);
}

async function refresh(): Promise<void> {
  try {
    list = await call<EnvironmentList>('GET', '/api/instructor/environments');
  } catch (err) {
    message(`the lab server does not answer: ${(err as Error).message}`, true);
    return;
  }
  render();
}

function pageOptions(select: HTMLSelectElement): void {
  if (!list || select.options.length > 0) return;
  for (const p of list.course.pages) select.append(new Option(`${p.id}: ${p.title}`, p.id));
}

function render(): void {
  if (!list) return;
  $('capacity').textContent = `${list.environments.length} environment(s); ${list.capacityText}`;
  pageOptions($<HTMLSelectElement>('reset-all-to'));
  for (const [id, key] of [['idle-minutes', 'idleMinutes'], ['lifetime-minutes', 'lifetimeMinutes'], ['extend-limit-minutes', 'extendLimitMinutes']] as const) {
    const input = $<HTMLInputElement>(id);
    // a rule the instructor is editing keeps what they typed until they apply it
    if (document.activeElement !== input && !editedRules.has(id)) input.value = String(list.rules[key]);
  }
  $<HTMLInputElement>('idle-minutes').disabled = !list.canSleep;
  if (!list.canSleep) $<HTMLInputElement>('idle-minutes').title = 'this course declares no suspend command, so its environments cannot sleep';
  const seats = list.seats;
  const count = $<HTMLInputElement>('seats-count');
  if (document.activeElement !== count) count.value = String(seats.reserved);
  const state = $('seats-state');
  state.textContent =
    `${seats.ready} ready · ${seats.starting} starting · ${seats.inUse} in use` + (seats.failed ? ` · ${seats.failed} failed` : '') + (seats.short ? ` — ${seats.short}` : '');
  state.classList.toggle('error', seats.short !== null || seats.failed > 0);
  $('empty').hidden = list.environments.length > 0;
  const body = $('environments').querySelector('tbody')!;
  body.replaceChildren(...list.environments.map(row));
  showBroadcast();
  // the watched environment was destroyed
  if (watching && !list.environments.some((e) => e.env === watching!.env)) closeWatch();
  showBudget();
}

function row(e: EnvironmentView): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.env = String(e.env);
  const cell = (text: string, cls?: string) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  };
  cell(String(e.env), 'num env');
  const who = cell(e.name, 'learner');
  const copy = button('Copy link', 'invite', () => void navigator.clipboard.writeText(e.inviteUrl).then(() => (copy.textContent = 'Copied')));
  copy.title = e.inviteUrl;
  who.append(document.createElement('br'), copy);
  const attention = cell('', 'attention');
  if (e.hand) {
    const hand = chip(`✋ ${e.hand.page}: ${e.hand.message}`, 'hand');
    hand.title = `asked for help ${ago(e.hand.at)} on ${e.hand.page}; the last failing check said: ${e.hand.message}`;
    attention.append(hand, button('Clear', 'clear-hand', () => void clearHand(e.env)));
  } else if (e.attention) attention.append(chip(e.attention, 'starting'));
  cell(e.step === null ? 'not started' : `${e.step}/${e.pages} ${e.currentTitle ?? ''}`, 'step');
  const onPage = cell(e.current ? `${minutes(e.secondsOnPage)}${e.checkAttempts ? ` · ${e.checkAttempts} check${e.checkAttempts > 1 ? 's' : ''}` : ''}` : '—', 'on-page');
  if (e.lastFailure) {
    const last = document.createElement('div');
    last.className = 'last-failure';
    last.textContent = e.lastFailure;
    onPage.append(last);
  }
  cell(String(e.blocksRun), 'num blocks');
  cell(`${e.checksPassed}/${e.checksTotal}`, 'num checks');
  const health = cell('', 'health');
  if (e.setup === 'running') health.append(chip('setting up', 'starting'));
  if (e.setup === 'failed') health.append(chip('setup failed', 'down'));
  if (e.health?.error) health.append(chip(e.health.error, 'down'));
  for (const h of e.health?.components ?? []) {
    const el = chip(h.name, h.state);
    el.title = `${h.name}: ${h.state}${h.detail ? ` (${h.detail})` : ''}`;
    health.append(el);
  }
  if (e.budget) {
    // An isolated environment: the memory it uses against its budget, near the limit in the colour of a part starting.
    const gib = (n: number) => (n / 1024 ** 3).toFixed(1);
    const used = e.budget.memoryUsedBytes / e.budget.memoryBytes;
    const el = chip(`${gib(e.budget.memoryUsedBytes)}/${gib(e.budget.memoryBytes)} GiB`, used > 0.9 ? 'starting' : 'up');
    el.title = `memory in use / budget${e.budget.memoryPeakBytes === null ? '' : `, peak ${gib(e.budget.memoryPeakBytes)} GiB`}; CPUs: ${e.budget.cpus ?? 'a fair share'}`;
    el.classList.add('budget');
    health.append(el);
  }
  const life = e.lifetime;
  const endsIn = life.expiresAt === null ? '' : `ends in ${minutes(Math.max(0, Math.round((life.expiresAt - Date.now()) / 1000)))}`;
  if (life.lifecycle !== 'running') {
    health.append(chip(life.lifecycle === 'expiring' ? `expiring (${endsIn})` : life.lifecycle, life.lifecycle === 'expiring' ? 'down' : 'starting'));
    health.lastElementChild!.classList.add('lifecycle');
  }
  if (health.childElementCount === 0) {
    health.textContent = '—';
    health.title = e.activity ? 'not probed while an action runs' : e.health === null ? 'the course declares no status command' : 'the course reports no parts';
  }
  const last = cell(ago(e.lastActivity), 'last-activity');
  if (life.expiresAt !== null) {
    const ends = document.createElement('div');
    ends.className = 'ends';
    ends.textContent = endsIn;
    last.append(ends);
  }
  const now = cell(e.activity ? `${e.activity.kind}${e.activity.to ? ` to ${e.activity.to}` : ''}: ${e.activity.line}` : '', 'activity');
  if (!e.activity && e.lastError) {
    now.className = 'error';
    now.textContent = e.lastError;
  }
  const actions = cell('', 'actions');
  const disabled = busy.has(e.env) || e.activity?.kind === 'destroying';
  const select = document.createElement('select');
  select.className = 'reset-to';
  // a page with a saved state is reached in seconds; the others are played to
  for (const p of list!.course.pages) select.append(new Option(p.saved ? `${p.id} (saved)` : p.id, p.id));
  select.value = chosen.get(e.env) ?? list!.course.pages[0]!.id;
  select.onchange = () => chosen.set(e.env, select.value);
  const which = document.createElement('select');
  which.className = 'watch-terminal';
  for (const t of list!.course.terminals) which.append(new Option(t.name, t.id));
  which.value = watchedTerminal.get(e.env) ?? list!.course.terminals[0]!.id;
  which.onchange = () => watchedTerminal.set(e.env, which.value);
  actions.append(
    which,
    button('Watch', 'watch', () => watch(e.env, e.name, which.value), disabled),
    button('Recordings', 'recordings', () => void showRecordings(e.env, e.name)),
    document.createElement('br'),
    button('Reset', 'reset', () => void reset(e.env), disabled),
    select,
    button('Reset to', 'reset-to-button', () => void reset(e.env, select.value), disabled),
    button('Destroy', 'destroy danger', () => void destroy(e.env, e.name), disabled),
  );
  if (e.budget) actions.append(button('Budget', 'budget', () => openBudget(e.env), disabled));
  if (life.canExtend) actions.append(button('Extend', 'extend', () => void requestJson('POST', `/api/env/${e.env}/extend`).then(refresh, (err: Error) => message(err.message, true))));
  return tr;
}

/** The environment whose budget the budget form shows. */
let budgetOf: number | undefined;

/** Opens the budget form for one environment, its fields filled with the budget it has now. */
function openBudget(env: number): void {
  const e = list?.environments.find((x) => x.env === env);
  if (!e?.budget) return;
  budgetOf = env;
  $('budget-title').textContent = `Budget of ${e.name} · environment ${env}`;
  $<HTMLInputElement>('budget-memory').value = amount(e.budget.memoryBytes / 1024 ** 3);
  $<HTMLInputElement>('budget-cpus').value = e.budget.cpus === null ? '' : amount(e.budget.cpus);
  $<HTMLInputElement>('budget-cpus').placeholder = 'a fair share';
  budgetMessage('', false);
  $('budget').hidden = false;
  showBudget();
  $<HTMLInputElement>('budget-memory').focus();
}

/** The budget form's line on what the environment has now (refreshed with the table); the form closes when the environment is gone. */
function showBudget(): void {
  if (budgetOf === undefined) return;
  const e = list?.environments.find((x) => x.env === budgetOf);
  if (!e?.budget) return closeBudget();
  const b = e.budget;
  $('budget-now').textContent =
    `Now: ${amount(b.memoryBytes / 1024 ** 3)} GiB of memory (${amount(b.memoryUsedBytes / 1024 ** 3)} GiB in use), ` + `${b.cpus === null ? 'a fair share of the CPUs' : `${amount(b.cpus)} CPU${b.cpus === 1 ? '' : 's'}`}`;
}

function closeBudget(): void {
  budgetOf = undefined;
  $('budget').hidden = true;
}

function budgetMessage(text: string, error: boolean): void {
  const el = $('budget-message');
  el.textContent = text;
  el.classList.toggle('error', error);
}

/** What the instructor typed, as a number above 0 (a decimal comma taken as a point), or the message that says what is wrong. */
function positive(what: string, text: string): number | string {
  const value = Number(text.trim().replace(',', '.'));
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) return `${what} must be a number above 0, not "${text.trim()}"`;
  return value;
}

/** Sends the budget form: the lab sets the new budget on the running environment, or says why it keeps the old one. */
async function applyBudget(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const env = budgetOf;
  if (env === undefined) return;
  const memory = positive('Memory (GiB)', $<HTMLInputElement>('budget-memory').value);
  const cpusText = $<HTMLInputElement>('budget-cpus').value;
  const cpus = cpusText.trim() === '' ? undefined : positive('CPUs', cpusText);
  const problem = [memory, cpus].find((v) => typeof v === 'string');
  if (problem !== undefined) return budgetMessage(problem as string, true);
  const applying = $<HTMLButtonElement>('budget-apply');
  applying.disabled = true;
  budgetMessage('applying…', false);
  try {
    const { budget } = await call<{ budget: { memoryBytes: number; cpus: number | null } }>('POST', `/api/instructor/environments/${env}/budget`, {
      memoryGiB: memory as number,
      ...(cpus === undefined ? {} : { cpus: cpus as number }),
    });
    budgetMessage(`environment ${env} now has ${amount(budget.memoryBytes / 1024 ** 3)} GiB of memory and ${budget.cpus === null ? 'a fair share of the CPUs' : `${amount(budget.cpus)} CPUs`}`, false);
  } catch (err) {
    budgetMessage((err as Error).message, true);
  } finally {
    applying.disabled = false;
    await refresh();
  }
}

/** A quantity as the instructor types it: at most two decimals, no trailing zeros. */
function amount(n: number): string {
  return String(Number(n.toFixed(2)));
}

/** The terminal picked in each row's "watch" list, kept across refreshes. */
const watchedTerminal = new Map<number, string>();
let watching: { env: number; terminal: string; view: TerminalView } | undefined;

/** Open a learner's terminal live in the watch panel (read-only until "Take over"). */
function watch(env: number, name: string, terminal: string): void {
  closeWatch();
  const spec = list!.course.terminals.find((t) => t.id === terminal)!;
  $('watch-title').textContent = `${name} · ${spec.name} · environment ${env}`;
  const host = document.createElement('div');
  host.className = 'xterm-host';
  $('watch-terminal').replaceChildren(host);
  $('watch').hidden = false;
  const view = new TerminalView(terminal, host, $('watch-status'), env, { mode: 'watch', onPresence: (p) => showWatchState(p) });
  watching = { env, terminal, view };
  $('watch-control').onclick = () => view.control(!(view.presence?.mayType ?? false));
  $('watch-show').onclick = () => void toggleShow(env, terminal);
  showBroadcast();
  view.focus();
}

function closeWatch(): void {
  watching?.view.dispose();
  watching = undefined;
  $('watch').hidden = true;
  $('watch-terminal').replaceChildren();
}

function showWatchState(p: PresenceArgs): void {
  const state = $('watch-state');
  state.dataset.keyboard = p.mayType ? 'yours' : p.control === 'instructor' ? 'instructor' : 'learner';
  state.textContent = p.mayType
    ? 'You have the keyboard: the learner sees that you are typing.'
    : p.control === 'instructor'
      ? 'Another instructor view has the keyboard.'
      : 'Read-only: the learner has the keyboard.';
  $('watch-control').textContent = p.mayType ? 'Hand the keyboard back' : 'Take over';
  if (p.mayType) watching?.view.focus();
}

/** Show the watched terminal to the class, or stop showing it. */
async function toggleShow(env: number, terminal: string): Promise<void> {
  const b = list?.broadcast;
  try {
    if (b && b.env === env && b.terminal === terminal) await requestJson('DELETE', '/api/instructor/broadcast');
    else await requestJson('POST', '/api/instructor/broadcast', { env, terminal });
  } catch (err) {
    message((err as Error).message, true);
  }
  await refresh();
}

/** What the class is shown now, and the watch panel's "show" button to match. */
function showBroadcast(): void {
  const b = list?.broadcast ?? null;
  $('broadcast-state').hidden = b === null;
  $('broadcast-name').textContent = b ? `Shown to the class: ${b.name}` : '';
  if (watching) {
    const mine = b !== null && b.env === watching.env && b.terminal === watching.terminal;
    $('watch-show').textContent = mine ? 'Stop showing to the class' : 'Show to the class';
  }
}

let player: { dispose(): void } | undefined;

/** A row's recorded terminals, each to play here or download. */
async function showRecordings(env: number, name: string): Promise<void> {
  closePlayback();
  $('playback-title').textContent = `Recordings of ${name} · environment ${env}`;
  $('playback').hidden = false;
  const items = $('playback-list');
  try {
    const { recordings } = await call<{ recordings: RecordingView[] }>('GET', `/api/instructor/environments/${env}/recordings`);
    if (recordings.length === 0) items.textContent = 'Nothing recorded yet: no terminal of this environment has been opened.';
    for (const r of recordings) {
      const url = `/api/instructor/environments/${env}/recordings/${encodeURIComponent(r.terminal)}`;
      const li = document.createElement('li');
      li.dataset.terminal = r.terminal;
      li.append(`${r.name} (${kib(r.bytes)}) `, button('Play', 'play', () => play(url)), ' ', link('Download', `${url}?download=1`));
      if (r.earlierPart) li.append(' ', link('earlier part', `${url}?part=earlier&download=1`));
      items.append(li);
    }
  } catch (err) {
    items.textContent = (err as Error).message;
  }
}

function play(url: string): void {
  player?.dispose();
  const box = $('playback-player');
  box.replaceChildren();
  player = AsciinemaPlayer.create({ url, fetchOpts: { credentials: 'same-origin', cache: 'no-store' } }, box, { autoPlay: true, idleTimeLimit: 2, fit: 'width' });
}

function closePlayback(): void {
  player?.dispose();
  player = undefined;
  $('playback').hidden = true;
  $('playback-list').replaceChildren();
  $('playback-player').replaceChildren();
}

function link(text: string, href: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.textContent = text;
  a.href = href;
  a.download = '';
  return a;
}

function kib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

async function clearHand(env: number): Promise<void> {
  try {
    await requestJson('DELETE', `/api/instructor/environments/${env}/help`);
    await refresh();
  } catch (err) {
    message(`environment ${env}: ${(err as Error).message}`, true);
  }
}

function minutes(seconds: number): string {
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min`;
}

function button(text: string, cls: string, onClick: () => void, disabled = false): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.className = cls;
  b.disabled = disabled;
  b.onclick = onClick;
  return b;
}

function chip(text: string, state: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = 'chip';
  s.dataset.state = state;
  s.textContent = text;
  return s;
}

function ago(at: number): string {
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`;
}

$<HTMLFormElement>('create-form').addEventListener('submit', (ev) => void create(ev));
$('watch-close').onclick = () => closeWatch();
for (const id of ['idle-minutes', 'lifetime-minutes', 'extend-limit-minutes']) $<HTMLInputElement>(id).addEventListener('input', () => editedRules.add(id));
$<HTMLFormElement>('lifetime-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  editedRules.clear();
  const value = (id: string) => Number($<HTMLInputElement>(id).value || '0');
  const rules = { lifetimeMinutes: value('lifetime-minutes'), extendLimitMinutes: value('extend-limit-minutes'), ...(list?.canSleep ? { idleMinutes: value('idle-minutes') } : {}) };
  void requestJson('POST', '/api/instructor/lifetime', rules)
    .catch((err: Error) => message(err.message, true))
    .then(() => refresh());
});
$<HTMLFormElement>('seats-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const reserved = Number($<HTMLInputElement>('seats-count').value || '0');
  void requestJson('POST', '/api/instructor/seats', { reserved })
    .catch((err: Error) => message(err.message, true))
    .then(() => refresh());
});
$('playback-close').onclick = () => closePlayback();
$<HTMLFormElement>('budget').addEventListener('submit', (ev) => void applyBudget(ev));
$('budget-close').onclick = () => closeBudget();
$('broadcast-stop').onclick = () => void requestJson('DELETE', '/api/instructor/broadcast').then(() => refresh());
$('reset-all').onclick = () => {
  if (confirm('Reset every environment back to the first page?')) for (const e of list?.environments ?? []) void reset(e.env);
};
$('reset-all-to-button').onclick = () => {
  const to = $<HTMLSelectElement>('reset-all-to').value;
  if (confirm(`Reset every environment and play it up to ${to}?`)) for (const e of list?.environments ?? []) void reset(e.env, to);
};
void refresh();
setInterval(() => void refresh(), REFRESH_MS);

/** For tests and debugging: what the watched terminal holds. */
(window as unknown as { lab: unknown }).lab = {
  watchText: () => watching?.view.text() ?? '',
};
