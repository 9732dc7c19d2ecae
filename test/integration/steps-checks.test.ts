/**
 * The course's checks against the real system (environment 3), run the way
 * the lab engine runs them: each page's check command from course.json, with
 * bash, in the environment's folder, with LAB_ENV, LAB_ENV_DIR and
 * LAB_COURSE_DIR. Every check is first seen failing on an environment that
 * has not reached the page's goal, with a message that says what to do, then
 * passing after the page's own commands have run. The proxy pages need the
 * real zdm-proxy and are skipped without it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LabContext } from '../../infra/commands/environment.js';
import { credentialVariables } from '../../infra/credentials.js';
import { addressVariables, topology } from '../../infra/topology.js';
import { loadCourse } from '../../lab/course/load.js';
import { renderPage } from '../../lab/course/render.js';
import type { Block, Course } from '../../lab/course/schema.js';
import { runShell } from '../../lab/environments/shell.js';
import { stopEnvironment, zdmProxyUnavailable } from '../support/lab.js';
import { eventually, stepOneEnvironment } from '../support/sample-api.js';

const ENV = 3;
const root = new URL('../..', import.meta.url).pathname;
const skipProxies = await zdmProxyUnavailable();
const course: Course = loadCourse(join(root, 'steps')).course!;
let ctx: LabContext;
let envDir: string;
let vars: Record<string, string>;

/** What a terminal of the lab runs in the background: its output and a Ctrl-C. */
interface Running {
  child: ChildProcess;
  output: () => string;
  ctrlC: () => Promise<void>;
}
const running: Running[] = [];

function pageBlocks(pageId: string): Block[] {
  return renderPage(course, course.pages.find((p) => p.id === pageId)!).blocks;
}

function block(pageId: string, terminalId: string, pattern: RegExp): Block {
  const found = pageBlocks(pageId).filter((b) => b.terminalId === terminalId && pattern.test(b.command));
  assert.equal(found.length, 1, `${pageId} has one ${terminalId} block matching ${pattern}`);
  return found[0];
}

async function check(pageId: string): Promise<{ ok: boolean; output: string }> {
  const page = course.pages.find((p) => p.id === pageId)!;
  const result = await runShell(page.check!, { cwd: envDir, env: vars, timeoutMs: page.checkTimeoutSeconds * 1000 });
  return { ok: result.ok, output: result.output.trim() };
}

async function fails(pageId: string, message: RegExp): Promise<void> {
  const result = await check(pageId);
  assert.equal(result.ok, false, `${pageId}'s check should fail here, it said: ${result.output}`);
  assert.match(result.output, /^✘ /);
  assert.match(result.output, message);
  assert.equal(result.output.split('\n').length, 1, 'one line');
}

async function passes(pageId: string, message: RegExp): Promise<void> {
  const result = await check(pageId);
  assert.equal(result.ok, true, `${pageId}'s check should pass here, it said: ${result.output}`);
  assert.match(result.output, /^✔ /);
  assert.match(result.output, message);
}

/** Runs a host block to its end, as a click on it would. */
async function run(pageId: string, pattern: RegExp): Promise<string> {
  const result = await runShell(block(pageId, 'host', pattern).command, { cwd: envDir, env: vars, timeoutMs: 180_000 });
  assert.equal(result.ok, true, result.output);
  return result.output;
}

