/**
 * Seat lifetime, in headless Chromium over a fixture course that declares a
 * suspend command: the instructor gives environments a lifetime, an idle
 * time and an extension limit from the console; the learner's page counts
 * down to the end and "Extend" adds 15 minutes until the limit; an
 * environment left without activity is put to sleep (its suspend runs, its
 * terminals end, the page and the console say so) and wakes when its learner
 * is back (the setup runs for their page and what ran in the terminal is
 * started again); an environment whose lifetime is over is destroyed. The
 * lab looks at lifetimes every 200 ms here (15 s by default).
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { fixtures, labFetch, launchBrowser, waitForTerminal } from './lab-harness.js';

let lab: LabServer;
let dataDir: string;
let browser: Browser;
let consolePage: Page;
let dora: Page;
let eliCreatedAt: number;
/** Eli's lifetime, from its creation: 24 s more than the set-up took, so that a slow start (a busy machine) does not end it first. */
let lifetimeMs: number;
const DORA = 22;
const ELI = 23;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'instructor-lifetime-'));
  [lab, browser] = await Promise.all([
    startLab({ courseDir: join(fixtures, 'course-lifetime'), port: 0, dataDir, environmentId: null, bytesPerEnvironment: 1, lifecycleCheckMs: 200 }),
    launchBrowser(),
  ]);
  const dToken = lab.classroom.create({ env: DORA, name: 'Dora' }).token;
  eliCreatedAt = Date.now();
  lab.classroom.create({ env: ELI, name: 'Eli' });
  consolePage = await (await browser.newContext({ viewport: { width: 1400, height: 800 } })).newPage();
  dora = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await consolePage.goto(lab.instructorUrl);
  await dora.goto(`${lab.url}?token=${dToken}&env=${DORA}`);
  await dora.locator('#page h1', { hasText: 'Lifetime' }).waitFor();
});
after(async () => {
  await browser?.close();
  await lab?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const log = (env: number) => readFileSync(join(dataDir, String(env), 'life.log'), 'utf8');
const doraRow = () => consolePage.locator(`#environments tbody tr[data-env="${DORA}"]`);

describe('seat lifetime', () => {
  it("the instructor sets the class's lifetime rules; the learner's page counts down and extends up to the limit", async () => {
    lifetimeMs = Date.now() - eliCreatedAt + 24_000;
    await consolePage.fill('#idle-minutes', '0.12');
    await consolePage.fill('#lifetime-minutes', String(lifetimeMs / 60_000));
    await consolePage.fill('#extend-limit-minutes', '15');
    await consolePage.click('#lifetime-button');
    await doraRow().locator('.ends', { hasText: /ends in \d+ s/ }).waitFor();

    await dora.locator('#lifetime-left', { hasText: /^ends in \d+ s$/ }).waitFor({ timeout: 10_000 });
    assert.equal(await dora.locator('#lifetime').getAttribute('data-state'), 'expiring');
    await dora.click('#extend-button');
    await dora.locator('#lifetime-left', { hasText: /^ends in 15 min$/ }).waitFor();
    assert.equal(await dora.locator('#extend-button').isHidden(), true, 'Extend is offered past the limit');
    const again = await labFetch(lab, `/api/env/${DORA}/extend`, { method: 'POST', token: lab.classroom.tokenOf(DORA)! });
    assert.equal(again.status, 409);
    assert.match(again.body.error, /extended by 15 minutes already, the most the instructor allows/);
  });

  it('an environment left without activity is put to sleep: its suspend runs, its terminals end, the page and the console say so', async () => {
    await dora.locator('#sleep-banner').waitFor({ timeout: 40_000 });
    assert.match(log(DORA), /^suspended$/m);
    await doraRow().locator('.chip.lifecycle', { hasText: 'asleep' }).waitFor();
    assert.equal(lab.environments.get(DORA)!.sleep, 'asleep');
  });

  it('the learner is back: the environment wakes, the setup runs for their page and the terminal gets what ran there again', async () => {
    const setups = (log(DORA).match(/^set up for /gm) ?? []).length;
    // no more sleeping from here: the checks below must see it awake
    assert.equal((await labFetch(lab, '/api/instructor/lifetime', { method: 'POST', body: { idleMinutes: 0 }, token: lab.instructorToken })).status, 200);
    await dora.click('#wake-button');
    await dora.locator('#sleep-banner').waitFor({ state: 'hidden', timeout: 10_000 });
    await waitForTerminal(dora, 'shell', new RegExp(`^resumed-${DORA}$`, 'm'));
    assert.match(log(DORA), /^set up for intro$/m);
    assert.equal((log(DORA).match(/^set up for /gm) ?? []).length, setups + 1);
    assert.equal(lab.environments.get(DORA)!.sleep, 'awake');
    await doraRow().locator('.chip.lifecycle').waitFor({ state: 'detached' });
  });

  it('an environment whose lifetime is over is destroyed', async () => {
    const token = lab.classroom.tokenOf(ELI)!;
    const row = consolePage.locator(`#environments tbody tr[data-env="${ELI}"]`);
    await row.waitFor({ state: 'detached', timeout: Math.max(5_000, eliCreatedAt + lifetimeMs + 10_000 - Date.now()) });
    assert.ok(Date.now() >= eliCreatedAt + lifetimeMs, 'it ended before its lifetime was over');
    assert.equal(existsSync(join(dataDir, String(ELI))), false);
    assert.equal((await labFetch(lab, `/api/env/${ELI}/progress`, { token })).status, 403);
    assert.ok(lab.environments.has(DORA), 'the extended environment ended too');
  });
});
