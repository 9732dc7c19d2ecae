/**
 * The live architecture diagram of the Monitoring panel, as SVG markup built
 * from one monitoring snapshot: the API, the three proxies and the two
 * clusters, with an arrow for every route requests take now. The API's
 * arrow goes to Origin, to Target or to the proxies, by its current mode;
 * each running proxy draws writes to both clusters, reads to its primary
 * and, with DUAL_ASYNC_ON_SECONDARY, dashed async reads to the other (faint
 * while the API does not go through the proxies); a proxy that is down is
 * outlined in red and draws nothing. Every arrow carries
 * data-from, data-to and data-flow, so a check can read the picture.
 */
import type { Cluster, ProxyRoute } from '../../infra/monitoring/phase.js';
import type { MonitoringSnapshot } from '../../infra/monitoring/sampler.js';

export type Flow = 'requests' | 'writes' | 'reads' | 'async';

export const FLOW_COLORS: Record<Flow, string> = {
  requests: '#57606a',
  writes: '#d9480f',
  reads: '#1971c2',
  async: '#9c36b5',
};

const W = 660;
const H = 280;
const API = { x: 16, y: 112, w: 116, h: 56 };
const PROXY = { x: 250, w: 156, h: 54, ys: [28, 112, 196] };
const CLUSTER: Record<Cluster, { x: number; y: number; w: number; h: number; label: string }> = {
  origin: { x: 526, y: 38, w: 118, h: 74, label: 'Origin' },
  target: { x: 526, y: 170, w: 118, h: 74, label: 'Target' },
};

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function rate(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return n >= 10 ? `${Math.round(n)}/s` : `${Number(n.toFixed(1))}/s`;
}

function arrow(from: string, to: string, flow: Flow, d: string, dashed = false): string {
  return `<path class="flow flow-${flow}" data-from="${esc(from)}" data-to="${esc(to)}" data-flow="${flow}" d="${d}" fill="none" stroke="${FLOW_COLORS[flow]}" stroke-width="${flow === 'requests' ? 2.5 : 2}"${dashed ? ' stroke-dasharray="6 4"' : ''} marker-end="url(#arrow-${flow})"/>`;
}

/** Where on a cluster's left edge an arrow of `flow` from proxy `i` lands, so arrows do not overlap. */
function landing(cluster: Cluster, flow: Flow, i: number): { x: number; y: number } {
  const c = CLUSTER[cluster];
  const slot = { writes: 0, reads: 1, async: 2, requests: 1 }[flow];
  return { x: c.x - 2, y: c.y + 14 + slot * 18 + (i - 1) * 4 };
}

function proxyArrows(route: ProxyRoute, i: number): string[] {
  const y = PROXY.ys[i]! + PROXY.h / 2;
  const start = (flow: Flow) => ({ x: PROXY.x + PROXY.w, y: y + { writes: -10, reads: 0, async: 10, requests: 0 }[flow] });
  const path = (flow: Flow, cluster: Cluster) => {
    const a = start(flow);
    const b = landing(cluster, flow, i);
    const mid = (a.x + b.x) / 2;
    return `M${a.x},${a.y} C${mid},${a.y} ${mid},${b.y} ${b.x},${b.y}`;
  };
  const out: string[] = [];
  for (const cluster of route.writes) out.push(arrow(route.name, cluster, 'writes', path('writes', cluster)));
  if (route.reads) out.push(arrow(route.name, route.reads, 'reads', path('reads', route.reads)));
  if (route.asyncReads) out.push(arrow(route.name, route.asyncReads, 'async', path('async', route.asyncReads), true));
  return out;
}

function apiArrows(snapshot: MonitoringSnapshot): string[] {
  const { routing } = snapshot;
  const ax = API.x + API.w;
  const ay = API.y + API.h / 2;
  if (routing.apiTarget === 'proxies') {
    return routing.proxies.map((p, i) => {
      const y = PROXY.ys[i]! + PROXY.h / 2;
      return arrow('api', p.name, 'requests', `M${ax},${ay} C${ax + 60},${ay} ${PROXY.x - 70},${y} ${PROXY.x - 2},${y}`, !p.up);
    });
  }
  if (routing.apiTarget === 'origin' || routing.apiTarget === 'target') {
    const c = CLUSTER[routing.apiTarget];
    // Around the proxies: over them to Origin, under them to Target.
    const around = routing.apiTarget === 'origin' ? 14 : H - 14;
    const ty = c.y + c.h / 2;
    return [arrow('api', routing.apiTarget, 'requests', `M${API.x + API.w / 2},${routing.apiTarget === 'origin' ? API.y : API.y + API.h} C${API.x + API.w / 2},${around} ${c.x - 140},${around} ${c.x - 2},${ty}`)];
  }
  return [];
}

