/**
 * One environment's live monitoring: every 2 s it scrapes each proxy's
 * `/metrics`, reads each running proxy's effective configuration and the
 * sample API's current mode, and keeps the last 10 minutes in a ring buffer
 * of points. A point holds what happened during its interval (request
 * increases, summed over the proxies), so rates and latency quantiles are
 * computed from it the way Prometheus' rate() and histogram_quantile() would
 * from the same scrapes. `snapshot()` is the JSON the lab's monitoring panel
 * and `GET /api/env/:k/monitoring` serve: series for charts, the latest
 * figures, each proxy up or down, and the routing (phase) now.
 */
import { readFileSync } from 'node:fs';
import { effectiveConfig } from '../config/effective.js';
import type { PrimaryCluster, ReadMode } from '../config/proxy.js';
import type { Topology } from '../topology.js';
import { addHistograms, histogramIncrease, histogramQuantile } from './histogram.js';
import { deriveRouting, type ApiMode, type ApiState, type ProxyState, type Routing } from './phase.js';
import type { HistogramValue } from './prometheus-text.js';
import {
  CLUSTERS,
  FAILED_WRITE_SIDES,
  readProxyScrape,
  REQUEST_KINDS,
  type ClusterSide,
  type FailedWriteSide,
  type ProxyScrape,
  type RequestKind,
} from './proxy-metrics.js';

export const SAMPLE_INTERVAL_MS = 2000;
export const WINDOW_MS = 10 * 60 * 1000;
/** Latency quantiles are taken over this many of the latest intervals (10 s), so a quiet interval does not blank the chart. */
export const QUANTILE_INTERVALS = 5;

export interface SamplerOptions {
  intervalMs?: number;
  windowMs?: number;
  /** The API's mode file, read when the API does not answer. */
  modeFile?: string;
  /** How a proxy's effective configuration is read (tests may stand in). */
  proxyConfig?: (name: string) => { primaryCluster: PrimaryCluster; readMode: ReadMode } | undefined;
}

/** What happened during one interval, over all proxies. */
interface Point {
  /** End of the interval, ms since the epoch. */
  t: number;
  /** Length of the interval in seconds, or 0 for the first point (nothing to compare with). */
  seconds: number;
  increases: Record<RequestKind, HistogramValue>;
  clusterRequests: Record<ClusterSide, { reads: number; writes: number }>;
  failedReads: { origin: number; target: number };
  failedWrites: Record<FailedWriteSide, number>;
  up: Record<string, boolean>;
  clientConnections: Record<string, number | null>;
}

export interface RequestFigures {
  ratePerSecond: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface ProxyFigures {
  name: string;
  address: string;
  metricsUrl: string;
  up: boolean;
  /** Why the last scrape failed, when it did. */
  error: string | null;
  clientConnections: number | null;
  primaryCluster: PrimaryCluster | null;
  readMode: ReadMode | null;
  /** Counters since the proxy started, from its last successful scrape. */
  totals: {
    requests: Record<RequestKind, number>;
    clusterRequests: Record<ClusterSide, { reads: number; writes: number }>;
    failedReads: { origin: number; target: number };
    failedWrites: Record<FailedWriteSide, number>;
  } | null;
}

export interface MonitoringSnapshot {
  env: number;
  intervalSeconds: number;
  windowSeconds: number;
  /** When the latest sample was taken (ms since the epoch), null before the first. */
  sampledAt: number | null;
  routing: Routing;
  proxies: ProxyFigures[];
  /** The latest interval's rates, and latencies over the latest 10 s. */
  now: {
    requests: Record<RequestKind, RequestFigures>;
    clusterRequestsPerSecond: Record<ClusterSide, { reads: number | null; writes: number | null }>;
    failedReadsPerSecond: { origin: number | null; target: number | null };
    failedWritesPerSecond: Record<FailedWriteSide, number | null>;
  };
  /** One entry per point, oldest first; `time` in seconds since the epoch (what charts want). */
  series: {
    time: number[];
    requests: Record<RequestKind, { ratePerSecond: (number | null)[]; p50Ms: (number | null)[]; p99Ms: (number | null)[] }>;
    /** Requests sent to each cluster per second (a dual write counts on both). */
    clusterRequestsPerSecond: Record<ClusterSide, { reads: (number | null)[]; writes: (number | null)[] }>;
    failedReadsPerSecond: { origin: (number | null)[]; target: (number | null)[] };
    failedWritesPerSecond: Record<FailedWriteSide, (number | null)[]>;
    clientConnections: Record<string, (number | null)[]>;
    up: Record<string, (0 | 1)[]>;
  };
}

interface ProxyReading {
  scrape?: ProxyScrape;
  error?: string;
}

const MODES: readonly ApiMode[] = ['ORIGIN', 'ZDM_PROXY', 'TARGET'];

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export class MonitoringSampler {
  readonly intervalMs: number;
  readonly windowMs: number;
  private readonly points: Point[] = [];
  private readonly last = new Map<string, ProxyScrape>();
  private readonly latest = new Map<string, ProxyReading>();
  private routing: Routing;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private firstSample: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly topo: Topology,
    private readonly options: SamplerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? SAMPLE_INTERVAL_MS;
    this.windowMs = options.windowMs ?? WINDOW_MS;
    this.routing = deriveRouting({ running: false, source: 'unknown' }, this.proxyStates(new Map()));
  }

