/**
 * The API's one connection to the database, which can be moved to another
 * mode (Origin, the ZDM proxies, Target) while requests keep coming. A switch
 * opens the new driver client first and only then routes requests to it; the
 * old client is closed once the requests it is still serving have finished,
 * so no request fails because of a switch. If the new endpoint cannot be
 * reached, the API stays on the old one and keeps trying.
 *
 * Driver settings are the ones a client of the ZDM proxy needs (protocol v4
 * at most, the endpoint's port for every peer, the local data center, every
 * statement idempotent so a retry may go to another proxy during a rolling
 * update); the same settings are right for a direct connection to a node.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra from 'cassandra-driver';
import type { ContactPoints, Login, Mode, Settings } from './settings.js';

const RETRY_MS = 2000;
/** How long an old client may finish its requests before it is closed anyway. */
const DRAIN_LIMIT_MS = 30_000;

export type Log = (line: string) => void;

/** Which login each mode takes, for the message of a refused one. */
const LOGIN_HINT: Record<Mode, string> = {
  ORIGIN: "Origin takes Origin's login (ORIGIN_USERNAME, ORIGIN_PASSWORD)",
  ZDM_PROXY: "through the proxies a client logs in with Target's login (TARGET_USERNAME, TARGET_PASSWORD): each proxy hands it to Target and logs in to Origin with its own origin_username",
  TARGET: "Target takes Target's login (TARGET_USERNAME, TARGET_PASSWORD)",
};

/** The database cannot be reached: the API answers 503 and keeps running. */
export class DatabaseUnavailableError extends Error {}

interface Session {
  mode: Mode;
  login: Login;
  points: ContactPoints;
  client: cassandra.Client;
  connected: boolean;
  lastError?: string;
  inFlight: number;
  /** Set when a newer switch made this session pointless before it connected. */
  abandoned: boolean;
}

export interface Health {
  mode: Mode;
  /** The user name the API logs in with (never the password). */
  username: string;
  contactPoints: string[];
  connected: boolean;
  /** The mode being connected to, while a switch waits for it. */
  switchingTo?: Mode;
  /** Why that switch has not happened yet (e.g. a refused login). */
  switchError?: string;
  /** That switch waits because the database refuses the login it was given. */
  loginRefused?: true;
  error?: string;
}

export function describePoints(points: ContactPoints): string[] {
  return points.hosts.map((h) => `${h}:${points.port}`);
}

export class Connection {
  private active: Session;
  private pending?: Session;
  private closed = false;

  constructor(
    private readonly settings: Settings,
    private readonly log: Log,
  ) {
    this.active = this.open(settings.mode, settings.login);
    void this.connectUntilUp(this.active, () => {});
  }

  get mode(): Mode {
    return this.active.mode;
  }

  health(): Health {
    const s = this.active;
    const connected = s.connected && s.client.getState().getConnectedHosts().length > 0;
    return {
      mode: s.mode,
      username: s.login.username,
      contactPoints: describePoints(s.points),
      connected,
      ...(this.pending ? { switchingTo: this.pending.mode } : {}),
      ...(this.pending?.lastError ? { switchError: this.pending.lastError } : {}),
      ...(this.pending?.lastError && refusedLogin(this.pending.lastError) ? { loginRefused: true as const } : {}),
      ...(s.lastError && !connected ? { error: s.lastError } : {}),
    };
  }

  /** Runs one statement on the current mode's client. */
  async execute(query: string, params: unknown[]): Promise<cassandra.types.ResultSet> {
    const s = this.active;
    if (!s.connected) {
      throw new DatabaseUnavailableError(`not connected to ${s.mode} (${describePoints(s.points).join(', ')})${s.lastError ? `: ${s.lastError}` : ''}`);
    }
    s.inFlight++;
    try {
      return await s.client.execute(query, params, { prepare: true });
    } catch (error) {
      throw unavailable(error) ? new DatabaseUnavailableError(`${s.mode} did not answer: ${firstLine(error)}`) : error;
    } finally {
      s.inFlight--;
    }
  }

