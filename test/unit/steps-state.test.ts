/**
 * The course's state commands (steps/scripts/state.sh), with a stand-in
 * `zdm-lab` on the PATH that records what it is asked: save copies the
 * writer's record before it asks for the clusters, and keeps only the API's
 * mode, never its login; it refuses a record with a failed request. Restore
 * checks every file before it changes anything, naming the file and line
 * of a bad one, and writes the mode file with this environment's login.
 * Every script of the course parses (bash -n). The real clusters' side is
 * in test/integration/instructor-reset.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

const steps = new URL('../../steps/', import.meta.url).pathname;
const script = join(steps, 'scripts', 'state.sh');
let dir: string;
let envDir: string;
let stateDir: string;

function run(action: string): { code: number | null; stdout: string; stderr: string; calls: string[] } {
  const r = spawnSync('bash', [script, action, stateDir], {
    env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, FAKE_DIR: dir, LAB_ENV: '7', LAB_ENV_DIR: envDir },
    encoding: 'utf8',
  });
  const calls = existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').filter((c) => c && !c.startsWith('env ')) : [];
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls };
}

describe("the course's saved states (state.sh)", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zdm-state-'));
    mkdirSync(join(dir, 'bin'));
    // The stand-in says which record it saw when asked for the clusters: the record must be copied first.
    writeFileSync(
      join(dir, 'bin', 'zdm-lab'),
      `#!/usr/bin/env bash
echo "$* (record copied: $([ -e "$FAKE_DIR/state/writer.log" ] && echo yes || echo no))" >> "$FAKE_DIR/calls"
case "$*" in
  "env --shell"*) printf "%s\\n" "ORIGIN_USERNAME='cassandra'" "ORIGIN_PASSWORD='o-secret-7'" "TARGET_USERNAME='target_admin'" "TARGET_PASSWORD='t-secret-7'" ;;
  "infra state save "*) echo '{"format":"zdm-lab-state/1"}' > "$4" ;;
esac
`,
    );
    chmodSync(join(dir, 'bin', 'zdm-lab'), 0o755);
  });
  beforeEach(() => {
    for (const d of ['env', 'state']) rmSync(join(dir, d), { recursive: true, force: true });
    rmSync(join(dir, 'calls'), { force: true });
    envDir = join(dir, 'env');
    stateDir = join(dir, 'state');
    mkdirSync(envDir);
    mkdirSync(stateDir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('save copies the record first, then asks for the clusters, and keeps the mode without the login', () => {
    writeFileSync(join(envDir, 'writer.log'), 'phase0-1 200\nread 200\nphase0-2 200\n');
    writeFileSync(join(envDir, 'writer.loop'), 'running phase0\n');
    writeFileSync(join(envDir, 'client-connection-mode'), 'ORIGIN\nusername=cassandra\npassword=o-secret-9\n');
    const r = run('save');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.calls, [`infra state save ${stateDir}/infra.json (record copied: yes)`]);
    assert.deepEqual(readdirSync(stateDir).sort(), ['infra.json', 'mode', 'writer.log', 'writer.loop']);
    assert.equal(readFileSync(join(stateDir, 'mode'), 'utf8'), 'ORIGIN\n');
  });

  test('save refuses a record with a failed request: that state could never end in a clean proof', () => {
    writeFileSync(join(envDir, 'writer.log'), 'phase0-1 200\nphase0-2 502\n');
    const r = run('save');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not saved, the writer loop's record holds a failed request: phase0-2 502/);
    assert.deepEqual(r.calls, []);
  });

  test("restore checks each file first and names the file and line of a bad one, changing nothing", () => {
    writeFileSync(join(stateDir, 'infra.json'), '{}');
    writeFileSync(join(stateDir, 'writer.log'), 'phase0-1 200\n$(touch /tmp/x) 200\n');
    writeFileSync(join(envDir, 'writer.log'), 'mine 200\n');
    let r = run('restore');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `state.sh: ${stateDir}/writer.log:2: not a line of the writer's record: $(touch /tmp/x) 200`);
    assert.equal(readFileSync(join(envDir, 'writer.log'), 'utf8'), 'mine 200\n', 'nothing changed');
    assert.ok(!r.calls.some((c) => c.startsWith('infra state restore')));

    writeFileSync(join(stateDir, 'writer.log'), 'phase0-1 200\n');
    writeFileSync(join(stateDir, 'writer.loop'), 'running phase0; rm -rf ~\n');
    r = run('restore');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /writer\.loop: not a loop as writer\.sh records it/);

    writeFileSync(join(stateDir, 'writer.loop'), 'running phase1 --mode ZDM_PROXY\n');
    writeFileSync(join(stateDir, 'mode'), 'ELSEWHERE\n');
    r = run('restore');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /mode: not a mode of the API: ELSEWHERE/);
  });

  test("restore puts the record back and writes the mode file with this environment's login for that mode", () => {
    writeFileSync(join(stateDir, 'infra.json'), '{}');
    writeFileSync(join(stateDir, 'writer.log'), 'phase1-1 200\nread 200\n');
    writeFileSync(join(stateDir, 'writer.loop'), 'running phase1 --mode ZDM_PROXY\n');
    writeFileSync(join(stateDir, 'mode'), 'ZDM_PROXY\n');
    writeFileSync(join(envDir, 'drill.log'), 'left from before\n');
    const r = run('restore');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.calls.map((c) => c.replace(/ \(record copied: \w+\)$/, '')), ['monitoring down', `infra state restore ${stateDir}/infra.json`]);
    assert.equal(readFileSync(join(envDir, 'writer.log'), 'utf8'), 'phase1-1 200\nread 200\n');
    assert.equal(readFileSync(join(envDir, 'writer.loop'), 'utf8'), 'running phase1 --mode ZDM_PROXY\n');
    assert.equal(readFileSync(join(envDir, 'client-connection-mode'), 'utf8'), 'ZDM_PROXY\nusername=target_admin\npassword=t-secret-7\n');
    assert.equal(existsSync(join(envDir, 'drill.log')), false, "an earlier drill's record is gone");
    assert.match(r.stdout, /state restored from .* \(mode of the API: ZDM_PROXY\)/);
  });

  test('every script of the course parses', () => {
    for (const folder of ['scripts', 'checks']) {
      for (const name of readdirSync(join(steps, folder)).filter((n) => n.endsWith('.sh'))) {
        const r = spawnSync('bash', ['-n', join(steps, folder, name)], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${folder}/${name}: ${r.stderr}`);
      }
    }
  });
});
