/**
 * The monitoring sampler against stand-in proxies (small HTTP servers that
 * serve zdm-proxy metric text whose counters the test moves) and a stand-in
 * API health endpoint: rates and latency quantiles from what happened
 * between two samples, summed over the proxies; a restarted proxy's counters
 * counted from zero; a proxy that stops answering shown down with the
 * reason; and the live diagram drawn from the same snapshot.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MonitoringSampler, type MonitoringSnapshot } from '../../infra/monitoring/sampler.js';
import { topology, type Topology } from '../../infra/topology.js';
import { renderDiagram } from '../../steps/panels/diagram.js';

/** Counters of one stand-in proxy: observations per latency bucket (seconds). */
interface Counters {
  writes: Map<number, number>;
  readsOrigin: Map<number, number>;
  async: Map<number, number>;
  failedWritesTarget: number;
  connections: number;
}

const BOUNDS = [0.001, 0.004, 0.007, 0.01, 0.025, 0.04, 0.06, 0.08, 0.1];

function histogramText(name: string, labels: string, counts: Map<number, number>): string {
  let cumulative = 0;
  let sum = 0;
  const lines = BOUNDS.map((le) => {
    cumulative += counts.get(le) ?? 0;
    sum += (counts.get(le) ?? 0) * le;
    return `${name}_bucket{${labels}le="${le}"} ${cumulative}`;
  });
  lines.push(`${name}_bucket{${labels}le="+Inf"} ${cumulative}`, `${name}_sum{${labels.replace(/,$/, '')}} ${sum}`, `${name}_count{${labels.replace(/,$/, '')}} ${cumulative}`);
  return lines.join('\n');
}

function metricsText(c: Counters): string {
  const total = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return [
    '# HELP zdm_proxy_request_duration_seconds Histogram that tracks the latency of requests at proxy entry point',
    '# TYPE zdm_proxy_request_duration_seconds histogram',
    histogramText('zdm_proxy_request_duration_seconds', 'type="reads_origin",', c.readsOrigin),
    histogramText('zdm_proxy_request_duration_seconds', 'type="reads_target",', new Map()),
    histogramText('zdm_proxy_request_duration_seconds', 'type="writes",', c.writes),
    '# TYPE zdm_async_request_duration_seconds histogram',
    histogramText('zdm_async_request_duration_seconds', 'node="127.0.7.2:9042",type="reads",', c.async),
    '# TYPE zdm_origin_request_duration_seconds histogram',
    `zdm_origin_request_duration_seconds_count{node="127.0.7.1:9042",type="writes"} ${total(c.writes)}`,
    `zdm_origin_request_duration_seconds_count{node="127.0.7.1:9042",type="reads"} ${total(c.readsOrigin)}`,
    '# TYPE zdm_target_request_duration_seconds histogram',
    `zdm_target_request_duration_seconds_count{node="127.0.7.2:9042",type="writes"} ${total(c.writes)}`,
    '# TYPE zdm_proxy_failed_writes_total counter',
    `zdm_proxy_failed_writes_total{failed_on="both"} 0`,
    `zdm_proxy_failed_writes_total{failed_on="origin"} 0`,
    `zdm_proxy_failed_writes_total{failed_on="target"} ${c.failedWritesTarget}`,
    '# TYPE zdm_client_connections_total gauge',
    `zdm_client_connections_total ${c.connections}`,
    '',
  ].join('\n');
}

const fresh = (): Counters => ({ writes: new Map(), readsOrigin: new Map(), async: new Map(), failedWritesTarget: 0, connections: 2 });
const add = (m: Map<number, number>, le: number, n: number) => m.set(le, (m.get(le) ?? 0) + n);

function listen(server: Server): Promise<number> {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok((server.address() as AddressInfo).port)));
}

let counters: Counters[];
let servers: Server[];
let apiServer: Server;
let topo: Topology;
let sampler: MonitoringSampler;

before(async () => {
  counters = [fresh(), fresh(), fresh()];
  servers = counters.map((_, i) => createServer((_req, res) => res.end(metricsText(counters[i]!))));
  const ports = await Promise.all(servers.map(listen));
  apiServer = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ mode: 'ZDM_PROXY', connected: true })));
  const apiPort = await listen(apiServer);
  const real = topology(7);
  topo = {
    ...real,
    proxies: real.proxies.map((p, i) => ({ ...p, address: '127.0.0.1', metricsPort: ports[i]! })),
    api: { address: '127.0.0.1', port: apiPort },
  };
  // Samples are taken by the test, not by the timer.
  sampler = new MonitoringSampler(topo, { intervalMs: 3_600_000, windowMs: 36_000_000, proxyConfig: () => ({ primaryCluster: 'ORIGIN', readMode: 'DUAL_ASYNC_ON_SECONDARY' }) });
  await sampler.start();
});
after(async () => {
  await sampler.stop();
  for (const s of [...servers, apiServer]) s.closeAllConnections(), s.close();
});