  /**
   * Moves to `mode`, logging in with `login` (or the current login): resolves
   * when requests go to it (or when a later switch replaced this one). The
   * same mode with another login is a switch too.
   */
  async switchTo(mode: Mode, login: Login = this.active.login): Promise<void> {
    if (this.closed) return;
    const same = (s: Session) => s.mode === mode && s.login.username === login.username && s.login.password === login.password;
    if (this.pending) {
      if (same(this.pending)) return;
      this.drop(this.pending);
      this.pending = undefined;
    }
    if (same(this.active)) {
      this.log(`mode ${mode}: already connected there, nothing to switch`);
      return;
    }
    const what = (s: Session) => `${s.mode} as ${s.login.username}`;
    // A client that never connected serves nobody: replace it at once.
    if (!this.active.connected) {
      const old = this.active;
      this.active = this.open(mode, login);
      this.drop(old);
      this.log(`switching to ${what(this.active)} (${describePoints(this.active.points).join(', ')})`);
      return this.connectUntilUp(this.active, () => {});
    }
    const next = this.open(mode, login);
    this.pending = next;
    this.log(`switching from ${what(this.active)} to ${what(next)} (${describePoints(next.points).join(', ')}): connecting first, requests stay on ${this.active.mode} meanwhile`);
    await this.connectUntilUp(next, () => {
      const old = this.active;
      this.active = next;
      this.pending = undefined;
      this.log(`now using ${mode}; the ${old.mode} connection closes when its ${old.inFlight} request(s) in flight are done`);
      void this.retire(old);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const sessions = [this.active, ...(this.pending ? [this.pending] : [])];
    await Promise.all(sessions.map((s) => s.client.shutdown().catch(() => {})));
  }

  private open(mode: Mode, login: Login): Session {
    const points = this.settings.contactPoints[mode];
    return { mode, login, points, client: this.newClient(points, login), connected: false, inFlight: 0, abandoned: false };
  }

  private newClient(points: ContactPoints, login: Login): cassandra.Client {
    const { settings } = this;
    return new cassandra.Client({
      contactPoints: points.hosts,
      localDataCenter: settings.localDataCenter,
      credentials: { username: login.username, password: login.password },
      protocolOptions: { port: points.port, maxVersion: 4 },
      queryOptions: { isIdempotent: true, prepare: true, consistency: cassandra.types.consistencies.localQuorum },
      socketOptions: { connectTimeout: 3000, readTimeout: 5000 },
      // Come back quickly once a stopped node or proxy is up again (the default waits up to 10 minutes).
      policies: { reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(500, 4000, false) },
      pooling: { warmup: true },
    });
  }

  /** Connects `s`, retrying every 2 s (with a fresh client) until it works, then calls onUp. */
  private async connectUntilUp(s: Session, onUp: () => void): Promise<void> {
    let reported = '';
    while (!this.closed && !s.abandoned) {
      try {
        await s.client.connect();
        if (this.closed || s.abandoned) return;
        s.connected = true;
        s.lastError = undefined;
        this.log(`connected to ${s.mode} (${describePoints(s.points).join(', ')}) as ${s.login.username}`);
        onUp();
        return;
      } catch (error) {
        s.lastError = firstLine(error);
        if (s.lastError !== reported) {
          reported = s.lastError;
          this.log(
            refusedLogin(s.lastError)
              ? `${s.mode} refuses the login of ${s.login.username}: ${s.lastError}; ${LOGIN_HINT[s.mode]}. Retrying every ${RETRY_MS / 1000} s until the mode file gives a login that works`
              : `cannot reach ${s.mode} (${describePoints(s.points).join(', ')}): ${s.lastError}; retrying every ${RETRY_MS / 1000} s`,
          );
        }
        await s.client.shutdown().catch(() => {});
        await sleep(RETRY_MS);
        if (this.closed || s.abandoned) return;
        s.client = this.newClient(s.points, s.login);
      }
    }
  }

  private drop(s: Session): void {
    s.abandoned = true;
    void s.client.shutdown().catch(() => {});
  }

  private async retire(old: Session): Promise<void> {
    const deadline = Date.now() + DRAIN_LIMIT_MS;
    while (old.inFlight > 0 && Date.now() < deadline) await sleep(50);
    await old.client.shutdown().catch(() => {});
    this.log(`${old.mode} connection closed`);
  }
}

/** Whether a driver error says the database refused the login (not that it was out of reach). */
function refusedLogin(error: string): boolean {
  return /authentication|username .* password/i.test(error);
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].slice(0, 300);
}

/** Errors that mean "the database is not there right now", as opposed to a bad statement. */
function unavailable(error: unknown): boolean {
  const errors = cassandra.errors;
  if (error instanceof errors.NoHostAvailableError || error instanceof errors.OperationTimedOutError || error instanceof errors.BusyConnectionError) return true;
  if (error instanceof errors.ResponseError) {
    const codes = cassandra.types.responseErrorCodes;
    return [codes.unavailableException, codes.overloaded, codes.isBootstrapping, codes.readTimeout, codes.writeTimeout].includes(error.code);
  }
  return error instanceof errors.DriverError && /connect|socket|closed/i.test(error.message);
}
