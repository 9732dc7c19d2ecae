/**
 * The lab's own state on disk: the data folder lets others pass but not
 * list, the progress database and the token key are the server's only, the
 * database keeps hashes of learner tokens and never a token, and an invite
 * link still opens its environment after a restart. A database from before
 * token hashes is converted on open. A lab that cannot isolate hosts one
 * environment unless told it may host more.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ProgressStore } from '../../lab/progress/store.js';
import { ClassroomError } from '../../lab/instructor/classroom.js';
import { startLab } from '../../lab/server/app.js';
import { fixtures, labFetch } from './lab-harness.js';

const course = resolve(fixtures, 'course-basic');
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lab-state-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** Every byte of the database's files, as text. */
function databaseBytes(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.startsWith('progress.sqlite'))
    .map((f) => readFileSync(join(dir, f), 'latin1'))
    .join('');
}

describe("the lab's state", () => {
  test('is its own: 0711 folder, 0600 database and key; tokens are kept as hashes and invite links survive a restart', async () => {
    const dataDir = tempDir();
    const first = await startLab({ courseDir: course, port: 0, dataDir, environmentId: null, runSetup: false });
    const { env, token } = first.classroom.create({ name: 'Ada' });
    assert.equal((await labFetch(first, `/api/env/${env}/progress`, { token })).status, 200);
    await first.close();

    assert.equal(mode(dataDir), '711');
    assert.equal(mode(join(dataDir, 'progress.sqlite')), '600');
    assert.equal(mode(join(dataDir, 'token.key')), '600');
    const bytes = databaseBytes(dataDir);
    assert.equal(bytes.includes(token), false, 'the database holds the token itself');
    assert.equal(bytes.includes(createHash('sha256').update(token).digest('hex')), true, 'the database holds no hash of the token');

    const second = await startLab({ courseDir: course, port: 0, dataDir, environmentId: null, runSetup: false });
    try {
      assert.equal(second.classroom.tokenOf(env), token, 'the invite link changed with the restart');
      assert.equal((await labFetch(second, `/api/env/${env}/progress`, { token })).status, 200);
      assert.equal((await labFetch(second, `/api/env/${env}/progress`, { token: token.replace(/.$/, (c) => (c === '0' ? '1' : '0')) })).status, 403);
    } finally {
      await second.close();
    }
  });

  test('a database that kept tokens is converted to hashes when opened', () => {
    const path = join(tempDir(), 'progress.sqlite');
    const old = new Database(path);
    old.exec('CREATE TABLE learners (env INTEGER, course TEXT, name TEXT NOT NULL, token TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (env, course))');
    const token = 'f'.repeat(48);
    old.prepare('INSERT INTO learners VALUES (3, ?, ?, ?, ?)').run('/course', 'Grace', token, 1);
    old.close();
    const store = new ProgressStore(path);
    const [learner] = store.learners('/course');
    store.close();
    assert.deepEqual(learner, { env: 3, name: 'Grace', tokenHash: createHash('sha256').update(token).digest('hex'), tokenSalt: null, createdAt: 1, reserved: false, extendedMinutes: 0 });
    assert.equal(databaseBytes(join(path, '..')).includes(token), false);
  });

  test("the course's prepare command runs once, as the server's user, before any environment; its failure stops the start with its output", async () => {
    const dir = tempDir();
    const courseDir = join(dir, 'course');
    const marker = join(dir, 'prepared');
    mkdirSync(courseDir);
    writeFileSync(join(courseDir, 'intro.md'), '# Intro\n');
    const write = (prepare: string) =>
      writeFileSync(join(courseDir, 'course.json'), JSON.stringify({ title: 'p', terminals: [{ id: 'shell' }], pages: [{ id: 'intro', file: 'intro.md' }], prepare, setup: `test -f ${marker}` }));
    write(`echo "$(id -u) $LAB_COURSE_DIR" >> ${marker}`);
    const lab = await startLab({ courseDir, port: 0, dataDir: join(dir, 'data'), environmentId: 1 });
    try {
      assert.equal(await lab.environments.get(1)!.setupDone(), 'done', 'the setup ran before prepare was done');
      assert.equal(readFileSync(marker, 'utf8'), `${process.getuid!()} ${courseDir}\n`);
    } finally {
      await lab.close();
    }
    write('echo the mirror is down; exit 3');
    await assert.rejects(startLab({ courseDir, port: 0, dataDir: join(dir, 'data'), environmentId: 1 }), /the course's prepare command failed \(echo the mirror is down; exit 3\):\nthe mirror is down/);
  });

  test('without isolation and without --no-isolation the lab hosts one environment, and says why', async () => {
    const lab = await startLab({ courseDir: course, port: 0, dataDir: tempDir(), environmentId: 1, runSetup: false, singleLearner: true });
    try {
      assert.throws(
        () => lab.classroom.create({ env: 2 }),
        (err: unknown) => err instanceof ClassroomError && err.status === 409 && /without isolation/.test(err.message) && /--no-isolation/.test(err.message),
      );
      assert.deepEqual([...lab.environments.keys()], [1]);
    } finally {
      await lab.close();
    }
  });
});
