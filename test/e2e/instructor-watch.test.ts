/**
 * Watching, taking over and showing a learner's terminal, in headless
 * Chromium over a fixture course with two learners (environments 18 and 19,
 * each in their own browser profile) and the instructor's console:
 * the instructor watches Ann's shell (what it held and what comes next) while
 * Ann's page says so; the watch is read-only, in the browser and at the
 * server, until "Take over"; then Ann's page says the instructor has the
 * keyboard and shows their typing, her own keys wait, and "Take the keyboard
 * back" returns it. "Show to the class" puts Ann's shell, read-only, on Ben's
 * page until the instructor stops. A learner's token opens no watch and no
 * other learner's terminal, and the class view is read-only. Every terminal
 * is recorded: the console plays Ann's shell back and downloads it as an
 * asciicast file, learners cannot fetch recordings, and destroying the
 * environment removes them.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { Packet } from '../../lab/terminals/protocol.js';
import { connectTerminal, fixtures, labFetch, launchBrowser, terminalText, waitForTerminal, type TerminalClient } from './lab-harness.js';

let lab: LabServer;
let dataDir: string;
let browser: Browser;
let consolePage: Page;
let ann: Page;
let ben: Page;
const tokens: Record<number, string> = {};
const sockets: TerminalClient[] = [];

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'instructor-watch-'));
  [lab, browser] = await Promise.all([startLab({ courseDir: join(fixtures, 'course-basic'), port: 0, dataDir, environmentId: null, bytesPerEnvironment: 1 }), launchBrowser()]);
  tokens[18] = lab.classroom.create({ env: 18, name: 'Ann' }).token;
  tokens[19] = lab.classroom.create({ env: 19, name: 'Ben' }).token;
  const page = async (width: number) => (await browser.newContext({ viewport: { width, height: 800 } })).newPage();
  [consolePage, ann, ben] = await Promise.all([page(1400), page(1280), page(1280)]);
  await Promise.all([ann.goto(`${lab.url}?token=${tokens[18]}&env=18`), ben.goto(`${lab.url}?token=${tokens[19]}&env=19`), consolePage.goto(lab.instructorUrl)]);
  await Promise.all([ann, ben].map((p) => p.locator('#page h1', { hasText: 'Fixture course' }).waitFor()));
});
after(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  await browser?.close();
  await lab?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const watchText = () => consolePage.evaluate(() => (window as unknown as { lab: { watchText(): string } }).lab.watchText());
const broadcastText = (p: Page) => p.evaluate(() => (window as unknown as { lab: { broadcastText(): string } }).lab.broadcastText());
const annBanner = () => ann.locator('.lab-terminal[data-terminal="shell"] .presence-banner');

async function until(what: string, read: () => Promise<string>, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await read();
    if (pattern.test(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} never showed ${pattern}; it shows:\n${text.slice(-1000)}`);
}

async function typeIn(page: Page, box: string, text: string): Promise<void> {
  await page.locator(`${box} .xterm-host`).click();
  await page.keyboard.type(text);
}

/** Keys that must not reach the shell: after a while, the learner's terminal still does not show them. */
async function neverShows(marker: string): Promise<void> {
  await ann.waitForTimeout(1500);
  assert.doesNotMatch(await terminalText(ann, 'shell'), new RegExp(marker), `${marker} reached Ann's shell`);
}

