/**
 * Saved states (course.json "states"), on a fixture course whose pages each
 * append a line to notes.txt and whose save and restore commands copy that
 * file: a reset to step 3 plays the pages before it and saves the state at
 * the start of each page it reaches, refusing one whose folder holds a link;
 * a second reset to step 3 restores the saved state instead of playing, and
 * the check of the page before confirms it; a state that does not restore
 * falls back to playing; a page whose check proves what happened, not a
 * state ("confirmsRestore": false), is passed over for the check before it;
 * another version of the course has states of its own. The ZDM course's states, on real Cassandra and proxies, are in
 * test/integration/instructor-reset.test.ts.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadCourse } from '../../lab/course/load.js';
import { StateShelf } from '../../lab/environments/states.js';
import { labFetch, startTestLab, type TestLab } from './lab-harness.js';

const fixture = resolve(new URL('../fixtures/course-states', import.meta.url).pathname);
let t: TestLab;

async function resetTo(to: string): Promise<{ lines: string[]; restored: boolean; current: string | null }> {
  const lines: string[] = [];
  const outcome = await t.lab.classroom.reset(1, { to, onProgress: (line) => lines.push(line) });
  return { lines, restored: outcome.restored === true, current: outcome.current };
}

function notes(): string {
  return readFileSync(join(t.lab.environments.get(1)!.workDir, 'notes.txt'), 'utf8');
}

describe('saved states of a course', () => {
  before(async () => {
    t = await startTestLab('course-states');
    await t.lab.environments.get(1)!.setupDone();
  });
  after(async () => {
    await t?.stop();
  });

  test('a reset to step 3 plays the pages before it and saves the state at the start of each page it reaches, but not one with a link in it', async () => {
    const { lines, restored, current } = await resetTo('step3');
    assert.equal(restored, false);
    assert.equal(current, 'step3');
    assert.equal(notes(), 'intro\none\ntwo\n');
    assert.ok(lines.some((l) => /^step1: its state saved \([\d.]+ s\): a later reset to it restores it$/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('step2: its state was not saved: hostname is not a regular file'), lines.join('\n'));
    assert.ok(lines.some((l) => /^step3: its state saved/.test(l)), lines.join('\n'));
    const shelf = t.lab.classroom.shelf!;
    assert.deepEqual(shelf.pages(), ['step1', 'step3']);
    // The shelf is the lab's own: no learner account reads or changes it.
    assert.equal(statSync(shelf.dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(shelf.dir, 'step3', 'notes.txt')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(shelf.dir, 'step3', 'notes.txt'), 'utf8'), 'intro\none\ntwo\n');
    // The console's list says which pages a reset reaches from a saved state.
    const list = await labFetch(t.lab, '/api/instructor/environments', { token: t.lab.instructorToken });
    assert.deepEqual((list.body as { course: { pages: { id: string; saved: boolean }[] } }).course.pages.map((p) => `${p.id} ${p.saved}`), ['intro false', 'step1 true', 'step2 false', 'step3 true', 'step4 false']);
  });

  test('a second reset to step 3 restores its saved state instead of playing, and step 2\'s check confirms it', async () => {
    // Something of the learner's own after step 3, which the restore must undo.
    writeFileSync(join(t.lab.environments.get(1)!.workDir, 'notes.txt'), 'intro\none\ntwo\nthree\nmine\n');
    const { lines, restored, current } = await resetTo('step3');
    assert.equal(restored, true, lines.join('\n'));
    assert.equal(current, 'step3');
    assert.equal(notes(), 'intro\none\ntwo\n', 'no block of an earlier page ran again');
    assert.ok(lines.includes('environment 1: restoring the saved state of step3'), lines.join('\n'));
    assert.ok(lines.some((l) => /^environment 1: on step3 after [\d.]+ s, from its saved state$/.test(l)), lines.join('\n'));
    const progress = t.lab.environments.get(1)!.progress();
    assert.equal(progress.current, 'step3');
    assert.deepEqual(['intro', 'step1', 'step2'].map((p) => progress.checks[p]?.ok), [true, true, true]);
    assert.equal(progress.checks.step3, undefined);
    assert.match(progress.checks.intro!.output, /restored from a saved state/);
    // what the learner's page shows of the setup: it ran for step 3
    assert.equal(t.lab.environments.get(1)!.setupNote, 'set up at step3');
  });

  test('a saved state that does not restore falls back to playing the pages, and says why', async () => {
    const shelf = t.lab.classroom.shelf!;
    rmSync(join(shelf.dir, 'step3', 'notes.txt'));
    const { lines, restored, current } = await resetTo('step3');
    assert.equal(restored, false);
    assert.equal(current, 'step3');
    assert.ok(lines.some((l) => /^environment 1: the saved state of step3 did not restore \(the course's restore command failed: .*\); playing the course to it instead$/.test(l)), lines.join('\n'));
    assert.equal(notes(), 'intro\none\ntwo\n');
  });

  test('a restored page after one whose check proves what happened, not a state ("confirmsRestore": false), is confirmed by the check before that one', async () => {
    // Played, step 3's block leaves step3-ran, which its check looks for and no state holds.
    const played = await resetTo('step4');
    assert.equal(played.restored, false);
    assert.equal(notes(), 'intro\none\ntwo\nthree\n');
    const { lines, restored, current } = await resetTo('step4');
    assert.equal(restored, true, lines.join('\n'));
    assert.equal(current, 'step4');
    assert.ok(lines.some((l) => /^environment 1: step2's check passes/.test(l)), lines.join('\n'));
    assert.equal(notes(), 'intro\none\ntwo\nthree\n');
  });

  test('another version of the course does not see these states', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'course-states-'));
    try {
      cpSync(fixture, copy, { recursive: true });
      const same = new StateShelf(t.dataDir, loadCourse(copy).course!);
      assert.deepEqual(same.pages(), t.lab.classroom.shelf!.pages(), 'the same files are the same version');
      writeFileSync(join(copy, 'step2.md'), '# Page step2\n\n```bash\necho TWO >> notes.txt\n```\n');
      const changed = new StateShelf(t.dataDir, loadCourse(copy).course!);
      assert.deepEqual(changed.pages(), []);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
