/**
 * Terminals and environment actions over the wire, without a browser: a
 * reconnecting client gets exactly what it missed; commands for a terminal
 * nobody watches are queued, not lost; maxInvocations, display-only blocks,
 * onLoad, checks (pass, fail, timeout); flow control holds a flooding program
 * back; progress survives a restart; reset and stop leave no processes.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Packet } from '../../lab/terminals/protocol.js';
import { TerminalSession, type Viewer } from '../../lab/terminals/session.js';
import { fixtures, connectTerminal, labFetch, startTestLab, type TestLab } from './lab-harness.js';
import { loadCourse } from '../../lab/course/load.js';
import { blockId } from '../support/blocks.js';

/** Blocks by their place in the fixture course the suite serves. */
const at = (pageId: string, index: number) => blockId(loadCourse(join(fixtures, 'course-basic')).course!, pageId, index);

let t: TestLab;
before(async () => {
  t = await startTestLab();
});
after(() => t.dispose());

const run = (block: string) => labFetch(t.lab, '/api/env/1/run', { method: 'POST', body: { block } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until `count()` reaches `n`, for up to 10 s; returns the last count. */
async function eventually(count: () => number, n: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let last = count();
  while (last !== n && Date.now() < deadline) {
    await sleep(100);
    last = count();
  }
  return last;
}

function processesMatching(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('terminal sessions', () => {
  it('a command for a terminal nobody has opened yet is queued and runs', async () => {
    const res = await run(at('intro', 1));
    assert.equal(res.status, 200);
    assert.equal(res.body.count, 1);
    const logs = await connectTerminal(t.lab, { terminal: 'logs' });
    await logs.waitFor(/^in-the-logs-terminal/m);
    await logs.close();
  });

  it('a reconnecting client gets exactly the output it has not seen', async () => {
    const a = await connectTerminal(t.lab);
    a.send({ type: Packet.INPUT, args: { data: 'echo before-$((40+2))\r' } });
    await a.waitFor(/^before-42/m);
    await sleep(200);
    const { session, seq, output: seen } = a;
    await a.close();

    const other = await connectTerminal(t.lab);
    other.send({ type: Packet.INPUT, args: { data: 'echo while-away-$((1+1))\r' } });
    await other.waitFor(/^while-away-2/m);
    await sleep(200);
    const whole = other.output;
    await other.close();

    const back = await connectTerminal(t.lab, { session, seq });
    await back.waitFor(/^while-away-2/m);
    assert.doesNotMatch(back.output, /before-42/, 'nothing seen before is sent again');
    assert.equal(seen + back.output, whole, 'old + new output is the whole output, nothing lost or doubled');
    await back.close();
  });

  it('a client of an older shell is told to start afresh', async () => {
    const c = await connectTerminal(t.lab, { session: 'not-this-shell', seq: 5 });
    await c.waitFor(/while-away-2/);
    await c.close();
  });

  it('a same-size resize (a reconnecting view) still tells the running program to redraw', async () => {
    const c = await connectTerminal(t.lab);
    c.send({ type: Packet.RESIZE, args: { cols: 90, rows: 25 } });
    c.send({ type: Packet.INPUT, args: { data: `bash -c 'trap "echo got-winch-\\$(tput lines)" WINCH; echo waiting-for-winch; while :; do sleep 0.1; done'\r` } });
    await c.waitFor(/^waiting-for-winch/m);
    c.send({ type: Packet.RESIZE, args: { cols: 90, rows: 25 } });
    await c.waitFor(/^got-winch-25/m);
    c.send({ type: Packet.INPUT, args: { data: '\x03' } });
    await c.close();
  });

  it('past the cap whole chunks are dropped and the replay says so', async () => {
    // The cap is three pty reads (4 KiB at most each): whatever the reads' sizes on a busy machine, the tail kept holds the last lines.
    const cap = 12_288;
    const s = new TerminalSession({ cwd: '/tmp', env: { PATH: process.env.PATH!, TERM: 'xterm' }, outputCap: cap, readyMarker: false });
    try {
      s.write('for i in $(seq 1 4000); do echo line-$i; done; echo end-of-lines\r');
      const frames: string[] = [];
      const start = Date.now();
      let text = '';
      while (!/\nend-of-lines\r?\n/.test(text) && Date.now() - start < 10_000) {
        frames.length = 0;
        const v: Viewer = { seq: 0, send: (f) => frames.push(f) };
        s.attach(v, undefined, 0);
        s.detach(v);
        text = frames.filter((f) => f.startsWith(Packet.OUTPUT)).join('');
        await sleep(100);
      }
      assert.match(frames[0]!, /"truncated":true/);
      assert.ok(s.bufferedChars <= cap + 4096, `kept ${s.bufferedChars} chars`);
      assert.doesNotMatch(text, /line-1\r\n/, 'the oldest output is gone');
      assert.match(text, /line-4000/);
    } finally {
      await s.close();
    }
  });
});

describe('blocks, pages and checks', () => {
  it('maxInvocations is honoured and says why', async () => {
    assert.equal((await run(at('intro', 5))).status, 200);
    const second = await run(at('intro', 5));
    assert.equal(second.status, 409);
    assert.match(second.body.error, /at most 1 time/);
  });

  it('a display-only block cannot be run, nor a block that does not exist', async () => {
    assert.equal((await run(at('intro', 4))).status, 409);
    assert.equal((await run('intro:99')).status, 404);
    assert.equal((await run('nopage:0')).status, 404);
  });

  it('a page\'s onLoad commands run the first time it is shown only', async () => {
    const logs = await connectTerminal(t.lab, { terminal: 'logs' });
    const first = await labFetch(t.lab, '/api/env/1/visit', { method: 'POST', body: { page: 'step1' } });
    assert.deepEqual(first.body, { firstTime: true });
    await logs.waitFor(/^onload-1-step1/m);
    const again = await labFetch(t.lab, '/api/env/1/visit', { method: 'POST', body: { page: 'step1' } });
    assert.deepEqual(again.body, { firstTime: false });
    await logs.close();
  });

  it('a check fails with its message, passes after the block that fixes it, and is recorded', async () => {
    const failed = await labFetch(t.lab, '/api/env/1/check', { method: 'POST', body: { page: 'step1' } });
    assert.equal(failed.body.ok, false);
    assert.match(failed.body.output, /done\.txt is missing/);
    assert.equal((await run(at('step1', 0))).status, 200);
    const shell = await connectTerminal(t.lab);
    shell.send({ type: Packet.INPUT, args: { data: 'ls done.txt && echo listed-ok\r' } });
    await shell.waitFor(/^listed-ok/m);
    await shell.close();
    const passed = await labFetch(t.lab, '/api/env/1/check', { method: 'POST', body: { page: 'step1' } });
    assert.equal(passed.body.ok, true);
    assert.match(passed.body.output, /done\.txt is there/);
    const progress = await labFetch(t.lab, '/api/env/1/progress');
    assert.equal(progress.body.checks.step1.ok, true);
    assert.equal(progress.body.current, 'step1');
  });

  it('a check that runs too long fails with a timeout', async () => {
    const started = Date.now();
    const res = await labFetch(t.lab, '/api/env/1/check', { method: 'POST', body: { page: 'finish' } });
    assert.equal(res.body.ok, false);
    assert.equal(res.body.timedOut, true);
    assert.match(res.body.output, /waiting forever\ntimed out after 1 s/);
    assert.ok(Date.now() - started < 5000);
    await sleep(300);
    assert.deepEqual(processesMatching('sleep 30$'), [], 'the timed-out check left no process');
  });
});

describe('flow control', () => {
  it('a client that does not acknowledge holds a flooding program back; acknowledging lets it finish', async () => {
    const session = t.lab.environments.get(1)!.terminal('shell');
    const c = await connectTerminal(t.lab, { ack: false });
    await sleep(200);
    c.send({ type: Packet.INPUT, args: { data: 'yes 0123456789abcdef0123456789abcdef | head -c 30000000; echo; echo flood-finished\r' } });
    const start = Date.now();
    while (!session.isPaused && Date.now() - start < 10_000) await sleep(20);
    assert.ok(session.isPaused, `the pty was paused (received ${c.output.length} chars)`);
    await sleep(500);
    const received = c.output.length;
    assert.ok(received < 4 * 1024 * 1024, `received ${received} chars while not acknowledging`);
    assert.ok(session.bufferedChars <= 5 * 1024 * 1024, `kept ${session.bufferedChars} chars`);
    await sleep(300);
    assert.ok(c.output.length - received < 256 * 1024, `nothing more flows while paused (${c.output.length - received} more chars)`);
    // Now behave: acknowledge everything as it arrives.
    let acked = 0;
    const ackAll = setInterval(() => {
      const n = c.output.length - acked;
      if (n > 0) {
        c.send({ type: Packet.ACK, args: { chars: n } });
        acked += n;
      }
    }, 5);
    try {
      await c.waitFor(/\nflood-finished/, 60_000);
    } finally {
      clearInterval(ackAll);
    }
    assert.ok(c.output.length > 30_000_000);
    await c.close();
  });
});

describe('restart, reset and stop', () => {
  it('progress survives a server restart', async () => {
    const before = (await labFetch(t.lab, '/api/env/1/progress')).body;
    await t.stop();
    const again = await startTestLab('course-basic', t.dataDir);
    try {
      const after = (await labFetch(again.lab, '/api/env/1/progress')).body;
      assert.equal(after.current, 'step1');
      assert.deepEqual(after.runs, before.runs);
      assert.equal(after.runs[at('intro', 5)], 1);
      assert.equal(after.checks.step1.ok, true);
      assert.deepEqual(after.visited, before.visited);
    } finally {
      await again.stop();
    }
  });

  it('reset ends the shells and clears progress; stop leaves no process behind', async () => {
    const again = await startTestLab('course-basic', t.dataDir);
    try {
      const c = await connectTerminal(again.lab);
      c.send({ type: Packet.INPUT, args: { data: 'sleep 7771 & sleep 7772\r' } });
      assert.equal(await eventually(() => processesMatching('sleep 777[12]').length, 2), 2);
      const res = await labFetch(again.lab, '/api/env/1/reset', { method: 'POST' });
      assert.equal(res.status, 200);
      assert.deepEqual(processesMatching('sleep 777[12]'), []);
      const progress = (await labFetch(again.lab, '/api/env/1/progress')).body;
      assert.deepEqual(progress.runs, {});
      assert.equal(progress.current, null);
      await c.close();

      const d = await connectTerminal(again.lab);
      assert.notEqual(d.session, c.session, 'a new shell after reset');
      d.send({ type: Packet.INPUT, args: { data: '(sleep 7773 &) ; nohup sleep 7774 >/dev/null 2>&1 &\r' } });
      assert.equal(await eventually(() => processesMatching('sleep 777[34]').length, 2), 2);
      await d.close();
    } finally {
      await again.stop();
    }
    assert.deepEqual(processesMatching('sleep 777[34]'), [], 'no orphans after the server stopped');
  });
});