describe("the instructor and a learner's terminal", () => {
  it("the instructor watches a learner's terminal live, with what it already held, and the learner's page says so", async () => {
    await typeIn(ann, '.lab-terminal[data-terminal="shell"]', 'echo ann-$((6*7))\n');
    await waitForTerminal(ann, 'shell', /^ann-42$/m);
    assert.equal(await annBanner().isHidden(), true, 'no banner before anyone watches');

    const row = consolePage.locator('#environments tbody tr[data-env="18"]');
    await row.locator('select.watch-terminal').selectOption('shell');
    await row.locator('button.watch').click();
    await consolePage.locator('#watch-title', { hasText: 'Ann · shell · environment 18' }).waitFor();
    await until('the watch view', watchText, /^ann-42$/m);
    await consolePage.locator('#watch-state', { hasText: 'Read-only' }).waitFor();
    await annBanner().filter({ hasText: 'Your instructor is watching this terminal' }).waitFor();

    await typeIn(ann, '.lab-terminal[data-terminal="shell"]', 'echo after-watch-$((2*3))\n');
    await until('the watch view', watchText, /^after-watch-6$/m);
  });

  it('the watch is read-only until the instructor takes over, in the page and at the server', async () => {
    await typeIn(consolePage, '#watch-terminal', 'echo from-the-watch-view\n');
    const raw = await connectTerminal(lab, { env: 18, terminal: 'shell', token: lab.instructorToken, params: { watch: '1' } });
    sockets.push(raw);
    raw.send({ type: Packet.INPUT, args: { data: 'echo from-a-raw-watch\r' } });
    await neverShows('from-the-watch-view|from-a-raw-watch');
    await raw.close();
  });

  it("after Take over the instructor types in the learner's shell, the learner sees the banner and their keys wait", async () => {
    await consolePage.click('#watch-control');
    await consolePage.locator('#watch-state', { hasText: 'You have the keyboard' }).waitFor();
    assert.equal(await consolePage.locator('#watch-control').innerText(), 'Hand the keyboard back');
    await annBanner().filter({ hasText: 'Your instructor has the keyboard of this terminal' }).waitFor();

    await typeIn(consolePage, '#watch-terminal', 'echo instructor-$((7*6))\n');
    await waitForTerminal(ann, 'shell', /^instructor-42$/m);
    await typeIn(ann, '.lab-terminal[data-terminal="shell"]', 'echo ann-while-taken\n');
    await neverShows('ann-while-taken');
  });

  it('the learner takes the keyboard back: the watch is read-only again', async () => {
    await annBanner().locator('button.take-back').click();
    await consolePage.locator('#watch-state', { hasText: 'Read-only: the learner has the keyboard' }).waitFor();
    await annBanner().filter({ hasText: 'Your instructor is watching this terminal' }).waitFor();
    await typeIn(ann, '.lab-terminal[data-terminal="shell"]', 'echo ann-again-$((1+1))\n');
    await waitForTerminal(ann, 'shell', /^ann-again-2$/m);
    await until('the watch view', watchText, /^ann-again-2$/m);
  });

  it("Show to the class puts the learner's terminal, read-only, on every learner page until the instructor stops", async () => {
    await consolePage.click('#watch-show');
    await consolePage.locator('#broadcast-name', { hasText: 'Shown to the class: shell (Ann, environment 18)' }).waitFor();
    await ben.locator('#broadcast-title', { hasText: 'Shown by your instructor: shell (Ann, environment 18)' }).waitFor({ timeout: 10_000 });
    await until("Ben's class view", () => broadcastText(ben), /^ann-again-2$/m);
    await annBanner().filter({ hasText: 'It is shown to the class' }).waitFor();
    // Ann's own page shows her shell where it is (with its banner), not a second time; its progress poll has run by now
    await ann.waitForTimeout(3500);
    assert.equal(await ann.locator('#broadcast').isHidden(), true, "Ann's page shows her own shell twice");

    await typeIn(ann, '.lab-terminal[data-terminal="shell"]', 'echo shown-live-$((3*3))\n');
    await until("Ben's class view", () => broadcastText(ben), /^shown-live-9$/m);
    await typeIn(ben, '#broadcast-terminal', 'echo from-the-class-view\n');
    await neverShows('from-the-class-view');
    assert.doesNotMatch(await terminalText(ben, 'shell'), /from-the-class-view/, "keys in the class view went to Ben's own shell");

    await consolePage.click('#broadcast-stop');
    await ben.locator('#broadcast').waitFor({ state: 'hidden', timeout: 10_000 });
    await consolePage.locator('#broadcast-state').waitFor({ state: 'hidden' });
  });

  it("a learner's token opens no watch, no other learner's terminal, and only a read-only class view", async () => {
    const refused = (opts: Parameters<typeof connectTerminal>[1]) =>
      connectTerminal(lab, { token: tokens[19], terminal: 'shell', ...opts }).then(
        (c) => {
          sockets.push(c);
          return 'opened';
        },
        (err: Error) => err.message,
      );
    assert.equal(await refused({ env: 18, params: { watch: '1' } }), 'upgrade refused: 403');
    assert.equal(await refused({ env: 19, params: { watch: '1' } }), 'upgrade refused: 403');
    assert.equal(await refused({ env: 18 }), 'upgrade refused: 403');
    assert.equal(await refused({ env: 19, params: { broadcast: '1' } }), 'upgrade refused: 404', 'nothing is shown now');
    const show = await labFetch(lab, '/api/instructor/broadcast', { method: 'POST', body: { env: 18, terminal: 'shell' }, token: tokens[19] });
    assert.equal(show.status, 403, 'a learner cannot show a terminal to the class');

    const shown = await labFetch(lab, '/api/instructor/broadcast', { method: 'POST', body: { env: 18, terminal: 'shell' }, token: lab.instructorToken });
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    // the class view is the terminal the instructor chose, whatever the learner asks for
    const view = await connectTerminal(lab, { token: tokens[19], env: 19, terminal: 'logs', params: { broadcast: '1' } });
    sockets.push(view);
    await view.waitFor(/^shown-live-9$/m);
    view.send({ type: Packet.CONTROL, args: { take: true } });
    view.send({ type: Packet.INPUT, args: { data: 'echo from-a-raw-class-view\r' } });
    for (let i = 0; i < 50 && view.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(view.errors, ['a terminal shown to the class is read-only']);
    assert.equal(view.presence?.mayType, false);
    await neverShows('from-a-raw-class-view');
    const stopped = await labFetch(lab, '/api/instructor/broadcast', { method: 'DELETE', token: lab.instructorToken, origin: lab.url.slice(0, -1) });
    assert.equal(stopped.status, 200);
    await new Promise<void>((r) => (view.ws.readyState === view.ws.CLOSED ? r() : view.ws.once('close', () => r())));
  });

  it("the console plays a learner's terminal back and downloads it as asciicast; learners cannot fetch it", async () => {
    const row = consolePage.locator('#environments tbody tr[data-env="18"]');
    await row.locator('button.recordings').click();
    await consolePage.locator('#playback-title', { hasText: 'Recordings of Ann · environment 18' }).waitFor();
    const shell = consolePage.locator('#playback-list li[data-terminal="shell"]');
    await shell.waitFor();
    await shell.locator('button.play').click();
    // idle pauses are cut to 2 s, so the whole session plays in seconds
    await consolePage.locator('#playback-player', { hasText: 'instructor-42' }).waitFor({ timeout: 30_000 });
    await consolePage.locator('#playback-player', { hasText: 'shown-live-9' }).waitFor({ timeout: 30_000 });

    const file = await labFetch(lab, '/api/instructor/environments/18/recordings/shell?download=1', { token: lab.instructorToken });
    assert.equal(file.status, 200);
    const lines = String(typeof file.body === 'string' ? file.body : JSON.stringify(file.body)).trim().split('\n');
    const header = JSON.parse(lines[0]!) as { version: number; width: number; height: number };
    assert.equal(header.version, 2);
    assert.ok(header.width > 0 && header.height > 0, lines[0]);
    const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    const output = events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    for (const seen of ['ann-42', 'instructor-42', 'ann-again-2', 'shown-live-9']) assert.match(output, new RegExp(`^${seen}\r?$`, 'm'));
    assert.ok(events.every((e, i) => i === 0 || e[0] >= events[i - 1]![0]), 'event times go forward');

    for (const path of ['/api/instructor/environments/18/recordings', '/api/instructor/environments/18/recordings/shell', '/api/instructor/environments/19/recordings/shell']) {
      assert.equal((await labFetch(lab, path, { token: tokens[18] })).status, 403, path);
    }
    assert.equal((await labFetch(lab, '/api/instructor/environments/18/recordings/..%2Fprogress.sqlite', { token: lab.instructorToken })).status, 404);
  });

  it("destroying an environment removes its recordings", async () => {
    const folder = join(dataDir, 'recordings', '19');
    assert.ok(existsSync(join(folder, 'shell.cast')), "Ben's shell is recorded");
    const gone = await labFetch(lab, '/api/instructor/environments/19', { method: 'DELETE', token: lab.instructorToken });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(existsSync(folder), false, 'the recordings outlived the environment');
  });
});