describe('the monitoring sampler', () => {
  let s: MonitoringSnapshot;

  test('the first sample knows the proxies, the API mode and the phase, but no rate yet', () => {
    s = sampler.snapshot();
    assert.deepEqual(s.proxies.map((p) => [p.name, p.up, p.clientConnections]), [['proxy-1', true, 2], ['proxy-2', true, 2], ['proxy-3', true, 2]]);
    assert.deepEqual(s.routing.api, { mode: 'ZDM_PROXY', running: true, source: 'api' });
    assert.equal(s.routing.phase, 3);
    assert.equal(s.now.requests.writes.ratePerSecond, null);
    assert.equal(s.series.time.length, 1);
  });

  test('rates and quantiles come from what happened between two samples, over all proxies', async () => {
    await sleep(500);
    add(counters[0]!.writes, 0.004, 30); // 30 writes of 1-4 ms on proxy 1
    add(counters[1]!.writes, 0.04, 10); // 10 writes of 25-40 ms on proxy 2
    add(counters[2]!.readsOrigin, 0.007, 20);
    add(counters[2]!.async, 0.01, 20);
    counters[1]!.failedWritesTarget = 3;
    await sampler.sample();
    s = sampler.snapshot();
    const seconds = s.series.time[1]! - s.series.time[0]!;
    const near = (actual: number | null, expected: number) => assert.ok(actual !== null && Math.abs(actual - expected) / expected < 0.01, `${actual} is not about ${expected}`);
    near(s.now.requests.writes.ratePerSecond, 40 / seconds);
    near(s.now.requests.reads_origin.ratePerSecond, 20 / seconds);
    near(s.now.requests.async_reads.ratePerSecond, 20 / seconds);
    assert.equal(s.now.requests.reads_target.ratePerSecond, 0);
    near(s.now.clusterRequestsPerSecond.target.writes, 40 / seconds);
    near(s.now.failedWritesPerSecond.target, 3 / seconds);
    // 40 writes: 30 in (1, 4] ms, 10 in (25, 40] ms. p50 = rank 20 → 1 + 3 × 20/30 = 3 ms; p99 = rank 39.6 → 25 + 15 × 9.6/10 = 39.4 ms
    assert.equal(s.now.requests.writes.p50Ms, 3);
    assert.equal(s.now.requests.writes.p99Ms, 39.4);
    assert.equal(s.now.requests.reads_target.p50Ms, null);
    assert.deepEqual(s.proxies[1]!.totals!.failedWrites, { origin: 0, target: 3, both: 0 });
  });

  test('a restarted proxy counts from zero instead of going negative', async () => {
    counters[0] = fresh();
    add(counters[0].writes, 0.001, 5);
    await sampler.sample();
    s = sampler.snapshot();
    const last = s.series.requests.writes.ratePerSecond.at(-1)!;
    assert.ok(last > 0, `the 5 writes since the restart count (rate ${last})`);
    assert.equal(s.proxies[0]!.totals!.requests.writes, 5);
  });

  test('a proxy that stops answering is down at the next sample, with the reason, and draws no route', async () => {
    await new Promise<void>((ok) => {
      servers[2]!.closeAllConnections();
      servers[2]!.close(() => ok());
    });
    await sampler.sample();
    s = sampler.snapshot();
    assert.deepEqual(s.proxies.map((p) => p.up), [true, true, false]);
    assert.match(s.proxies[2]!.error!, new RegExp(`127\\.0\\.0\\.1:${topo.proxies[2]!.metricsPort}/metrics: (connection refused|the connection was closed)`));
    assert.deepEqual(s.series.up['proxy-3'], [1, 1, 1, 0]);
    assert.equal(s.proxies[2]!.clientConnections, null);
    assert.match(s.routing.detail, /1 of 3 proxies are down/);
    const svg = renderDiagram(s);
    assert.match(svg, /<g class="proxy down" data-proxy="proxy-3" data-up="false">/);
    assert.doesNotMatch(svg, /data-from="proxy-3"/);
    assert.equal(svg.match(/data-flow="async" [^>]*data-to="target"|data-to="target" data-flow="async"/g)?.length, 2);
    assert.equal(svg.match(/data-from="api" data-to="proxy-\d" data-flow="requests"/g)?.length, 3);
  });
});

describe('the live diagram', () => {
  test('phase 0 draws one arrow from the API to Origin, and the proxies\' routes only faintly', () => {
    const s = sampler.snapshot();
    const phase0: MonitoringSnapshot = { ...s, routing: { ...s.routing, phase: 0, apiTarget: 'origin', title: 'Phase 0: the API on Origin', api: { mode: 'ORIGIN', running: true, source: 'api' } } };
    const svg = renderDiagram(phase0);
    assert.deepEqual(svg.match(/data-from="api" data-to="[^"]+"/g), ['data-from="api" data-to="origin"']);
    assert.match(svg, /<g class="proxy-routes idle" opacity="0.25">/);
    assert.match(svg, /<title>Phase 0: the API on Origin<\/title>/);
  });
});