/** Starts a long-running block (the API, the writer loop) in its own process group. */
function start(pageId: string, terminalId: string, pattern: RegExp): Running {
  const child = spawn('bash', ['-c', block(pageId, terminalId, pattern).command], { cwd: envDir, env: vars, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (b: Buffer) => (text += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (text += b.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const r: Running = {
    child,
    output: () => text,
    async ctrlC() {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGINT');
      await exited;
    },
  };
  running.push(r);
  return r;
}

describe('the course checks on a real environment', { timeout: 1_200_000 }, () => {
  let api: Running;
  let writer: Running;

  before(async () => {
    envDir = mkdtempSync(join(tmpdir(), 'zdm-course-'));
    vars = {
      ...(process.env as Record<string, string>),
      PATH: `${join(root, 'bin')}:${join(root, 'node_modules', '.bin')}:${process.env.PATH}`,
      LAB_ENV: String(ENV),
      LAB_ENV_DIR: envDir,
      LAB_COURSE_DIR: join(root, 'steps'),
      // what the lab's terminals export at start (zdm-lab env --shell --export): the addresses and the logins
      ...addressVariables(topology(ENV)),
      ...credentialVariables(ENV),
    };
    ctx = await stepOneEnvironment(ENV);
  });
  after(async () => {
    for (const r of running) await r.ctrlC().catch(() => {});
    rmSync(envDir, { recursive: true, force: true });
    if (ctx) await stopEnvironment(ctx);
  });

  test('intro: passes once Origin and Target are up', async () => {
    await passes('intro', /Origin \(127\.0\.3\.1\) and Target \(127\.0\.3\.2\) are up/);
  });

  test('step 1: fails until the API runs in ORIGIN mode and the writer loop writes', async () => {
    await fails('step1', /the API does not answer on http:\/\/127\.0\.3\.20:8000: start it in the api terminal/);
    api = start('step1', 'api', /sample-api\/server\.ts/);
    await eventually('the API listens', async () => /listening on http:\/\/127\.0\.3\.20:8000/.test(api.output()));
    await eventually('the API is connected', async () => /connected to ORIGIN/.test(api.output()));
    await fails('step1', /eva's last status is not recent: start the writer loop in the client terminal/);
    writer = start('step1', 'client', /writer\.sh/);
    await eventually('the loop wrote', async () => /POST \/status\/eva\/phase0-3 200/.test(api.output()));
    await passes('step1', /the API runs in ORIGIN mode, Origin has the seed rows, and the writer loop is writing/);
    const latest = JSON.parse(await run('step1', /status\/eva\?entries=3/)) as { status: string }[];
    assert.equal(latest.length, 3);
    assert.match(latest[0].status, /^phase0-\d+$/);
  });

  test('step 2: fails before Target has the table, passes after the page’s cqlsh command', async () => {
    await fails('step2', /Target has no table zdmapp\.user_status yet/);
    await run('step2', /cqlsh target -f/);
    await passes('step2', /Target has zdmapp\.user_status/);
  });

  test('step 6 and step 10 fail while the API talks to Origin', async () => {
    await fails('step6', /the API runs in ORIGIN mode, not ZDM_PROXY: write ZDM_PROXY and its login into .*client-connection-mode, as on this page/);
    await fails('step10', /the API runs in ORIGIN mode, not TARGET/);
  });

  test('cleanup and step 7: fail while Target lacks rows the loop wrote, pass after migrate', async () => {
    await writer.ctrlC();
    assert.match(writer.output(), /phase0: \d+ writes, 0 failed requests/);
    await fails('cleanup', /\d+ of the loop's writes are not on Target, e\.g\. phase0-\d+/);
    await fails('step7', /validate still finds differences \(\d+ missing on Target, 0 different, 0 only on Target\): run zdm-lab migrate/);
    await run('step7', /^zdm-lab migrate --keyspace zdmapp$/);
    await passes('step7', /validate: \d+ rows on Origin, \d+ on Target, 0 missing and 0 different/);
    const writetimes = [...(await run('step7', /writetime\(status\) FROM zdmapp\.user_status WHERE user = 'marco'/)).matchAll(/marco \| cooking \| +(\d+)/g)].map((m) => m[1]);
    assert.equal(writetimes.length, 2, 'marco’s row is shown for both clusters');
    assert.equal(writetimes[0], writetimes[1], 'with the same write time');
    await passes('cleanup', /^✔ (\d+) writes, 0 failed requests; on Target every phase's sequence is complete, no gap \(phase0 1–\1\); on Origin all \1 writes before Phase 5, none of the 0 of Phase 5$/);
  });

  test('steps 3, 4, 5, 8 and 9 fail while no proxy runs', async () => {
    for (const page of ['step3', 'step4', 'step8', 'step9']) await fails(page, /proxy 127\.0\.3\.11 does not answer on :14001: run zdm-lab proxy deploy/);
    await fails('step5', /proxy 127\.0\.3\.11 does not answer on :14001\/metrics/);
  });

  describe('with the real ZDM proxies', { skip: skipProxies }, () => {
    test('steps 3, 4 and 5 pass once the page’s deploy has run', async () => {
      await run('step3', /^zdm-lab proxy deploy$/);
      await passes('step3', /three ZDM proxies are ready on 127\.0\.3\.11, 127\.0\.3\.12 and 127\.0\.3\.13/);
      await passes('step4', /run ORIGIN\/PRIMARY_ONLY/);
      await passes('step5', /publish their zdm_ metrics/);
      const logs = await run('step4', /Parsed configuration/);
      assert.match(logs, /Parsed configuration: \{\\"PrimaryCluster\\":\\"ORIGIN\\",\\"ReadMode\\":\\"PRIMARY_ONLY\\"/);
      assert.match(logs, /Proxy connected and ready to accept queries on 127\.0\.3\.11:9042/);
      const readiness = await run('step4', /health\/readiness/);
      for (const i of [11, 12, 13]) assert.match(readiness, new RegExp(`^127\\.0\\.3\\.${i}: \\{"OriginStatus".*"Status":"UP"\\}$`, 'm'));
      assert.match(await run('step5', /\/metrics/), /^zdm_proxy_request_duration_seconds_count\{type="writes"\} 0$/m);
    });

    test('step 6 passes once the API goes through the proxies', async () => {
      await run('step6', /^printf .* ZDM_PROXY "username=\$TARGET_USERNAME"/);
      await eventually('the API switched', async () => /now using ZDM_PROXY/.test(api.output()));
      await passes('step6', /a fresh write \(check-\d+\) is on Origin and on Target/);
    });

    test('step 8 fails before the rolling update to DUAL_ASYNC_ON_SECONDARY and passes after', async () => {
      await fails('step8', /the proxies run ORIGIN\/PRIMARY_ONLY instead of ORIGIN\/DUAL_ASYNC_ON_SECONDARY/);
      await run('step8', /proxy config set read_mode=DUAL_ASYNC_ON_SECONDARY/);
      await fails('step8', /instead of ORIGIN\/DUAL_ASYNC_ON_SECONDARY: set read_mode and run zdm-lab proxy rolling-update/);
      await run('step8', /^zdm-lab proxy rolling-update$/);
      await passes('step8', /all three proxies run read_mode DUAL_ASYNC_ON_SECONDARY with Origin still primary, and the reads go to Target too: [1-9]\d* async reads counted on Target/);
    });

    test('the drill: with Target stopped every request through the proxies fails; a write Target refuses fails for the client while the read’s failed copy stays unseen; the check passes once Target is back and the write retried', async () => {
      await fails('drill', /the drill has made no request yet: run the page's drill\.sh blocks/);
      const host = pageBlocks('drill').filter((b) => b.terminalId === 'host').map((b) => b.command);
      const shell = (command: string) => runShell(command, { cwd: envDir, env: vars, timeoutMs: 120_000 });
      const [stop, drill, start, , createOnOrigin, insert, readBack, fix] = host;
      assert.deepEqual([stop, start, host[3]], ['zdm-lab node stop target', 'zdm-lab node start target', drill]);
      assert.match((await shell(stop!)).output, /^target stopped \(127\.0\.3\.2:9042\) in \d+\.\ds; its data stays: zdm-lab node start target brings it back$/m);
      const down = (await shell(drill!)).output;
      assert.match(down, /^\d\d:\d\d:\d\d write drill-1: FAILED \(HTTP 503: database unavailable: ZDM_PROXY did not answer/m);
      assert.match(down, /^drill: 2 writes, 0 acknowledged, 2 failed; 2 reads, 0 answered, 2 failed$/m, 'reads fail too: a proxy connection needs both clusters');
      assert.match((await shell(start!)).output, /^target is up \(127\.0\.3\.2:9042\) and accepts logins, [\d.]+s after the start$/m);
      await eventually('the drill’s writes are acknowledged again', async () => /^drill: 2 writes, 2 acknowledged, 0 failed; 2 reads, 2 answered, 0 failed$/m.test((await shell(drill!)).output), 30_000);
      await fails('drill', /no write has failed on Target since the proxies started/);
      assert.equal((await shell(createOnOrigin!)).ok, true);
      const refused = await shell(insert!);
      assert.equal(refused.ok, false, 'the client gets an error');
      assert.match(refused.output, /InvalidRequest.*(keyspace|Keyspace) drill does not exist/);
      const seen = (await shell(readBack!)).output;
      assert.match(seen, /^ +1 \| through the proxies$/m, 'the write that failed for the client is on Origin, which answers the read');
      assert.match(seen, /^zdm_proxy_failed_writes_total\{failed_on="target"\} 1$/m);
      assert.match(seen, /^zdm_async_requests_failed_total\{error="[a-z_]+",node="127\.0\.3\.2:9042"\} 1$/m);
      await fails('drill', /drill\.notes has no row 1 on Target/);
      assert.match((await shell(fix!)).output, /^written on both$/m);
      await passes('drill', /^✔ the drill: \d+ drill writes failed for the client while Target was down \(or the driver was reconnecting\), and writes succeed now it is back; a write Target refused failed for the client \(1 counted on Target\) while 1 failed async read\(s\) stayed invisible; the writer loop, paused meanwhile, has no failed request$/);
    });

    test('step 9 fails while Origin is primary and passes after the page’s rolling update', async () => {
      // After the drill the proxies may still report Target DOWN (they look again on their own schedule,
      // backing off): the check says so until the rolling update restarts them.
      await fails('step9', /all three need primary_cluster TARGET|proxy 127\.0\.3\.11 is not ready \(readiness 503\)/);
      await run('step9', /primary_cluster=TARGET/);
      await passes('step9', /all three proxies have Target as primary with read_mode PRIMARY_ONLY, and reads are answered by Target: [1-9]\d* since the proxies restarted, 0 copied to Origin/);
    });

    test('rollback fails until Origin answers the reads through the proxies and the API writes to Origin alone, and passes with every write of the loop on Origin', async () => {
      await fails('rollback', /the proxies run TARGET\/PRIMARY_ONLY - the rollback needs primary_cluster ORIGIN/);
      await run('rollback', /primary_cluster=ORIGIN/);
      const seen = await run('rollback', /metrics\.sh" --once/);
      assert.match(seen, /^\[\{"user":"marco","when":"2024-03-01T18:45:00\.000Z","status":"cooking"\}\]$/m, 'marco’s status, read through the proxies');
      assert.match(seen, /^proxy +writes +reads:Origin +reads:Target +async reads +failed writes$/m);
      const targetReads = [...seen.matchAll(/^127\.0\.3\.1[123] +\d+ +(\d+) +(\d+) /gm)].map((m) => [Number(m[1]), Number(m[2])]);
      assert.equal(targetReads.length, 3);
      assert.ok(targetReads.some(([o]) => o > 0) && targetReads.every(([, t]) => t === 0), `reads answered by Origin, none by Target: ${JSON.stringify(targetReads)}`);
      await fails('rollback', /the API runs in ZDM_PROXY mode, not ORIGIN/);
      writer = start('rollback', 'client', /writer\.sh/);
      await eventually('the loop writes as rollback', async () => /POST \/status\/eva\/rollback-3 200 \d+ms ZDM_PROXY/.test(api.output()));
      await run('rollback', /^printf .* ORIGIN "username=\$ORIGIN_USERNAME"/);
      await eventually('the API switched', async () => /now using ORIGIN/.test(api.output()));
      await eventually('the loop writes to Origin alone', async () => /POST \/status\/eva\/rollback-\d+ 200 \d+ms ORIGIN/.test(api.output()));
      await passes('rollback', /Origin is primary and answers the reads \([1-9]\d* through the proxies, 0 by Target\), the API writes to Origin alone, and Origin holds all \d+ writes of the loop, the \d+ of the rollback included, none failed/);
    });

    test('forward fails while the API is on Origin and while Target lacks the rollback’s writes, and passes back in Phase 4 after the copy', async () => {
      await fails('forward', /the API runs in ORIGIN mode, not ZDM_PROXY/);
      await run('forward', /^printf .* ZDM_PROXY "username=\$TARGET_USERNAME"/);
      await eventually('the API switched', async () => /now using ZDM_PROXY/.test(api.output()));
      const counts = await run('forward', /grep -c ' rollback-'/);
      const [onOrigin, onTarget] = [/^origin: (\d+) rollback writes$/m, /^target: (\d+) rollback writes$/m].map((r) => Number(r.exec(counts)![1]));
      assert.ok(onTarget < onOrigin, `Target lacks the writes made straight to Origin: ${counts}`);
      await fails('forward', /the proxies run ORIGIN\/PRIMARY_ONLY - forward again needs primary_cluster TARGET/);
      await run('forward', /primary_cluster=TARGET/);
      await fails('forward', /\d+ of the loop's writes are not on Target, e\.g\. rollback-\d+ .*zdm-lab migrate --keyspace zdmapp/);
      await run('forward', /^zdm-lab migrate --keyspace zdmapp$/);
      await passes('forward', /back to Phase 4: the API goes through the proxies, Target is primary and answers the reads \([1-9]\d* since the proxies restarted\), and Target holds all \d+ writes of the loop, the rollback's included/);
      await writer.ctrlC();
      assert.match(writer.output(), /rollback: \d+ writes, 0 failed requests/);
    });
  });

  test('step 10 passes once the API talks to Target directly', async () => {
    await run('step10', /^printf .* TARGET "username=\$TARGET_USERNAME"/);
    await eventually('the API switched', async () => /now using TARGET/.test(api.output()));
    await passes('step10', /a fresh write \(check-\d+\) is on Target and not on Origin/);
  });

  test('finish fails while anything runs, passes after zdm-lab infra down', async () => {
    await api.ctrlC();
    assert.match(api.output(), /sample-api: stopping/);
    await fails('finish', /still running: origin target .*- run zdm-lab infra down/);
    await run('finish', /^zdm-lab infra down$/);
    await passes('finish', /everything is shut down/);
  });
});
