/**
 * The sample API against real Cassandra 5.0 nodes (environment 3): the seed
 * rows through GET, what `?entries=` means, statuses with spaces and unicode,
 * 413 above 64 KiB, a log line per request, a mode switch through the mode
 * file while a writer keeps posting, 503 while Origin is down and recovery
 * after, and a clear refusal of an unknown mode.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCqlFile, withClient } from '../../infra/cql/client.js';
import { SCHEMA_FILE, startNodes, type LabContext } from '../../infra/commands/environment.js';
import { stopEnvironment } from '../support/lab.js';
import { connectionText, eventually, http, startApi, stepOneEnvironment, writerLoop, type ApiProcess } from '../support/sample-api.js';

const ENV = 3;
const BASE = `http://127.0.${ENV}.20:8000`;
let ctx: LabContext;
let tmp: string;

async function statuses(node: LabContext['topo']['origin'], user: string): Promise<string[]> {
  return withClient(node, async (client) =>
    (await client.execute('SELECT status FROM zdmapp.user_status WHERE user = ?', [user])).rows.map((r) => String(r.status)),
  );
}

async function withApi(env: Record<string, string>, fn: (api: ApiProcess) => Promise<void>): Promise<void> {
  const api = startApi({ LAB_ENV: String(ENV), ...env });
  try {
    await api.waitForOutput(/listening on/);
    await fn(api);
  } finally {
    await api.stop();
  }
}

describe('the sample API on real Cassandra', { timeout: 600_000 }, () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'zdm-api-'));
    ctx = await stepOneEnvironment(ENV);
  });
  after(async () => {
    rmSync(tmp, { recursive: true, force: true });
    if (ctx) await stopEnvironment(ctx);
  });

  test('in ORIGIN mode it answers with the seed rows, newest first, and logs each request', async () => {
    await withApi({ CLIENT_CONNECTION_MODE: 'ORIGIN' }, async (api) => {
      await api.waitForOutput(/connected to ORIGIN \(127\.0\.3\.1:9042\)/);
      const health = await http('GET', `${BASE}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(health.body, { mode: 'ORIGIN', username: 'cassandra', contactPoints: ['127.0.3.1:9042'], connected: true });
      const eva = await http('GET', `${BASE}/status/eva?entries=10`);
      assert.equal(eva.status, 200);
      assert.deepEqual(eva.body.map((r: { status: string }) => r.status), ['commuting', 'lunch', 'hiking']);
      assert.equal(eva.body[0].when, '2024-03-02T08:15:00.000Z');
      await api.waitForOutput(/GET \/status\/eva\?entries=10 200 \d+ms ORIGIN/);
    });
  });

  test('?entries= defaults to 1, treats bad or negative values as 1, and stops at 1000', async () => {
    await withClient(ctx.topo.origin, async (client) => {
      const base = Date.parse('2025-01-01T00:00:00Z');
      const inserts = Array.from({ length: 1005 }, (_, i) =>
        client.execute('INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)', ['many', new Date(base + i * 1000), `s${i}`]),
      );
      await Promise.all(inserts);
    });
    await withApi({}, async (api) => {
      await api.waitForOutput(/connected to ORIGIN/);
      const count = async (query: string) => {
        const a = await http('GET', `${BASE}/status/many${query}`);
        assert.equal(a.status, 200, `GET /status/many${query}: ${JSON.stringify(a.body)}`);
        return a.body.length as number;
      };
      assert.equal(await count(''), 1);
      assert.equal(await count('?entries=3'), 3);
      assert.equal(await count('?entries=-4'), 1);
      assert.equal(await count('?entries=0'), 1);
      assert.equal(await count('?entries=abc'), 1);
      assert.equal(await count('?entries=2.5'), 1);
      assert.equal(await count('?entries=5000'), 1000);
      const newest = await http('GET', `${BASE}/status/many`);
      assert.equal(newest.body[0].status, 's1004');
    });
  });

  test('a status with spaces and unicode comes back exactly as it was posted', async () => {
    const status = 'out for a walk — à bientôt 🌧️ 散歩';
    await withApi({ CLIENT_CONNECTION_MODE: 'CASSANDRA' }, async (api) => {
      await api.waitForOutput(/connected to ORIGIN/);
      const posted = await http('POST', `${BASE}/status/${encodeURIComponent('zoë')}/${encodeURIComponent(status)}`);
      assert.equal(posted.status, 200);
      assert.equal(posted.body.status, status);
      assert.equal(posted.body.user, 'zoë');
      assert.ok(Math.abs(Date.parse(posted.body.when) - Date.now()) < 10_000, `when is the current time: ${posted.body.when}`);
      const read = await http('GET', `${BASE}/status/${encodeURIComponent('zoë')}`);
      assert.deepEqual(read.body, [posted.body]);
      assert.deepEqual(await statuses(ctx.topo.origin, 'zoë'), [status]);
      await api.waitForOutput(/POST \/status\/zoë\/out for a walk — à bientôt 🌧️ 散歩 200 \d+ms ORIGIN/);
    });
  });

  test('a status above 64 KiB is refused with 413 and not stored; exactly 64 KiB is accepted', async () => {
    await withApi({}, async (api) => {
      await api.waitForOutput(/connected to ORIGIN/);
      const tooBig = await http('POST', `${BASE}/status/big/${'x'.repeat(64 * 1024 + 1)}`);
      assert.equal(tooBig.status, 413);
      assert.match(tooBig.body.error, /65537 bytes; the limit is 65536 bytes/);
      // 'é' is two bytes in UTF-8: 32768 of them are exactly 64 KiB
      const justRight = await http('POST', `${BASE}/status/big/${encodeURIComponent('é'.repeat(32 * 1024))}`);
      assert.equal(justRight.status, 200);
      assert.deepEqual((await statuses(ctx.topo.origin, 'big')).map((s) => s.length), [32 * 1024]);
      await api.waitForOutput(/POST \/status\/big\/x{20,}… \(\d+ chars\) 413/);
    });
  });

  test('writing TARGET into the mode file moves the running API to Target without a failed request', async () => {
    await withClient(ctx.topo.target, (client) => runCqlFile(client, SCHEMA_FILE));
    const modeFile = join(tmp, 'client-mode');
    writeFileSync(modeFile, connectionText(ENV, 'ORIGIN'));
    await withApi({ CLIENT_CONNECTION_MODE_FILE: modeFile }, async (api) => {
      await api.waitForOutput(/connected to ORIGIN/);
      const writer = writerLoop(BASE, 'switcher', 'w', 20);
      await eventually('the writer has written', async () => writer.sent > 20);
      writeFileSync(modeFile, connectionText(ENV, 'TARGET'));
      await api.waitForOutput(/now using TARGET/);
      await eventually('the old connection is closed', async () => /ORIGIN connection closed/.test(api.output()));
      const sentAtSwitch = writer.sent;
      await eventually('the writer went on after the switch', async () => writer.sent > sentAtSwitch + 20);
      await writer.stop();
      assert.deepEqual(writer.failures, []);
      assert.equal(api.child.exitCode, null, 'the API process is still the same one');

      const health = await http('GET', `${BASE}/health`);
      assert.deepEqual(health.body, { mode: 'TARGET', username: 'target_admin', contactPoints: ['127.0.3.2:9042'], connected: true });
      const fresh = await http('POST', `${BASE}/status/switcher/after-the-switch`);
      assert.equal(fresh.status, 200);
      assert.ok((await statuses(ctx.topo.target, 'switcher')).includes('after-the-switch'));
      assert.ok(!(await statuses(ctx.topo.origin, 'switcher')).includes('after-the-switch'));

      // Written again, the same mode is answered: nothing to switch.
      writeFileSync(modeFile, connectionText(ENV, 'TARGET'));
      await api.waitForOutput(/mode TARGET: already connected there, nothing to switch/);

      writeFileSync(modeFile, 'MONGODB\n');
      await api.waitForOutput(/line 1 says "MONGODB", which is not a connection mode: use ORIGIN, ZDM_PROXY, TARGET .*; the API keeps its current connection/);
      assert.equal((await http('GET', `${BASE}/health`)).body.mode, 'TARGET');
    });
  });

  test('a switch to a mode that cannot be reached keeps the API on its current mode, and says why', async () => {
    const modeFile = join(tmp, 'unreachable-mode');
    writeFileSync(modeFile, connectionText(ENV, 'ORIGIN'));
    await withApi({ CLIENT_CONNECTION_MODE_FILE: modeFile }, async (api) => {
      await api.waitForOutput(/connected to ORIGIN/);
      // no proxy runs in this environment
      writeFileSync(modeFile, connectionText(ENV, 'ZDM_PROXY'));
      await api.waitForOutput(/cannot reach ZDM_PROXY \(127\.0\.3\.11:9042, 127\.0\.3\.12:9042, 127\.0\.3\.13:9042\): .*retrying every 2 s/);
      const health = await http('GET', `${BASE}/health`);
      assert.match(health.body.switchError, /127\.0\.3\.1[123]:9042: Error: connect ECONNREFUSED/, 'the health says why the switch waits');
      assert.deepEqual(health.body, { mode: 'ORIGIN', username: 'cassandra', contactPoints: ['127.0.3.1:9042'], connected: true, switchingTo: 'ZDM_PROXY', switchError: health.body.switchError });
      assert.equal((await http('POST', `${BASE}/status/eva/still-on-origin`)).status, 200);
      writeFileSync(modeFile, connectionText(ENV, 'ORIGIN'));
      await api.waitForOutput(/mode ORIGIN: already connected there, nothing to switch/);
      assert.deepEqual((await http('GET', `${BASE}/health`)).body, { mode: 'ORIGIN', username: 'cassandra', contactPoints: ['127.0.3.1:9042'], connected: true });
      assert.doesNotMatch(api.output(), /is not a connection mode/, 'a file caught half-written is not reported');
    });
  });

  test('while Origin is down the API answers 503 with a JSON error and stays up; it recovers when Origin is back', async () => {
    await withApi({ CLIENT_CONNECTION_MODE: 'ORIGIN' }, async (api) => {
      await api.waitForOutput(/connected to ORIGIN/);
      assert.equal((await http('POST', `${BASE}/status/eva/before-the-outage`)).status, 200);
      await ctx.backend.stop(ctx.topo.origin);

      const during = await http('POST', `${BASE}/status/eva/during-the-outage`);
      assert.equal(during.status, 503);
      assert.match(during.body.error, /^database unavailable: /);
      const read = await http('GET', `${BASE}/status/eva`);
      assert.equal(read.status, 503);
      const health = await http('GET', `${BASE}/health`);
      assert.equal(health.status, 503);
      assert.equal(health.body.connected, false);
      assert.equal(api.child.exitCode, null, 'the API is still running');

      await startNodes(ctx);
      await eventually('the API writes again after Origin is back', async () => (await http('POST', `${BASE}/status/eva/after-the-outage`)).status === 200, 60_000);
      assert.equal((await http('GET', `${BASE}/health`)).body.connected, true);
      assert.equal((await http('GET', `${BASE}/status/eva`)).body[0].status, 'after-the-outage');
    });
  });

  test('an API started while its database is unreachable stays up, answers 503, and says why', async () => {
    await withApi({ ORIGIN_CONTACT_POINTS: '127.0.3.99' }, async (api) => {
      await api.waitForOutput(/cannot reach ORIGIN \(127\.0\.3\.99:9042\): .*retrying every 2 s/);
      const a = await http('GET', `${BASE}/status/eva`);
      assert.equal(a.status, 503);
      assert.match(a.body.error, /not connected to ORIGIN \(127\.0\.3\.99:9042\)/);
      assert.equal(api.child.exitCode, null);
    });
  });

  test('an unknown mode stops the API at start with a message naming the valid modes', async () => {
    const api = startApi({ LAB_ENV: String(ENV), CLIENT_CONNECTION_MODE: 'MONGODB' });
    assert.equal(await api.exited, 2);
    assert.match(api.output(), /CLIENT_CONNECTION_MODE="MONGODB" is not a connection mode: use ORIGIN, ZDM_PROXY, TARGET/);
    assert.doesNotMatch(api.output(), /listening/);

    const modeFile = join(tmp, 'bad-mode');
    writeFileSync(modeFile, 'PROXY\n');
    const fromFile = startApi({ LAB_ENV: String(ENV), CLIENT_CONNECTION_MODE_FILE: modeFile });
    assert.equal(await fromFile.exited, 2);
    assert.match(fromFile.output(), /bad-mode: line 1 says "PROXY", which is not a connection mode/);
  });

  test('a second API on the same address stops at start and says the address is in use', async () => {
    await withApi({}, async () => {
      const second = startApi({ LAB_ENV: String(ENV) });
      assert.equal(await second.exited, 1);
      assert.match(second.output(), /cannot listen on 127\.0\.3\.20:8000: the address is in use \(is another API running\?\)/);
    });
  });

  test('ASTRA_DB is accepted as another name for TARGET', async () => {
    await withApi({ CLIENT_CONNECTION_MODE: 'astra_db' }, async () => {
      await eventually('connected', async () => (await http('GET', `${BASE}/health`)).body.connected === true);
      assert.deepEqual((await http('GET', `${BASE}/health`)).body, { mode: 'TARGET', username: 'target_admin', contactPoints: ['127.0.3.2:9042'], connected: true });
    });
  });
});
