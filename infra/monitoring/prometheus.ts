/**
 * `zdm-lab monitoring up|down|status`: the real Prometheus, for learners who
 * want the tool production uses, beside the lab's own Monitoring view. It
 * runs Debian's `prometheus` binary in the background on 127.0.k.30:9090
 * with a scrape configuration for the environment's three proxies (every
 * 2 s, like the lab's view) and recording rules for the figures the view
 * charts, its data and log under the environment's folder. Like every lab
 * process it runs in its own process group with a pid file and the lab's tag
 * in its environment, so its state is read from /proc and `down` stops
 * exactly it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, Supervised } from '../../common/processes.js';
import type { LabContext } from '../commands/environment.js';
import { COMPONENT_TAG } from '../paths.js';
import { logTail } from '../readiness.js';
import { MissingToolError } from '../tools.js';
import type { Topology } from '../topology.js';

const READY_TIMEOUT_MS = 60_000;

export interface PrometheusPlace {
  dir: string;
  address: string;
  port: number;
  url: string;
  configFile: string;
  rulesFile: string;
  logFile: string;
}

export function prometheusPlace(topo: Topology): PrometheusPlace {
  const dir = join(topo.dir, 'prometheus');
  const { address, port } = topo.prometheus;
  return {
    dir,
    address,
    port,
    url: `http://${address}:${port}`,
    configFile: join(dir, 'prometheus.yml'),
    rulesFile: join(dir, 'zdm-rules.yml'),
    logFile: join(dir, 'prometheus.log'),
  };
}

export function prometheusConfig(topo: Topology, place: PrometheusPlace): string {
  const targets = topo.proxies.map((p) => `'${p.address}:${p.metricsPort}'`).join(', ');
  return `# Written by zdm-lab monitoring up for environment ${topo.env}; rewritten at each start.
global:
  scrape_interval: 2s
  scrape_timeout: 1500ms
  evaluation_interval: 2s
rule_files:
  - ${place.rulesFile}
scrape_configs:
  - job_name: zdm-proxy
    static_configs:
      - targets: [${targets}]
        labels:
          lab_env: '${topo.env}'
`;
}

/** The figures of the lab's Monitoring view, as Prometheus recording rules (names follow level:metric:operations). */
export function prometheusRules(): string {
  const duration = 'zdm_proxy_request_duration_seconds';
  return `groups:
  - name: zdm-lab
    rules:
      - record: type:zdm_proxy_requests:rate30s
        expr: sum by (type) (rate(${duration}_count[30s]))
      - record: type:zdm_proxy_request_duration_seconds:p50_30s
        expr: histogram_quantile(0.5, sum by (type, le) (rate(${duration}_bucket[30s])))
      - record: type:zdm_proxy_request_duration_seconds:p99_30s
        expr: histogram_quantile(0.99, sum by (type, le) (rate(${duration}_bucket[30s])))
      - record: zdm_async_requests:rate30s
        expr: sum(rate(zdm_async_request_duration_seconds_count[30s]))
      - record: zdm_async_request_duration_seconds:p99_30s
        expr: histogram_quantile(0.99, sum by (le) (rate(zdm_async_request_duration_seconds_bucket[30s])))
      - record: cluster:zdm_proxy_failed_reads:rate30s
        expr: sum by (cluster) (rate(zdm_proxy_failed_reads_total[30s]))
      - record: failed_on:zdm_proxy_failed_writes:rate30s
        expr: sum by (failed_on) (rate(zdm_proxy_failed_writes_total[30s]))
`;
}

function prometheusBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new MissingToolError('prometheus is not installed: on Debian or Ubuntu run apt-get install prometheus (the lab\'s own Monitoring tab needs nothing)');
  }
  return path;
}

function supervised(place: PrometheusPlace): Supervised {
  return new Supervised(place.dir, COMPONENT_TAG);
}

export function prometheusPid(topo: Topology): number | undefined {
  return supervised(prometheusPlace(topo)).pid();
}

async function ready(place: PrometheusPlace): Promise<boolean> {
  try {
    return (await fetch(`${place.url}/-/ready`, { signal: AbortSignal.timeout(2000) })).status === 200;
  } catch {
    return false;
  }
}

export async function monitoringUp(ctx: LabContext): Promise<PrometheusPlace> {
  const { topo, print } = ctx;
  const place = prometheusPlace(topo);
  if (prometheusPid(topo) !== undefined) {
    print(`Prometheus is already running for environment ${topo.env}: ${place.url}`);
    return place;
  }
  const bin = prometheusBinary();
  mkdirSync(join(place.dir, 'data'), { recursive: true });
  writeFileSync(place.configFile, prometheusConfig(topo, place));
  writeFileSync(place.rulesFile, prometheusRules());
  const prometheus = supervised(place);
  prometheus.start(
    bin,
    [
      `--config.file=${place.configFile}`,
      `--storage.tsdb.path=${join(place.dir, 'data')}`,
      '--storage.tsdb.retention.time=1d',
      `--web.listen-address=${place.address}:${place.port}`,
    ],
    { logFile: place.logFile },
  );
  const started = Date.now();
  let lastReport = started;
  while (!(await ready(place))) {
    if (prometheus.pid() === undefined) {
      await prometheus.stop(0);
      throw new Error(`Prometheus stopped while starting; last log lines:\n${logTail(place.logFile)}`);
    }
    if (Date.now() - started > READY_TIMEOUT_MS) {
      await monitoringDown(ctx);
      throw new Error(`Prometheus did not become ready on ${place.url} within ${READY_TIMEOUT_MS / 1000}s; last log lines:\n${logTail(place.logFile)}`);
    }
    if (Date.now() - lastReport > 3000) {
      lastReport = Date.now();
      ctx.report(`prometheus: waiting for ${place.url}/-/ready (${Math.round((Date.now() - started) / 1000)}s)`);
    }
    await sleep(300);
  }
  print(`Prometheus is up on ${place.url}, scraping ${topo.proxies.map((p) => `${p.address}:${p.metricsPort}`).join(', ')} every 2 s`);
  print(`  try in its Graph page: sum by (type) (rate(zdm_proxy_request_duration_seconds_count[30s]))`);
  print(`  recorded for you: type:zdm_proxy_requests:rate30s, type:zdm_proxy_request_duration_seconds:p99_30s, zdm_async_requests:rate30s`);
  print(`  configuration ${place.configFile}; stop it with zdm-lab monitoring down`);
  return place;
}

export async function monitoringDown(ctx: LabContext): Promise<void> {
  if (!(await supervised(prometheusPlace(ctx.topo)).stop(10_000))) {
    ctx.print(`Prometheus is not running for environment ${ctx.topo.env}`);
    return;
  }
  ctx.print(`Prometheus of environment ${ctx.topo.env} stopped`);
}

export async function monitoringStatus(ctx: LabContext): Promise<string> {
  const place = prometheusPlace(ctx.topo);
  const pid = prometheusPid(ctx.topo);
  if (pid === undefined) {
    return `Prometheus: not running (start it with zdm-lab monitoring up${existsSync(place.logFile) ? `; its last log is ${place.logFile}` : ''})`;
  }
  return `Prometheus: running (pid ${pid}) on ${place.url}${(await ready(place)) ? '' : ', not ready yet'}`;
}
