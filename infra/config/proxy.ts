/**
 * The two proxy configuration files a learner edits, with the key names of
 * the official ZDM automation: zdm_proxy_core_config.yml (primary_cluster,
 * read_mode, log_level) and zdm_proxy_cluster_config.yml (origin_* and
 * target_*). They are read strictly: an unknown key or value is refused with
 * file:line before any proxy is touched. A valid pair becomes the ZDM_* env
 * vars each proxy instance starts with.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument, isMap, isScalar, type Document } from 'yaml';
import { credentialsOf } from '../credentials.js';
import { DATACENTER, type ProxySpec, type Topology } from '../topology.js';

export const CORE_FILE = 'zdm_proxy_core_config.yml';
export const CLUSTER_FILE = 'zdm_proxy_cluster_config.yml';

export type PrimaryCluster = 'ORIGIN' | 'TARGET';
export type ReadMode = 'PRIMARY_ONLY' | 'DUAL_ASYNC_ON_SECONDARY';

export interface ProxyConfig {
  primary_cluster: PrimaryCluster;
  read_mode: ReadMode;
  log_level: string;
  origin_contact_points: string;
  origin_port: number;
  origin_username: string;
  origin_password: string;
  target_contact_points: string;
  target_port: number;
  target_username: string;
  target_password: string;
}

export class ProxyConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`proxy configuration refused, no proxy was touched:\n  ${problems.join('\n  ')}`);
  }
}

type Rule = { kind: 'enum'; values: readonly string[] } | { kind: 'port' } | { kind: 'text' };

const coreRules: Record<string, Rule> = {
  primary_cluster: { kind: 'enum', values: ['ORIGIN', 'TARGET'] },
  read_mode: { kind: 'enum', values: ['PRIMARY_ONLY', 'DUAL_ASYNC_ON_SECONDARY'] },
  log_level: { kind: 'enum', values: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] },
};

const clusterRules: Record<string, Rule> = Object.fromEntries(
  (['origin', 'target'] as const).flatMap((side) => [
    [`${side}_contact_points`, { kind: 'text' }],
    [`${side}_port`, { kind: 'port' }],
    [`${side}_username`, { kind: 'text' }],
    [`${side}_password`, { kind: 'text' }],
  ]),
);

export function defaultProxyConfig(topo: Topology): ProxyConfig {
  // The proxy's own logins: origin_* to Origin; target_* for its own connection to Target (a client's requests reach Target with the client's login).
  const origin = credentialsOf(topo.env, 'origin');
  const target = credentialsOf(topo.env, 'target');
  return {
    primary_cluster: 'ORIGIN',
    read_mode: 'PRIMARY_ONLY',
    log_level: 'INFO',
    origin_contact_points: topo.origin.address,
    origin_port: topo.origin.port,
    origin_username: origin.username,
    origin_password: origin.password,
    target_contact_points: topo.target.address,
    target_port: topo.target.port,
    target_username: target.username,
    target_password: target.password,
  };
}

function coreText(c: ProxyConfig): string {
  return `# ZDM proxy core settings (same keys as the official ZDM automation).
# Edit, then apply with: zdm-lab proxy rolling-update
#
# primary_cluster: ORIGIN | TARGET
#   the cluster whose answers the client gets, and where reads go
# read_mode: PRIMARY_ONLY | DUAL_ASYNC_ON_SECONDARY
#   DUAL_ASYNC_ON_SECONDARY also sends each read to the other cluster, in the
#   background, to warm it up and test it; its answer is discarded
primary_cluster: ${c.primary_cluster}
read_mode: ${c.read_mode}
log_level: ${c.log_level}
`;
}

function clusterText(c: ProxyConfig): string {
  return `# Where the ZDM proxies find the two clusters.
origin_contact_points: ${c.origin_contact_points}
origin_port: ${c.origin_port}
origin_username: ${c.origin_username}
origin_password: ${c.origin_password}

target_contact_points: ${c.target_contact_points}
target_port: ${c.target_port}
target_username: ${c.target_username}
target_password: ${c.target_password}
`;
}

/** Writes both files with the defaults (Phase 1 settings). Overwrites learner edits. */
export function writeDefaultProxyConfig(topo: Topology): void {
  mkdirSync(topo.proxyConfigDir, { recursive: true });
  const config = defaultProxyConfig(topo);
  writeFileSync(join(topo.proxyConfigDir, CORE_FILE), coreText(config));
  writeFileSync(join(topo.proxyConfigDir, CLUSTER_FILE), clusterText(config));
}

/** Whether both files hold what writeDefaultProxyConfig writes (missing files count as default: ensureProxyConfig writes them). */
export function proxyConfigIsDefault(topo: Topology): boolean {
  const config = defaultProxyConfig(topo);
  const same = (file: string, text: string) => {
    try {
      return readFileSync(join(topo.proxyConfigDir, file), 'utf8') === text;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ENOENT';
    }
  };
  return same(CORE_FILE, coreText(config)) && same(CLUSTER_FILE, clusterText(config));
}

export function ensureProxyConfig(topo: Topology): void {
  const missing = [CORE_FILE, CLUSTER_FILE].some((f) => !existsSync(join(topo.proxyConfigDir, f)));
  if (missing) writeDefaultProxyConfig(topo);
}

