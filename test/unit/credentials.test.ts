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

  test('is generated on first use into a file only its owner reads, in the format cqlsh reads, and kept', () => {
    const shown = zdmLab(['env'], 41);
    const path = credentialsFile(41, home);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^\[PlainTextAuthProvider\]\nusername = cassandra\npassword = [A-Za-z0-9_-]{24}\n$/);
    const { password } = readCredentials(path);
    assert.match(shown, new RegExp(`^CASSANDRA_USERNAME\\s+cassandra$`, 'm'));
    assert.match(shown, new RegExp(`^CASSANDRA_PASSWORD\\s+${password}$`, 'm'));
    assert.match(zdmLab(['env'], 41), new RegExp(`^CASSANDRA_PASSWORD\\s+${password}$`, 'm'), 'the same login the second time');
    assert.throws(() => readCredentials(credentialsFile(42, home)), /env-42\/cassandra-credentials does not exist/, 'environment 42 was never used');
  });

  test("each environment gets its own, and a shell's exports carry it", () => {
    const exports = zdmLab(['env', '--shell', '--export'], 43);
    const own = readCredentials(credentialsFile(43, home));
    assert.match(exports, new RegExp(`^export CASSANDRA_PASSWORD='${own.password}'$`, 'm'));
    assert.match(exports, /^export ORIGIN_HOST='127\.0\.43\.1'$/m);
    zdmLab(['env'], 44);
    assert.notEqual(readCredentials(credentialsFile(44, home)).password, own.password);
  });

  test('a link planted in place of the file is refused, not followed', () => {
    const folder = join(home, 'env-45');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(home, 'secret'), 'username = root\npassword = hunter2\n');
    symlinkSync(join(home, 'secret'), credentialsFile(45, home));
    assert.throws(() => readCredentials(credentialsFile(45, home)), /ELOOP/);
  });

  test('a damaged file is named, with what to do', () => {
    mkdirSync(join(home, 'env-46'), { recursive: true });
    writeFileSync(credentialsFile(46, home), 'username = cassandra\n', { mode: 0o600 });
    assert.throws(() => readCredentials(credentialsFile(46, home)), /env-46\/cassandra-credentials: expected "username = …" and "password = …" lines \(remove the file/);
  });
});
