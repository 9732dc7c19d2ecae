/**
 * The sample API's settings, all from environment variables, read once at
 * start and checked there: a wrong value stops the API with a message that
 * names the variable, instead of a half-working service.
 *
 *   LAB_ENV                       environment number k (default 1); addresses default to 127.0.k.x
 *   API_HOST, API_PORT            where the API listens (default 127.0.k.20:8000)
 *   CLIENT_CONNECTION_MODE        ORIGIN | ZDM_PROXY | TARGET (CASSANDRA = ORIGIN, ASTRA_DB = TARGET)
 *   CLIENT_CONNECTION_MODE_FILE   a file holding the mode; edited while the API runs, it switches
 *                                 the connection without a restart (it wins over the variable)
 *   ORIGIN_CONTACT_POINTS         default 127.0.k.1
 *   ZDM_PROXY_CONTACT_POINTS      default 127.0.k.11,127.0.k.12,127.0.k.13
 *   TARGET_CONTACT_POINTS         default 127.0.k.2
 *   CASSANDRA_USERNAME, CASSANDRA_PASSWORD   default cassandra / cassandra (the lab's terminals export
 *                                 their environment's own: zdm-lab env)
 *   LOCAL_DATACENTER              default datacenter1
 *
 * Contact points are comma-separated `host` or `host:port` (port 9042 when omitted).
 */

export type Mode = 'ORIGIN' | 'ZDM_PROXY' | 'TARGET';
export const MODES: readonly Mode[] = ['ORIGIN', 'ZDM_PROXY', 'TARGET'];

/** Names of the original ZDM lab, kept so its commands still work here. */
const ALIASES: Record<string, Mode> = { CASSANDRA: 'ORIGIN', ASTRA_DB: 'TARGET' };

export const DEFAULT_CQL_PORT = 9042;

export interface ContactPoints {
  hosts: string[];
  /** One port for every host: the driver reaches the peers it discovers on this port. */
  port: number;
}

export interface Settings {
  env: number;
  host: string;
  port: number;
  /** The mode to start in (from the mode file when it exists, else the variable, else ORIGIN). */
  mode: Mode;
  modeSource: string;
  modeFile?: string;
  contactPoints: Record<Mode, ContactPoints>;
  username: string;
  password: string;
  localDataCenter: string;
  keyspace: string;
}

export class SettingsError extends Error {}

/** Reads a mode name; undefined when it is not one (aliases are accepted, case and spaces ignored). */
export function parseMode(text: string): Mode | undefined {
  const word = text.trim().toUpperCase();
  if ((MODES as readonly string[]).includes(word)) return word as Mode;
  return ALIASES[word];
}

export function describeModes(): string {
  return `${MODES.join(', ')} (or ${Object.entries(ALIASES).map(([alias, mode]) => `${alias} for ${mode}`).join(', ')})`;
}

export function parseContactPoints(name: string, text: string): ContactPoints {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) throw new SettingsError(`${name} is empty: give one or more host[:port], comma-separated`);
  const hosts: string[] = [];
  const ports = new Set<number>();
  for (const entry of entries) {
    const m = /^([^:\s]+)(?::(\d+))?$/.exec(entry);
    const port = m?.[2] === undefined ? DEFAULT_CQL_PORT : Number(m[2]);
    if (!m || port < 1 || port > 65535) throw new SettingsError(`${name}: "${entry}" is not host or host:port`);
    hosts.push(m[1]);
    ports.add(port);
  }
  if (ports.size > 1) throw new SettingsError(`${name}: every contact point must use the same port, got ${[...ports].join(' and ')}`);
  return { hosts, port: [...ports][0] };
}

function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new SettingsError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

export function readSettings(env: NodeJS.ProcessEnv, readModeFile: (path: string) => string | undefined): Settings {
  const k = envNumber(env, 'LAB_ENV', 1, 1, 254);
  const address = (host: number) => `127.0.${k}.${host}`;

  let mode: Mode = 'ORIGIN';
  let modeSource = 'default';
  const fromVariable = env.CLIENT_CONNECTION_MODE;
  if (fromVariable !== undefined && fromVariable !== '') {
    const parsed = parseMode(fromVariable);
    if (!parsed) throw new SettingsError(`CLIENT_CONNECTION_MODE="${fromVariable}" is not a connection mode: use ${describeModes()}`);
    mode = parsed;
    modeSource = 'CLIENT_CONNECTION_MODE';
  }
  const modeFile = env.CLIENT_CONNECTION_MODE_FILE || undefined;
  if (modeFile) {
    const text = readModeFile(modeFile);
    if (text !== undefined) {
      const parsed = parseMode(text);
      if (!parsed) throw new SettingsError(`${modeFile} says "${text.trim()}", which is not a connection mode: use ${describeModes()}`);
      mode = parsed;
      modeSource = modeFile;
    }
  }

  const points = (name: string, fallback: string) => parseContactPoints(name, env[name] || fallback);
  return {
    env: k,
    host: env.API_HOST || address(20),
    port: envNumber(env, 'API_PORT', 8000, 1, 65535),
    mode,
    modeSource,
    modeFile,
    contactPoints: {
      ORIGIN: points('ORIGIN_CONTACT_POINTS', address(1)),
      ZDM_PROXY: points('ZDM_PROXY_CONTACT_POINTS', [11, 12, 13].map(address).join(',')),
      TARGET: points('TARGET_CONTACT_POINTS', address(2)),
    },
    username: env.CASSANDRA_USERNAME || 'cassandra',
    password: env.CASSANDRA_PASSWORD || 'cassandra',
    localDataCenter: env.LOCAL_DATACENTER || 'datacenter1',
    keyspace: 'zdmapp',
  };
}
