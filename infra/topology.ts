/**
 * The topology of one lab environment, and the only place that knows the
 * address plan. Environment k owns the loopback block 127.0.k.0/24 and every
 * component has a fixed address in it, whatever the backend, so the sample
 * API, the migrator, the checks and the learner's shell reach the same
 * addresses on the embedded and the Docker backend. On Kubernetes the same
 * components have names in the environment's namespace instead (the
 * `cluster` plan). Everything else asks:
 * TypeScript through `topology(k)`, the course's scripts through
 * `zdm-lab env --shell` (`addressVariables`).
 */
import { join } from 'node:path';
import { envDir } from './paths.js';

export const CQL_PORT = 9042;
export const PROXY_METRICS_PORT = 14001;
export const API_PORT = 8000;
export const PROXY_COUNT = 3;
export const PROMETHEUS_PORT = 9090;
/** Environment numbers: each owns 127.0.k.0/24, and 127.0.0.0/24 is the host's own. */
export const ENV_MIN = 1;
export const ENV_MAX = 254;
/** SimpleSnitch puts every node in this data center. */
export const DATACENTER = 'datacenter1';

export type ClusterName = 'origin' | 'target';

/**
 * How the environment's clients name its components. `loopback`: the host's
 * block 127.0.k.0/24, which the embedded and Docker backends bind. `cluster`:
 * the names a pod of environment K's Kubernetes namespace resolves (its
 * workstation): `origin-0.origin` through Origin's headless Service,
 * `zdm-proxy-0` through each proxy's own Service. The sample API and
 * Prometheus keep their loopback addresses in both: the course starts them
 * in the learner's terminals, which on Kubernetes run in the workstation
 * pod, whose loopback is its own.
 */
export type AddressPlan = 'loopback' | 'cluster';
export const ADDRESS_PLANS: readonly AddressPlan[] = ['loopback', 'cluster'];

/** In-cluster names: a Cassandra cluster's one pod, through its headless Service. */
export function clusterNodeName(name: ClusterName): string {
  return `${name}-0.${name}`;
}
/** In-cluster names: proxy i (1-based as the learner names them) is the Service of pod ordinal i - 1. */
export function clusterProxyName(index: number): string {
  return `zdm-proxy-${index - 1}`;
}

/** The address plan ZDM_LAB_ADDRESSES names (the workstation image sets `cluster`), else loopback. */
export function addressPlanFromEnvironment(env: NodeJS.ProcessEnv = process.env): AddressPlan {
  const named = env.ZDM_LAB_ADDRESSES;
  if (named === undefined || named === '') return 'loopback';
  if ((ADDRESS_PLANS as readonly string[]).includes(named)) return named as AddressPlan;
  throw new Error(`ZDM_LAB_ADDRESSES must be one of ${ADDRESS_PLANS.join(', ')}, got "${named}"`);
}

export interface NodeSpec {
  kind: 'cassandra';
  /** The environment the node belongs to. */
  env: number;
  name: ClusterName;
  /** Cassandra's cluster_name: "origin" or "target". */
  clusterName: ClusterName;
  address: string;
  port: number;
  dir: string;
}

export interface ProxySpec {
  kind: 'proxy';
  /** The environment the proxy belongs to. */
  env: number;
  name: string;
  /** 1, 2 or 3 as the learner names them; the proxy's topology index is index - 1. */
  index: number;
  address: string;
  port: number;
  metricsPort: number;
  dir: string;
}

export type ComponentSpec = NodeSpec | ProxySpec;

export interface Topology {
  env: number;
  dir: string;
  origin: NodeSpec;
  target: NodeSpec;
  proxies: ProxySpec[];
  api: { address: string; port: number };
  /** Where `zdm-lab monitoring up` runs Prometheus. */
  prometheus: { address: string; port: number };
  /** Where the learner-editable proxy YAML files live. */
  proxyConfigDir: string;
}

function envAddress(env: number, host: number): string {
  return `127.0.${env}.${host}`;
}

export function validateEnv(env: number): number {
  if (!Number.isInteger(env) || env < ENV_MIN || env > ENV_MAX) {
    throw new Error(`environment must be a number from ${ENV_MIN} to ${ENV_MAX} (it owns 127.0.K.0/24), got ${env}`);
  }
  return env;
}

export function topology(env: number, plan: AddressPlan = 'loopback'): Topology {
  validateEnv(env);
  const dir = envDir(env);
  const inCluster = plan === 'cluster';
  const node = (name: ClusterName, host: number): NodeSpec => ({
    kind: 'cassandra',
    env,
    name,
    clusterName: name,
    address: inCluster ? clusterNodeName(name) : envAddress(env, host),
    port: CQL_PORT,
    dir: join(dir, name),
  });
  const proxies = Array.from({ length: PROXY_COUNT }, (_, i): ProxySpec => ({
    kind: 'proxy',
    env,
    name: `proxy-${i + 1}`,
    index: i + 1,
    address: inCluster ? clusterProxyName(i + 1) : envAddress(env, 11 + i),
    port: CQL_PORT,
    metricsPort: PROXY_METRICS_PORT,
    dir: join(dir, `proxy-${i + 1}`),
  }));
  return {
    env,
    dir,
    origin: node('origin', 1),
    target: node('target', 2),
    proxies,
    api: { address: envAddress(env, 20), port: API_PORT },
    prometheus: { address: envAddress(env, 30), port: PROMETHEUS_PORT },
    proxyConfigDir: join(dir, 'proxy-config'),
  };
}

export function components(topo: Topology): ComponentSpec[] {
  return [topo.origin, topo.target, ...topo.proxies];
}

/**
 * The environment's addresses as shell variables, for `eval "$(zdm-lab env
 * --shell)"` in the course's scripts: they never write an address.
 */
export function addressVariables(topo: Topology): Record<string, string> {
  return {
    LAB_ENV: String(topo.env),
    ORIGIN_HOST: topo.origin.address,
    TARGET_HOST: topo.target.address,
    CQL_PORT: String(CQL_PORT),
    PROXY_HOSTS: topo.proxies.map((p) => p.address).join(' '),
    METRICS_PORT: String(PROXY_METRICS_PORT),
    API_HOST: topo.api.address,
    API_PORT: String(topo.api.port),
    API_URL: `http://${topo.api.address}:${topo.api.port}`,
    PROMETHEUS_URL: `http://${topo.prometheus.address}:${topo.prometheus.port}`,
  };
}
