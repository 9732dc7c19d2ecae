/**
 * The whole ZDM course as a learner takes it, in headless Chromium, on real
 * Cassandra nodes and real ZDM proxies (environment 4), across the restarts
 * of the lab an instructor's host goes through. The lab runs in a process of
 * its own (test/support/lab-process.ts), so it can be stopped as `npm start`
 * stops and killed with SIGKILL.
 *
 * First the lab is stopped and started again with an earlier run's keyspace
 * left on Target, as a lab replayed on a used environment finds it: the setup
 * undoes it and says so, and the course then plays to the end from that
 * step-1 state. The browser clicks every runnable block of the intro and of
 * steps 1 to 10, waits for what each block is declared to show (the
 * autopilot's own waiting rules), and clicks Check on every page until it
 * shows a pass. In the middle of step 6 (the API on the proxies, the loop
 * writing as phase1) the lab is killed with SIGKILL and started again: the
 * learner is back on step 6 with the API and the loop running again, and
 * the page they had open goes on. After step 8 the lab is stopped and the
 * environment taken down: started again, the learner is on step 8 with the
 * earlier checks passed and the proxies as step 8 left them. At the finish,
 * where the learner took the environment down, a restart brings nothing back.
 *
 * Besides the course's own writer loop, the test writes through the API's
 * address the whole time, at least 5 writes a second, across both API
 * switches and both rolling updates, and never retries a write (it holds
 * still while the lab restarts, since the API runs in the lab's terminals).
 * At the end: no write failed, every acknowledged write is on Target, the API
 * reads from Target, every write acknowledged before Phase 5 is on Origin too,
 * and Origin has none of the phase 5 rows; the proof line, which counts every
 * write of the loop across the restarts, is printed again at the end of
 * `npm test`. Run as root, the environment is isolated (its own account,
 * budget and packet filter rules), as a hosted class would have it, and its
 * memory peak is printed beside its budget.
 * Needs the real zdm-proxy; skipped, with the reason, without it (failed
 * under CI=true, as is a run that cannot isolate).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { LabContext } from '../../infra/commands/environment.js';
import { withClient } from '../../infra/cql/client.js';
import { CHECK_PATIENCE_MS, CHECK_RETRY_MS } from '../../lab/autopilot/play.js';
import { loadCourse } from '../../lab/course/load.js';
import { renderPage } from '../../lab/course/render.js';
import { isolationProblem } from '../../lab/environments/isolation.js';
import { zdmLab, zdmLabAs, type CliResult } from '../support/cli.js';
import { eventually } from '../support/sample-api.js';
import { freshEnvironment, nodeOf, stopEnvironment, testContext, waitForFreePorts, zdmProxyUnavailable } from '../support/lab.js';
import { LabProcess } from '../support/lab-process.js';
import { recordFinding } from '../support/findings.js';
import { http } from '../support/sample-api.js';
import { launchBrowser, waitForTerminal } from './lab-harness.js';

const ENV = 4;
const API = `http://127.0.${ENV}.20:8000`;
const root = new URL('../..', import.meta.url).pathname;
const course = loadCourse(join(root, 'steps')).course!;
const ids = course.pages.map((p) => p.id);
/** Every page up to Phase 5; then the test's own proof, then the clean-up page with the course's. */
const PAGES = ids.slice(0, ids.indexOf('cleanup'));
/** The one line of the clean-up page's check. */
const PROOF = /^✔ (\d+) writes, 0 failed requests; on Target every phase's sequence is complete, no gap \((phase0 1–\d+, .*phase5 1–\d+)\); on Origin all (\d+) writes before Phase 5, none of the (\d+) of Phase 5$/;
const skip = await zdmProxyUnavailable();
const cannotIsolate = isolationProblem();
if (cannotIsolate && process.env.CI === 'true') throw new Error(`the course must play in an isolated environment under CI=true: ${cannotIsolate}`);
const isolated = cannotIsolate === undefined;

