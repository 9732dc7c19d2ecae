/**
 * The browser side of the course's Monitoring panel. Every 2 s, while its
 * tab is open, it reads the environment's monitoring snapshot and redraws:
 * the phase and the live diagram (where writes, reads and async reads go
 * now), each proxy up or down with a 10-minute up/down strip, and uPlot
 * charts of the last 10 minutes: request rates, requests sent to each
 * cluster, latency p50/p99 per request type and for async reads, failed
 * reads and writes by cluster, and client connections per proxy. Units are
 * on every axis and in every title.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './monitoring-view.css';
import type { MonitoringSnapshot } from '../../infra/monitoring/sampler.js';
import type { PanelContext, PanelView } from '../../lab/index.js';
import { FLOW_COLORS, renderDiagram } from './diagram.js';

const POLL_MS = 2000;
const WINDOW_S = 600;
const MIN_SPAN_S = 60;
const CHART_HEIGHT = 170;
const PROXY_COLORS = ['#1f6feb', '#bf8700', '#8250df'];
const TARGET_COLOR = '#2f9e44';

type Values = (number | null)[];

interface Line {
  label: string;
  color: string;
  dashed?: boolean;
  values: (s: MonitoringSnapshot) => Values;
}

interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  /** How the latest value reads, e.g. "12.0/s" or "3.2 ms". */
  format: (v: number) => string;
  lines: (s: MonitoringSnapshot) => Line[];
}

const perSecond = (v: number) => `${v.toFixed(v >= 100 ? 0 : 1)}/s`;
const millis = (v: number) => `${v.toFixed(v >= 100 ? 0 : 1)} ms`;

const latency = (kind: keyof MonitoringSnapshot['series']['requests'], color: string): ChartSpec['lines'] => () => [
  { label: 'p50', color, values: (s) => s.series.requests[kind].p50Ms },
  { label: 'p99', color, dashed: true, values: (s) => s.series.requests[kind].p99Ms },
];

const CHARTS: ChartSpec[] = [
  {
    id: 'rates',
    title: 'Requests through the proxies',
    unit: 'requests/s',
    format: perSecond,
    lines: () => [
      { label: 'writes', color: FLOW_COLORS.writes, values: (s) => s.series.requests.writes.ratePerSecond },
      { label: 'reads answered by Origin', color: FLOW_COLORS.reads, values: (s) => s.series.requests.reads_origin.ratePerSecond },
      { label: 'reads answered by Target', color: TARGET_COLOR, values: (s) => s.series.requests.reads_target.ratePerSecond },
      { label: 'async reads', color: FLOW_COLORS.async, dashed: true, values: (s) => s.series.requests.async_reads.ratePerSecond },
    ],
  },
  {
    id: 'clusters',
    title: 'Sent to each cluster',
    unit: 'requests/s',
    format: perSecond,
    lines: () => [
      { label: 'Origin writes', color: FLOW_COLORS.writes, values: (s) => s.series.clusterRequestsPerSecond.origin.writes },
      { label: 'Origin reads', color: FLOW_COLORS.reads, values: (s) => s.series.clusterRequestsPerSecond.origin.reads },
      { label: 'Target writes', color: FLOW_COLORS.writes, dashed: true, values: (s) => s.series.clusterRequestsPerSecond.target.writes },
      { label: 'Target reads', color: TARGET_COLOR, dashed: true, values: (s) => s.series.clusterRequestsPerSecond.target.reads },
    ],
  },
  { id: 'latency-writes', title: 'Write latency', unit: 'ms', format: millis, lines: latency('writes', FLOW_COLORS.writes) },
  { id: 'latency-reads-origin', title: 'Read latency, answered by Origin', unit: 'ms', format: millis, lines: latency('reads_origin', FLOW_COLORS.reads) },
  { id: 'latency-reads-target', title: 'Read latency, answered by Target', unit: 'ms', format: millis, lines: latency('reads_target', TARGET_COLOR) },
  { id: 'latency-async', title: 'Async read latency', unit: 'ms', format: millis, lines: latency('async_reads', FLOW_COLORS.async) },
  {
    id: 'failures',
    title: 'Failed requests',
    unit: 'failures/s',
    format: perSecond,
    lines: () => [
      { label: 'reads on Origin', color: '#cf222e', values: (s) => s.series.failedReadsPerSecond.origin },
      { label: 'reads on Target', color: '#cf222e', dashed: true, values: (s) => s.series.failedReadsPerSecond.target },
      { label: 'writes on Origin', color: '#9a6700', values: (s) => s.series.failedWritesPerSecond.origin },
      { label: 'writes on Target', color: '#9a6700', dashed: true, values: (s) => s.series.failedWritesPerSecond.target },
      { label: 'writes on both', color: '#6e7781', values: (s) => s.series.failedWritesPerSecond.both },
    ],
  },
  {
    id: 'connections',
    title: 'Client connections',
    unit: 'connections',
    format: (v) => String(Math.round(v)),
    lines: (s) =>
      Object.keys(s.series.clientConnections).map((name, i) => ({
        label: name,
        color: PROXY_COLORS[i % PROXY_COLORS.length]!,
        values: (x: MonitoringSnapshot) => x.series.clientConnections[name] ?? [],
      })),
  },
];

