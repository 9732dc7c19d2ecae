/**
 * The course's setup (steps/scripts/setup.sh) after a restart of the lab,
 * with a stand-in `zdm-lab` on the PATH that records what it is asked and
 * answers `infra reset` as the real one does. Its last line is what the
 * learner's page shows: on the first pages "Ready for Step 1" with what it
 * undid and removed; further along what it restored, the writer loop as the
 * page had it; at finish, whose page shut the environment down, nothing is
 * started again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

const setup = new URL('../../steps/scripts/setup.sh', import.meta.url).pathname;
let dir: string;

function runSetup(page: string): { ok: boolean; lastLine: string; calls: string[] } {
  const r = spawnSync('bash', [setup], { env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, FAKE_DIR: dir, LAB_ENV: '7', LAB_ENV_DIR: dir, LAB_PAGE: page }, encoding: 'utf8' });
  const calls = existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').filter((c) => c && !c.startsWith('env ')) : [];
  return { ok: r.status === 0, lastLine: r.stdout.trim().split('\n').at(-1) ?? '', calls };
}

describe("the course's setup after a restart", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zdm-setup-'));
    mkdirSync(join(dir, 'bin'));
    writeFileSync(
      join(dir, 'bin', 'zdm-lab'),
      `#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/calls"
case "$*" in
  "env --shell"*) printf "%s\\n" "ORIGIN_HOST='127.0.7.1'" "TARGET_HOST='127.0.7.2'" "CQL_PORT='9042'" "PROXY_HOSTS='127.0.7.11 127.0.7.12 127.0.7.13'" "METRICS_PORT='14001'" "API_URL='http://127.0.7.20:8000'" ;;
  "infra reset"*) echo "proxies stopped" >&2; cat "$FAKE_DIR/reset.out" ;;
  "proxy config show"*) printf '%s\\n' '{' '  "primary_cluster": "ORIGIN",' '  "read_mode": "DUAL_ASYNC_ON_SECONDARY"' '}' ;;
esac
`,
    );
    chmodSync(join(dir, 'bin', 'zdm-lab'), 0o755);
  });
  beforeEach(() => rmSync(join(dir, 'calls'), { force: true }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('on the first pages the last line says what was undone and removed, after "Ready for Step 1"', () => {
    writeFileSync(join(dir, 'reset.out'), 'environment 7 is back to the start of step 1 (undone: proxies running (proxy1, proxy2, proxy3); Target holds keyspace zdmapp (from an earlier run))\n');
    for (const f of ['writer.log', 'writer.loop', 'client-connection-mode']) writeFileSync(join(dir, f), 'x\n');
    const { ok, lastLine, calls } = runSetup('intro');
    assert.equal(ok, true);
    assert.deepEqual(calls, ['infra reset']);
    assert.equal(lastLine, 'Ready for Step 1 (undone: proxies running (proxy1, proxy2, proxy3); Target holds keyspace zdmapp (from an earlier run); removed writer.log, writer.loop, client-connection-mode of an earlier run)');
    assert.equal(existsSync(join(dir, 'writer.log')), false);
  });

  test("a new environment's first seeding is nothing undone: just \"Ready for Step 1\"", () => {
    writeFileSync(join(dir, 'reset.out'), 'environment 7 is back to the start of step 1 (undone: Origin has no zdmapp keyspace)\n');
    assert.equal(runSetup('').lastLine, 'Ready for Step 1');
    writeFileSync(join(dir, 'reset.out'), 'environment 7 is back to the start of step 1\n');
    assert.equal(runSetup('step1').lastLine, 'Ready for Step 1');
  });

  test('a failed reset fails the setup with the command to try again', () => {
    // The stand-in's infra reset fails when it has no answer to give.
    const r = spawnSync('bash', [setup], { env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, FAKE_DIR: '/nonexistent', LAB_ENV: '7', LAB_ENV_DIR: dir, LAB_PAGE: 'intro' }, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout.trim().split('\n').at(-1) ?? '', /^Setup failed: .*zdm-lab infra reset$/);
  });

  test('at step 10 the loop resumes as the page started it (phase5 --mode TARGET), and the page says so', () => {
    writeFileSync(join(dir, 'writer.loop'), 'running phase5 --mode TARGET\n');
    writeFileSync(join(dir, 'client-connection-mode'), 'ZDM_PROXY\nusername=target_admin\npassword=x\n');
    const { ok, lastLine, calls } = runSetup('step10');
    assert.equal(ok, true);
    assert.deepEqual(calls, ['infra up', 'proxy deploy', 'proxy config show', 'monitoring up']);
    assert.equal(lastLine, 'Restored at step10: Origin and Target with their data, the three proxies (primary_cluster: ORIGIN, read_mode: DUAL_ASYNC_ON_SECONDARY), Prometheus; the API (ZDM_PROXY mode) and the writer loop (phase5 --mode TARGET) start again in their terminals');
  });

  test('on the drill page, with the loop paused by the learner, the page says it stays stopped', () => {
    writeFileSync(join(dir, 'writer.loop'), 'paused phase3\n');
    assert.match(runSetup('drill').lastLine, /; the API \(ZDM_PROXY mode\) starts again in its terminal, the writer loop stays stopped as the learner left it \(phase3\)$/);
  });

  test('at finish, where the learner took the environment down, nothing is started again', () => {
    const { ok, lastLine, calls } = runSetup('finish');
    assert.equal(ok, true);
    assert.deepEqual(calls, [], 'no infra up, proxy deploy or monitoring up');
    assert.equal(lastLine, 'Restored at finish: nothing, since this page shuts the environment down (zdm-lab infra status shows what still runs)');
  });
});
