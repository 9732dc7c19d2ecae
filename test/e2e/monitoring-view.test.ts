/**
 * The Monitoring tab in headless Chromium, on the real course, three real
 * proxies in phase 3 (async dual reads) and the real sample API under a
 * steady writer and reader: the tab sits beside the terminals, shows the
 * phase, the diagram's arrows for where writes, reads and async reads go,
 * every proxy up, and charts whose lines are drawn; a killed proxy turns red
 * in the diagram within 5 s; the terminals come back with their tab. A
 * screenshot of the view with traffic flowing is written to
 * $MONITORING_SCREENSHOT (default: the system's temp folder).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { SCHEMA_FILE, type LabContext } from '../../infra/commands/environment.js';
import { proxyDeploy } from '../../infra/commands/proxy.js';
import { setProxyConfigValue } from '../../infra/config/proxy.js';
import { runCqlFile, withClient } from '../../infra/cql/client.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { freshEnvironment, stopEnvironment, zdmProxyUnavailable } from '../support/lab.js';
import { http, startApi, type ApiProcess } from '../support/sample-api.js';
import { launchBrowser } from './lab-harness.js';

const ENV = 7;
const API = `http://127.0.${ENV}.20:8000`;
const root = new URL('../..', import.meta.url).pathname;
const screenshotPath = process.env.MONITORING_SCREENSHOT ?? join(tmpdir(), 'zdm-lab-monitoring.png');
const skip = await zdmProxyUnavailable();

let ctx: LabContext;
let lab: LabServer;
let api: ApiProcess;
let browser: Browser;
let page: Page;
let dataDir: string;
let running = true;
let traffic: Promise<unknown>;

/** Pixels of the chart's canvas drawn in `hex` (its line colour). */
function pixelsOf(chart: string, hex: string): Promise<number> {
  return page.locator(`.zdm-chart[data-chart="${chart}"] canvas`).evaluate((canvas: HTMLCanvasElement, color: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i]! - r!) < 40 && Math.abs(data[i + 1]! - g!) < 40 && Math.abs(data[i + 2]! - b!) < 40 && data[i + 3]! > 200) n++;
    return n;
  }, hex);
}

