/**
 * A restart of the lab resumes a learner where they were: the setup runs
 * with the learner's page in LAB_PAGE, its last line is shown on the page,
 * and what the page expects running (course.json "resume") is started again
 * in its terminal, only for pages in its range. `zdm-lab infra up` typed in
 * a terminal asks the lab for the same, through the terminal's shell token,
 * and shows the setup as it runs; only idle terminals get their command
 * again. The shell token opens nothing else. With a fixture course whose
 * setup and resume commands just say what they were given; the ZDM course's
 * own resume, on real infrastructure, is played across restarts in test/e2e/course-zdm.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Packet } from '../../lab/terminals/protocol.js';
import { loadTokenKey, shellTokenFor } from '../../lab/server/access.js';
import { connectTerminal, labFetch, startTestLab, type TestLab } from './lab-harness.js';

let current: TestLab | undefined;
let dataDir: string | undefined;

/** Starts the lab on the fixture (again, on the same data folder), and waits for its setup. */
async function start(): Promise<TestLab> {
  await current?.stop();
  current = await startTestLab('course-resume', dataDir);
  dataDir = current.dataDir;
  await current.lab.environments.get(1)!.setupDone();
  return current;
}

async function terminalSays(t: TestLab, terminal: string, waitMs: number): Promise<string> {
  const client = await connectTerminal(t.lab, { terminal });
  await new Promise((r) => setTimeout(r, waitMs));
  const text = client.output;
  await client.close();
  return text;
}

describe('a restart of the lab resumes where the learner is', () => {
  after(async () => {
    await current?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('with no progress the setup is told no page, and nothing is resumed', async () => {
    const t = await start();
    const env = t.lab.environments.get(1)!;
    assert.equal(readFileSync(join(env.workDir, 'setup-saw.txt'), 'utf8'), "setup for page ''\n");
    const progress = await labFetch(t.lab, '/api/env/1/progress');
    assert.equal(progress.body.setupNote, 'back at the start');
    assert.doesNotMatch(await terminalSays(t, 'server', 1500), /resumed-/);
  });

  test("on step 1 the setup is told so, the page shows its last line, and step 1's server is started again", async () => {
    assert.equal((await labFetch(current!.lab, '/api/env/1/visit', { method: 'POST', body: { page: 'step1' }, origin: `http://127.0.0.1:${current!.lab.port}` })).status, 200);
    const t = await start();
    const env = t.lab.environments.get(1)!;
    assert.equal(readFileSync(join(env.workDir, 'setup-saw.txt'), 'utf8'), "setup for page 'step1'\n");
    assert.equal((await labFetch(t.lab, '/api/env/1/progress')).body.setupNote, 'back at step1');
    const server = await connectTerminal(t.lab, { terminal: 'server' });
    await server.waitFor(/^resumed-server-1\r?$/m, 10_000);
    await server.close();
    assert.doesNotMatch(await terminalSays(t, 'shell', 1000), /resumed-/, "the shell's command is for the last page only");
  });

  test('zdm-lab infra up in a terminal runs the setup for the learner\'s page, shows it, and starts the page\'s command where the terminal is idle only', async () => {
    const t = current!;
    const env = t.lab.environments.get(1)!;
    rmSync(join(env.workDir, 'setup-saw.txt'));
    const server = await connectTerminal(t.lab, { terminal: 'server' });
    await server.waitFor(/resumed-server-1/, 10_000);
    server.send({ type: Packet.INPUT, args: { data: 'sleep 600\r' } });
    await server.waitFor(/sleep 600\r\n/, 5_000);
    const sleeping = server.output.length;
    const shell = await connectTerminal(t.lab, { terminal: 'shell' });
    shell.send({ type: Packet.INPUT, args: { data: 'zdm-lab infra up\r' } });
    await shell.waitFor(/The lab brings environment 1 back to where you are in the course \(page step1\)/, 30_000);
    await shell.waitFor(/^preparing\r?$/m, 30_000);
    await shell.waitFor(/^Done: back at step1\r?$/m, 30_000);
    assert.equal(readFileSync(join(env.workDir, 'setup-saw.txt'), 'utf8'), "setup for page 'step1'\n");
    await new Promise((r) => setTimeout(r, 1500));
    const busyLength = server.output.length;
    assert.doesNotMatch(server.output.slice(sleeping), /resumed-server/, 'nothing is typed into a terminal where something runs');

    // Idle again, the server's terminal gets its command from the next restore.
    server.send({ type: Packet.INPUT, args: { data: '\x03' } });
    await new Promise((r) => setTimeout(r, 500));
    shell.send({ type: Packet.INPUT, args: { data: 'zdm-lab infra up\r' } });
    const deadline = Date.now() + 30_000;
    while (!/^resumed-server-1\r?$/m.test(server.output.slice(busyLength))) {
      assert.ok(Date.now() < deadline, `the idle terminal never ran its command again; it shows:\n${server.output.slice(busyLength)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await shell.close();
    await server.close();
  });

  test("an environment's shell token opens its restore and progress, nothing else", async () => {
    const t = current!;
    const token = shellTokenFor(loadTokenKey(t.dataDir), 1);
    const bearer = { authorization: `Bearer ${token}` };
    const base = `http://127.0.0.1:${t.lab.port}`;
    assert.equal((await fetch(`${base}/api/env/1/progress`, { headers: bearer })).status, 200);
    const restore = await fetch(`${base}/api/env/1/restore`, { method: 'POST', headers: bearer });
    assert.equal(restore.status, 202, await restore.text());
    await t.lab.environments.get(1)!.setupDone();
    for (const [method, path] of [['POST', '/api/env/1/reset'], ['POST', '/api/env/1/run'], ['GET', '/api/course'], ['GET', '/'], ['GET', '/api/instructor/environments']] as const) {
      const res = await fetch(`${base}${path}`, { method, headers: bearer });
      assert.equal(res.status, 403, `${method} ${path} with a shell token`);
    }
    // Another environment's routes, a token in a URL (a browser's way in), and a terminal are refused too.
    assert.equal((await fetch(`${base}/api/env/2/restore`, { method: 'POST', headers: bearer })).status, 403);
    assert.equal((await fetch(`${base}/?token=${token}`, { redirect: 'manual' })).status, 403);
    await assert.rejects(connectTerminal(t.lab, { terminal: 'shell', token }), /upgrade refused: 403/);
  });

  test('on the last page, past the server\'s range, only the shell\'s command is resumed', async () => {
    assert.equal((await labFetch(current!.lab, '/api/env/1/visit', { method: 'POST', body: { page: 'finish' }, origin: `http://127.0.0.1:${current!.lab.port}` })).status, 200);
    const t = await start();
    const shell = await connectTerminal(t.lab, { terminal: 'shell' });
    await shell.waitFor(/^resumed-shell-1\r?$/m, 10_000);
    await shell.close();
    assert.doesNotMatch(await terminalSays(t, 'server', 1000), /resumed-/);
  });
});
