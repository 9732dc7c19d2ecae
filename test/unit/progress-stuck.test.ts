/**
 * What the progress store keeps for the instructor's "who is stuck", on a
 * clock the test moves: time on each page (the current one up to now), check
 * attempts and the last failing check's message, and a raised hand that
 * stays up until cleared and counts among the help requests. A database from
 * before time was counted gains it on open.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ProgressStore } from '../../lab/progress/store.js';

const dir = mkdtempSync(join(tmpdir(), 'progress-stuck-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let clock = 1_000_000;
const now = () => clock;

describe("the progress store's view of who is stuck", () => {
  test('counts the time on each page, the current one up to now, and not twice for a page shown again', () => {
    const store = new ProgressStore(':memory:', now);
    store.setCurrent(1, 'c', 'intro');
    clock += 30_000;
    store.setCurrent(1, 'c', 'intro');
    clock += 30_000;
    store.setCurrent(1, 'c', 'step1');
    clock += 90_000;
    assert.deepEqual(store.timeOnPages(1, 'c'), { intro: 60_000, step1: 90_000 });
    store.setCurrent(1, 'c', 'intro');
    clock += 5_000;
    assert.deepEqual(store.timeOnPages(1, 'c'), { intro: 65_000, step1: 90_000 });
    assert.deepEqual(store.timeOnPages(2, 'c'), {}, 'another environment has its own');
  });

  test("tells how often a page's check ran and what the latest failure said; a pass clears the failure", () => {
    const store = new ProgressStore(':memory:', now);
    store.recordCheck(1, 'c', 'step1', { ok: false, output: '✘ done.txt is missing\n', timedOut: false });
    store.recordCheck(1, 'c', 'step1', { ok: false, output: 'checking…\n✘ still missing\n', timedOut: false });
    assert.deepEqual({ ...store.pageStats(1, 'c', 'step1'), ms: 0 }, { ms: 0, checkAttempts: 2, lastFailure: '✘ still missing' });
    store.recordCheck(1, 'c', 'step1', { ok: true, output: '✔ there\n', timedOut: false });
    assert.equal(store.pageStats(1, 'c', 'step1').lastFailure, null);
    assert.equal(store.pageStats(1, 'c', 'step1').checkAttempts, 3);
  });

  test('a raised hand stays up, the same one, until cleared; every raise counts as a help request', () => {
    const store = new ProgressStore(':memory:', now);
    const first = store.raiseHand(1, 'c', 'step1', '✘ still missing');
    clock += 1000;
    assert.deepEqual(store.raiseHand(1, 'c', 'step2', 'other'), first, 'a second raise keeps the first hand');
    assert.deepEqual(store.openHand(1, 'c'), first);
    assert.equal(store.clearHand(1, 'c'), true);
    assert.equal(store.openHand(1, 'c'), null);
    assert.equal(store.clearHand(1, 'c'), false, 'nothing left to clear');
    store.raiseHand(1, 'c', 'step3', 'again');
    assert.equal(store.helpRequests(1, 'c'), 2);
    store.clear(1, 'c');
    assert.equal(store.openHand(1, 'c'), null, 'a reset forgets the hands');
    assert.equal(store.helpRequests(1, 'c'), 0);
  });

  test('a database from before time was counted gains it on open, the current page kept', () => {
    const path = join(dir, 'old.sqlite');
    const old = new Database(path);
    old.exec('CREATE TABLE current_page (env INTEGER, course TEXT, page TEXT NOT NULL, PRIMARY KEY (env, course))');
    old.prepare('INSERT INTO current_page VALUES (1, ?, ?)').run('c', 'step4');
    old.close();
    const store = new ProgressStore(path, now);
    assert.equal(store.get(1, 'c').current, 'step4');
    store.setCurrent(1, 'c', 'step4');
    clock += 2000;
    assert.deepEqual(store.timeOnPages(1, 'c'), { step4: 2000 });
    store.close();
  });
});
