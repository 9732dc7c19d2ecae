/**
 * `zdm-lab course play` against a real lab server on a small course of its
 * own: the server leaves its address and instructor token in a file only its
 * owner can read, the command plays the course through it and prints each
 * step, and no server, a stopped server, an environment the server does not
 * host, or a request without the token each get a clear refusal.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readServerAddress, serverFile, writeServerAddress } from '../../lab/server/address.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { zdmLab } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'autopilot-remote-'));
const courseDir = join(root, 'course');
const dataDir = join(root, 'data');
/** A command whose first line is longer than a line of the play's report. */
const LONG = `printf '%s\\n' ${'word '.repeat(20).trim()}`;
let lab: LabServer;
let closed = false;

before(async () => {
  mkdirSync(courseDir);
  writeFileSync(
    join(courseDir, 'course.json'),
    JSON.stringify({
      title: 'Remote fixture',
      terminals: [{ id: 'shell', name: 'shell' }],
      pages: [
        { id: 'first', file: 'first.md', title: 'First', check: 'test -f first.txt && echo "first.txt is there"' },
        { id: 'second', file: 'second.md', title: 'Second' },
      ],
    }),
  );
  writeFileSync(join(courseDir, 'first.md'), `# First\n\n\`\`\`bash\n### shell\necho hello > first.txt\n\`\`\`\n\n\`\`\`bash\n### shell\n${LONG}\necho second line\n\`\`\`\n`);
  writeFileSync(join(courseDir, 'second.md'), '# Second\n\n```bash\n### shell\necho second\n```\n');
  lab = await startLab({ courseDir, port: 0, dataDir, runSetup: false, environmentId: 5 });
});
after(async () => {
  if (!closed) await lab?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('zdm-lab course play', () => {
  test('the server leaves its URL and instructor token in server.json, readable by its owner only', () => {
    assert.equal(statSync(serverFile(dataDir)).mode & 0o777, 0o600);
    const address = readServerAddress(dataDir);
    assert.equal(address?.url, lab.url);
    assert.equal(address?.token, lab.instructorToken);
    assert.deepEqual(address?.environments, [5]);
    assert.match(lab.openUrl, /\?token=[0-9a-f]+&env=5$/);
  });

  test('plays the course up to the page asked for, printing each step', async () => {
    const out = await zdmLab(['course', 'play', '--env', '5', '--to', 'second', '--data', dataDir]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    const lines = out.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, -1), [
      'first: First',
      '  ▶ first:0 [shell] echo hello > first.txt',
      // a long command is cut to its first line's start
      `  ▶ first:1 [shell] ${LONG.slice(0, 79)}…`,
      '  ✔ check: first.txt is there',
      "second: reached, the learner's current page",
    ]);
    assert.match(lines.at(-1)!, /^✔ environment 5: 1 page\(s\) played in \d+ s; the learner is on second$/);
    const progress = lab.environments.get(5)!.progress();
    assert.equal(progress.current, 'second');
    assert.equal(progress.checks.first?.ok, true);
  });

  test('refuses an environment the server does not host, and a request without the token', async () => {
    const out = await zdmLab(['course', 'play', '--env', '6', '--data', dataDir]);
    assert.equal(out.code, 1);
    assert.equal(out.stdout.trim(), 'the lab server refused: no environment 6 on this lab server; it hosts: 5');
    const res = await fetch(`${lab.url}api/env/5/play`, { method: 'POST' });
    assert.equal(res.status, 403);
  });

  test('says so when the recorded server has stopped, and when none runs', async () => {
    const stale = join(root, 'stale');
    mkdirSync(stale);
    const port = await closedPort();
    writeServerAddress(stale, { url: `http://127.0.0.1:${port}/`, token: 'x', pid: 1, environments: [5] });
    const stopped = await zdmLab(['course', 'play', '--env', '5', '--data', stale]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stdout, /^the lab server recorded in .*stale\/server\.json \(http:\/\/127\.0\.0\.1:\d+\/, pid 1\) does not answer \(ECONNREFUSED\): it has stopped; start it again with npm start$/m);

    await lab.close();
    closed = true;
    assert.equal(existsSync(serverFile(dataDir)), false, 'a stopped server removes its address file');
    const none = await zdmLab(['course', 'play', '--env', '5', '--data', dataDir]);
    assert.equal(none.code, 1);
    assert.equal(none.stdout.trim(), `no lab server is running here (${serverFile(dataDir)} does not exist): start one with npm start -- --env 5`);
  });
});

/** A port on 127.0.0.1 that nothing listens on any more. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
