/**
 * The autopilot on the ZDM course and real Cassandra (environment 4): a lab
 * server hosts a fresh environment, `zdm-lab course play --to step3` asks it
 * to play, and afterwards the intro, step 1 and step 2 checks have passed as
 * if a learner had clicked through them, the learner is on step 3, and the
 * things those pages start are really running: the API answers in ORIGIN
 * mode and the writer loop keeps writing. Needs only Cassandra, no proxy.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LabContext } from '../../infra/commands/environment.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { zdmLab } from '../support/cli.js';
import { blockId } from '../support/blocks.js';
import { freshEnvironment, stopEnvironment } from '../support/lab.js';
import { http } from '../support/sample-api.js';

const ENV = 4;
const root = new URL('../..', import.meta.url).pathname;
let ctx: LabContext | undefined;
let lab: LabServer | undefined;
let dataDir: string;

describe('zdm-lab course play on the ZDM course', { timeout: 900_000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'course-autopilot-'));
    ctx = await freshEnvironment(ENV);
    lab = await startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, environmentId: ENV });
  });
  after(async () => {
    await lab?.close();
    if (ctx) await stopEnvironment(ctx);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('--to step3 on a fresh environment: intro, step 1 and step 2 are played and their checks pass', async () => {
    const t0 = Date.now();
    const out = await zdmLab(['course', 'play', '--env', String(ENV), '--to', 'step3', '--data', dataDir]);
    const seconds = Math.round((Date.now() - t0) / 1000);
    console.log(`# course play --to step3: ${seconds} s\n${out.stdout.replace(/^/gm, '#   ')}`);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    const lines = out.stdout.trim().split('\n');
    for (const page of ['intro', 'step1', 'step2']) assert.ok(lines.some((l) => l.startsWith(`${page}: `)), `${page} is played`);
    // a long command line is cut to its start
    assert.ok(lines.some((l) => l.startsWith(`  ▶ step1:1 [api] printf '%s\\n' ORIGIN "username=$ORIGIN_USERNAME"`)), lines.join('\n'));
    assert.ok(lines.includes('  ▶ step1:3 [client] bash "$LAB_COURSE_DIR/scripts/writer.sh" phase0'));
    assert.match(out.stdout, /✔ check[^:]*: ✔ Origin \(127\.0\.4\.1\) and Target \(127\.0\.4\.2\) are up/);
    assert.match(out.stdout, /✔ check[^:]*: ✔ the API runs in ORIGIN mode, Origin has the seed rows, and the writer loop is writing/);
    assert.match(out.stdout, /✔ check[^:]*: ✔ Target has zdmapp\.user_status/);
    assert.match(lines.at(-1)!, /^✔ environment 4: 3 page\(s\) played in \d+ s; the learner is on step3$/);

    const env = lab!.environments.get(ENV)!;
    const progress = env.progress();
    assert.equal(progress.current, 'step3');
    assert.deepEqual(['intro', 'step1', 'step2'].map((p) => progress.checks[p]?.ok), [true, true, true]);
    assert.equal(progress.runs[blockId(env.course, 'step1', 3)], 1, 'the writer loop was started once');
    assert.equal(progress.runs[blockId(env.course, 'step3', 0)], undefined, 'nothing of step 3 ran');
  });

  test('what the played pages started keeps running: the API in ORIGIN mode, the writer loop writing', async () => {
    const health = await http('GET', `http://127.0.${ENV}.20:8000/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.mode, 'ORIGIN');
    const envDir = lab!.environments.get(ENV)!.workDir;
    const before = readFileSync(join(envDir, 'writer.log'), 'utf8').split('\n').length;
    await new Promise((r) => setTimeout(r, 2000));
    const written = readFileSync(join(envDir, 'writer.log'), 'utf8').trim().split('\n');
    assert.ok(written.length > before, 'the loop wrote more in 2 s');
    assert.deepEqual(written.filter((l) => !/^phase0-\d+ 200$/.test(l)), [], 'every write of the loop succeeded');
  });
});
