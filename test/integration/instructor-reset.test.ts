/**
 * Instructor resets on the ZDM course and real Cassandra (environment 8,
 * hosted by a lab server as a learner's environment). The console's row shows
 * the learner's step, checks and each part's health. A reset taken in the
 * middle of step 1, with the API and the writer loop running, leaves Origin
 * with only the seed rows, Target empty, the API stopped, no shell or
 * program of the learner's terminals alive, progress cleared and the
 * working folder empty. With the real zdm-proxy (skipped with the reason
 * otherwise): a reset taken in the middle of step 6, the API switched to the
 * proxies and a rolling update in flight, leaves the proxies down as well;
 * and a reset to step 7 lands there with the checks of the intro and steps
 * 1–6 passing, saving the course's state at the start of each page on the
 * way; a second reset to step 7 restores the saved state instead of playing:
 * Origin's rows with their writetimes, the proxies running, the API through
 * them, the loop writing on from the saved record, step 6's check passing
 * (the seconds of both resets are printed side by side). Then, left without activity, the environment on step 7 is put
 * to sleep (the API and the writer loop end, the proxies and both nodes stop)
 * and, when its learner is back, wakes with every row Origin had and the
 * loop writing again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { infraStatus, type LabContext } from '../../infra/commands/environment.js';
import { withClient } from '../../infra/cql/client.js';
import { plainText } from '../../lab/autopilot/watch.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { blockId } from '../support/blocks.js';
import { decode, Packet } from '../../lab/terminals/protocol.js';
import { zdmLab } from '../support/cli.js';
import { recordFinding } from '../support/findings.js';
import { http } from '../support/sample-api.js';
import type { EnvironmentState } from '../../infra/commands/state.js';
import { freshEnvironment, stopEnvironment, testContext, zdmProxyUnavailable } from '../support/lab.js';

const ENV = 8;
const root = new URL('../..', import.meta.url).pathname;
const SEED = ['eva commuting', 'eva hiking', 'eva lunch', 'marco cooking'];
let ctx: LabContext | undefined;
let lab: LabServer | undefined;
let dataDir: string;
/** How long the first reset to step 7 (played) took, printed beside the restored one. */
let replayedSeconds = 0;

/** Reset through the instructor API, as the console does; returns the streamed events. */
async function resetOverHttp(to?: string): Promise<{ type: string; line?: string; message?: string; result?: Record<string, unknown> }[]> {
  const res = await fetch(`${lab!.url}api/instructor/environments/${ENV}/reset`, {
    method: 'POST',
    headers: { authorization: `Bearer ${lab!.instructorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(to ? { to } : {}),
  });
  assert.equal(res.status, 200);
  const events = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
  if (process.env.LAB_TEST_VERBOSE) for (const e of events) process.stderr.write(`  ${e.line ?? e.message ?? JSON.stringify(e.result)}\n`);
  return events;
}

/** The last lines each terminal of the environment shows, for a failure's message. */
function terminalTails(): string {
  const env = lab!.environments.get(ENV)!;
  return env.course.terminals
    .map((t) => {
      let text = '';
      const collect = (frame: string) => {
        const p = decode(frame);
        if (p.type === Packet.OUTPUT) text += p.args.data;
      };
      const viewer = { seq: 0, send: collect };
      const session = env.terminal(t.id);
      session.attach(viewer, undefined, 0);
      session.detach(viewer);
      return `--- ${t.id}:\n${plainText(text).split('\n').slice(-12).join('\n')}`;
    })
    .join('\n');
}

/** Processes started from the learner's terminals (their shells and every program those ran). */
function terminalProcesses(workDir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (environ.includes(`LAB_ENV_DIR=${workDir}`) && environ.some((v) => v.startsWith('LAB_TERMINAL='))) {
        found.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`);
      }
    } catch {
      // ended while we looked
    }
  }
  return found;
}

async function originRows(): Promise<string[]> {
  return withClient(ctx!.topo.origin, async (c) => (await c.execute('SELECT user, status FROM zdmapp.user_status')).rows.map((r) => `${r.user} ${r.status}`).sort());
}

async function targetKeyspaces(): Promise<string[]> {
  return withClient(ctx!.topo.target, async (c) => (await c.execute('SELECT keyspace_name FROM system_schema.keyspaces')).rows.map((r) => String(r.keyspace_name)).filter((k) => !k.startsWith('system')));
}

