/**
 * The instructor console in headless Chromium, over a fixture course: the
 * instructor creates an environment for a learner (environment 10) from the
 * console; the learner's invite link opens their page in another browser
 * profile, and the console's row follows what they do (step, blocks run).
 * Reset on that row ends the learner's shell, clears their terminal and sends
 * their page back to the first page; Destroy removes the row and the
 * learner's link stops working. The learner's browser cannot open the
 * console. A learner whose check keeps failing rises to the top of the
 * table, and their "Ask for help" shows there with the page and the check's
 * message until the instructor clears it; the class's progress exports as
 * CSV. On a lab that isolates its environments (run as root), the console
 * shows an environment's memory and CPU budget and changes it: a wrong
 * amount gets a message saying what is wrong, and a new budget shows in the
 * console, in the API and in the environment's control group.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { isolationProblem } from '../../lab/environments/isolation.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import type { EnvironmentList } from '../../lab/server/instructor.js';
import { required } from '../support/requirement.js';
import { blockId } from '../support/blocks.js';
import { fixtures, launchBrowser, terminalText, waitForTerminal } from './lab-harness.js';

let lab: LabServer;
let dataDir: string;
let browser: Browser;
let instructorContext: BrowserContext;
let learnerContext: BrowserContext;
let consolePage: Page;
let learnerPage: Page;
let invite: string;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'instructor-console-'));
  [lab, browser] = await Promise.all([startLab({ courseDir: join(fixtures, 'course-basic'), port: 0, dataDir, environmentId: null, bytesPerEnvironment: 1 }), launchBrowser()]);
  instructorContext = await browser.newContext({ viewport: { width: 1400, height: 800 } });
  learnerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  consolePage = await instructorContext.newPage();
  learnerPage = await learnerContext.newPage();
});
after(async () => {
  await browser?.close();
  await lab?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const row = () => consolePage.locator('#environments tbody tr[data-env="10"]');

describe('the instructor console', () => {
  it('opens with the instructor link and creates an environment for a learner', async () => {
    await consolePage.goto(lab.instructorUrl);
    assert.equal(new URL(consolePage.url()).search, '', 'the token leaves the address bar');
    await consolePage.locator('#empty').waitFor();
    await consolePage.fill('#create-name', 'Bea Learner');
    await consolePage.fill('#create-env', '10');
    await consolePage.click('#create-button');
    await consolePage.locator('#create-message', { hasText: 'environment 10 created for Bea Learner' }).waitFor();
    await row().waitFor();
    assert.match(await row().locator('.learner').innerText(), /^Bea Learner/);
    assert.equal(await row().locator('.step').innerText(), 'not started');
    invite = (await row().locator('button.invite').getAttribute('title'))!;
    assert.match(invite, /\?token=[0-9a-f]{48}&env=10$/);
  });

  it("the learner's invite link opens their environment, and the console follows what they do", async () => {
    await learnerPage.goto(invite);
    assert.equal(new URL(learnerPage.url()).search, '?env=10');
    await learnerPage.locator('#page h1', { hasText: 'Fixture course' }).waitFor();
    await learnerPage.locator(`[data-block="${blockId(lab.course, 'intro', 0)}"] pre`).click();
    await waitForTerminal(learnerPage, 'shell', /^hello-from-block$/m);
    await row().locator('.step', { hasText: '1/3 Introduction' }).waitFor();
    await row().locator('.blocks', { hasText: '1' }).waitFor();
  });

  it("the learner's browser cannot open the console", async () => {
    const res = await learnerPage.request.get(new URL('/instructor', lab.url).href);
    assert.equal(res.status(), 403);
  });

  it("Reset on the row ends the learner's shell, clears their terminal and sends their page back to the first page", async () => {
    await learnerPage.locator('#next-button').click();
    await learnerPage.locator('#page h1', { hasText: 'Make a file' }).waitFor();
    await row().locator('.step', { hasText: '2/3 Make a file' }).waitFor();
    await row().locator('button.reset').click();
    await learnerPage.waitForURL(/#intro$/, { timeout: 20_000 });
    await learnerPage.locator('#page h1', { hasText: 'Fixture course' }).waitFor();
    const deadline = Date.now() + 10_000;
    while (/hello-from-block/.test(await terminalText(learnerPage, 'shell')) && Date.now() < deadline) await learnerPage.waitForTimeout(200);
    assert.doesNotMatch(await terminalText(learnerPage, 'shell'), /hello-from-block/, 'the terminal starts empty');
    assert.equal(await learnerPage.locator(`[data-block="${blockId(lab.course, 'intro', 0)}"]`).getAttribute('class'), 'lab-block runnable', 'the block is no longer marked as run');
    await learnerPage.locator(`[data-block="${blockId(lab.course, 'intro', 0)}"] pre`).click();
    await waitForTerminal(learnerPage, 'shell', /^hello-from-block$/m);
    await row().locator('.blocks', { hasText: '1' }).waitFor();
  });

  it('a learner stuck on a failing check asks for help: the console shows the hand with the page and the message, first in the table, until the instructor clears it', async () => {
    // A second learner who needs nothing, created first: the stuck one must still come first.
    await consolePage.fill('#create-name', 'Cal Fine');
    await consolePage.fill('#create-env', '9');
    await consolePage.click('#create-button');
    await consolePage.locator('#environments tbody tr[data-env="9"]').waitFor();

    await learnerPage.locator('#next-button').click();
    await learnerPage.locator('#page h1', { hasText: 'Make a file' }).waitFor();
    for (let i = 0; i < 2; i++) {
      await learnerPage.locator('#check-button').click();
      await learnerPage.locator('#check-verdict', { hasText: 'Check failed' }).waitFor();
    }
    await row().locator('.on-page', { hasText: '2 checks' }).waitFor();
    assert.equal(await row().locator('.on-page .last-failure').innerText(), 'done.txt is missing');
    assert.equal(await row().locator('.attention').innerText(), 'the check failed 2 times');

    await learnerPage.locator('#help-button').click();
    await learnerPage.locator('#help-button', { hasText: 'Help is on its way' }).waitFor();
    await row().locator('.attention .chip', { hasText: '✋ step1: done.txt is missing' }).waitFor();
    assert.deepEqual(await consolePage.locator('#environments tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.env)), ['10', '9'], 'the raised hand comes first');

    await row().locator('button.clear-hand').click();
    await row().locator('.attention .chip', { hasText: '✋' }).waitFor({ state: 'detached' });
    await learnerPage.locator('#help-button', { hasText: 'Ask for help' }).waitFor({ timeout: 15_000 });
  });

  it("the class's progress exports as CSV: one row per learner with page, pages done, checks, blocks, help requests and time per page", async () => {
    const res = await consolePage.request.get(new URL('/api/instructor/progress.csv', lab.url).href);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-disposition'] ?? '', /^attachment; filename="?class-progress-\d{4}-\d\d-\d\d\.csv"?$/);
    const lines = (await res.text()).trim().split('\n');
    assert.equal(lines[0], 'learner,environment,page,pages done,checks passed,blocks run,help requests,minutes on intro,minutes on step1,minutes on finish');
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /^Cal Fine,9,,0,0,0,0,0\.0,0\.0,0\.0$/);
    assert.match(lines[2]!, /^Bea Learner,10,step1,2,0,1,1,\d+\.\d,\d+\.\d,0\.0$/);
    assert.equal((await learnerPage.request.get(new URL('/api/instructor/progress.csv', lab.url).href)).status(), 403, "a learner's browser cannot export the class");
    await lab.classroom.destroy(9);
  });

  it("Destroy removes the row and the learner's link stops working", async () => {
    consolePage.once('dialog', (d) => void d.accept());
    await row().locator('button.destroy').click();
    await row().waitFor({ state: 'detached' });
    await consolePage.locator('#empty').waitFor();
    assert.equal(lab.environments.has(10), false);
    const res = await learnerPage.request.get(new URL('/api/env/10/progress', lab.url).href);
    assert.equal(res.status(), 403);
  });
});

describe("the instructor console changes an isolated environment's budget", { skip: required('learner isolation', isolationProblem()) }, () => {
  const GIB = 1024 ** 3;
  let isolated: LabServer;
  let isolatedDir: string;
  let context: BrowserContext;
  let page: Page;
  const budgetRow = () => page.locator('#environments tbody tr[data-env="12"]');

  before(async () => {
    isolatedDir = mkdtempSync(join(tmpdir(), 'instructor-console-budget-'));
    isolated = await startLab({ courseDir: join(fixtures, 'course-basic'), port: 0, dataDir: isolatedDir, environmentId: null, isolate: true, runSetup: false, bytesPerEnvironment: GIB, cpusPerEnvironment: 1, loadSampleMs: 300 });
    isolated.classroom.create({ env: 12, name: 'Dee Isolated' });
    // A context of its own: the two labs share the host name, so their cookies would mix.
    context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
    if (isolated) {
      await isolated.classroom.destroy(12).catch(() => {});
      await isolated.close();
    }
    rmSync(isolatedDir, { recursive: true, force: true });
  });

  it('the capacity line says how many more fit by memory and by CPU, with the CPU measured on the environment', async () => {
    await page.goto(isolated.instructorUrl);
    await budgetRow().waitFor();
    // The page refreshes on its own; the CPU figure needs two readings of the environment's group.
    await page.locator('#capacity', { hasText: 'by CPU' }).waitFor({ timeout: 15_000 });
    assert.match(
      await page.locator('#capacity').innerText(),
      /^1 environment\(s\); room for \d+ more by memory \([\d.]+ GiB of [\d.]+ GiB free, about 1\.0 GiB each, as the course declares\); \d+ more by CPU \([\d.]+ of \d+ cores busy, [\d.]+ cores each on average over 1\): (CPU|memory) runs out first$/,
    );
  });

  it('Budget on the row shows the memory and CPUs the environment has', async () => {
    await page.goto(isolated.instructorUrl);
    await budgetRow().waitFor();
    await budgetRow().locator('button.budget').click();
    await page.locator('#budget-title', { hasText: 'Budget of Dee Isolated · environment 12' }).waitFor();
    assert.match(await page.locator('#budget-now').innerText(), /^Now: 1 GiB of memory \(\d+(\.\d+)? GiB in use\), 1 CPU$/);
    assert.equal(await page.locator('#budget-memory').inputValue(), '1');
    assert.equal(await page.locator('#budget-cpus').inputValue(), '1');
  });

  it('a wrong amount is refused with a message saying what is wrong, and the budget stays', async () => {
    for (const [memory, cpus, said] of [
      ['lots', '1', 'Memory (GiB) must be a number above 0, not "lots"'],
      ['0', '1', 'Memory (GiB) must be a number above 0, not "0"'],
      ['1', '-2', 'CPUs must be a number above 0, not "-2"'],
    ] as const) {
      await page.fill('#budget-memory', memory);
      await page.fill('#budget-cpus', cpus);
      await page.click('#budget-apply');
      await page.locator('#budget-message.error', { hasText: said }).waitFor();
    }
    const sandbox = isolated.environments.get(12)!.sandbox!;
    assert.deepEqual([sandbox.budget.memoryBytes, sandbox.budget.cpus], [GIB, 1]);
  });

  it('a new budget is applied to the running environment: the console, the API and its control group say so', async () => {
    await page.fill('#budget-memory', '0,75');
    await page.fill('#budget-cpus', '1.5');
    await page.click('#budget-apply');
    await page.locator('#budget-message', { hasText: 'environment 12 now has 0.75 GiB of memory and 1.5 CPUs' }).waitFor();
    assert.equal(await page.locator('#budget-message').getAttribute('class'), '', 'not an error');
    await page.locator('#budget-now', { hasText: /^Now: 0\.75 GiB of memory \(.* GiB in use\), 1\.5 CPUs$/ }).waitFor();
    await budgetRow().locator('.chip.budget', { hasText: /\/0\.8 GiB$/ }).waitFor();
    assert.match((await budgetRow().locator('.chip.budget').getAttribute('title'))!, /CPUs: 1\.5$/);
    const listed = (await (await page.request.get(new URL('/api/instructor/environments', isolated.url).href)).json()) as EnvironmentList;
    const budget = listed.environments.find((e) => e.env === 12)!.budget!;
    assert.deepEqual([budget.memoryBytes, budget.cpus], [0.75 * GIB, 1.5]);
    const dirs = isolated.environments.get(12)!.sandbox!.cgroup.dirs;
    const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();
    if (dirs.length === 1) {
      // cgroup v2: one group
      assert.deepEqual([read(dirs[0]!, 'memory.max'), read(dirs[0]!, 'cpu.max')], [String(0.75 * GIB), '150000 100000']);
    } else {
      const [memoryDir, , cpuDir] = dirs;
      assert.deepEqual([Number(read(memoryDir!, 'memory.limit_in_bytes')), Number(read(cpuDir!, 'cpu.cfs_quota_us'))], [0.75 * GIB, 150_000]);
    }
  });
});
