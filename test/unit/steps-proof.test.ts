/**
 * The proof of the clean-up page (steps/checks/cleanup.sh) over a writer
 * record and the statuses each cluster holds, with a stand-in `zdm-lab` on
 * the PATH that answers `env --shell` and `cqlsh origin|target -e …` from
 * files. One line a learner reads: how many writes, that none failed, each
 * phase's sequence whole on Target, Origin holding every write before Phase 5
 * and none of Phase 5's; and when it is not so, which writes and what to do.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const check = new URL('../../steps/checks/cleanup.sh', import.meta.url).pathname;
let dir: string;

/** phase0-1 … phase0-n as statuses, or as record lines with their answer. */
const seq = (phase: string, n: number) => Array.from({ length: n }, (_, i) => `${phase}-${i + 1}`);
const record = (names: string[], code = 200) => names.map((s) => `${s} ${code}`);

function prove(lines: string[], onTarget: string[], onOrigin: string[]): { ok: boolean; out: string } {
  writeFileSync(join(dir, 'writer.log'), lines.map((l) => `${l}\n`).join(''));
  writeFileSync(join(dir, 'target.rows'), onTarget.join('\n'));
  writeFileSync(join(dir, 'origin.rows'), onOrigin.join('\n'));
  const r = spawnSync('bash', [check], { env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, LAB_ENV: '7', LAB_ENV_DIR: dir }, encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() };
}

describe('the proof of the clean-up page', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zdm-proof-'));
    const bin = join(dir, 'bin');
    spawnSync('mkdir', [bin]);
    // cqlsh's table: a header, a dashed line, one status a line, a blank line and the row count.
    writeFileSync(
      join(bin, 'zdm-lab'),
      `#!/usr/bin/env bash
case "$1" in
  env) printf "%s\\n" "ORIGIN_HOST='127.0.7.1'" "TARGET_HOST='127.0.7.2'" "CQL_PORT='9042'" "PROXY_HOSTS='127.0.7.11 127.0.7.12 127.0.7.13'" "METRICS_PORT='14001'" "API_URL='http://127.0.7.20:8000'" ;;
  cqlsh) rows=$(cat "${dir}/$2.rows"); echo; echo " status"; echo "--------"; [ -n "$rows" ] && sed 's/^/ /' <<<"$rows"; echo; echo "($(grep -c . <<<"$rows") rows)" ;;
esac
`,
    );
    chmodSync(join(bin, 'zdm-lab'), 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const beforePhase5 = [...seq('phase0', 40), ...seq('phase1', 30), ...seq('phase2', 20), ...seq('phase3', 20), ...seq('phase4', 25), ...seq('rollback', 15)];

  test('a clean migration: one line with every phase’s range, the writes before Phase 5 on Origin, none of Phase 5', () => {
    const lines = [...record(beforePhase5.slice(0, 60)), 'read 200', ...record(beforePhase5.slice(60)), ...record(seq('phase5', 12))];
    const { ok, out } = prove(lines, ['hiking', 'lunch', ...beforePhase5, ...seq('phase5', 12)], ['hiking', ...beforePhase5]);
    assert.equal(ok, true, out);
    assert.equal(
      out,
      "✔ 162 writes, 0 failed requests; on Target every phase's sequence is complete, no gap (phase0 1–40, phase1 1–30, phase2 1–20, phase3 1–20, phase4 1–25, rollback 1–15, phase5 1–12); on Origin all 150 writes before Phase 5, none of the 12 of Phase 5",
    );
  });

  test('a failed request fails the proof, with the first one named', () => {
    const { ok, out } = prove([...record(seq('phase0', 3)), 'read 503', ...record(['phase0-4'], 503)], seq('phase0', 4), seq('phase0', 4));
    assert.equal(ok, false);
    assert.match(out, /^✘ 2 of the loop's requests failed, first: read 503 .*: only a Reset to the intro starts a clean proof \(the Reset button at the top of the page\)$/);
  });

  test('a gap in a phase on Target names the missing writes', () => {
    const target = seq('phase1', 30).filter((s) => s !== 'phase1-7' && s !== 'phase1-8');
    const { ok, out } = prove(record(seq('phase1', 30)), target, seq('phase1', 30));
    assert.equal(ok, false);
    assert.match(out, /^✘ 2 of the loop's writes are not on Target, e\.g\. phase1-7 phase1-8 - .*\(zdm-lab migrate --keyspace zdmapp\).*; run it, then check again \(writes of other phases it cannot bring back: only a Reset to the intro starts a clean proof\)$/);
  });

  test('a write before Phase 5 missing on Origin is what a rollback would lose', () => {
    const origin = seq('rollback', 5).filter((s) => s !== 'rollback-3');
    const { ok, out } = prove(record(seq('rollback', 5)), seq('rollback', 5), origin);
    assert.equal(ok, false);
    assert.match(out, /^✘ 1 of the 5 writes made before Phase 5 are not on Origin, e\.g\. rollback-3 - a rollback to Origin would lose them .*nothing copies them back: only a Reset to the intro starts a clean proof \(the Reset button at the top of the page\)$/);
  });

  test('a Phase 5 write on Origin means the loop wrote as phase5 before the API left the proxies', () => {
    const { ok, out } = prove(record([...seq('phase4', 3), ...seq('phase5', 4)]), [...seq('phase4', 3), ...seq('phase5', 4)], [...seq('phase4', 3), 'phase5-1']);
    assert.equal(ok, false);
    assert.match(out, /^✘ 1 of the 4 Phase 5 writes reached Origin, e\.g\. phase5-1 - in Phase 5 the API writes to Target alone .*these stay on Origin: only a Reset to the intro starts a clean proof \(the Reset button at the top of the page\)$/);
  });
});
