/**
 * A restart of the lab resumes a learner where they were: the setup runs
 * with the learner's page in LAB_PAGE, its last line is shown on the page,
 * and what the page expects running (course.json "resume") is started again
 * in its terminal, only for pages in its range. With a fixture course whose
 * setup and resume commands just say what they were given; the ZDM course's
 * own resume, on real infrastructure, is test/e2e/course-restart.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
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

  test('on the last page, past the server\'s range, only the shell\'s command is resumed', async () => {
    assert.equal((await labFetch(current!.lab, '/api/env/1/visit', { method: 'POST', body: { page: 'finish' }, origin: `http://127.0.0.1:${current!.lab.port}` })).status, 200);
    const t = await start();
    const shell = await connectTerminal(t.lab, { terminal: 'shell' });
    await shell.waitFor(/^resumed-shell-1\r?$/m, 10_000);
    await shell.close();
    assert.doesNotMatch(await terminalSays(t, 'server', 1000), /resumed-/);
  });
});
