/**
 * The course's writer loop (steps/scripts/writer.sh) against a stand-in API
 * that refuses some requests: it posts <prefix>-1, <prefix>-2, … for eva,
 * reads eva's status back now and then, prints each failure the moment it
 * happens, records every write with its answer in writer.log, and ends with a
 * summary on Ctrl-C. Started again (`--resume` after a restart of the lab), it
 * starts the loop that ran before, with its options, waits for the API, then
 * goes on numbering where it stopped; a loop the learner had stopped with
 * Ctrl-C stays stopped.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/sample-api.js';

const writer = new URL('../../steps/scripts/writer.sh', import.meta.url).pathname;
let server: Server;
let url: string;
let dir: string;
const requests: string[] = [];

/** The loop started as its terminal starts it (its own process group), with what it prints and how it ends. */
function startWriter(args: string[], api: string | undefined, dir: string, stderr = false) {
  const env: Record<string, string | undefined> = { ...process.env, LAB_ENV_DIR: dir };
  if (api !== undefined) env.SAMPLE_API_URL = api;
  const child = spawn('bash', [writer, ...args], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const loop = { child, out: '', exited: new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))) };
  child.stdout.on('data', (b: Buffer) => (loop.out += b.toString('utf8')));
  if (stderr) child.stderr.on('data', (b: Buffer) => (loop.out += b.toString('utf8')));
  return loop;
}
let apiMode = 'ORIGIN';

