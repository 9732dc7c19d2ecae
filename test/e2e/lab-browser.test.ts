/**
 * The lab as a learner sees it, in headless Chromium: the page opens with the
 * token and not without; clicking a block runs it in its named terminal; a
 * ctrl_c macro interrupts a running program; a reload keeps terminal content
 * and executed marks; a 50 MB burst leaves the page responsive; checks show
 * pass and fail; links and Back/Next navigate; the terminal follows the
 * window's size; a Katapod scenario runs unchanged.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { fixtures, labFetch, launchBrowser, startTestLab, terminalText, visibleRows, waitForTerminal, type TestLab } from './lab-harness.js';
import { loadCourse } from '../../lab/course/load.js';
import { blockId } from '../support/blocks.js';

/** Blocks by their place in the fixture course the suite serves. */
const at = (pageId: string, index: number) => blockId(loadCourse(join(fixtures, 'course-basic')).course!, pageId, index);

let t: TestLab;
let browser: Browser;
let page: Page;

before(async () => {
  [t, browser] = await Promise.all([startTestLab(), launchBrowser()]);
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});
after(async () => {
  await browser?.close();
  await t?.dispose();
});

const block = (id: string) => page.locator(`[data-block="${id}"]`);

describe('the lab in a browser', () => {
  it('is refused without the token', async () => {
    const res = await page.goto(t.lab.url);
    assert.equal(res?.status(), 403);
    assert.match(await page.locator('body').innerText(), /open the URL that `npm start` printed/);
  });

  it('opens with the token: the course, its first page and its terminals', async () => {
    await page.goto(t.lab.openUrl);
    assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar');
    await page.locator('#page h1', { hasText: 'Fixture course' }).waitFor();
    assert.equal(await page.title(), 'Fixture course');
    assert.deepEqual(await page.locator('.lab-terminal-title > span:first-child').allInnerTexts(), ['shell', 'logs']);
    assert.equal(await page.locator('#page img').getAttribute('src'), '/course/files/images/diagram.svg');
    assert.equal(await page.locator('#page img').evaluate((img: HTMLImageElement) => img.naturalWidth), 120);
  });

  it('clicking a block shows its output in the named terminal only', async () => {
    await block(at('intro', 0)).locator('pre').click();
    await waitForTerminal(page, 'shell', /^hello-from-block$/m);
    await block(at('intro', 1)).locator('pre').click();
    await waitForTerminal(page, 'logs', /^in-the-logs-terminal$/m);
    assert.doesNotMatch(await terminalText(page, 'shell'), /in-the-logs-terminal/);
    assert.match(await visibleRows(page, 'logs', /in-the-logs-terminal/), /in-the-logs-terminal/, 'drawn on screen, not only in the buffer');
    assert.equal(await block(at('intro', 0)).getAttribute('class'), 'lab-block runnable executed');
    assert.equal(await block(at('intro', 0)).locator('.lab-block-state').innerText(), '✓ ran');
  });

  it('a display-only block does nothing when clicked; a block with maxInvocations 1 refuses a second run', async () => {
    await block(at('intro', 4)).locator('pre').click();
    await block(at('intro', 5)).locator('pre').click();
    await waitForTerminal(page, 'shell', /^only-once$/m);
    await block(at('intro', 5)).locator('pre').click();
    await block(at('intro', 5)).locator('.lab-block-state', { hasText: 'at most 1 time' }).waitFor();
    assert.doesNotMatch(await terminalText(page, 'shell'), /PRIMARY_ONLY/);
    assert.equal((await terminalText(page, 'shell')).match(/^only-once$/gm)?.length, 1);
  });

  it('a block with macrosBefore ctrl_c interrupts a running sleep 1000 and runs', async () => {
    await block(at('intro', 2)).locator('pre').click();
    await waitForTerminal(page, 'shell', /[#$] sleep 1000$/m);
    assert.equal(pgrep('^sleep 1000$').length, 1, 'sleep is running');
    await block(at('intro', 3)).locator('pre').click();
    const text = await waitForTerminal(page, 'shell', /^interrupted-and-back$/m);
    assert.match(text, /sleep 1000\n\^C/);
    assert.deepEqual(pgrep('^sleep 1000$'), [], 'sleep was stopped');
  });

  it('a reload keeps the terminal content and the executed marks', async () => {
    await page.reload();
    await page.locator('#page h1').waitFor();
    await waitForTerminal(page, 'shell', /^interrupted-and-back$/m);
    const shell = await terminalText(page, 'shell');
    assert.match(shell, /^hello-from-block$/m);
    assert.match(await terminalText(page, 'logs'), /^in-the-logs-terminal$/m);
    for (const id of [at('intro', 0), at('intro', 1), at('intro', 3), at('intro', 5)]) assert.match(String(await block(id).getAttribute('class')), /executed/, id);
    assert.doesNotMatch(String(await block(at('intro', 6)).getAttribute('class')), /executed/);
  });

  it('typing in a terminal reaches the shell', async () => {
    await page.locator('.lab-terminal[data-terminal="logs"] .xterm-host').click();
    await page.keyboard.type('echo typed-$((6*7))\n');
    await waitForTerminal(page, 'logs', /^typed-42$/m);
  });

  it('the terminal follows the window size', async () => {
    await page.setViewportSize({ width: 1000, height: 600 });
    await page.waitForTimeout(300);
    const small = await sttySize();
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.waitForTimeout(300);
    const big = await sttySize();
    assert.ok(big.cols > small.cols && big.rows > small.rows, `${JSON.stringify(small)} → ${JSON.stringify(big)}`);
  });

  it('a 50 MB output burst leaves the page responsive', async () => {
    await block(at('intro', 6)).locator('pre').click();
    const started = Date.now();
    // While output pours in, the page keeps answering and navigating.
    let worst = 0;
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      await page.evaluate(() => document.querySelectorAll('.lab-block').length);
      worst = Math.max(worst, Date.now() - t0);
      await page.waitForTimeout(100);
    }
    const t0 = Date.now();
    await page.locator('#next-button').click();
    await page.locator('#page h1', { hasText: 'Make a file' }).waitFor({ timeout: 3000 });
    const navigation = Date.now() - t0;
    await waitForTerminal(page, 'shell', /^flood-done$/m, 120_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(`# 50 MB burst: ${seconds.toFixed(1)} s, worst page answer ${worst} ms, navigation ${navigation} ms`);
    assert.ok(worst < 1000, `the page answered within ${worst} ms`);
    assert.ok(navigation < 3000);
    assert.ok(t.lab.environments.get(1)!.terminal('shell').bufferedChars <= 4.5 * 1024 * 1024);
  });

  it('opening a page runs its onLoad command once; the Check button shows fail, then pass', async () => {
    await waitForTerminal(page, 'logs', /^onload-1-step1$/m);
    await page.locator('#check-button').click();
    await page.locator('#check-result.fail').waitFor();
    assert.equal(await page.locator('#check-verdict').innerText(), '✗ Check failed');
    assert.equal(await page.locator('#check-output').innerText(), 'done.txt is missing');
    await block(at('step1', 0)).locator('pre').click();
    await page.waitForTimeout(500);
    await page.locator('#check-button').click();
    await page.locator('#check-result.pass').waitFor();
    assert.equal(await page.locator('#check-output').innerText(), 'done.txt is there');
    assert.match(String(await page.locator('#steps li.passed').textContent()), /Make a file/);
  });

  it('Katapod links, Back and Next navigate; the last page is remembered', async () => {
    await page.locator('#page a[data-page="finish"]').click();
    await page.locator('#page h1', { hasText: 'Done' }).waitFor();
    assert.equal(await page.locator('#position').innerText(), '3 / 3');
    assert.equal(await page.locator('#next-button').isDisabled(), true);
    await page.locator('#back-button').click();
    await page.locator('#page h1', { hasText: 'Make a file' }).waitFor();
    await page.goto(t.lab.url);
    await page.locator('#page h1', { hasText: 'Make a file' }).waitFor();
    // The reloaded page's terminal replays its output a moment after the page shows; a second run would come after that.
    await waitForTerminal(page, 'logs', /^onload-1-step1$/m);
    await page.waitForTimeout(1000);
    assert.equal((await terminalText(page, 'logs')).match(/^onload-\d+-step1$/gm)?.length, 1, 'onLoad ran once only');
  });
});

describe('a Katapod scenario in the browser', () => {
  let k: TestLab;
  before(async () => {
    k = await startTestLab('katapod-basic');
  });
  after(() => k.dispose());

  it('runs its onLoad command and a plain block in the default terminal', async () => {
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await p.goto(k.lab.openUrl);
    await p.locator('#page h1', { hasText: 'Katapod fixture' }).waitFor();
    await waitForTerminal(p, 'shell', /^katapod-intro-onload$/m);
    await p.locator(`[data-block="${blockId(k.lab.course, 'intro', 0)}"] pre`).click();
    await waitForTerminal(p, 'cqlsh', /^default-terminal$/m);
    await p.locator('.lab-terminal[data-terminal="cqlsh"] .xterm-host').click();
    await p.keyboard.type('ls step1.md && echo in-the-scenario-folder\n');
    await waitForTerminal(p, 'cqlsh', /^in-the-scenario-folder$/m);
    await p.locator('a.btn', { hasText: 'Start' }).click();
    await p.locator('#page h1', { hasText: 'Step one' }).waitFor();
    await p.close();
  });
});

describe('a tabbed course in the browser', () => {
  let k: TestLab;
  before(async () => {
    k = await startTestLab('course-tabbed');
  });
  after(() => k.dispose());

  it('shows one named tab at a time; a block switches to its terminal\'s tab and its output is drawn', async () => {
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await p.goto(k.lab.openUrl);
    await p.locator('#page h1', { hasText: 'Tabs' }).waitFor();
    assert.deepEqual(await p.locator('#terminal-tabs button').allInnerTexts(), ['first tab', 'second tab']);
    assert.equal(await p.locator('#terminal-tabs button.active').innerText(), 'first tab');
    // Both shells start at once for the page's onLoad commands, and both run theirs promptly.
    await waitForTerminal(p, 'one', /^onload-in-one$/m, 8000);
    await waitForTerminal(p, 'two', /^onload-in-two$/m, 8000);
    await p.locator(`[data-block="${blockId(k.lab.course, 'intro', 0)}"] pre`).click();
    await waitForTerminal(p, 'two', /^shown-in-the-second-tab$/m);
    assert.equal(await p.locator('#terminal-tabs button.active').innerText(), 'second tab');
    assert.equal(await p.locator('.lab-terminal[data-terminal="one"]').isVisible(), false);
    await p.waitForTimeout(200);
    assert.match(await visibleRows(p, 'two', /shown-in-the-second-tab/), /shown-in-the-second-tab/);
    await p.close();
  });
});

describe('a dropped connection', () => {
  let k: TestLab;
  before(async () => {
    k = await startTestLab();
  });
  after(() => k.dispose());

  it('the page reconnects by itself and shows exactly the output it missed', async () => {
    // The browser reaches the lab through a TCP relay that the test can cut, as a network would.
    const sockets = new Set<Socket>();
    const relay = createServer((client) => {
      const upstream = connect(k.lab.port, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((ok) => relay.listen(0, '127.0.0.1', ok));
    const relayPort = (relay.address() as AddressInfo).port;
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await p.goto(`http://127.0.0.1:${relayPort}/?token=${k.lab.token}`);
      await p.locator(`[data-block="${blockId(k.lab.course, 'intro', 0)}"] pre`).click();
      await waitForTerminal(p, 'shell', /^hello-from-block$/m);
      for (const s of sockets) s.destroy();
      await p.locator('.lab-terminal[data-terminal="shell"] .lab-terminal-status', { hasText: 'reconnecting' }).waitFor();
      // While the page is cut off, the block runs again (from the API, as a second tab would).
      assert.equal((await labFetch(k.lab, '/api/env/1/run', { method: 'POST', body: { block: at('intro', 0) } })).status, 200);
      const text = await waitForTerminal(p, 'shell', /^hello-from-block\n[^\n]*echo hello-from-block\nhello-from-block$/m);
      assert.equal(text.match(/^hello-from-block$/gm)?.length, 2, 'nothing lost, nothing doubled');
      assert.equal(await p.locator('.lab-terminal[data-terminal="shell"]').getAttribute('data-connected'), 'true');
    } finally {
      await p.close();
      relay.close();
    }
  });
});

async function sttySize(): Promise<{ rows: number; cols: number }> {
  const marker = `size-${Date.now()}`;
  await page.locator('.lab-terminal[data-terminal="logs"] .xterm-host').click();
  await page.keyboard.type(`echo ${marker} $(stty size)\n`);
  const text = await waitForTerminal(page, 'logs', new RegExp(`^${marker} \\d+ \\d+$`, 'm'));
  const [, rows, cols] = new RegExp(`^${marker} (\\d+) (\\d+)$`, 'm').exec(text)!;
  return { rows: Number(rows), cols: Number(cols) };
}

function pgrep(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
