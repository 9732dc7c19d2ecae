/**
 * Progress stays with its block: a block's id comes from its terminal and
 * command, so inserting a block at the top of a page leaves the marks and
 * the maxInvocations counts of the others where they were; and progress a
 * lab saved under the positional ids of before (`page:index`) is carried to
 * the blocks at those places, once.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadCourse } from '../../lab/course/load.js';
import { Environment } from '../../lab/environments/environment.js';
import { ProgressStore } from '../../lab/progress/store.js';
import { blockId } from '../support/blocks.js';

const root = mkdtempSync(join(tmpdir(), 'block-ids-'));
const environments: Environment[] = [];
after(async () => {
  await Promise.all(environments.map((e) => e.close()));
  rmSync(root, { recursive: true, force: true });
});

const fence = (info: string, command: string) => '```bash\n### ' + info + '\n' + command + '\n```\n\n';
const FIRST = fence('shell', 'echo first');
const ONCE = fence('{"terminalId": "shell", "maxInvocations": 1}', 'echo once');

/** The course in `dir` with page `p` as `markdown`, and an environment of it on `store` (a restart of the lab, each time). */
function environment(dir: string, markdown: string, store: ProgressStore): Environment {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'course.json'), JSON.stringify({ title: 'ids', terminals: [{ id: 'shell' }], pages: [{ id: 'p', file: 'p.md' }] }));
  writeFileSync(join(dir, 'p.md'), markdown);
  const env = new Environment({ id: 7, course: loadCourse(dir).course!, store, envRoot: join(dir, 'envs'), runSetup: false });
  environments.push(env);
  return env;
}

describe('block ids and progress', () => {
  test('a block inserted at the top of a page leaves the marks and counts on the blocks they belong to', async () => {
    const dir = join(root, 'insert');
    const store = new ProgressStore(':memory:');
    const before = environment(dir, FIRST + ONCE, store);
    const [first, once] = [blockId(before.course, 'p', 0), blockId(before.course, 'p', 1)];
    assert.deepEqual(await before.run(once), { ok: true, count: 1 });
    await before.close();

    const after = environment(dir, fence('shell', 'echo new') + FIRST + ONCE, store);
    assert.equal(blockId(after.course, 'p', 1), first);
    assert.equal(blockId(after.course, 'p', 2), once);
    assert.deepEqual(after.progress().runs, { [once]: 1 }, 'the mark stayed on "echo once", not on the block now at its old place');
    const again = await after.run(once);
    assert.equal(again.ok, false, 'its one run was used before the edit');
    assert.equal((await after.run(blockId(after.course, 'p', 0))).ok, true);
  });

  test('progress saved under positional ids is carried to the blocks at those places, once', () => {
    const dir = join(root, 'positional');
    const store = new ProgressStore(':memory:');
    const course = dir;
    mkdirSync(dir, { recursive: true });
    store.recordRun(7, course, 'p:1');
    store.recordRun(7, course, 'p:1');
    store.recordRun(7, course, 'p:9');
    const env = environment(dir, FIRST + ONCE, store);
    assert.deepEqual(env.progress().runs, { [blockId(env.course, 'p', 1)]: 2, 'p:9': 1 });
  });
});