  /** Starts sampling (once); resolves when the first sample is in. */
  start(): Promise<void> {
    if (this.stopped) throw new Error(`the monitoring of environment ${this.topo.env} was stopped`);
    if (!this.firstSample) {
      this.firstSample = this.sample();
      this.timer = setInterval(() => void this.sample(), this.intervalMs);
      this.timer.unref();
    }
    return this.firstSample;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Takes one sample now (unless one is under way, which is then awaited). */
  sample(): Promise<void> {
    this.running ??= this.takeSample().finally(() => (this.running = undefined));
    return this.running;
  }

  private async takeSample(): Promise<void> {
    const t = Date.now();
    const timeoutMs = Math.min(1500, Math.max(200, this.intervalMs * 0.75));
    const [readings, api] = await Promise.all([
      Promise.all(this.topo.proxies.map((p) => scrapeProxy(metricsUrl(p), timeoutMs))),
      this.apiState(timeoutMs),
    ]);
    if (this.stopped) return;
    const previous = this.points[this.points.length - 1];
    const seconds = previous ? (t - previous.t) / 1000 : 0;
    const increases = Object.fromEntries(REQUEST_KINDS.map((k) => [k, [] as HistogramValue[]])) as Record<RequestKind, HistogramValue[]>;
    const clusterRequests = { origin: { reads: 0, writes: 0 }, target: { reads: 0, writes: 0 } };
    const failedReads = { origin: 0, target: 0 };
    const failedWrites = { origin: 0, target: 0, both: 0 };
    const up: Record<string, boolean> = {};
    const clientConnections: Record<string, number | null> = {};
    this.topo.proxies.forEach((proxy, i) => {
      const reading = readings[i]!;
      this.latest.set(proxy.name, reading);
      up[proxy.name] = reading.scrape !== undefined;
      clientConnections[proxy.name] = reading.scrape?.clientConnections ?? null;
      const now = reading.scrape;
      if (!now) return;
      const before = this.last.get(proxy.name);
      this.last.set(proxy.name, now);
      // A proxy seen for the first time has no interval to speak of: its counts so far are history.
      if (!before || !previous) return;
      for (const kind of REQUEST_KINDS) increases[kind].push(histogramIncrease(now.requests[kind], before.requests[kind]));
      const restarted = REQUEST_KINDS.some((k) => now.requests[k].count < before.requests[k].count);
      const inc = (a: number, b: number) => (restarted || a < b ? a : a - b);
      for (const c of CLUSTERS) {
        clusterRequests[c].reads += inc(now.clusterRequests[c].reads, before.clusterRequests[c].reads);
        clusterRequests[c].writes += inc(now.clusterRequests[c].writes, before.clusterRequests[c].writes);
      }
      failedReads.origin += inc(now.failedReads.origin, before.failedReads.origin);
      failedReads.target += inc(now.failedReads.target, before.failedReads.target);
      for (const side of FAILED_WRITE_SIDES) failedWrites[side] += inc(now.failedWrites[side], before.failedWrites[side]);
    });
    const point: Point = {
      t,
      seconds,
      increases: Object.fromEntries(REQUEST_KINDS.map((k) => [k, addHistograms(increases[k])])) as Record<RequestKind, HistogramValue>,
      clusterRequests,
      failedReads,
      failedWrites,
      up,
      clientConnections,
    };
    this.points.push(point);
    const keep = Math.ceil(this.windowMs / this.intervalMs) + 1;
    if (this.points.length > keep) this.points.splice(0, this.points.length - keep);
    this.routing = deriveRouting(api, this.proxyStates(up));
  }

  private proxyStates(up: Record<string, boolean> | Map<string, boolean>): ProxyState[] {
    const isUp = (name: string) => (up instanceof Map ? up.get(name) : up[name]) ?? false;
    return this.topo.proxies.map((p) => {
      const config = isUp(p.name) ? this.proxyConfig(p.name) : undefined;
      return { name: p.name, address: p.address, up: isUp(p.name), primaryCluster: config?.primaryCluster, readMode: config?.readMode };
    });
  }

  private proxyConfig(name: string): { primaryCluster: PrimaryCluster; readMode: ReadMode } | undefined {
    if (this.options.proxyConfig) return this.options.proxyConfig(name);
    const proxy = this.topo.proxies.find((p) => p.name === name)!;
    const config = effectiveConfig(proxy);
    const primary = config?.ZDM_PRIMARY_CLUSTER;
    const readMode = config?.ZDM_READ_MODE;
    if ((primary !== 'ORIGIN' && primary !== 'TARGET') || (readMode !== 'PRIMARY_ONLY' && readMode !== 'DUAL_ASYNC_ON_SECONDARY')) return undefined;
    return { primaryCluster: primary, readMode };
  }

  /** The API's mode from its /health when it answers, else from its mode file. */
  private async apiState(timeoutMs: number): Promise<ApiState> {
    try {
      const res = await fetch(`http://${this.topo.api.address}:${this.topo.api.port}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json()) as { mode?: string };
      if (MODES.includes(body.mode as ApiMode)) return { mode: body.mode as ApiMode, running: true, source: 'api' };
    } catch {
      // not running (or not this API): fall back to the mode file
    }
    if (this.options.modeFile) {
      try {
        // the mode is the file's first line (a login may follow it)
        const word = readFileSync(this.options.modeFile, 'utf8').trim().split('\n')[0]!.trim().toUpperCase();
        const mode = word === 'CASSANDRA' ? 'ORIGIN' : word === 'ASTRA_DB' ? 'TARGET' : word;
        if (MODES.includes(mode as ApiMode)) return { mode: mode as ApiMode, running: false, source: 'mode-file' };
      } catch {
        // no mode file yet
      }
    }
    return { running: false, source: 'unknown' };
  }

  snapshot(): MonitoringSnapshot {
    const points = this.points;
    const kinds = Object.fromEntries(
      REQUEST_KINDS.map((kind) => {
        const rate: (number | null)[] = [];
        const p50: (number | null)[] = [];
        const p99: (number | null)[] = [];
        points.forEach((p, i) => {
          rate.push(p.seconds > 0 ? round(p.increases[kind].count / p.seconds) : null);
          const window = addHistograms(points.slice(Math.max(1, i - QUANTILE_INTERVALS + 1), i + 1).map((x) => x.increases[kind]));
          p50.push(ms(histogramQuantile(0.5, window)));
          p99.push(ms(histogramQuantile(0.99, window)));
        });
        return [kind, { ratePerSecond: rate, p50Ms: p50, p99Ms: p99 }];
      }),
    ) as MonitoringSnapshot['series']['requests'];
    const perSecond = (f: (p: Point) => number) => points.map((p) => (p.seconds > 0 ? round(f(p) / p.seconds) : null));
    const series: MonitoringSnapshot['series'] = {
      time: points.map((p) => round(p.t / 1000)),
      requests: kinds,
      clusterRequestsPerSecond: Object.fromEntries(
        CLUSTERS.map((c) => [c, { reads: perSecond((p) => p.clusterRequests[c].reads), writes: perSecond((p) => p.clusterRequests[c].writes) }]),
      ) as MonitoringSnapshot['series']['clusterRequestsPerSecond'],
      failedReadsPerSecond: { origin: perSecond((p) => p.failedReads.origin), target: perSecond((p) => p.failedReads.target) },
      failedWritesPerSecond: Object.fromEntries(FAILED_WRITE_SIDES.map((s) => [s, perSecond((p) => p.failedWrites[s])])) as Record<FailedWriteSide, (number | null)[]>,
      clientConnections: Object.fromEntries(this.topo.proxies.map((x) => [x.name, points.map((p) => p.clientConnections[x.name] ?? null)])),
      up: Object.fromEntries(this.topo.proxies.map((x) => [x.name, points.map((p) => (p.up[x.name] ? 1 : 0) as 0 | 1)])),
    };
    const lastOf = <T>(list: T[]): T | null => (list.length ? list[list.length - 1]! : null);
    const states = this.routing.proxies;
    return {
      env: this.topo.env,
      intervalSeconds: this.intervalMs / 1000,
      windowSeconds: this.windowMs / 1000,
      sampledAt: lastOf(points)?.t ?? null,
      routing: this.routing,
      proxies: this.topo.proxies.map((p, i) => {
        const reading = this.latest.get(p.name);
        const scrape = this.last.get(p.name);
        return {
          name: p.name,
          address: p.address,
          metricsUrl: metricsUrl(p),
          up: reading?.scrape !== undefined,
          error: reading?.error ?? null,
          clientConnections: reading?.scrape?.clientConnections ?? null,
          primaryCluster: states[i]?.primaryCluster ?? null,
          readMode: states[i]?.readMode ?? null,
          totals: scrape
            ? {
                requests: Object.fromEntries(REQUEST_KINDS.map((k) => [k, scrape.requests[k].count])) as Record<RequestKind, number>,
                clusterRequests: { origin: { ...scrape.clusterRequests.origin }, target: { ...scrape.clusterRequests.target } },
                failedReads: { ...scrape.failedReads },
                failedWrites: { ...scrape.failedWrites },
              }
            : null,
        };
      }),
      now: {
        requests: Object.fromEntries(
          REQUEST_KINDS.map((k) => [k, { ratePerSecond: lastOf(kinds[k].ratePerSecond), p50Ms: lastOf(kinds[k].p50Ms), p99Ms: lastOf(kinds[k].p99Ms) }]),
        ) as Record<RequestKind, RequestFigures>,
        clusterRequestsPerSecond: Object.fromEntries(
          CLUSTERS.map((c) => [c, { reads: lastOf(series.clusterRequestsPerSecond[c].reads), writes: lastOf(series.clusterRequestsPerSecond[c].writes) }]),
        ) as MonitoringSnapshot['now']['clusterRequestsPerSecond'],
        failedReadsPerSecond: { origin: lastOf(series.failedReadsPerSecond.origin), target: lastOf(series.failedReadsPerSecond.target) },
        failedWritesPerSecond: Object.fromEntries(FAILED_WRITE_SIDES.map((s) => [s, lastOf(series.failedWritesPerSecond[s])])) as Record<FailedWriteSide, number | null>,
      },
      series,
    };
  }
}

function ms(seconds: number | undefined): number | null {
  return seconds === undefined ? null : round(seconds * 1000);
}

export function metricsUrl(proxy: Topology['proxies'][number]): string {
  return `http://${proxy.address}:${proxy.metricsPort}/metrics`;
}

async function scrapeProxy(url: string, timeoutMs: number): Promise<ProxyReading> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { error: `${url} answered HTTP ${res.status}` };
    return { scrape: readProxyScrape(await res.text()) };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const code = e.cause?.code;
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : code === 'ECONNREFUSED'
          ? 'connection refused (nothing listens there: is the proxy running?)'
          : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
            ? 'the connection was closed (the proxy stopped?)'
            : e instanceof SyntaxError || e.name === 'PrometheusParseError' || !code
              ? e.message
              : `${code}${e.cause?.message ? ` ${e.cause.message}` : ''}`;
    return { error: `${url}: ${why}` };
  }
}