interface Chart {
  spec: ChartSpec;
  card: HTMLElement;
  now: HTMLElement;
  plot?: uPlot;
  labels: string;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function mount(host: HTMLElement, context: PanelContext): Required<PanelView> {
  const root = el('div', 'zdm-monitoring');
  const header = el('header', 'zdm-phase');
  const phaseTitle = el('div', 'zdm-phase-title', 'Reading the proxies…');
  const phaseDetail = el('div', 'zdm-phase-detail');
  const updated = el('div', 'zdm-updated');
  header.append(phaseTitle, phaseDetail, updated);
  const problem = el('div', 'zdm-problem');
  problem.hidden = true;
  const diagram = el('div', 'zdm-diagram-box');
  const uptime = el('div', 'zdm-uptime');
  const grid = el('div', 'zdm-charts');
  const footer = el('footer', 'zdm-footer');
  footer.innerHTML = `Every proxy's <code>/metrics</code>, read every 2 s; charts show the last 10 minutes. The same figures as JSON: <a target="_blank" href="${context.dataUrl}">${context.dataUrl}</a>. For the real Prometheus: <code>zdm-lab monitoring up</code>.`;
  root.append(header, problem, diagram, uptime, grid, footer);
  host.append(root);

  const charts: Chart[] = CHARTS.map((spec) => {
    const card = el('figure', 'zdm-chart');
    card.dataset.chart = spec.id;
    const caption = el('figcaption', 'zdm-chart-title');
    caption.append(el('span', '', spec.title), el('span', 'zdm-unit', ` (${spec.unit})`));
    const now = el('div', 'zdm-chart-now');
    card.append(caption, now);
    grid.append(card);
    return { spec, card, now, labels: '' };
  });

  let timer: number | undefined;

  // A chart fills its card; the grid decides how many cards fit in a row.
  const chartWidth = (chart: Chart) => Math.max(240, chart.card.clientWidth - 18);

  const draw = (s: MonitoringSnapshot) => {
    const r = s.routing;
    phaseTitle.textContent = r.title;
    phaseDetail.textContent = r.detail;
    root.dataset.phase = r.phase === null ? '' : String(r.phase);
    updated.textContent = s.sampledAt ? `updated ${new Date(s.sampledAt).toLocaleTimeString()} · environment ${s.env}` : '';
    diagram.innerHTML = renderDiagram(s);
    uptime.innerHTML = uptimeStrip(s);
    for (const chart of charts) drawChart(chart, s, chartWidth(chart));
  };

  const poll = async () => {
    try {
      const res = await fetch(context.dataUrl, { credentials: 'same-origin' });
      const body = (await res.json()) as MonitoringSnapshot | { error: string };
      if (!res.ok || 'error' in body) throw new Error('error' in body ? body.error : `${res.status} ${res.statusText}`);
      problem.hidden = true;
      draw(body);
    } catch (error) {
      problem.hidden = false;
      problem.textContent = `The monitoring figures could not be read: ${(error as Error).message}`;
    }
  };

  const schedule = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      await poll();
      if (timer !== undefined) schedule();
    }, POLL_MS);
  };

  new ResizeObserver(() => {
    for (const c of charts) c.plot?.setSize({ width: chartWidth(c), height: CHART_HEIGHT });
  }).observe(grid);

  const view = {
    show() {
      void poll();
      schedule();
    },
    hide() {
      window.clearTimeout(timer);
      timer = undefined;
    },
  };
  view.show();
  return view;
}

