/**
 * The one process supervisor (common/processes.ts) on real processes: a
 * program started in the background is found by its tag and pid file, a
 * reused pid is not taken for it, a stop ends its whole group, and a program
 * that ignores SIGTERM is killed once the grace period is over, within a
 * bounded wait.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { findTagged, isRunning, procStat, sessionMembers, stopGroup, Supervised, waitUntil } from '../../common/processes.js';

const root = mkdtempSync(join(tmpdir(), 'processes-'));
const TAG = 'LAB_TEST_PROCESS';
after(() => rmSync(root, { recursive: true, force: true }));

describe('Supervised', () => {
  test('starts a program in its own group, reports it running, and stops it with everything it started', async () => {
    const sup = new Supervised(join(root, 'a'), TAG);
    assert.deepEqual(sup.status(() => true), { running: false, detail: 'never started' });
    // the program starts a child of its own: the stop must end both
    const pid = sup.start('bash', ['-c', 'sleep 60 & echo started; wait'], { logFile: join(root, 'a.log') });
    assert.equal(sup.start('bash', ['-c', 'exit 1'], { logFile: join(root, 'a.log') }), pid, 'a running program is not started twice');
    // on a loaded machine bash takes a while to start its child
    await waitUntil(() => findTagged(TAG, join(root, 'a')).length === 2 && readFileSync(join(root, 'a.log'), 'utf8').includes('started'), 10_000);
    const status = sup.status();
    assert.equal(status.running, true);
    assert.equal(status.pid, pid);
    assert.equal(procStat(pid)!.pgrp, pid, 'it leads a process group of its own');
    const group = findTagged(TAG, join(root, 'a'));
    assert.equal(group.length, 2, `the program and its child carry the tag: ${group.join(', ')}`);
    assert.match(readFileSync(join(root, 'a.log'), 'utf8'), /^started$/m);

    assert.equal(await sup.stop(5_000), true);
    for (const p of group) assert.equal(isRunning(p), false, `process ${p} ended`);
    assert.deepEqual(sup.status(), { running: false, detail: 'stopped' });
    assert.equal(await sup.stop(5_000), false, 'stopping a stopped program says it was not running');
  });

  test('a pid file naming a process that is not ours reports the program gone', () => {
    const sup = new Supervised(join(root, 'b'), TAG);
    sup.start('true', [], { logFile: join(root, 'b.log') });
    writeFileSync(join(root, 'b', 'pid.json'), JSON.stringify({ pid: process.pid, startedAt: Date.now() }));
    assert.deepEqual(sup.status(), { running: false, detail: `process ${process.pid} is gone` });
    assert.equal(sup.pid(), undefined);
  });

  test('a command that does not exist is refused when it is started', () => {
    const sup = new Supervised(join(root, 'c'), TAG);
    assert.throws(() => sup.start(join(root, 'no-such-program'), [], { logFile: join(root, 'c.log') }), /could not start .*no-such-program/);
  });
});

describe('stopGroup', () => {
  test('a group that ignores SIGTERM is killed after the grace period, and the wait is bounded', async () => {
    const child = spawn('bash', ['-c', "trap '' TERM; sleep 60 & wait; wait"], { detached: true, stdio: 'ignore' });
    await waitUntil(() => sessionMembers(child.pid!).length >= 2, 10_000);
    const members = sessionMembers(child.pid!);
    assert.ok(members.length >= 2, `bash and its sleep run in the new session: ${members.join(', ')}`);
    const t0 = Date.now();
    const outcome = await stopGroup(child.pid!, () => members.every((p) => !isRunning(p)), { graceMs: 300, killMs: 2_000 });
    assert.equal(outcome, 'killed');
    assert.ok(Date.now() - t0 < 2_500, `stopped in ${Date.now() - t0} ms`);
  });

  test('a wait that cannot end says so instead of waiting forever', async () => {
    const t0 = Date.now();
    assert.equal(await stopGroup(999_999_999, () => false, { graceMs: 100, killMs: 100 }), 'stuck');
    assert.ok(Date.now() - t0 < 1_000);
  });
});
