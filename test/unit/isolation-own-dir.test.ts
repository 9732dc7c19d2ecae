/**
 * The isolated environment's folders are made the account's without ever
 * following a link a learner may have planted where one of them goes: the
 * link is removed, and what it pointed to keeps its owner and mode.
 */
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ownDirectory } from '../../lab/environments/isolation.js';

const root = mkdtempSync(join(tmpdir(), 'own-dir-'));
// As root (CI) the folder goes to another account; otherwise to this one, which still proves the link is not followed.
const uid = process.getuid!() === 0 ? 4242 : process.getuid!();
const gid = process.getuid!() === 0 ? 4242 : process.getgid!();

describe("an environment's own folders", () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a missing folder is made, owned by the account, mode 0700', () => {
    const dir = join(root, 'home-1', 'tmp');
    ownDirectory(dir, uid, gid);
    const st = statSync(dir);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [uid, gid, 0o700]);
  });

  test('a link planted in its place is removed, not followed: its target keeps its owner and mode', () => {
    const victim = join(root, 'victim');
    mkdirSync(victim);
    chmodSync(victim, 0o755);
    const before = statSync(victim);
    const home = join(root, 'home-2');
    mkdirSync(home);
    symlinkSync(victim, join(home, 'tmp'));
    ownDirectory(join(home, 'tmp'), uid, gid);
    const after = statSync(victim);
    assert.deepEqual([after.uid, after.gid, after.mode & 0o777], [before.uid, before.gid, 0o755]);
    const made = lstatSync(join(home, 'tmp'));
    assert.ok(made.isDirectory() && !made.isSymbolicLink());
    assert.deepEqual([made.uid, made.mode & 0o777], [uid, 0o700]);
  });

  test('a file planted in its place is replaced by the folder', () => {
    const home = join(root, 'home-3');
    mkdirSync(home);
    writeFileSync(join(home, 'tmp'), 'not a folder');
    ownDirectory(join(home, 'tmp'), uid, gid);
    assert.ok(lstatSync(join(home, 'tmp')).isDirectory());
  });
});
