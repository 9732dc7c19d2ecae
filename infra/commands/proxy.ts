/**
 * `zdm-lab proxy deploy|rolling-update|status|logs|config`: three zdm-proxy
 * instances as peers in front of Origin and Target, configured from the two
 * learner-editable YAML files. A rolling update validates the files first
 * (nothing is touched when they are wrong), then replaces one proxy at a
 * time and waits for it to be ready, so clients of the other two never notice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { effectiveConfig } from '../config/effective.js';
import {
  CLUSTER_FILE,
  ensureProxyConfig,
  proxyEnvironment,
  readProxyConfig,
  type ProxyConfig,
} from '../config/proxy.js';
import { refusedLogin, tryLogin } from '../cql/client.js';
import { waitForProxy } from '../readiness.js';
import type { ProxySpec } from '../topology.js';
import { formatStatus, infraStatus, type LabContext } from './environment.js';

/** Both nodes take the logins the proxies will use (a file from before the environment had its own password would not): one login each. */
async function requireNodesUp(ctx: LabContext, config: ProxyConfig): Promise<void> {
  for (const [side, node] of [['origin', ctx.topo.origin], ['target', ctx.topo.target]] as const) {
    const problem = await tryLogin(node, { username: config[`${side}_username`], password: config[`${side}_password`] });
    if (problem === undefined) continue;
    if (refusedLogin(problem)) {
      throw new Error(
        `${node.name} refuses the login of ${side}_username/${side}_password in ${CLUSTER_FILE}: this environment's ${side} login is shown by zdm-lab env (${side.toUpperCase()}_USERNAME, ${side.toUpperCase()}_PASSWORD); put it there with zdm-lab proxy config set ${side}_username=… ${side}_password=…`,
      );
    }
    throw new Error(`${node.name} (${node.address}:${node.port}) does not accept logins, so proxies cannot start: run zdm-lab infra up --env ${ctx.topo.env}`);
  }
}

async function startOne(ctx: LabContext, proxy: ProxySpec, config: ProxyConfig): Promise<number> {
  await ctx.backend.startProxy(proxy, proxyEnvironment(ctx.topo, proxy, config), ctx.report);
  return waitForProxy(proxy, ctx.backend, ctx.report);
}

function describe(config: ProxyConfig): string {
  return `primary_cluster=${config.primary_cluster} read_mode=${config.read_mode}`;
}

export async function proxyDeploy(ctx: LabContext): Promise<void> {
  const { topo, backend, print } = ctx;
  ensureProxyConfig(topo);
  const config = readProxyConfig(topo);
  const running = await Promise.all(topo.proxies.map(async (p) => (await backend.status(p)).state === 'running'));
  if (running.every(Boolean)) {
    print('all three proxies are already running: to apply configuration changes use zdm-lab proxy rolling-update');
    return;
  }
  await requireNodesUp(ctx, config);
  print(`deploying ${topo.proxies.length} ZDM proxies (${describe(config)}) from ${topo.proxyConfigDir}`);
  await Promise.all(
    topo.proxies.map(async (proxy, i) => {
      if (running[i]) return;
      const ms = await startOne(ctx, proxy, config);
      print(`${proxy.name}: ready on ${proxy.address}:${proxy.port}, health on :${proxy.metricsPort} (${(ms / 1000).toFixed(1)}s)`);
    }),
  );
  print(`proxies are up: clients connect to ${topo.proxies.map((p) => p.address).join(', ')} on port ${topo.proxies[0]!.port}`);
}

/**
 * The pause between two proxies of a rolling update when none is given: the
 * official automation's default pause_between_restarts_in_seconds (10 s), or
 * ZDM_LAB_PROXY_PAUSE seconds (the test suites, which play the course many
 * times, take 5).
 */
export function defaultPauseMs(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.ZDM_LAB_PROXY_PAUSE;
  if (given === undefined || given === '') return 10_000;
  const seconds = Number(given);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`ZDM_LAB_PROXY_PAUSE=${given} is not a number of seconds (0 or more)`);
  return seconds * 1000;
}

export async function proxyRollingUpdate(ctx: LabContext, options: { pauseMs?: number } = {}): Promise<void> {
  const { topo, backend, print } = ctx;
  const config = readProxyConfig(topo);
  const pauseMs = options.pauseMs ?? defaultPauseMs();
  await requireNodesUp(ctx, config);
  print(`rolling update to ${describe(config)}, one proxy at a time`);
  for (const [i, proxy] of topo.proxies.entries()) {
    let ms: number;
    if (backend.restartProxy) {
      print(`${proxy.name}: replacing it with one on the new configuration`);
      await backend.restartProxy(proxy, proxyEnvironment(topo, proxy, config), ctx.report);
      ms = await waitForProxy(proxy, backend, ctx.report);
    } else {
      print(`${proxy.name}: stopping`);
      await backend.stop(proxy);
      print(`${proxy.name}: starting with the new configuration`);
      ms = await startOne(ctx, proxy, config);
    }
    print(`${proxy.name}: ready (${(ms / 1000).toFixed(1)}s)`);
    if (i < topo.proxies.length - 1 && pauseMs > 0) {
      print(`pausing ${pauseMs / 1000}s so clients reconnect before the next proxy goes down`);
      await sleep(pauseMs);
    }
  }
  print('rolling update complete: every proxy runs the new configuration');
}

export async function proxyStatus(ctx: LabContext): Promise<string> {
  const { topo } = ctx;
  const rows = (await infraStatus(ctx)).filter((r) => r.component.startsWith('proxy'));
  let wanted: ProxyConfig | undefined;
  try {
    wanted = readProxyConfig(topo);
  } catch (error) {
    ctx.print(`warning: ${(error as Error).message}`);
  }
  for (const row of rows) {
    const proxy = topo.proxies.find((p) => p.name === row.component)!;
    const running = row.state !== 'down' ? effectiveConfig(proxy) : undefined;
    if (!running) continue;
    const mode = `${running.ZDM_PRIMARY_CLUSTER}/${running.ZDM_READ_MODE}`;
    const pending = wanted && (wanted.primary_cluster !== running.ZDM_PRIMARY_CLUSTER || wanted.read_mode !== running.ZDM_READ_MODE);
    row.detail = pending ? `${mode} (YAML differs: run zdm-lab proxy rolling-update)` : mode;
  }
  return formatStatus(rows);
}

/** Prints (or follows) one proxy's log, or all three. */
export function proxyLogs(ctx: LabContext, index: number | undefined, follow: boolean): Promise<number> {
  const { topo, backend } = ctx;
  const chosen = index === undefined ? topo.proxies : topo.proxies.filter((p) => p.index === index);
  if (chosen.length === 0) throw new Error(`there is no proxy ${index}: use 1, 2 or 3`);
  return backend.printLogs(chosen, follow);
}
