/**
 * Two learners on one lab server (environments 8 and 10 of a fixture course):
 * each invite link opens its own environment only — the other's page, API
 * calls, panels and terminal WebSocket are refused — and neither sees the
 * other's terminal output or progress. The instructor's token reaches both
 * and the instructor API; a learner's does not. A reset in the middle of a
 * running command ends it, empties the terminals and the working folder and
 * clears progress; `zdm-lab env` drives the same actions; creating an
 * environment the host's memory cannot hold is refused with the figures.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { cookieName } from '../../lab/server/access.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { blockId } from '../support/blocks.js';
import { decode, encode, Packet } from '../../lab/terminals/protocol.js';
import { labFetch } from '../e2e/lab-harness.js';
import { zdmLab } from '../support/cli.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const A = 8;
const B = 10;
let lab: LabServer;
let dataDir: string;
const tokens: Record<number, string> = {};

function get(path: string, token: string | undefined, init: { method?: string; body?: unknown; cookie?: boolean } = {}) {
  return labFetch(lab, path, { ...init, token, auth: token !== undefined });
}

interface Term {
  output: string;
  closed: Promise<number>;
  type(text: string): void;
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
  close(): void;
}

function terminal(env: number, token: string, id = 'shell'): Promise<Term> {
  const ws = new WebSocket(`ws://127.0.0.1:${lab.port}/ws/terminal?env=${env}&terminal=${id}&seq=0`, {
    headers: { cookie: `${cookieName(lab.port)}=${token}` },
    origin: `http://127.0.0.1:${lab.port}`,
  });
  const term: Term = {
    output: '',
    closed: new Promise((r) => ws.once('close', (code) => r(code))),
    type: (text) => ws.send(encode({ type: Packet.INPUT, args: { data: text } })),
    async waitFor(pattern, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (!pattern.test(term.output)) {
        if (Date.now() > deadline) throw new Error(`terminal never showed ${pattern}; it shows:\n${term.output.slice(-800)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => ws.close(),
  };
  ws.on('message', (raw) => {
    const p = decode(raw.toString());
    if (p.type === Packet.OUTPUT) {
      term.output += p.args.data;
      ws.send(encode({ type: Packet.ACK, args: { chars: p.args.data.length } }));
    }
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(term));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'instructor-isolation-'));
  lab = await startLab({ courseDir: join(fixtures, 'course-basic'), port: 0, dataDir, environmentId: null, bytesPerEnvironment: 1 });
  for (const [env, name] of [[A, 'Ada'], [B, 'Bob']] as const) {
    const res = await get('/api/instructor/environments', lab.instructorToken, { method: 'POST', body: { env, name } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    tokens[env] = new URL(res.body.inviteUrl).searchParams.get('token')!;
  }
});
after(async () => {
  await lab?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('learner environments on one server', () => {
  it('an invite link opens its own environment: cookie, then the page of that environment', async () => {
    const invite = await get(`/?token=${tokens[A]}&env=${A}`, undefined);
    assert.equal(invite.status, 302);
    assert.equal(invite.location, `/?env=${A}`);
    const bare = await get('/', tokens[A], { cookie: true });
    assert.equal(bare.status, 302, 'the bare page sends the learner to their own environment');
    assert.equal(bare.location, `/?env=${A}`);
    assert.equal((await get(`/?env=${A}`, tokens[A], { cookie: true })).status, 200);
  });

  it("a learner's token is refused on the other environment's page, API and panels", async () => {
    const page = await get(`/?env=${B}`, tokens[A], { cookie: true });
    assert.equal(page.status, 403);
    assert.match(page.body, /does not open environment 10/);
    for (const [method, path, body] of [
      ['GET', `/api/env/${B}/progress`],
      ['POST', `/api/env/${B}/visit`, { page: 'intro' }],
      ['POST', `/api/env/${B}/run`, { block: blockId(lab.course, 'intro', 0) }],
      ['POST', `/api/env/${B}/check`, { page: 'step1' }],
      ['POST', `/api/env/${B}/reset`],
      ['POST', `/api/env/${B}/play`, {}],
      ['GET', `/api/env/${B}/monitoring`],
      ['GET', `/API/ENV/${B}/progress`],
      ['GET', `/api/env/${B}/progress/`],
    ] as const) {
      const res = await get(path, tokens[A], { method, body });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.match(res.body.error, /does not open environment 10/);
    }
    assert.equal((await get(`/api/env/${A}/progress`, tokens[A])).status, 200);
    assert.equal((await get(`/api/env/${B}/progress`, tokens[B])).status, 200);
  });

  it("a learner's token is refused on the other environment's terminal WebSocket", async () => {
    await assert.rejects(terminal(B, tokens[A]!), /upgrade refused: 403/);
    await assert.rejects(terminal(A, tokens[B]!), /upgrade refused: 403/);
    const own = await terminal(A, tokens[A]!);
    own.close();
  });

  it('a learner cannot reach the instructor console or API', async () => {
    assert.equal((await get('/instructor', tokens[A], { cookie: true })).status, 403);
    assert.equal((await get('/api/instructor/environments', tokens[A])).status, 403);
    assert.equal((await get('/API/Instructor/environments', tokens[A])).status, 403);
    assert.equal((await get(`/api/instructor/environments/${B}`, tokens[A], { method: 'DELETE' })).status, 403);
    assert.equal(lab.environments.has(B), true);
  });

  it("neither learner sees the other's terminal output or progress", async () => {
    const a = await terminal(A, tokens[A]!);
    const b = await terminal(B, tokens[B]!);
    a.type('echo "secret-of-$LAB_ENV" > secret.txt; echo written-$LAB_ENV\r');
    await a.waitFor(/^written-8/m);
    b.type('echo hello-from-$LAB_ENV; cat secret.txt\r');
    await b.waitFor(/No such file/);
    assert.doesNotMatch(b.output, /secret-of/);
    assert.match(b.output, /hello-from-10/);
    await get(`/api/env/${A}/run`, tokens[A], { method: 'POST', body: { block: blockId(lab.course, 'intro', 0) } });
    await a.waitFor(/^hello-from-block/m);
    assert.equal((await get(`/api/env/${A}/progress`, tokens[A])).body.runs[blockId(lab.course, 'intro', 0)], 1);
    assert.deepEqual((await get(`/api/env/${B}/progress`, tokens[B])).body.runs, {});
    assert.doesNotMatch(b.output, /hello-from-block/);
    a.close();
    b.close();
  });

  it('the instructor sees both learners in the JSON API, with their step and blocks run', async () => {
    await get(`/api/env/${B}/visit`, tokens[B], { method: 'POST', body: { page: 'step1' } });
    const res = await get('/api/instructor/environments', lab.instructorToken);
    assert.equal(res.status, 200);
    const rows = res.body.environments as { env: number; name: string; current: string | null; step: number | null; blocksRun: number; checksTotal: number }[];
    assert.deepEqual(rows.map((r) => [r.env, r.name, r.current, r.step, r.blocksRun, r.checksTotal]), [
      [A, 'Ada', null, null, 1, 2],
      [B, 'Bob', 'step1', 2, 0, 2],
    ]);
  });

  it('a reset in the middle of a running command ends it and clears terminals, folder and progress', async () => {
    const a = await terminal(A, tokens[A]!);
    a.type('touch done.txt; sleep 1234\r');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await get(`/api/env/${A}/check`, tokens[A], { method: 'POST', body: { page: 'step1' } })).body.ok, true);
    assert.equal(pgrep('^sleep 1234$').length, 1);
    const before = (await get(`/api/env/${A}/progress`, tokens[A])).body.generation;
    const workDir = lab.environments.get(A)!.workDir;
    assert.ok(existsSync(join(workDir, 'secret.txt')));

    const res = await fetch(`http://127.0.0.1:${lab.port}/api/instructor/environments/${A}/reset`, { method: 'POST', headers: { authorization: `Bearer ${lab.instructorToken}` } });
    const events = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.at(-1).type, 'done', JSON.stringify(events));
    assert.equal(await a.closed, 4000, "the learner's terminal connection is closed so the page reconnects to a new shell");
    assert.deepEqual(pgrep('^sleep 1234$'), [], 'the running command was ended');
    assert.ok(!existsSync(join(workDir, 'secret.txt')), 'the working folder was emptied');
    const progress = (await get(`/api/env/${A}/progress`, tokens[A])).body;
    assert.deepEqual([progress.current, progress.runs, progress.checks, progress.generation], [null, {}, {}, before + 1]);
    const fresh = await terminal(A, tokens[A]!);
    fresh.type('echo after-reset\r');
    await fresh.waitFor(/^after-reset/m);
    assert.doesNotMatch(fresh.output, /sleep 1234|secret/, 'the new shell starts empty');
    fresh.close();
    const other = (await get(`/api/env/${B}/progress`, tokens[B])).body;
    assert.equal(other.current, 'step1', "the other learner's progress is untouched");
  });

  it('zdm-lab env list, create, reset and destroy act on the running server', async () => {
    const list = await zdmLab(['env', 'list', '--data', dataDir]);
    assert.equal(list.code, 0, list.stdout + list.stderr);
    assert.match(list.stdout, /^ENV\s+LEARNER\s+STEP/m);
    assert.match(list.stdout, /^8\s+Ada\s+-/m);
    assert.match(list.stdout, /^10\s+Bob\s+2\/3 step1/m);

    const taken = await zdmLab(['env', 'create', '--env', String(B), '--data', dataDir]);
    assert.equal(taken.code, 1);
    assert.match(taken.stdout, /the lab server refused: environment 10 already exists \(learner: Bob\)/);

    const reset = await zdmLab(['env', 'reset', '--env', String(B), '--data', dataDir]);
    assert.equal(reset.code, 0, reset.stdout + reset.stderr);
    assert.match(reset.stdout, /✔ environment 10: reset in [\d.]+ s, ready after [\d.]+ s/);
    assert.equal(lab.environments.get(B)!.progress().current, null);

    const destroyed = await zdmLab(['env', 'destroy', '--env', String(B), '--data', dataDir]);
    assert.equal(destroyed.code, 0, destroyed.stdout + destroyed.stderr);
    assert.equal(lab.environments.has(B), false);
    assert.equal((await get(`/api/env/${B}/progress`, tokens[B])).status, 403, "the destroyed environment's invite token no longer opens anything");

    const created = await zdmLab(['env', 'create', '--env', String(B), '--name', 'Bea', '--data', dataDir]);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    const invite = /^\s+(http:\S+)$/m.exec(created.stdout)?.[1];
    assert.ok(invite, created.stdout);
    assert.notEqual(new URL(invite).searchParams.get('token'), tokens[B], 'a new environment gets a new token');
    assert.equal((await get(`/api/env/${B}/progress`, new URL(invite).searchParams.get('token')!)).status, 200);
  });
});

describe('capacity', () => {
  it('creating an environment the host memory cannot hold is refused with the figures', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'instructor-capacity-'));
    let available = 3 * 1024 ** 3;
    const small = await startLab({
      courseDir: join(fixtures, 'course-basic'),
      port: 0,
      dataDir: dir,
      environmentId: null,
      bytesPerEnvironment: Math.round(2.1 * 1024 ** 3),
      memory: () => ({ totalBytes: 24 * 1024 ** 3, availableBytes: available }),
    });
    try {
      const post = (env: number) =>
        fetch(`http://127.0.0.1:${small.port}/api/instructor/environments`, {
          method: 'POST',
          headers: { authorization: `Bearer ${small.instructorToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ env }),
        });
      assert.equal((await post(A)).status, 201, 'one environment fits in 3 GiB');
      available -= 2.1 * 1024 ** 3; // what environment 8 uses once it runs
      const refused = await post(B);
      assert.equal(refused.status, 507);
      assert.match(
        ((await refused.json()) as { error: string }).error,
        /^not enough memory for another environment: this host has 0\.9 GiB available of 24\.0 GiB, and an environment needs about 2\.1 GiB/,
      );
      assert.deepEqual([...small.environments.keys()], [A]);
    } finally {
      await small.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