async function apiAnswers(): Promise<boolean> {
  try {
    await fetch(`http://127.0.${ENV}.20:8000/health`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

/** What a reset must leave behind: the state of the first page, and nothing of what ran. */
async function assertStepOneState(label: string): Promise<void> {
  const env = lab!.environments.get(ENV)!;
  assert.deepEqual(await originRows(), SEED, `${label}: Origin holds only the seed rows`);
  assert.deepEqual(await targetKeyspaces(), [], `${label}: Target is empty`);
  assert.equal(await apiAnswers(), false, `${label}: the API is stopped`);
  assert.deepEqual(terminalProcesses(env.workDir), [], `${label}: no shell or program of the terminals is left`);
  const proxies = (await infraStatus(testContext(ENV))).filter((r) => r.component.startsWith('proxy'));
  assert.deepEqual(proxies.map((r) => `${r.component} ${r.state}`), ['proxy-1 down', 'proxy-2 down', 'proxy-3 down'], `${label}: the proxies are down`);
  const progress = env.progress();
  assert.deepEqual([progress.current, progress.visited, progress.runs, progress.checks], [null, [], {}, {}], `${label}: progress is cleared`);
  const left = readdirSync(env.workDir).filter((f) => !/^setup(-progress)?\.log$/.test(f) && !f.startsWith('.lab-'));
  assert.deepEqual(left, [], `${label}: the working folder holds only the new setup's log and the lab's own files`);
}

describe('instructor resets on the ZDM course', { timeout: 1_800_000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'instructor-reset-'));
    ctx = await freshEnvironment(ENV);
    lab = await startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, environmentId: null, bytesPerEnvironment: 1, lifecycleCheckMs: 500 });
    lab.classroom.create({ env: ENV, name: 'Ada' });
    await lab.environments.get(ENV)!.setupDone();
  });
  after(async () => {
    await lab?.close();
    if (ctx) await stopEnvironment(ctx);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a reset in the middle of step 1, with the API and the writer loop running, leaves the state of the first page', async () => {
    const events = await resetOverHttp('step2');
    assert.equal(events.at(-1)!.type, 'done', `${JSON.stringify(events.slice(-5))}\n${terminalTails()}`);
    const env = lab!.environments.get(ENV)!;
    assert.equal(env.progress().current, 'step2');
    assert.ok(await apiAnswers(), 'the API runs before the reset');
    const writes = () => readFileSync(join(env.workDir, 'writer.log'), 'utf8').split('\n').length;
    const before = writes();
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(writes() > before, 'the writer loop writes before the reset');
    assert.ok((await originRows()).length > SEED.length, 'the writer added rows to Origin');
    assert.ok(terminalProcesses(env.workDir).some((p) => p.includes('writer.sh')), 'the writer loop runs in a terminal');
    const list = await fetch(`${lab!.url}api/instructor/environments`, { headers: { authorization: `Bearer ${lab!.instructorToken}` } });
    const row = ((await list.json()) as { environments: { env: number; name: string; current: string; checksPassed: number; health: { components: { name: string; state: string }[] } }[] }).environments[0]!;
    assert.deepEqual([row.env, row.name, row.current, row.checksPassed], [ENV, 'Ada', 'step2', 2], 'the console shows the learner on step 2 with two checks passed');
    assert.deepEqual(
      row.health.components.map((c) => `${c.name} ${c.state}`),
      ['origin up', 'target up', 'proxy-1 down', 'proxy-2 down', 'proxy-3 down', 'api up'],
      "the console shows each part's health as the course's status command reports it",
    );

    const t0 = Date.now();
    const out = await zdmLab(['env', 'reset', '--env', String(ENV), '--data', dataDir]);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(out.code, 0, out.stdout + out.stderr);
    const line = out.stdout.trim().split('\n').at(-1)!;
    assert.match(line, /^✔ environment 8: reset in [\d.]+ s, ready after [\d.]+ s$/);
    console.log(`# zdm-lab env reset mid-step-1: ${seconds.toFixed(1)} s in all (${line})`);
    await assertStepOneState('after a reset mid-step-1');
  });

  test('a reset in the middle of step 6, with a rolling update in flight, leaves the state of the first page', async (t) => {
    const why = await zdmProxyUnavailable();
    if (why) return void t.skip(why);
    const events = await resetOverHttp('step6');
    assert.equal(events.at(-1)!.type, 'done', `${JSON.stringify(events.slice(-5))}\n${terminalTails()}`);
    const env = lab!.environments.get(ENV)!;
    const switched = await env.run(blockId(env.course, 'step6', 0));
    assert.ok(switched.ok, 'the API is switched to the proxies');
    await env.terminal('host').type('zdm-lab proxy config set read_mode=DUAL_ASYNC_ON_SECONDARY && zdm-lab proxy rolling-update --pause 5');
    const deadline = Date.now() + 60_000;
    while (!terminalProcesses(env.workDir).some((p) => p.includes('rolling-update')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 4000));
    assert.ok(terminalProcesses(env.workDir).some((p) => p.includes('rolling-update')), 'the rolling update is in flight');

    const events2 = await resetOverHttp();
    assert.equal(events2.at(-1)!.type, 'done', JSON.stringify(events2.slice(-5)));
    console.log(`# reset mid-step-6: ${JSON.stringify(events2.at(-1)!.result)}`);
    await assertStepOneState('after a reset mid-step-6');
    const config = await zdmLab(['proxy', 'config', 'show', '--env', String(ENV)]);
    assert.match(config.stdout, /"read_mode": "PRIMARY_ONLY"/, 'the proxy configuration is back to its defaults');
  });

  test('a reset to step 7 lands on step 7 with the checks of the intro and steps 1–6 passing', async (t) => {
    const why = await zdmProxyUnavailable();
    if (why) return void t.skip(why);
    const events = await resetOverHttp('step7');
    const done = events.at(-1)!;
    assert.equal(done.type, 'done', `${JSON.stringify(events.slice(-5))}\n${terminalTails()}`);
    console.log(`# reset to step7: ${JSON.stringify(done.result)}`);
    const progress = lab!.environments.get(ENV)!.progress();
    assert.equal(progress.current, 'step7');
    const pages = ['intro', 'step1', 'step2', 'step3', 'step4', 'step5', 'step6'];
    assert.deepEqual(pages.map((p) => progress.checks[p]?.ok), pages.map(() => true));
    assert.equal(progress.checks.step7, undefined, 'nothing of step 7 was checked');
    replayedSeconds = Number((done.result as { playedSeconds?: number }).playedSeconds);
    const shelf = lab!.classroom.shelf!;
    assert.deepEqual(shelf.pages(), ['step1', 'step2', 'step3', 'step4', 'step5', 'step6', 'step7'], `the states saved on the way:\n${events.map((e) => e.line).join('\n')}`);
  });

  test('a second reset to step 7 restores the saved state instead of playing: Origin\'s rows, the proxies, the API through them, the loop writing on, step 6\'s check passing', async (t) => {
    const why = await zdmProxyUnavailable();
    if (why) return void t.skip(why);
    const env = lab!.environments.get(ENV)!;
    const saved = join(lab!.classroom.shelf!.dir, 'step7');
    const state = JSON.parse(readFileSync(join(saved, 'infra.json'), 'utf8')) as EnvironmentState;
    const record = readFileSync(join(saved, 'writer.log'), 'utf8').trim().split('\n');
    const lastSaved = Math.max(...record.map((l) => Number(/^phase1-(\d+) /.exec(l)?.[1] ?? 0)));
    assert.ok(lastSaved > 0, 'the saved record holds phase1 writes (the loop of step 6)');

    const events = await resetOverHttp('step7');
    const done = events.at(-1)!;
    assert.equal(done.type, 'done', `${JSON.stringify(events.slice(-5))}\n${terminalTails()}`);
    const result = done.result as { restored?: boolean; playedSeconds: number; resetSeconds: number };
    assert.equal(result.restored, true, events.map((e) => e.line ?? e.message).join('\n'));
    const lines = events.map((e) => e.line ?? '');
    assert.ok(lines.some((l) => /^environment 8: step6's check passes: ✔/.test(l)), lines.join('\n'));
    console.log(`# reset to step7 from its saved state: ${JSON.stringify(result)}`);
    recordFinding('reset-to-step7', `reset to step7: ${replayedSeconds.toFixed(1)} s played, ${result.playedSeconds.toFixed(1)} s from its saved state (restore ${result.resetSeconds.toFixed(1)} s)`);

    const progress = env.progress();
    assert.equal(progress.current, 'step7');
    const pages = ['intro', 'step1', 'step2', 'step3', 'step4', 'step5', 'step6'];
    assert.deepEqual(pages.map((p) => progress.checks[p]?.ok), pages.map(() => true));
    // Origin holds every saved row with its writetime.
    const onOrigin = await withClient(ctx!.topo.origin, async (c) =>
      new Map((await c.execute('SELECT user, when, status, WRITETIME(status) AS wt FROM zdmapp.user_status', [], { fetchSize: 100_000 })).rows.map((r) => [`${r.user} ${(r.when as Date).toISOString()} ${r.status}`, String(r.wt)])),
    );
    for (const row of state.clusters.origin.rows) assert.equal(onOrigin.get(`${row.user} ${row.when} ${row.status}`), row.writetime, `Origin holds ${row.user} ${row.when} ${row.status} as saved`);
    const status = await zdmLab(['proxy', 'status', '--env', String(ENV)]);
    assert.equal((status.stdout.match(/ORIGIN\/PRIMARY_ONLY/g) ?? []).length, 3, status.stdout);
    assert.equal((await http('GET', `http://127.0.${ENV}.20:8000/health`)).body.mode, 'ZDM_PROXY');
    // The loop writes on from the saved record, as phase1, without a gap.
    const log = () => readFileSync(join(env.workDir, 'writer.log'), 'utf8').trim().split('\n');
    assert.deepEqual(log().slice(0, record.length), record);
    for (let i = 0; log().length <= record.length + 3 && i < 120; i++) await new Promise((r) => setTimeout(r, 500));
    const after = log().slice(record.length);
    assert.ok(after.length > 3, `the loop writes again after the restore\n${terminalTails()}`);
    assert.deepEqual(after.filter((l) => /^phase1-\d+ /.test(l)).map((l) => l.replace(/^phase1-(\d+) .*/, '$1')).slice(0, 3), [lastSaved + 1, lastSaved + 2, lastSaved + 3].map(String));
    assert.deepEqual(after.filter((l) => !/ 200$/.test(l)), [], 'every write after the restore succeeded');
  });

  test("left without activity, the environment sleeps with its parts stopped, and wakes with Origin's rows intact and the loop writing", async (t) => {
    const why = await zdmProxyUnavailable();
    if (why) return void t.skip(why);
    const env = lab!.environments.get(ENV)!;
    assert.equal(env.progress().current, 'step7', 'the test before left the learner on step 7');
    const instructor = (path: string, body: unknown) =>
      fetch(`${lab!.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${lab!.instructorToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const rows = async () =>
      withClient(ctx!.topo.origin, async (c) => (await c.execute('SELECT user, when FROM zdmapp.user_status', [], { fetchSize: 100_000 })).rows.map((r) => `${r.user} ${(r.when as Date).getTime()}`));

    assert.equal((await instructor('api/instructor/lifetime', { idleMinutes: 0.02 })).status, 200);
    const slept = Date.now();
    for (let i = 0; env.sleep !== 'asleep' && i < 240; i++) await new Promise((r) => setTimeout(r, 500));
    assert.equal(env.sleep, 'asleep', `the environment did not fall asleep; it is ${env.sleep}`);
    assert.equal((await instructor('api/instructor/lifetime', { idleMinutes: 0 })).status, 200);
    console.log(`# asleep after ${((Date.now() - slept) / 1000).toFixed(1)} s (idle time 1.2 s)`);
    const parts = await infraStatus(testContext(ENV));
    assert.deepEqual(parts.map((r) => `${r.component} ${r.state}`), ['origin down', 'target down', 'proxy-1 down', 'proxy-2 down', 'proxy-3 down'], 'asleep, every part is stopped');
    assert.equal(await apiAnswers(), false, 'asleep, the API is stopped');
    assert.deepEqual(terminalProcesses(env.workDir), [], 'asleep, nothing of the terminals runs');
    const writes = () => readFileSync(join(env.workDir, 'writer.log'), 'utf8').split('\n').length;
    const writtenAsleep = writes();

    const woke = Date.now();
    const wake = await fetch(`${lab!.url}api/env/${ENV}/wake`, { method: 'POST', headers: { authorization: `Bearer ${lab!.classroom.tokenOf(ENV) ?? lab!.instructorToken}` } });
    assert.equal(wake.status, 200);
    assert.equal(await env.setupDone(), 'done', `the setup after waking failed: see ${env.workDir}/setup.log`);
    console.log(`# awake again after ${((Date.now() - woke) / 1000).toFixed(1)} s: ${env.setupNote}`);
    assert.equal(env.sleep, 'awake');
    const after = new Set(await rows());
    assert.ok(after.size > SEED.length, 'Origin has the rows written before it slept');
    for (let i = 0; writes() <= writtenAsleep && i < 120; i++) await new Promise((r) => setTimeout(r, 500));
    assert.ok(writes() > writtenAsleep, `the writer loop does not write again after waking\n${terminalTails()}`);
    const later = new Set(await rows());
    for (const row of after) assert.ok(later.has(row), `row ${row} was lost`);
  });
});
