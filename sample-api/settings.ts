/**
 * The sample API's settings, all from environment variables, read once at
 * start and checked there: a wrong value stops the API with a message that
 * names the variable, instead of a half-working service.
 *
 *   LAB_ENV                       environment number k (default 1); addresses default to 127.0.k.x
 *   API_HOST, API_PORT            where the API listens (default 127.0.k.20:8000)
 *   CLIENT_CONNECTION_MODE        ORIGIN | ZDM_PROXY | TARGET (CASSANDRA = ORIGIN, ASTRA_DB = TARGET)
 *   CLIENT_CONNECTION_MODE_FILE   a file holding the connection: the mode on its first line and,
 *                                 optionally, `username=…` and `password=…` lines, the login to give
 *                                 that database; edited while the API runs, it switches the
 *                                 connection without a restart (it wins over the variables)
 *   ORIGIN_CONTACT_POINTS         default 127.0.k.1
 *   ZDM_PROXY_CONTACT_POINTS      default 127.0.k.11,127.0.k.12,127.0.k.13
 *   TARGET_CONTACT_POINTS         default 127.0.k.2
 *   CASSANDRA_USERNAME, CASSANDRA_PASSWORD   the login to start with when the file gives none
 *                                 (default cassandra / cassandra)
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
  /** The login to start with (from the mode file when it names one, else the variables). */
  login: Login;
  modeSource: string;
  modeFile?: string;
  contactPoints: Record<Mode, ContactPoints>;
  localDataCenter: string;
  keyspace: string;
}

export class SettingsError extends Error {}

export interface Login {
  username: string;
  password: string;
}

/** What a connection file asks for: a mode, and the login to give it when the file names one. */
export interface ConnectionRequest {
  mode: Mode;
  login?: Login;
}

/**
 * Reads a connection file's text: the mode on the first line, then optional
 * `username=…` and `password=…` lines (both or neither). Returns the request,
 * or what is wrong with the text, naming the line.
 */
export function parseConnection(text: string): ConnectionRequest | string {
  const lines = text.split('\n').map((line, i) => ({ n: i + 1, text: line.trim() })).filter((l) => l.text !== '' && !l.text.startsWith('#'));
  const first = lines.shift();
  if (!first) return 'it is empty';
  const mode = parseMode(first.text);
  if (!mode) return `line ${first.n} says "${first.text}", which is not a connection mode: use ${describeModes()}`;
  const values: Record<string, string> = {};
  for (const line of lines) {
    const m = /^(\w+)\s*=\s*(.*)$/.exec(line.text);
    if (!m || !['username', 'password'].includes(m[1])) return `line ${line.n} says "${line.text.slice(0, 40)}": after the mode only username=… and password=… lines are read`;
    values[m[1]] = m[2];
  }
  if ((values.username === undefined) !== (values.password === undefined)) return `it gives a ${values.username === undefined ? 'password' : 'username'} without a ${values.username === undefined ? 'username' : 'password'}`;
  return values.username === undefined ? { mode } : { mode, login: { username: values.username, password: values.password } };
}

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
  let login: Login = { username: env.CASSANDRA_USERNAME || 'cassandra', password: env.CASSANDRA_PASSWORD || 'cassandra' };
  const modeFile = env.CLIENT_CONNECTION_MODE_FILE || undefined;
  if (modeFile) {
    const text = readModeFile(modeFile);
    if (text !== undefined) {
      const parsed = parseConnection(text);
      if (typeof parsed === 'string') throw new SettingsError(`${modeFile}: ${parsed}`);
      mode = parsed.mode;
      login = parsed.login ?? login;
      modeSource = modeFile;
    }
  }

  const points = (name: string, fallback: string) => parseContactPoints(name, env[name] || fallback);
  return {
    env: k,
    host: env.API_HOST || address(20),
    port: envNumber(env, 'API_PORT', 8000, 1, 65535),
    mode,
    login,
    modeSource,
    modeFile,
    contactPoints: {
      ORIGIN: points('ORIGIN_CONTACT_POINTS', address(1)),
      ZDM_PROXY: points('ZDM_PROXY_CONTACT_POINTS', [11, 12, 13].map(address).join(',')),
      TARGET: points('TARGET_CONTACT_POINTS', address(2)),
    },
    localDataCenter: env.LOCAL_DATACENTER || 'datacenter1',
    keyspace: 'zdmapp',
  };
}