interface ParsedFile {
  doc: Document;
  lines: LineCounter;
  path: string;
}

function parseFile(path: string, problems: string[]): ParsedFile | undefined {
  if (!existsSync(path)) {
    problems.push(`${path}: file is missing (run zdm-lab proxy deploy to create it)`);
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(readFileSync(path, 'utf8'), { lineCounter: lines });
  for (const error of doc.errors) {
    const at = error.linePos?.[0];
    problems.push(`${path}:${at?.line ?? 1}: ${error.message.split('\n')[0]}`);
  }
  return doc.errors.length ? undefined : { doc, lines, path };
}

function readValues(file: ParsedFile, rules: Record<string, Rule>, problems: string[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  const contents = file.doc.contents;
  if (contents === null) return out;
  if (!isMap(contents)) {
    problems.push(`${file.path}:1: expected "key: value" lines`);
    return out;
  }
  for (const pair of contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const offset = isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0;
    const where = `${file.path}:${file.lines.linePos(offset).line}`;
    const rule = rules[key];
    if (!rule) {
      problems.push(`${where}: unknown key "${key}" (known keys: ${Object.keys(rules).join(', ')})`);
      continue;
    }
    const raw = isScalar(pair.value) ? pair.value.value : undefined;
    if (raw === undefined || raw === null || raw === '') {
      problems.push(`${where}: ${key} has no value`);
      continue;
    }
    if (rule.kind === 'enum') {
      const value = String(raw).toUpperCase();
      if (!rule.values.includes(value)) {
        problems.push(`${where}: ${key}: ${String(raw)} is not valid (use one of ${rule.values.join(', ')})`);
        continue;
      }
      out[key] = value;
    } else if (rule.kind === 'port') {
      const port = Number(raw);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        problems.push(`${where}: ${key}: ${String(raw)} is not a port number`);
        continue;
      }
      out[key] = port;
    } else {
      out[key] = String(raw);
    }
  }
  for (const key of Object.keys(rules)) {
    if (!(key in out) && !problems.some((p) => p.includes(`${key}`))) {
      problems.push(`${file.path}: ${key} is missing`);
    }
  }
  return out;
}

/** Reads and validates both files; throws ProxyConfigError listing every problem. */
export function readProxyConfig(topo: Topology): ProxyConfig {
  const problems: string[] = [];
  const core = parseFile(join(topo.proxyConfigDir, CORE_FILE), problems);
  const cluster = parseFile(join(topo.proxyConfigDir, CLUSTER_FILE), problems);
  const values = {
    ...(core ? readValues(core, coreRules, problems) : {}),
    ...(cluster ? readValues(cluster, clusterRules, problems) : {}),
  };
  if (problems.length) throw new ProxyConfigError(problems);
  return values as unknown as ProxyConfig;
}

/**
 * Changes one key in its file, keeping the learner's comments, after checking
 * that the result is valid. Used by `zdm-lab proxy config set key=value`.
 */
export function setProxyConfigValue(topo: Topology, key: string, value: string): void {
  ensureProxyConfig(topo);
  const file = key in coreRules ? CORE_FILE : key in clusterRules ? CLUSTER_FILE : undefined;
  if (!file) {
    throw new ProxyConfigError([`unknown key "${key}" (known keys: ${[...Object.keys(coreRules), ...Object.keys(clusterRules)].join(', ')})`]);
  }
  const path = join(topo.proxyConfigDir, file);
  const before = readFileSync(path, 'utf8');
  const doc = parseDocument(before);
  doc.set(key, /^\d+$/.test(value) ? Number(value) : value);
  writeFileSync(path, doc.toString());
  try {
    readProxyConfig(topo);
  } catch (error) {
    writeFileSync(path, before);
    throw error;
  }
}

/** The ZDM_* environment of one proxy instance. */
export function proxyEnvironment(topo: Topology, proxy: ProxySpec, config: ProxyConfig): Record<string, string> {
  return {
    ZDM_PRIMARY_CLUSTER: config.primary_cluster,
    ZDM_READ_MODE: config.read_mode,
    ZDM_LOG_LEVEL: config.log_level,
    ZDM_ORIGIN_CONTACT_POINTS: config.origin_contact_points,
    ZDM_ORIGIN_PORT: String(config.origin_port),
    ZDM_ORIGIN_USERNAME: config.origin_username,
    ZDM_ORIGIN_PASSWORD: config.origin_password,
    ZDM_ORIGIN_LOCAL_DATACENTER: DATACENTER,
    ZDM_TARGET_CONTACT_POINTS: config.target_contact_points,
    ZDM_TARGET_PORT: String(config.target_port),
    ZDM_TARGET_USERNAME: config.target_username,
    ZDM_TARGET_PASSWORD: config.target_password,
    ZDM_TARGET_LOCAL_DATACENTER: DATACENTER,
    ZDM_PROXY_LISTEN_ADDRESS: proxy.address,
    ZDM_PROXY_LISTEN_PORT: String(proxy.port),
    ZDM_METRICS_ADDRESS: proxy.address,
    ZDM_METRICS_PORT: String(proxy.metricsPort),
    ZDM_PROXY_TOPOLOGY_INDEX: String(proxy.index - 1),
    ZDM_PROXY_TOPOLOGY_ADDRESSES: topo.proxies.map((p) => p.address).join(','),
  };
}