describe('the Monitoring tab in a browser', { skip, timeout: 900_000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'lab-monitoring-e2e-'));
    ctx = await freshEnvironment(ENV);
    await withClient(ctx.topo.target, (c) => runCqlFile(c, SCHEMA_FILE));
    setProxyConfigValue(ctx.topo, 'read_mode', 'DUAL_ASYNC_ON_SECONDARY');
    await proxyDeploy(ctx);
    api = startApi({ LAB_ENV: String(ENV), CLIENT_CONNECTION_MODE: 'ZDM_PROXY' });
    await api.waitForOutput(/connected to ZDM_PROXY/, 60_000);
    const loop = async (i = 0): Promise<void> => {
      for (; running; i++) {
        await Promise.all([http('POST', `${API}/status/viewer/s${i}`).catch(() => {}), http('GET', `${API}/status/viewer`).catch(() => {}), sleep(150)]);
      }
    };
    traffic = loop();
    [lab, browser] = await Promise.all([startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, runSetup: false, environmentId: ENV }), launchBrowser()]);
    page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
  });
  after(async () => {
    running = false;
    await traffic;
    await browser?.close();
    await lab?.close();
    await api?.stop();
    if (ctx) await stopEnvironment(ctx);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('a Monitoring tab sits beside the terminals and opens the view', async () => {
    await page.goto(lab.openUrl);
    await page.locator('#page h1').first().waitFor();
    assert.deepEqual(await page.locator('#pane-tabs button').allInnerTexts(), ['Terminals', 'Monitoring']);
    assert.equal(await page.locator('#terminals').isVisible(), true);
    await page.locator('#pane-tabs button', { hasText: 'Monitoring' }).click();
    assert.equal(await page.locator('#terminals').isVisible(), false);
    await page.locator('.zdm-phase-title', { hasText: 'Phase 3: asynchronous dual reads' }).waitFor({ timeout: 30_000 });
  });

  test('the diagram shows the API through the proxies, writes to both clusters, reads to Origin, async reads to Target', async () => {
    const diagram = page.locator('.zdm-diagram-box svg');
    assert.equal(await diagram.getAttribute('data-phase'), '3');
    assert.equal(await diagram.locator('.api').getAttribute('data-mode'), 'ZDM_PROXY');
    const arrows = (flow: string, to: string) => diagram.locator(`path[data-flow="${flow}"][data-to="${to}"]`).count();
    assert.equal(await diagram.locator('path[data-flow="requests"][data-from="api"]').count(), 3);
    assert.equal(await arrows('writes', 'origin'), 3);
    assert.equal(await arrows('writes', 'target'), 3);
    assert.equal(await arrows('reads', 'origin'), 3);
    assert.equal(await arrows('reads', 'target'), 0);
    assert.equal(await arrows('async', 'target'), 3);
    assert.deepEqual(await diagram.locator('.proxy').evaluateAll((gs) => gs.map((g) => `${g.getAttribute('data-proxy')} ${g.getAttribute('data-up')}`)), ['proxy-1 true', 'proxy-2 true', 'proxy-3 true']);
  });

  test('with traffic flowing the charts draw their lines and name their units', async () => {
    const rates = page.locator('.zdm-chart[data-chart="rates"] .zdm-chart-now');
    const deadline = Date.now() + 60_000;
    // About 20 s of history, so the lines are long enough to see.
    while (Date.now() < deadline && !/writes [1-9][\d.]*\/s[\s\S]*async reads [1-9][\d.]*\/s/.test(await rates.innerText())) await sleep(1000);
    await sleep(16_000);
    assert.match(await rates.innerText(), /writes [1-9][\d.]*\/s/);
    assert.match(await rates.innerText(), /async reads [1-9][\d.]*\/s/);
    assert.match(await rates.innerText(), /reads answered by Target 0\.0\/s/);
    assert.match(await page.locator('.zdm-chart[data-chart="latency-async"] .zdm-chart-now').innerText(), /p99 [\d.]+ ms/);
    assert.deepEqual(await page.locator('.zdm-chart-title').allInnerTexts(), [
      'Requests through the proxies (requests/s)',
      'Sent to each cluster (requests/s)',
      'Write latency (ms)',
      'Read latency, answered by Origin (ms)',
      'Read latency, answered by Target (ms)',
      'Async read latency (ms)',
      'Failed requests (failures/s)',
      'Client connections (connections)',
    ]);
    await page.screenshot({ path: screenshotPath, fullPage: false });
    console.log(`screenshot of the Monitoring view: ${screenshotPath}`);
    assert.ok(statSync(screenshotPath).size > 20_000);
    // Charts where no other line can cover theirs (in the rates chart, async reads run as fast as reads and hide them).
    const writes = await pixelsOf('latency-writes', '#d9480f');
    const async = await pixelsOf('latency-async', '#9c36b5');
    assert.ok(writes > 30, `the write latency lines are drawn (${writes} pixels of its colour)`);
    assert.ok(async > 30, `the async latency lines are drawn (${async} pixels of its colour)`);
  });

  test('a killed proxy turns red in the diagram and the strip within 5 s', async () => {
    const proxy = ctx.topo.proxies[1]!;
    const { pid } = await ctx.backend.status(proxy);
    const killedAt = Date.now();
    process.kill(-pid!, 'SIGKILL');
    await page.locator('.zdm-diagram-box .proxy[data-proxy="proxy-2"][data-up="false"]').waitFor({ timeout: 5000 });
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(seconds <= 5, `shown down after ${seconds} s`);
    assert.equal(await page.locator('.zdm-diagram-box .proxy[data-proxy="proxy-2"] text').nth(1).innerHTML(), 'DOWN');
    assert.equal(await page.locator('.zdm-diagram-box path[data-from="proxy-2"]').count(), 0, 'a down proxy routes nothing');
    assert.match(await page.locator('.zdm-uptime').innerText(), /proxy-2 DOWN/);
    assert.match(await page.locator('.zdm-phase-detail').innerText(), /1 of 3 proxies are down/);
  });

  test('the Terminals tab brings the terminals back', async () => {
    await page.locator('#pane-tabs button', { hasText: 'Terminals' }).click();
    assert.equal(await page.locator('#terminals').isVisible(), true);
    assert.equal(await page.locator('.lab-panel[data-panel="monitoring"]').isVisible(), false);
  });
});