let ctx: LabContext | undefined;
let lab: LabProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let dataDir: string;
/** The lab's port, the same across its restarts: the learner's open page and links stay valid. */
let port: number;
let startedAt = 0;
/** The test's own figures, printed with the course's proof line. */
let testProof = '';

/** What happened while a block ran: for the writes during the API switches and the rolling updates. */
const windows: { block: string; command: string; from: number; to: number; loopLinesBefore: number }[] = [];

/** The lines of the course's writer loop log so far (writes and failed reads, one per line). */
function loopLog(): string[] {
  try {
    return readFileSync(join(dataDir, String(ENV), 'writer.log'), 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** The highest number the loop wrote under `prefix` so far. */
function lastNumber(prefix: string): number {
  return Math.max(0, ...loopLog().filter((l) => l.startsWith(`${prefix}-`)).map((l) => Number(l.split(' ')[0]!.slice(prefix.length + 1))));
}

/** The isolated environment's home, where its own copy of the cluster logins is. */
const home = () => (isolated ? join(dataDir, `home-${ENV}`) : undefined);

/** A command of the environment's own, as its account when isolated (its folders are its own). */
function asEnvironment(args: string[]): Promise<CliResult> {
  return isolated ? zdmLabAs(`zdmlab-${ENV}`, home()!, args) : zdmLab(args);
}

/**
 * A client of the API of its own: one write every 100 ms (back to back when
 * an answer takes longer), each write tried once, as the application would
 * send it; only the driver inside the API retries.
 */
class Writer {
  /** at: when the write was sent; ackedAt: when its answer came. */
  readonly acked: { status: string; at: number; ackedAt: number }[] = [];
  readonly failures: string[] = [];
  sent = 0;
  startedAt = 0;
  stoppedAt = 0;
  /**
   * Paused from the drill's stop of Target to the drill's end (its failures are the drill's own, not the
   * migration's), and while the lab restarts.
   */
  paused = false;
  pausedMs = 0;
  private running = false;
  private inFlight = false;
  private done: Promise<void> = Promise.resolve();

  start(): void {
    this.running = true;
    this.startedAt = Date.now();
    this.done = (async () => {
      while (this.running) {
        if (this.paused) {
          await new Promise((r) => setTimeout(r, 100));
          this.pausedMs += 100;
          continue;
        }
        const t0 = Date.now();
        const status = `w-${++this.sent}`;
        this.inFlight = true;
        try {
          const res = await fetch(`${API}/status/e2e-writer/${status}`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
          const body = await res.text();
          if (res.status === 200) this.acked.push({ status, at: t0, ackedAt: Date.now() });
          else this.failures.push(`${new Date(t0).toISOString()} ${status}: HTTP ${res.status} ${body.slice(0, 200)}`);
        } catch (err) {
          this.failures.push(`${new Date(t0).toISOString()} ${status}: ${(err as Error).message}`);
        } finally {
          this.inFlight = false;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t0))));
      }
    })();
  }

  /** Pauses, and resolves once no write is on its way (the lab is about to stop, and the API with it). */
  async hold(): Promise<void> {
    this.paused = true;
    while (this.inFlight) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.stoppedAt = Date.now();
  }

  get perSecond(): number {
    return this.sent / ((this.stoppedAt - this.startedAt - this.pausedMs) / 1000);
  }
}
const writer = new Writer();

describe('the ZDM course, clicked through in a browser on real infrastructure, across restarts of the lab', { skip, timeout: 2_400_000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'course-zdm-'));
    port = await freePort();
    if (isolated) {
      // The isolated environment keeps its nodes in its own fresh home: only nodes an earlier root run left on its addresses go.
      await stopEnvironment(testContext(ENV));
      await waitForFreePorts(ENV);
    } else {
      ctx = await freshEnvironment(ENV);
    }
    startedAt = Date.now();
    [lab, browser] = await Promise.all([LabProcess.start(labOptions()), launchBrowser()]);
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  });
  after(async () => {
    await writer.stop();
    await browser?.close();
    // A lab that died with a failed restart is started once more, to take its environment down.
    if (!lab && dataDir) lab = await LabProcess.start(labOptions()).catch(() => undefined);
    if (lab && isolated) {
      const { peak, cpuSeconds, budget } = await lab.stats(ENV);
      const seconds = (Date.now() - startedAt) / 1000;
      const cpuText = cpuSeconds === undefined ? '' : `; CPU ${cpuSeconds.toFixed(0)} s in ${seconds.toFixed(0)} s, ${(cpuSeconds / seconds).toFixed(2)} cores on average`;
      if (peak !== undefined) recordFinding('isolation-memory', `course played in isolated environment ${ENV}: memory peak ${(peak / 1024 ** 3).toFixed(2)} GiB of its ${(budget / 1024 ** 3).toFixed(1)} GiB budget${cpuText}`);
      // The environment's teardown runs as its account, then the account, its group, rules and folders go.
      await lab.destroy(ENV);
    }
    await lab?.stop('SIGTERM');
    if (ctx) await stopEnvironment(ctx);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('stopped and started again with an earlier run\'s keyspace on Target, the lab undoes it and says so on the first page', async () => {
    await setupDone();
    await restart('SIGTERM', async () => {
      // What an earlier run of the course leaves on Target, written while the lab is stopped.
      const leftover = await asEnvironment(['cqlsh', 'target', '--env', String(ENV), '-e', "CREATE KEYSPACE zdmapp WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"]);
      assert.equal(leftover.code, 0, leftover.stdout + leftover.stderr);
    });
    assert.equal((await progress()).setupNote, 'Ready for Step 1 (undone: Target holds keyspace zdmapp (from an earlier run))');
    writer.paused = false;
    await page.goto(lab!.openUrl);
    await waitForTerminal(page, 'host', /^Ready for Step 1 \(undone: Target holds keyspace zdmapp/m, 60_000);
  });

  for (const pageId of PAGES) {
    if (pageId === 'step6') {
      test('step6: its first blocks clicked, the API goes through the proxies and the loop writes as phase1', async () => {
        await clickThrough('step6', { to: 2 });
        await eventually('the loop writes as phase1', async () => lastNumber('phase1') >= 3, 60_000);
      });
      test('killed with SIGKILL in the middle of step 6, the lab comes back with the learner on step 6, the API and the loop running again, and the open page goes on', async () => {
        const before = lastNumber('phase1');
        await restart('SIGKILL');
        const now = await progress();
        assert.equal(now.current, 'step6');
        assert.match(now.setupNote, /^Restored at step6: Origin and Target with their data, the three proxies \(primary_cluster: ORIGIN, read_mode: PRIMARY_ONLY\), Prometheus; the API \(ZDM_PROXY mode\) and the writer loop \(phase1\) start again in their terminals$/);
        await eventually('the API answers through the proxies', async () => ((await http('GET', `${API}/health`)).body as { mode?: string }).mode === 'ZDM_PROXY', 120_000);
        await eventually('the loop writes again, numbering on', async () => lastNumber('phase1') > before + 3, 120_000);
        const names = loopLog().filter((l) => !l.startsWith('read ')).map((l) => l.split(' ')[0]);
        assert.equal(new Set(names).size, names.length, 'every write keeps a name of its own');
        await pageGoesOn('step6');
        await waitForTerminal(page, 'client', /^writing a status for eva every .* as phase1-\d+/m, 30_000);
        writer.paused = false;
      });
      test('step6: the rest of its blocks clicked in the same page, the Check button shows a pass', async () => {
        const verdict = await clickThrough('step6', { from: 2 });
        assert.equal(verdict!.text, '✓ Check passed', verdict!.output);
      });
      continue;
    }
    test(`${pageId}: every runnable block clicked, the Check button shows a pass`, async () => {
      const verdict = await clickThrough(pageId);
      assert.equal(verdict!.text, '✓ Check passed', verdict!.output);
      assert.equal(await page.locator('#check-result').getAttribute('class'), 'pass');
    });
    if (pageId === 'step8') {
      test('stopped on step 8 and the environment taken down, it comes back with the learner on step 8, the earlier checks passed and the proxies as step 8 left them', async () => {
        const before = lastNumber('phase3');
        assert.ok(before > 0, 'the loop wrote as phase3 on step 8');
        await restart('SIGTERM', async () => {
          const down = await asEnvironment(['infra', 'down', '--env', String(ENV)]);
          assert.equal(down.code, 0, down.stdout + down.stderr);
        });
        const { current, setupNote, checks } = await progress();
        assert.equal(current, 'step8');
        assert.equal(setupNote, 'Restored at step8: Origin and Target with their data, the three proxies (primary_cluster: ORIGIN, read_mode: DUAL_ASYNC_ON_SECONDARY), Prometheus; the API (ZDM_PROXY mode) and the writer loop (phase3) start again in their terminals');
        for (const p of PAGES.slice(0, PAGES.indexOf('step8') + 1)) assert.equal(checks[p]?.ok, true, `${p}'s check passed`);
        const status = await asEnvironment(['proxy', 'status', '--env', String(ENV)]);
        assert.equal(status.code, 0, status.stderr);
        assert.equal((status.stdout.match(/ORIGIN\/DUAL_ASYNC_ON_SECONDARY/g) ?? []).length, 3, status.stdout);
        await eventually('the loop writes as phase3 again, numbering on', async () => lastNumber('phase3') > before + 5, 180_000);
        await eventually('the API answers through the proxies', async () => ((await http('GET', `${API}/health`)).body as { mode?: string }).mode === 'ZDM_PROXY', 120_000);
        await pageGoesOn('step8');
        writer.paused = false;
      });
    }
  }

  test('no write failed, every acknowledged write is on Target, the API reads from Target, Origin has no phase 5 row', async () => {
    await writer.stop();
    const loop = loopLog();
    const loopWrites = loop.filter((l) => /^\w+-\d+ /.test(l));
    const loopFailed = loop.filter((l) => !/ 200$/.test(l));
    const perPhase = new Map<string, number>();
    for (const l of loopWrites) perPhase.set(l.split('-')[0]!, (perPhase.get(l.split('-')[0]!) ?? 0) + 1);

    const statuses = async (cluster: 'origin' | 'target', user: string) =>
      withClient(nodeOf(ENV, cluster, home()), async (c) => {
        const rows = await c.execute('SELECT status FROM zdmapp.user_status WHERE user = ?', [user], { prepare: true, fetchSize: 100_000 });
        return new Set(rows.rows.map((r) => String(r.status)));
      });
    const [targetEva, targetTest, originEva, originTest] = await Promise.all([
      statuses('target', 'eva'),
      statuses('target', 'e2e-writer'),
      statuses('origin', 'eva'),
      statuses('origin', 'e2e-writer'),
    ]);
    const missingLoop = loopWrites.map((l) => l.split(' ')[0]!).filter((s) => !targetEva.has(s));
    const missingTest = writer.acked.map((w) => w.status).filter((s) => !targetTest.has(s));
    // Phase 5 starts when step 10 moves the API off the proxies: every write acknowledged before that
    // click must be on Origin too, or a rollback to Origin would lose it (the loop's log is cut where
    // the click happened: its phase 5 loop waits for the switch, so nothing of it comes before)
    const switchToTarget = windows.filter((w) => /^printf .* TARGET .*client-connection-mode"$/.test(w.command)).at(-1);
    const phase5From = switchToTarget?.from ?? Infinity;
    const loopBeforePhase5 = loop.slice(0, switchToTarget?.loopLinesBefore ?? 0).filter((l) => /^\w+-\d+ 200$/.test(l));
    const beforePhase5 = [
      ...loopBeforePhase5.map((l) => ({ s: l.split(' ')[0]!, on: originEva })),
      ...writer.acked.filter((w) => w.ackedAt < phase5From).map((w) => ({ s: w.status, on: originTest })),
    ];
    const missingOnOrigin = beforePhase5.filter(({ s, on }) => !on.has(s)).map(({ s }) => s);
    const proof =
      `${loopWrites.filter((l) => / 200$/.test(l)).length + writer.acked.length} writes acked, ` +
      `${loopFailed.length + writer.failures.length} failed, ${missingLoop.length + missingTest.length} missing on Target, ` +
      `${missingOnOrigin.length} of ${beforePhase5.length} phase 0–4 writes missing on Origin`;
    testProof = proof;
    const phase5OnTarget = [...targetEva].filter((s) => s.startsWith('phase5-')).length;
    const phase5OnOrigin = [...originEva].filter((s) => s.startsWith('phase5-')).length;
    const health = await http('GET', `${API}/health`);
    const latest = await http('GET', `${API}/status/eva`);
    // The row the loop kept updating while migrate ran (step 7): the newest value on both, decided by the same writetime.
    const lena = await Promise.all(
      (['origin', 'target'] as const).map((c) =>
        withClient(nodeOf(ENV, c, home()), async (client) =>
          (await client.execute("SELECT status, writetime(status) AS written FROM zdmapp.user_status WHERE user = 'lena'", [], { prepare: false })).rows.map((r) => `${r.status} ${r.written}`),
        ),
      ),
    );

    const during = windows
      .filter((w) => /rolling-update|client-connection-mode"$/.test(w.command))
      .map((w) => `${w.block} ${Math.round((w.to - w.from) / 1000)} s: ${writer.acked.filter((a) => a.at >= w.from && a.at <= w.to).length} acknowledged`);
    console.log(
      [
        `# ${proof}`,
        `# course writer loop: ${loopWrites.length} writes (${[...perPhase].map(([p, n]) => `${p} ${n}`).join(', ')}), ${loopFailed.length} failed requests (writes or reads)`,
        `# test writer: ${writer.sent} writes in ${Math.round((writer.stoppedAt - writer.startedAt) / 1000)} s (${writer.perSecond.toFixed(1)}/s), ${writer.acked.length} acknowledged, ${writer.failures.length} failed`,
        `# writes during the switches and rolling updates: ${during.join('; ')}`,
        `# on Target: ${loopWrites.length - missingLoop.length} of ${loopWrites.length} loop writes, ${writer.acked.length - missingTest.length} of ${writer.acked.length} test writes`,
        `# lena's row, updated with each write while migrate ran: Origin ${JSON.stringify(lena[0])}, Target ${JSON.stringify(lena[1])}`,
        `# phase 5 rows: ${phase5OnTarget} on Target, ${phase5OnOrigin} on Origin; the API: ${JSON.stringify(health.body)}, eva's latest ${JSON.stringify(latest.body?.[0]?.status)}`,
      ].join('\n'),
    );

    assert.deepEqual(writer.failures, [], 'no write of the test writer failed');
    assert.deepEqual(loopFailed, [], 'no request of the course’s writer loop failed');
    assert.ok(writer.perSecond >= 5, `the test writer wrote ${writer.perSecond.toFixed(1)} times a second`);
    assert.equal(during.length, 8, 'four API switches and four rolling updates were clicked (one of each in the rollback and one on the way forward)');
    for (const w of windows.filter((x) => /rolling-update|client-connection-mode"$/.test(x.command))) {
      assert.ok(writer.acked.some((a) => a.at >= w.from && a.at <= w.to), `writes were acknowledged while ${w.block} ran`);
    }
    for (const phase of ['phase0', 'phase1', 'phase2', 'phase3', 'phase4', 'rollback', 'phase5']) assert.ok((perPhase.get(phase) ?? 0) > 0, `the loop wrote in ${phase}`);
    assert.deepEqual(missingLoop, [], 'every write of the loop is on Target');
    assert.deepEqual(missingTest, [], 'every acknowledged test write is on Target');
    assert.ok(beforePhase5.length > 0 && phase5From !== Infinity, 'writes were made before Phase 5 started');
    assert.deepEqual(missingOnOrigin, [], 'every write acknowledged before Phase 5 is on Origin, so a rollback loses nothing');
    assert.equal(lena[0]!.length, 1, 'lena has one row, updated again and again');
    assert.match(lena[0]![0]!, /^phase2-\d+ \d+$/);
    assert.deepEqual(lena[1], lena[0], 'Target holds the newest value of the row, with the writetime that decided it');
    assert.equal(health.body.mode, 'TARGET');
    assert.equal(health.body.connected, true);
    assert.match(String(latest.body?.[0]?.status), /^phase5-\d+$/, 'the API answers with a row only Target has');
    assert.ok(phase5OnTarget > 0);
    assert.equal(phase5OnOrigin, 0, 'Origin has none of the phase 5 rows');
  });

  test('cleanup: the check proves, in one line, that no request failed, every phase is whole on Target, and Origin holds every write before Phase 5 and none after', async () => {
    const verdict = (await clickThrough('cleanup'))!;
    assert.equal(verdict.text, '✓ Check passed', verdict.output);
    const proof = PROOF.exec(verdict.output);
    assert.ok(proof, `the proof line: ${verdict.output}`);
    const [, writes, ranges, before, phase5] = proof;
    const phases = ranges.split(', ').map((r) => r.split(' ')[0]);
    assert.deepEqual(phases, ['phase0', 'phase1', 'phase2', 'phase3', 'phase4', 'rollback', 'phase5'], 'every phase of the course, the rollback between Phase 4 and Phase 5');
    assert.equal(Number(before) + Number(phase5), Number(writes));
    recordFinding('course-proof', `course proof, across a SIGKILL of the lab on step 6 and a stop with the environment down on step 8: ${verdict.output.slice(2)}; and the test's own writer: ${testProof}`);
  });

  test('finish: its blocks take the environment down; stopped and started again there, the lab brings nothing back', async () => {
    const verdict = (await clickThrough('finish'))!;
    assert.equal(verdict.text, '✓ Check passed', verdict.output);
    await restart('SIGTERM');
    assert.equal((await progress()).setupNote, 'Restored at finish: nothing, since this page shuts the environment down (zdm-lab infra status shows what still runs)');
    const status = await asEnvironment(['infra', 'status', '--env', String(ENV)]);
    const rows = status.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 5, status.stdout + status.stderr);
    assert.deepEqual(rows.filter((l) => l.split(/\s+/)[2] !== 'down'), [], status.stdout);
  });
});

function labOptions() {
  return { courseDir: join(root, 'steps'), port, dataDir, environmentId: ENV, isolate: isolated };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', () => ok()));
  const { port: p } = probe.address() as AddressInfo;
  await new Promise<void>((ok) => probe.close(() => ok()));
  return p;
}

type Progress = { setup: string; setupNote: string; current: string | null; checks: Record<string, { ok: boolean }> };

/** The environment's progress, as the learner's page reads it. */
async function progress(): Promise<Progress> {
  const res = await fetch(`http://127.0.0.1:${port}/api/env/${ENV}/progress`, { headers: { authorization: `Bearer ${lab!.token}` } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Progress;
}

/** Waits for the environment's setup (the start's or the restart's) to end; it must have succeeded. */
async function setupDone(): Promise<Progress> {
  await eventually('the setup is done', async () => !['running', 'none'].includes((await progress()).setup), 600_000);
  const now = await progress();
  assert.equal(now.setup, 'done', `${now.setupNote}\n${readFileSync(join(dataDir, String(ENV), 'setup.log'), 'utf8').slice(-3000)}`);
  return now;
}

/**
 * Stops the lab with `signal` (SIGTERM: as `npm start` stops on Ctrl-C; SIGKILL: a crash), runs `meanwhile`
 * while it is down, and starts it again on the same port and data; resolves once its setup is done. The test's
 * writer holds still meanwhile, since the API runs in the lab's terminals: the caller lets it go on.
 */
async function restart(signal: 'SIGTERM' | 'SIGKILL', meanwhile?: () => Promise<void>): Promise<void> {
  await writer.hold();
  const stopped = lab!;
  lab = undefined;
  await stopped.stop(signal);
  await meanwhile?.();
  lab = await LabProcess.start(labOptions());
  await setupDone();
}

/** The learner's page, left open across a restart, shows `pageId` and has every terminal connected again. */
async function pageGoesOn(pageId: string): Promise<void> {
  const title = course.pages.find((p) => p.id === pageId)!.title;
  await page.waitForFunction((t) => document.querySelector('#page h1')?.textContent === t, title);
  await page.waitForFunction(() => [...document.querySelectorAll('.lab-terminal')].every((t) => t.getAttribute('data-connected') === 'true'), null, { timeout: 30_000 });
  await waitForTerminal(page, 'api', /^sample-api: listening on /m, 30_000);
}

/**
 * Shows the page (unless `from` says the learner is on it already), clicks each runnable block from `from` up to
 * `to` and waits for what it declares, then, when the last block was clicked, clicks Check until it passes.
 */
async function clickThrough(pageId: string, { from = 0, to = Infinity }: { from?: number; to?: number } = {}): Promise<{ text: string; output: string } | undefined> {
  const t0 = Date.now();
  const spec = course.pages.find((p) => p.id === pageId)!;
  if (pageId !== 'intro' && from === 0) await page.locator('#next-button').click();
  await page.waitForFunction((title) => document.querySelector('#page h1')?.textContent === title, spec.title);
  if (pageId === 'intro') await waitForTerminal(page, 'host', /^Ready for Step 1\b/m, 600_000);

  const runnable = renderPage(course, spec).blocks.filter((b) => b.execute);
  const shown = await page.locator('#page .lab-block.runnable').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.block));
  assert.deepEqual(shown, runnable.map((b) => b.id), 'the page shows the course’s runnable blocks');
  const blocks = runnable.slice(from, to);
  for (const block of blocks) {
    // From the drill's stop of Target to its end, writes through the proxies fail by design (also for a moment
    // after Target is back, while the clients reconnect): the test's writer pauses, as the course's loop does.
    if (/zdm-lab node stop target/.test(block.command)) writer.paused = true;
    const wait = await lab!.expect(ENV, pageId, block.id);
    const loopLinesBefore = loopLog().length;
    const started = Date.now();
    await page.locator(`[data-block="${block.id}"] pre`).click();
    await page.locator(`[data-block="${block.id}"].executed`).waitFor();
    await wait.settled();
    windows.push({ block: `${block.pageId}:${block.index}`, command: block.command, from: started, to: Date.now(), loopLinesBefore });
  }
  if (pageId === 'drill') writer.paused = false;
  if (pageId === 'step1') writer.start();
  if (from + blocks.length < runnable.length) return undefined;

  const verdict = await clickCheck(spec.checkTimeoutSeconds);
  console.log(`# ${pageId}: ${blocks.length} block(s) and the check in ${Math.round((Date.now() - t0) / 1000)} s: ${verdict.output}`);
  return verdict;
}

/** Click Check as a learner does, again after a pause while it fails, for as long as the autopilot would. */
async function clickCheck(timeoutSeconds: number): Promise<{ text: string; output: string }> {
  const started = Date.now();
  for (;;) {
    await page.locator('#check-button').click();
    await page.waitForFunction(
      () => {
        const b = document.querySelector<HTMLButtonElement>('#check-button');
        return b !== null && !b.disabled && b.textContent === 'Check';
      },
      null,
      { timeout: (timeoutSeconds + 60) * 1000 },
    );
    const text = await page.locator('#check-verdict').innerText();
    const output = await page.locator('#check-output').innerText();
    if (text === '✓ Check passed' || Date.now() - started >= CHECK_PATIENCE_MS) return { text, output };
    console.log(`#   check not passed yet (${output}); clicking again`);
    await page.waitForTimeout(CHECK_RETRY_MS);
  }
}
