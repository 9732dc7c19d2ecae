/**
 * A Katapod scenario whose step 1 offers two ways (pages reached only by
 * their links), in real Chromium: Next never walks the learner into a way
 * they did not choose, Back retraces the path they took, and the step list
 * shows the two ways as alternatives of step 1, the main steps numbered on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, startTestLab, type TestLab } from './lab-harness.js';

let t: TestLab;
let browser: Browser;
let page: Page;

async function on(title: string, position: string): Promise<void> {
  await page.locator('#page h1', { hasText: title }).waitFor();
  await page.locator('#position', { hasText: position }).waitFor();
}

describe('a Katapod scenario that branches', () => {
  before(async () => {
    [t, browser] = await Promise.all([startTestLab('katapod-branches'), launchBrowser()]);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(t.lab.openUrl);
    await on('Branches', '1 / 4');
  });
  after(async () => {
    await browser?.close();
    await t?.dispose();
  });

  test('Next follows the main steps and never enters a way the learner did not choose', async () => {
    await page.click('#next-button');
    await on('Pick a way', '2 / 4');
    await page.click('#next-button');
    await on('Step two', '3 / 4');
    await page.click('#back-button');
    await on('Pick a way', '2 / 4');
  });

  test("a way chosen by its link is the learner's path: Back returns to the choice, Next goes on after it", async () => {
    await page.click('#page a:has-text("The long way")');
    await on('The long way', '2 / 4 · alternative');
    await page.click('#back-button');
    await on('Pick a way', '2 / 4');
    await page.click('#page a:has-text("The short way")');
    await on('The short way', '2 / 4 · alternative');
    await page.click('#next-button');
    await on('Step two', '3 / 4');
    // Back retraces the learner's own path: to the way they took, not to the one before in the file list.
    await page.click('#back-button');
    await on('The short way', '2 / 4 · alternative');
  });

  test('the step list numbers the main steps and shows the two ways as alternatives of step 1', async () => {
    const items = await page.locator('#steps > li').evaluateAll((lis) =>
      lis.map((li) => `${li.classList.contains('alternative') ? 'alt' : (li as HTMLLIElement).value}: ${li.textContent}`),
    );
    assert.deepEqual(items, ['1: Branches', '2: Pick a way', 'alt: The short way', 'alt: The long way', '3: Step two', '4: Done']);
    assert.equal(await page.locator('#steps > li.alternative').first().evaluate((li) => getComputedStyle(li, '::before').content), '"↳ or: "');
  });
});
