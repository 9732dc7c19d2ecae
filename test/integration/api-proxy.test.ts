/**
 * The sample API through three real zdm-proxy instances (environment 3), the
 * way the course uses it: switched from Origin to the proxies through the
 * mode file while a writer posts, writing to both clusters, going through a
 * rolling update to primary_cluster TARGET without one failed or lost write,
 * and finally switched straight to Target.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SCHEMA_FILE, type LabContext } from '../../infra/commands/environment.js';
import { proxyDeploy, proxyRollingUpdate } from '../../infra/commands/proxy.js';
import { setProxyConfigValue } from '../../infra/config/proxy.js';
import { runCqlFile, withClient } from '../../infra/cql/client.js';
import { stopEnvironment, zdmProxyUnavailable } from '../support/lab.js';
import { connectionText, eventually, http, startApi, stepOneEnvironment, writerLoop, type ApiProcess } from '../support/sample-api.js';

const ENV = 3;
const BASE = `http://127.0.${ENV}.20:8000`;
const skip = await zdmProxyUnavailable();
let ctx: LabContext;
let api: ApiProcess;
let tmp: string;
let modeFile: string;

async function statuses(node: LabContext['topo']['origin'], user: string): Promise<string[]> {
  return withClient(node, async (client) =>
    (await client.execute('SELECT status FROM zdmapp.user_status WHERE user = ?', [user])).rows.map((r) => String(r.status)),
  );
}

describe('the sample API through the real ZDM proxies', { skip, timeout: 900_000 }, () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'zdm-api-proxy-'));
    modeFile = join(tmp, 'client-mode');
    ctx = await stepOneEnvironment(ENV);
    await withClient(ctx.topo.target, (client) => runCqlFile(client, SCHEMA_FILE));
    await proxyDeploy(ctx);
    writeFileSync(modeFile, connectionText(ENV, 'ORIGIN'));
    api = startApi({ LAB_ENV: String(ENV), CLIENT_CONNECTION_MODE_FILE: modeFile });
    await api.waitForOutput(/connected to ORIGIN/);
  });
  after(async () => {
    await api?.stop();
    rmSync(tmp, { recursive: true, force: true });
    if (ctx) await stopEnvironment(ctx);
  });

  test("through the proxies Origin's login is refused (the proxies hand the client's login to Target): the API says which login to give and stays on Origin", async () => {
    writeFileSync(modeFile, 'ZDM_PROXY\n');
    await api.waitForOutput(/ZDM_PROXY refuses the login of cassandra: .*through the proxies a client logs in with Target's login \(TARGET_USERNAME, TARGET_PASSWORD\)/);
    const health = (await http('GET', `${BASE}/health`)).body;
    assert.equal(health.mode, 'ORIGIN');
    assert.equal(health.username, 'cassandra');
    assert.equal(health.switchingTo, 'ZDM_PROXY');
    assert.match(health.switchError, /[Aa]uthentication|password/);
    assert.equal(health.loginRefused, true);
    assert.equal((await http('POST', `${BASE}/status/eva/still-on-origin`)).status, 200, 'requests are served from Origin meanwhile');
  });

  test('switching to ZDM_PROXY with Target\'s login while a writer posts fails no request', async () => {
    const writer = writerLoop(BASE, 'phase1', 'p', 50);
    await eventually('the writer has started', async () => writer.sent > 10);
    writeFileSync(modeFile, connectionText(ENV, 'ZDM_PROXY'));
    await api.waitForOutput(/now using ZDM_PROXY/);
    const atSwitch = writer.sent;
    await eventually('the writer went on through the proxies', async () => writer.sent > atSwitch + 20);
    await writer.stop();
    assert.deepEqual(writer.failures, []);
    assert.deepEqual((await http('GET', `${BASE}/health`)).body, {
      mode: 'ZDM_PROXY',
      username: 'target_admin',
      contactPoints: ['127.0.3.11:9042', '127.0.3.12:9042', '127.0.3.13:9042'],
      connected: true,
    });
    await api.waitForOutput(/POST \/status\/phase1\/p-\d+ 200 \d+ms ZDM_PROXY/);
  });

  test('through the proxies a write lands on both clusters and reads come from Origin', async () => {
    const posted = await http('POST', `${BASE}/status/eva/${encodeURIComponent('dual write ✓')}`);
    assert.equal(posted.status, 200);
    assert.ok((await statuses(ctx.topo.origin, 'eva')).includes('dual write ✓'), 'on Origin');
    assert.ok((await statuses(ctx.topo.target, 'eva')).includes('dual write ✓'), 'on Target');
    // The seed rows exist only on Origin: seeing them proves the read went there.
    const read = await http('GET', `${BASE}/status/eva?entries=10`);
    assert.deepEqual(read.body.map((r: { status: string }) => r.status), ['dual write ✓', 'still-on-origin', 'commuting', 'lunch', 'hiking']);
  });

  test('a rolling update to primary_cluster TARGET under a steady writer fails and loses no write', async () => {
    setProxyConfigValue(ctx.topo, 'primary_cluster', 'TARGET');
    const writer = writerLoop(BASE, 'rolling', 'r', 50);
    await proxyRollingUpdate(ctx, { pauseMs: 2000 });
    await writer.stop();
    assert.deepEqual(writer.failures, []);
    const expected = Array.from({ length: writer.sent }, (_, i) => `r-${i + 1}`).sort();
    assert.deepEqual((await statuses(ctx.topo.origin, 'rolling')).sort(), expected, 'every write is on Origin');
    assert.deepEqual((await statuses(ctx.topo.target, 'rolling')).sort(), expected, 'every write is on Target');
    // Target never got the seed rows (nothing was migrated here): reads now come from Target.
    const read = await http('GET', `${BASE}/status/eva?entries=10`);
    assert.deepEqual(read.body.map((r: { status: string }) => r.status), ['dual write ✓']);
  });

  test('switching to TARGET sends new writes to Target only', async () => {
    const writer = writerLoop(BASE, 'phase5', 'q', 50);
    writeFileSync(modeFile, connectionText(ENV, 'TARGET'));
    await api.waitForOutput(/now using TARGET/);
    const atSwitch = writer.sent;
    await eventually('the writer went on against Target', async () => writer.sent > atSwitch + 10);
    await writer.stop();
    assert.deepEqual(writer.failures, []);
    const posted = await http('POST', `${BASE}/status/eva/straight-to-target`);
    assert.equal(posted.status, 200);
    assert.ok((await statuses(ctx.topo.target, 'eva')).includes('straight-to-target'));
    assert.ok(!(await statuses(ctx.topo.origin, 'eva')).includes('straight-to-target'));
  });
});
