/**
 * Warm seats, in headless Chromium over a fixture course whose setup takes
 * four seconds: the instructor asks the console for two warm seats and sees
 * them start and become ready; a learner created from the console takes one
 * (the console says so) and their invite link opens a first page whose setup
 * ran before the learner was created, while a replacement starts; seats are
 * not rows of the table; after a restart of the lab the learner and the seats
 * are hosted again; fewer seats remove the surplus; a learner cannot change
 * the seats.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { fixtures, labFetch, launchBrowser } from './lab-harness.js';

let lab: LabServer;
let dataDir: string;
let browser: Browser;
let consolePage: Page;
let learner: { env: number; invite: string; createdAt: number };
const course = join(fixtures, 'course-seats');
const start = (instructorToken = 'seats-instructor-token') =>
  startLab({ courseDir: course, port: 0, dataDir, environmentId: null, bytesPerEnvironment: 1, instructorToken });

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'instructor-seats-'));
  [lab, browser] = await Promise.all([start(), launchBrowser()]);
  consolePage = await (await browser.newContext({ viewport: { width: 1400, height: 800 } })).newPage();
});
after(async () => {
  await browser?.close();
  await lab?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const seatsState = () => consolePage.locator('#seats-state');
const seats = async () => (await labFetch(lab, '/api/instructor/environments', { token: lab.instructorToken })).body.seats as { reserved: number; ready: number; starting: number; inUse: number };

describe('warm seats', () => {
  it('the console keeps two warm seats: they start, then are ready, and are not rows of the table', async () => {
    await consolePage.goto(lab.instructorUrl);
    await consolePage.fill('#seats-count', '2');
    await consolePage.click('#seats-button');
    await seatsState().filter({ hasText: '0 ready · 2 starting · 0 in use' }).waitFor();
    await seatsState().filter({ hasText: '2 ready · 0 starting · 0 in use' }).waitFor({ timeout: 30_000 });
    assert.equal(await consolePage.locator('#environments tbody tr').count(), 0);
    assert.equal(await consolePage.locator('#empty').isVisible(), true);
  });

  it("a learner created from the console takes a ready seat: their first page is set up already, and a replacement starts", async () => {
    const createdAt = Date.now();
    await consolePage.fill('#create-name', 'Cleo');
    await consolePage.click('#create-button');
    await consolePage.locator('#create-message', { hasText: /environment \d+ created for Cleo from a warm seat, ready now/ }).waitFor();
    const row = consolePage.locator('#environments tbody tr');
    await row.waitFor();
    const env = Number(await row.getAttribute('data-env'));
    assert.ok(env >= 20 && env <= 30, `environment ${env} is not one of the course's numbers`);
    learner = { env, invite: (await row.locator('button.invite').getAttribute('title'))!, createdAt };
    // the setup finished before the learner was created
    const setUpAt = Number(readFileSync(join(dataDir, String(env), 'setup-done.txt'), 'utf8'));
    assert.ok(setUpAt < createdAt, `the seat was set up at ${setUpAt}, after the learner was created at ${createdAt}`);
    await seatsState().filter({ hasText: '1 ready · 1 starting · 1 in use' }).waitFor();

    const page = await (await browser.newContext()).newPage();
    await page.goto(learner.invite);
    await page.locator('#page h1', { hasText: 'Warm seats' }).waitFor();
    assert.notEqual(await page.locator('#setup-status').getAttribute('data-state'), 'running', 'the learner waits for a setup');
    assert.equal((await labFetch(lab, `/api/env/${env}/progress`, { token: lab.classroom.tokenOf(env)! })).body.setup, 'done');
    await page.context().close();
    await seatsState().filter({ hasText: '2 ready · 0 starting · 1 in use' }).waitFor({ timeout: 30_000 });
  });

  it('a learner cannot change the seats', async () => {
    const res = await labFetch(lab, '/api/instructor/seats', { method: 'POST', body: { reserved: 9 }, token: lab.classroom.tokenOf(learner.env)! });
    assert.equal(res.status, 403);
    const bad = await labFetch(lab, '/api/instructor/seats', { method: 'POST', body: { reserved: -1 }, token: lab.instructorToken });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /"reserved" must be a whole number from 0 to 254/);
  });

  it('after a restart of the lab the learner and the warm seats are hosted again', async () => {
    await lab.close();
    lab = await start();
    await consolePage.goto(lab.instructorUrl);
    await seatsState().filter({ hasText: '2 ready · 0 starting · 1 in use' }).waitFor({ timeout: 30_000 });
    assert.deepEqual(await consolePage.locator('#environments tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-env'))), [String(learner.env)]);
    assert.equal(await consolePage.inputValue('#seats-count'), '2');
  });

  it('fewer seats remove the surplus', async () => {
    const before = [...lab.environments.keys()].filter((k) => k !== learner.env);
    assert.equal(before.length, 2);
    const res = await labFetch(lab, '/api/instructor/seats', { method: 'POST', body: { reserved: 0 }, token: lab.instructorToken });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    for (let i = 0; i < 100 && (await seats()).ready > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await seats(), { reserved: 0, ready: 0, starting: 0, inUse: 1, failed: 0, short: null });
    for (let i = 0; i < 100 && before.some((k) => existsSync(join(dataDir, String(k)))); i++) await new Promise((r) => setTimeout(r, 100));
    for (const k of before) assert.equal(existsSync(join(dataDir, String(k))), false, `seat ${k}'s folder is still there`);
    assert.deepEqual([...lab.environments.keys()], [learner.env]);
  });
});
