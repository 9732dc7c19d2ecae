/**
 * Where requests go right now, and so which migration phase the environment
 * is in, derived from what is running rather than from the page the learner
 * reads: the sample API's current connection mode (ORIGIN, ZDM_PROXY or
 * TARGET) and each running proxy's effective primary_cluster and read_mode.
 * A proxy always writes to both clusters, reads from its primary and, with
 * DUAL_ASYNC_ON_SECONDARY, also reads from the other cluster in the
 * background. Proxies that disagree (a rolling update half done) are shown
 * as such, each with its own routes.
 */
import type { PrimaryCluster, ReadMode } from '../config/proxy.js';

export type Cluster = 'origin' | 'target';
export type ApiMode = 'ORIGIN' | 'ZDM_PROXY' | 'TARGET';

export interface ApiState {
  /** The mode the API runs in, or, when it is not running, the one its mode file names; undefined when neither is known. */
  mode?: ApiMode;
  /** Whether the API answered its /health just now. */
  running: boolean;
  /** Where the mode was read: the running API, its mode file, or nowhere. */
  source: 'api' | 'mode-file' | 'unknown';
}

export interface ProxyState {
  name: string;
  address: string;
  up: boolean;
  /** From the running proxy's effective configuration; undefined when it is down or its configuration is unreadable. */
  primaryCluster?: PrimaryCluster;
  readMode?: ReadMode;
}

export interface ProxyRoute {
  name: string;
  address: string;
  up: boolean;
  primaryCluster: PrimaryCluster | null;
  readMode: ReadMode | null;
  /** Where this proxy sends writes, reads and background reads (empty or null when it is down). */
  writes: Cluster[];
  reads: Cluster | null;
  asyncReads: Cluster | null;
}

export interface Routing {
  /** 0–5, or null when the environment is in no phase (say, the API points at proxies that are all down). */
  phase: number | null;
  /** Short title, e.g. "Phase 3: asynchronous dual reads". */
  title: string;
  /** One sentence on what is happening. */
  detail: string;
  api: ApiState;
  /** Where the API sends its requests. */
  apiTarget: 'origin' | 'target' | 'proxies' | null;
  proxies: ProxyRoute[];
  /** True while running proxies disagree on primary_cluster or read_mode. */
  mixed: boolean;
}

const other = (c: Cluster): Cluster => (c === 'origin' ? 'target' : 'origin');

export function proxyRoute(p: ProxyState): ProxyRoute {
  if (!p.up || !p.primaryCluster || !p.readMode) {
    return { name: p.name, address: p.address, up: p.up, primaryCluster: p.primaryCluster ?? null, readMode: p.readMode ?? null, writes: [], reads: null, asyncReads: null };
  }
  const primary: Cluster = p.primaryCluster === 'TARGET' ? 'target' : 'origin';
  return {
    name: p.name,
    address: p.address,
    up: true,
    primaryCluster: p.primaryCluster,
    readMode: p.readMode,
    writes: ['origin', 'target'],
    reads: primary,
    asyncReads: p.readMode === 'DUAL_ASYNC_ON_SECONDARY' ? other(primary) : null,
  };
}

/** The phase of one proxy configuration, as seen by an API that goes through the proxies. */
function proxyPhase(primary: PrimaryCluster, readMode: ReadMode): number {
  if (primary === 'TARGET') return 4;
  return readMode === 'DUAL_ASYNC_ON_SECONDARY' ? 3 : 1;
}

const TITLES: Record<number, string> = {
  0: 'Phase 0: the API on Origin',
  1: 'Phase 1–2: dual writes through the proxies',
  3: 'Phase 3: asynchronous dual reads',
  4: 'Phase 4: Target is primary',
  5: 'Phase 5: the API on Target',
};

const DETAILS: Record<number, string> = {
  0: 'The API reads and writes Origin directly; Target gets nothing yet.',
  1: 'Every write goes to Origin and Target; reads are answered by Origin. The copy of the old rows (phase 2) runs with this same routing.',
  3: 'Writes go to both clusters; reads are answered by Origin and also sent to Target in the background, whose answers are discarded.',
  4: 'Writes go to both clusters; reads are answered by Target.',
  5: 'The API reads and writes Target directly; the proxies and Origin can be retired.',
};

export function deriveRouting(api: ApiState, proxies: ProxyState[]): Routing {
  const routes = proxies.map(proxyRoute);
  const configured = proxies.filter((p) => p.up && p.primaryCluster && p.readMode);
  const phases = [...new Set(configured.map((p) => proxyPhase(p.primaryCluster!, p.readMode!)))].sort();
  const mixed = new Set(configured.map((p) => `${p.primaryCluster}/${p.readMode}`)).size > 1;
  const base = { api, proxies: routes, mixed };

  if (api.mode === 'ORIGIN') return { ...base, phase: 0, title: TITLES[0]!, detail: DETAILS[0]!, apiTarget: 'origin' };
  if (api.mode === 'TARGET') return { ...base, phase: 5, title: TITLES[5]!, detail: DETAILS[5]!, apiTarget: 'target' };
  if (api.mode === undefined) {
    return { ...base, phase: null, title: 'No API yet', detail: 'The sample API is not running and has no mode file: start it (step 1).', apiTarget: null };
  }
  if (phases.length === 0) {
    return {
      ...base,
      phase: null,
      title: 'The API points at the proxies, but none is up',
      detail: 'Every request of the API fails until a proxy is running: zdm-lab proxy deploy.',
      apiTarget: 'proxies',
    };
  }
  if (phases.length > 1) {
    const changed = configured.filter((p) => proxyPhase(p.primaryCluster!, p.readMode!) === phases[phases.length - 1]).length;
    return {
      ...base,
      phase: phases[0]!,
      title: `Rolling update: phase ${phases[0]} → ${phases[phases.length - 1]}`,
      detail: `${changed} of ${configured.length} running proxies have the new configuration; each proxy routes by its own.`,
      apiTarget: 'proxies',
    };
  }
  const phase = phases[0]!;
  const down = proxies.length - configured.length;
  const detail = DETAILS[phase]! + (down > 0 ? ` ${down} of ${proxies.length} proxies are down: the others carry the traffic.` : '');
  return { ...base, phase, title: TITLES[phase]!, detail, apiTarget: 'proxies' };
}