function drawChart(chart: Chart, s: MonitoringSnapshot, width: number): void {
  const lines = chart.spec.lines(s);
  const labels = lines.map((l) => l.label).join('|');
  const data = [s.series.time, ...lines.map((l) => l.values(s))] as uPlot.AlignedData;
  chart.now.replaceChildren(
    ...lines.map((l) => {
      const values = l.values(s);
      const latest = [...values].reverse().find((v) => v !== null && v !== undefined);
      const item = el('span', 'zdm-now-item');
      const swatch = el('i', `zdm-swatch${l.dashed ? ' dashed' : ''}`);
      swatch.style.borderColor = l.color;
      item.append(swatch, `${l.label} ${latest === undefined || latest === null ? '–' : chart.spec.format(latest)}`);
      return item;
    }),
  );
  if (chart.plot && chart.labels === labels) {
    chart.plot.setData(data);
    return;
  }
  chart.plot?.destroy();
  chart.labels = labels;
  const unit = chart.spec.unit;
  chart.plot = new uPlot(
    {
      width,
      height: CHART_HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: (u) => span(u.data[0] as number[]) },
        y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, unit === 'connections' ? 4 : 1) * 1.1] },
      },
      axes: [
        { stroke: '#57606a', grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' }, values: (u, splits) => splits.map((t) => clock(t, u.scales.x!.max! - u.scales.x!.min! <= 300)) },
        { stroke: '#57606a', grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' }, label: unit, labelSize: 16, size: 48 },
      ],
      series: [
        {},
        ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 1.75, dash: l.dashed ? [6, 4] : undefined, spanGaps: false, points: { show: false } })),
      ],
    },
    data,
    chart.card,
  );
}

/** A tick's time of day: with seconds while the span is short, so no two ticks read the same. */
function clock(t: number, seconds: boolean): string {
  const d = new Date(t * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`;
}

/**
 * The time the charts show: the last 10 minutes once there are 10 minutes of
 * figures; before that, from the first sample (at least one minute), so a
 * view opened a moment ago is not a sliver at the right edge.
 */
function span(times: number[]): [number, number] {
  const end = times[times.length - 1] ?? Date.now() / 1000;
  const first = times[0] ?? end;
  return [Math.max(end - WINDOW_S, Math.min(first, end - MIN_SPAN_S)), end];
}

/** One row per proxy: green while its /metrics answered, red while not, over the charts' time span. */
function uptimeStrip(s: MonitoringSnapshot): string {
  const width = 600;
  const label = 150;
  const row = 20;
  const times = s.series.time;
  const [start, end] = span(times);
  const x = (t: number) => label + ((t - start) / (end - start)) * width;
  const rows = s.proxies.map((p, i) => {
    const ups = s.series.up[p.name] ?? [];
    const rects: string[] = [];
    for (let j = 0; j < times.length; j++) {
      const from = j === 0 ? times[j]! - s.intervalSeconds : times[j - 1]!;
      const left = Math.max(label, x(from));
      const w = Math.max(0, x(times[j]!) - left);
      rects.push(`<rect x="${left.toFixed(1)}" y="${i * row + 3}" width="${w.toFixed(1)}" height="${row - 6}" fill="${ups[j] ? '#2da44e' : '#cf222e'}"/>`);
    }
    const state = p.up ? 'up' : 'DOWN';
    return `<g data-proxy="${p.name}" data-up="${p.up}"><text x="0" y="${i * row + 14}" font-size="11">${p.name} <tspan font-weight="700" fill="${p.up ? '#1a7f37' : '#cf222e'}">${state}</tspan></text><rect x="${label}" y="${i * row + 3}" width="${width}" height="${row - 6}" fill="#f6f8fa"/>${rects.join('')}</g>`;
  });
  const ago = Math.round((end - start) / 60);
  const axis = `<text x="${label}" y="${s.proxies.length * row + 10}" font-size="9" fill="#57606a">${ago} min ago</text><text x="${label + width}" y="${s.proxies.length * row + 10}" font-size="9" fill="#57606a" text-anchor="end">now</text>`;
  return `<svg viewBox="0 0 ${label + width} ${s.proxies.length * row + 14}" width="100%" font-family="system-ui, sans-serif" role="img" aria-label="proxies up or down over the last 10 minutes">${rows.join('')}${axis}</svg>`;
}