describe('the writer loop', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zdm-writer-'));
    // The third write is refused, as a database outage would make the API do.
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"mode":"${apiMode}","contactPoints":[],"connected":true}`);
        return;
      }
      const refused = req.url === '/status/eva/phase7-3' || req.url === '/status/eva/hangup-3';
      res.writeHead(refused ? 503 : 200, { 'content-type': 'application/json' });
      res.end(refused ? '{"error":"database unavailable"}' : '{}');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('prints each failure as it happens, records every write, and sums up on Ctrl-C', async () => {
    const loop = startWriter(['phase7'], url, dir, true);
    const { child, exited } = loop;

    await eventually('six writes were made', async () => requests.filter((r) => r.startsWith('POST')).length >= 6, 15_000);
    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 0);

    assert.match(loop.out, /^writing a status for eva every 0\.2 s through http:\/\/127\.0\.0\.1:\d+ as phase7-1, phase7-2, … \(Ctrl-C stops\)$/m);
    assert.match(loop.out, /^\d\d:\d\d:\d\d write phase7-3 FAILED: HTTP 503$/m);
    assert.equal(loop.out.match(/FAILED/g)?.length, 1, 'only the refused write is reported');
    const posts = requests.filter((r) => r.startsWith('POST'));
    assert.deepEqual(posts.slice(0, 5), [1, 2, 3, 4, 5].map((n) => `POST /status/eva/phase7-${n}`));
    assert.ok(requests.includes('GET /status/eva'), 'eva is read back every fifth write');

    const log = readFileSync(join(dir, 'writer.log'), 'utf8').trim().split('\n');
    assert.deepEqual(log.slice(0, 4), ['phase7-1 200', 'phase7-2 200', 'phase7-3 503', 'phase7-4 200']);
    const writes = log.length;
    assert.match(loop.out, new RegExp(`\\nphase7: (${writes}|${writes + 1}) writes, 1 failed requests\\n$`));
  });

  test('stopped with Ctrl-C (the drill pauses it so), the loop is not started again by --resume after a restart of the lab', async () => {
    requests.length = 0;
    const loop = startWriter(['--resume'], url, dir);
    assert.equal(await loop.exited, 0);
    assert.match(loop.out, /^the writer loop stays stopped, as it was before the restart \(Ctrl-C, as phase7\): the page says when to start it again$/m);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(requests.filter((r) => r.startsWith('POST')), [], 'nothing is written');
  });

  test('--resume goes on under the last prefix where the loop stopped, after waiting for the API', async () => {
    // The loop runs again, and the lab stops: its terminal hangs up, which is no Ctrl-C of the learner.
    requests.length = 0;
    const running = startWriter(['phase7'], url, dir);
    await eventually('the loop writes', async () => requests.filter((r) => r.startsWith('POST')).length >= 2, 15_000);
    process.kill(-running.child.pid!, 'SIGHUP');
    await running.exited;
    const logged = readFileSync(join(dir, 'writer.log'), 'utf8').trim().split('\n').filter((l) => !l.startsWith('read '));
    const last = Number(/^phase7-(\d+) /.exec(logged.at(-1)!)![1]);
    // First with no API to answer: it waits, saying so, and writes nothing.
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', () => ok()));
    const nowhere = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((ok) => closed.close(() => ok()));
    const waiting = startWriter(['--resume'], nowhere, dir);
    await eventually('it says it waits for the API', async () => /^waiting for the API at http:\/\/127\.0\.0\.1:\d+ to answer, connected, before writing \(0 s\)$/m.test(waiting.out), 10_000);
    process.kill(-waiting.child.pid!, 'SIGKILL');
    assert.equal(readFileSync(join(dir, 'writer.log'), 'utf8').trim().split('\n').filter((l) => !l.startsWith('read ')).length, logged.length);

    requests.length = 0;
    const loop = startWriter(['--resume'], url, dir);
    const { child, exited } = loop;
    await eventually('two more writes were made', async () => requests.filter((r) => r.startsWith('POST')).length >= 2, 15_000);
    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 0);
    assert.match(loop.out, new RegExp(`as phase7-${last + 1}, phase7-${last + 2}, …`));
    assert.deepEqual(requests.filter((r) => r.startsWith('POST')).slice(0, 2), [`POST /status/eva/phase7-${last + 1}`, `POST /status/eva/phase7-${last + 2}`]);
    const names = readFileSync(join(dir, 'writer.log'), 'utf8').trim().split('\n').filter((l) => !l.startsWith('read ')).map((l) => l.split(' ')[0]);
    assert.equal(new Set(names).size, names.length, 'every write has a name of its own');
  });

  test("a request that fails as the loop's own terminal hangs up is not recorded: the lab's stopping is no failure of the migration", async () => {
    requests.length = 0;
    const { child, exited } = startWriter(['hangup'], url, dir);
    await eventually('the third write was refused', async () => requests.includes('POST /status/eva/hangup-3'), 15_000);
    process.kill(-child.pid!, 'SIGHUP');
    await exited;
    const logged = readFileSync(join(dir, 'writer.log'), 'utf8').split('\n').filter((l) => l.startsWith('hangup-'));
    assert.deepEqual(logged, ['hangup-1 200', 'hangup-2 200']);
  });

  test('with --mode it waits until the API runs in that mode, then writes its phase from 1', async () => {
    requests.length = 0;
    const loop = startWriter(['phase9', '--mode', 'TARGET'], url, dir);
    const { child, exited } = loop;
    await eventually('it says it waits for TARGET', async () => /^waiting for the API at http:\/\/127\.0\.0\.1:\d+ to run in TARGET mode, connected, before writing \(0 s\)$/m.test(loop.out), 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(requests.filter((r) => r.startsWith('POST')), [], 'nothing is written while the API runs in ORIGIN mode');
    apiMode = 'TARGET';
    await eventually('it writes once the API runs on Target', async () => requests.filter((r) => r.startsWith('POST')).length >= 2, 10_000);
    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 0);
    apiMode = 'ORIGIN';
    assert.deepEqual(requests.filter((r) => r.startsWith('POST')).slice(0, 2), ['POST /status/eva/phase9-1', 'POST /status/eva/phase9-2']);
  });

  test('--resume starts the loop the page had started, with its options: Phase 5 waiting for TARGET before the switch, not the phase of the last write', async () => {
    const own = mkdtempSync(join(tmpdir(), 'zdm-writer-resume-'));
    try {
      writeFileSync(join(own, 'writer.log'), ['phase4-1 200', 'phase4-2 200', 'read 200', 'phase4-3 200'].map((l) => `${l}\n`).join(''));
      requests.length = 0;
      const waiting = startWriter(['phase5', '--mode', 'TARGET'], url, own);
      await eventually('it waits for TARGET', async () => /to run in TARGET mode/.test(waiting.out), 10_000);
      process.kill(-waiting.child.pid!, 'SIGHUP');
      await waiting.exited;
      assert.equal(readFileSync(join(own, 'writer.loop'), 'utf8'), 'running phase5 --mode TARGET\n');

      const loop = startWriter(['--resume'], url, own);
      await eventually('the resumed loop waits for TARGET too', async () => /^waiting for the API at http:\/\/127\.0\.0\.1:\d+ to run in TARGET mode, connected, before writing \(0 s\)$/m.test(loop.out), 10_000);
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(requests.filter((r) => r.startsWith('POST')), [], 'no phase4 write while the API still goes through the proxies: after the switch it would reach Target alone');
      apiMode = 'TARGET';
      await eventually('it writes once the API runs on Target', async () => requests.filter((r) => r.startsWith('POST')).length >= 2, 10_000);
      process.kill(-loop.child.pid!, 'SIGINT');
      assert.equal(await loop.exited, 0);
      apiMode = 'ORIGIN';
      assert.deepEqual(requests.filter((r) => r.startsWith('POST')).slice(0, 2), ['POST /status/eva/phase5-1', 'POST /status/eva/phase5-2']);
      assert.equal(readFileSync(join(own, 'writer.loop'), 'utf8'), 'paused phase5 --mode TARGET\n');
    } finally {
      apiMode = 'ORIGIN';
      rmSync(own, { recursive: true, force: true });
    }
  });

  test('with --also-update it sets one fixed row of that user to the name of each write, right after the write', async () => {
    requests.length = 0;
    const loop = startWriter(['phase8', '--also-update', 'lena'], url, dir);
    const { child, exited } = loop;
    await eventually('three writes and their updates', async () => requests.filter((r) => r.startsWith('POST /status/lena/')).length >= 3, 10_000);
    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 0);
    assert.match(loop.out, /^and with each write, lena's status at 2024-01-01T00:00:00Z: one row, updated again and again$/m);
    assert.deepEqual(requests.filter((r) => r.startsWith('POST')).slice(0, 4), [
      'POST /status/eva/phase8-1',
      'POST /status/lena/phase8-1?when=2024-01-01T00:00:00Z',
      'POST /status/eva/phase8-2',
      'POST /status/lena/phase8-2?when=2024-01-01T00:00:00Z',
    ]);
    const log = readFileSync(join(dir, 'writer.log'), 'utf8');
    assert.doesNotMatch(log, /lena|update/, 'updates that succeed are not recorded: the record holds the writes of the proof');
  });

  test('a write the API drops without an answer, or sent while the API is away, fails as "no answer" (000), and the loop writes on when it is back', async () => {
    // An API of its own: the second write's connection is dropped unanswered; then it stops listening for a while.
    let posts = 0;
    const seen: string[] = [];
    const flaky = createServer((req, res) => {
      if (req.url === '/health') {
        res.end('{"mode":"ORIGIN","connected":true}');
        return;
      }
      seen.push(`${req.method} ${req.url}`);
      if (req.method === 'POST' && ++posts === 2) {
        req.socket.destroy();
        return;
      }
      res.end('{}');
    });
    await new Promise<void>((ok) => flaky.listen(0, '127.0.0.1', () => ok()));
    const port = (flaky.address() as AddressInfo).port;
    const own = mkdtempSync(join(tmpdir(), 'zdm-writer-flaky-'));
    const loop = startWriter(['phase9'], `http://127.0.0.1:${port}`, own);
    try {
      await eventually('four writes were made', async () => posts >= 4, 15_000);
      await new Promise<void>((ok) => flaky.close(() => ok()));
      flaky.closeAllConnections();
      await eventually('a write found no API', async () => readFileSync(join(own, 'writer.log'), 'utf8').split('\n').filter((l) => / 000$/.test(l)).length >= 2, 15_000);
      const answeredBefore = posts;
      await new Promise<void>((ok) => flaky.listen(port, '127.0.0.1', () => ok()));
      await eventually('the loop writes again', async () => posts >= answeredBefore + 3, 15_000);
      process.kill(-loop.child.pid!, 'SIGINT');
      assert.equal(await loop.exited, 0);
      const log = readFileSync(join(own, 'writer.log'), 'utf8').trim().split('\n');
      assert.deepEqual(log.slice(0, 3), ['phase9-1 200', 'phase9-2 000', 'phase9-3 200']);
      assert.match(loop.out, /^\d\d:\d\d:\d\d write phase9-2 FAILED: no answer from the API$/m);
      assert.ok(log.at(-1)!.endsWith(' 200'), `the loop wrote on once the API was back: ${log.slice(-3).join(', ')}`);
      const names = seen.filter((r) => r.startsWith('POST')).map((r) => r.slice('POST /status/eva/'.length));
      assert.equal(new Set(names).size, names.length, 'no write was sent twice');
    } finally {
      if (loop.child.exitCode === null) process.kill(-loop.child.pid!, 'SIGKILL');
      flaky.close();
      rmSync(own, { recursive: true, force: true });
    }
  });

  test('a mode it does not know, or two phases, are refused with a sentence', () => {
    for (const [args, message] of [
      [['phase5', '--mode', 'ASTRA'], /--mode takes ORIGIN, ZDM_PROXY or TARGET, not "ASTRA"/],
      [['phase5', 'phase6'], /one phase only/],
      [['phase-5'], /a phase is a word of letters, digits and _, not "phase-5"/],
    ] as const) {
      const r = spawnSync('bash', [writer, ...args], { env: { ...process.env, SAMPLE_API_URL: url, LAB_ENV_DIR: dir }, encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, message);
    }
  });

  test('without a prefix it says how to call it', async () => {
    const child = spawn('bash', [writer], { env: { ...process.env, LAB_ENV_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.notEqual(code, 0);
    assert.match(err, /usage: writer\.sh PHASE \[--mode ORIGIN\|ZDM_PROXY\|TARGET\] \[--also-update USER\] \| --resume/);
  });
});
