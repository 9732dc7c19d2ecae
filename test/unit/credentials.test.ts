/**
 * Each environment's own Cassandra login, as the lab's clients and the
 * learner's shell find it: generated once into the environment's folder
 * (0600, the format cqlsh reads), the same every time after, different per
 * environment, and never read through a link planted in its place.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { credentialsFile, readCredentials } from '../../infra/credentials.js';

const root = new URL('../..', import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), 'credentials-'));

/** The lab's command line, as a terminal of environment `env` runs it, with its folders under `home`. */
function zdmLab(args: string[], env: number): string {
  return execFileSync(join(root, 'bin', 'zdm-lab'), args, { env: { ...process.env, LAB_ENV: String(env), LAB_ENV_HOME: home }, encoding: 'utf8' });
}

describe("an environment's Cassandra login", () => {
  after(() => rmSync(home, { recursive: true, force: true }));

  test('each cluster has its own login, generated on first use into a file only its owner reads, in the format cqlsh reads, and kept', () => {
    const shown = zdmLab(['env'], 41);
    const origin = readCredentials(credentialsFile(41, 'origin', home));
    const target = readCredentials(credentialsFile(41, 'target', home));
    for (const cluster of ['origin', 'target'] as const) {
      const path = credentialsFile(41, cluster, home);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.match(readFileSync(path, 'utf8'), /^\[PlainTextAuthProvider\]\nusername = \w+\npassword = [A-Za-z0-9_-]{24}\n$/);
    }
    assert.deepEqual([origin.username, target.username], ['cassandra', 'target_admin']);
    assert.notEqual(origin.password, target.password);
    assert.match(shown, /^ORIGIN_USERNAME\s+cassandra$/m);
    assert.match(shown, new RegExp(`^ORIGIN_PASSWORD\\s+${origin.password}$`, 'm'));
    assert.match(shown, /^TARGET_USERNAME\s+target_admin$/m);
    assert.match(shown, new RegExp(`^TARGET_PASSWORD\\s+${target.password}$`, 'm'));
    assert.match(zdmLab(['env'], 41), new RegExp(`^TARGET_PASSWORD\\s+${target.password}$`, 'm'), 'the same login the second time');
    assert.throws(() => readCredentials(credentialsFile(42, 'origin', home)), /env-42\/origin-credentials does not exist/, 'environment 42 was never used');
  });

  test("an environment from before each cluster had its own login keeps its one login as Origin's", () => {
    mkdirSync(join(home, 'env-47'), { recursive: true });
    writeFileSync(join(home, 'env-47', 'cassandra-credentials'), '[PlainTextAuthProvider]\nusername = cassandra\npassword = kept-from-before\n', { mode: 0o600 });
    assert.match(zdmLab(['env'], 47), /^ORIGIN_PASSWORD\s+kept-from-before$/m);
    assert.deepEqual(readCredentials(credentialsFile(47, 'origin', home)), { username: 'cassandra', password: 'kept-from-before' });
    assert.notEqual(readCredentials(credentialsFile(47, 'target', home)).password, 'kept-from-before');
  });

  test("each environment gets its own, and a shell's exports carry them", () => {
    const exports = zdmLab(['env', '--shell', '--export'], 43);
    const own = readCredentials(credentialsFile(43, 'target', home));
    assert.match(exports, new RegExp(`^export TARGET_PASSWORD='${own.password}'$`, 'm'));
    assert.match(exports, /^export ORIGIN_HOST='127\.0\.43\.1'$/m);
    zdmLab(['env'], 44);
    assert.notEqual(readCredentials(credentialsFile(44, 'target', home)).password, own.password);
  });

  test('a link planted in place of the file is refused, not followed', () => {
    const folder = join(home, 'env-45');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(home, 'secret'), 'username = root\npassword = hunter2\n');
    symlinkSync(join(home, 'secret'), credentialsFile(45, 'origin', home));
    assert.throws(() => readCredentials(credentialsFile(45, 'origin', home)), /ELOOP/);
  });

  test('a damaged file is named, with what to do', () => {
    mkdirSync(join(home, 'env-46'), { recursive: true });
    writeFileSync(credentialsFile(46, 'origin', home), 'username = cassandra\n', { mode: 0o600 });
    assert.throws(() => readCredentials(credentialsFile(46, 'origin', home)), /env-46\/origin-credentials: expected "username = …" and "password = …" lines \(remove the file/);
  });
});