function proxyBox(route: ProxyRoute, i: number, connections: number | null): string {
  const y = PROXY.ys[i]!;
  const fill = route.up ? '#f6f8fa' : '#fff5f5';
  const stroke = route.up ? '#57606a' : '#cf222e';
  const config = !route.up
    ? 'its /metrics does not answer'
    : route.primaryCluster
      ? `${route.primaryCluster === 'TARGET' ? 'Target' : 'Origin'} primary${route.readMode === 'DUAL_ASYNC_ON_SECONDARY' ? ', async reads' : ''}`
      : 'configuration unknown';
  const clients = route.up ? `${connections ?? 0} client connection${connections === 1 ? '' : 's'}` : '';
  return `<g class="proxy ${route.up ? 'up' : 'down'}" data-proxy="${esc(route.name)}" data-up="${route.up}">
<rect x="${PROXY.x}" y="${y}" width="${PROXY.w}" height="${PROXY.h}" rx="6" fill="${fill}" stroke="${stroke}" stroke-width="${route.up ? 1.5 : 2}"${route.up ? '' : ' stroke-dasharray="4 3"'}/>
<circle cx="${PROXY.x + 12}" cy="${y + 13}" r="5" fill="${route.up ? '#1a7f37' : '#cf222e'}"/>
<text x="${PROXY.x + 22}" y="${y + 17}" font-size="12" font-weight="600">${esc(route.name)}</text>
<text x="${PROXY.x + PROXY.w - 8}" y="${y + 17}" font-size="11" font-weight="700" text-anchor="end" fill="${route.up ? '#1a7f37' : '#cf222e'}">${route.up ? 'UP' : 'DOWN'}</text>
<text x="${PROXY.x + 8}" y="${y + 32}" font-size="10" fill="#444c56">${esc(config)}</text>
<text x="${PROXY.x + 8}" y="${y + 45}" font-size="10" fill="#6e7781">${esc(clients)}</text>
</g>`;
}

function clusterBox(cluster: Cluster, snapshot: MonitoringSnapshot): string {
  const c = CLUSTER[cluster];
  const sent = snapshot.now.clusterRequestsPerSecond[cluster];
  const direct = snapshot.routing.apiTarget === cluster;
  const fill = cluster === 'origin' ? '#e7f0fb' : '#e6f4ea';
  const line2 = direct ? 'straight from the API' : `writes ${rate(sent.writes)}`;
  const line3 = direct ? '' : `reads ${rate(sent.reads)}`;
  return `<g class="cluster" data-cluster="${cluster}">
<path d="M${c.x},${c.y + 8} a${c.w / 2},8 0 0,1 ${c.w},0 v${c.h - 16} a${c.w / 2},8 0 0,1 ${-c.w},0 z" fill="${fill}" stroke="#57606a" stroke-width="1.5"/>
<path d="M${c.x},${c.y + 8} a${c.w / 2},8 0 0,0 ${c.w},0" fill="none" stroke="#57606a" stroke-width="1.5"/>
<text x="${c.x + c.w / 2}" y="${c.y + 32}" font-size="14" font-weight="700" text-anchor="middle">${c.label}</text>
<text x="${c.x + c.w / 2}" y="${c.y + 48}" font-size="10" text-anchor="middle" fill="#57606a">${esc(line2)}</text>
<text x="${c.x + c.w / 2}" y="${c.y + 61}" font-size="10" text-anchor="middle" fill="#57606a">${esc(line3)}</text>
</g>`;
}

function apiBox(snapshot: MonitoringSnapshot): string {
  const api = snapshot.routing.api;
  const mode = api.mode ?? 'no mode';
  const state = api.running ? 'running' : api.source === 'mode-file' ? 'stopped (mode file)' : 'not running';
  return `<g class="api" data-mode="${esc(api.mode ?? '')}" data-running="${api.running}">
<rect x="${API.x}" y="${API.y}" width="${API.w}" height="${API.h}" rx="6" fill="#fff8c5" stroke="#9a6700" stroke-width="1.5"/>
<text x="${API.x + API.w / 2}" y="${API.y + 19}" font-size="13" font-weight="700" text-anchor="middle">sample API</text>
<text x="${API.x + API.w / 2}" y="${API.y + 34}" font-size="10" text-anchor="middle">${esc(mode)}</text>
<text x="${API.x + API.w / 2}" y="${API.y + 47}" font-size="10" text-anchor="middle" fill="#57606a">${esc(state)}</text>
</g>`;
}

function legend(): string {
  const items: [Flow, string, boolean][] = [
    ['requests', 'API requests', false],
    ['writes', 'writes', false],
    ['reads', 'reads (answered)', false],
    ['async', 'async reads (discarded)', true],
  ];
  let x = 16;
  return items
    .map(([flow, label, dashed]) => {
      const g = `<line x1="${x}" y1="${H - 8}" x2="${x + 22}" y2="${H - 8}" stroke="${FLOW_COLORS[flow]}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${x + 27}" y="${H - 4}" font-size="10" fill="#57606a">${label}</text>`;
      x += 40 + label.length * 5.6;
      return g;
    })
    .join('');
}

export function renderDiagram(snapshot: MonitoringSnapshot): string {
  const markers = (Object.keys(FLOW_COLORS) as Flow[])
    .map((f) => `<marker id="arrow-${f}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${FLOW_COLORS[f]}"/></marker>`)
    .join('');
  const routes = snapshot.routing.proxies;
  // Proxies the API does not use still show their configured routes, faintly: no request takes them.
  const proxied = snapshot.routing.apiTarget === 'proxies';
  return `<svg class="zdm-diagram" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(snapshot.routing.title)}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" data-phase="${snapshot.routing.phase ?? ''}">
<title>${esc(snapshot.routing.title)}</title>
<defs>${markers}</defs>
${apiArrows(snapshot).join('\n')}
<g class="proxy-routes${proxied ? '' : ' idle'}"${proxied ? '' : ' opacity="0.25"'}>
${routes.flatMap((r, i) => proxyArrows(r, i)).join('\n')}
</g>
${apiBox(snapshot)}
${routes.map((r, i) => proxyBox(r, i, snapshot.proxies[i]?.clientConnections ?? null)).join('\n')}
${clusterBox('origin', snapshot)}
${clusterBox('target', snapshot)}
${legend()}
</svg>`;
}
