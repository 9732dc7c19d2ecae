/**
 * The classroom: every learner environment one lab server hosts, who each
 * belongs to, and what an instructor does to them. An environment k (its own
 * loopback block 127.0.k.0/24, working folder, terminals and progress) is
 * created on demand with a learner's name and a personal token for their
 * invite link; creation is refused when the host's memory cannot hold one
 * more. A reset brings an environment back to the state of the first page
 * (and, with `to`, plays the course up to that page with the autopilot); a
 * destroy removes it for good. Names, token hashes and the salts tokens are
 * derived from are kept in the progress database, so invite links survive a
 * restart of the server. With isolation each environment gets its own
 * account, budget and packet filter rules (environments/isolation.ts);
 * without it, a server that was not told `--no-isolation` hosts one
 * environment only, since its learners could reach each other.
 *
 * Warm seats: the instructor keeps a number of environments started and set
 * up for the first page before anyone arrives. Creating a learner's
 * environment (without asking for a number) takes a ready seat, renamed and
 * given a fresh token, and a replacement starts in the background as long as
 * the host has room; seats are not learners (no row, no invite link) and
 * survive a restart of the lab like learners do.
 *
 * Seat lifetime: the instructor may give environments a lifetime (each ends,
 * destroyed, that long after it was created; its learner can extend it, 15
 * minutes at a time, up to a limit the instructor sets) and an idle time
 * (an environment without activity that long is put to sleep: its parts are
 * stopped, its data kept, and it wakes when its learner is back). Warm
 * seats neither sleep nor end.
 */
import { timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Course, PageSpec } from '../course/schema.js';
import { StateShelf } from '../environments/states.js';
import { Environment, type SetupState, type SleepState } from '../environments/environment.js';
import { checkUntilPassed, PlayError, playCourse } from '../autopilot/play.js';
import { stringify } from 'csv-stringify/sync';
import type { ProgressStore } from '../progress/store.js';
import { hashToken, type Hand } from '../progress/store.js';
import { newSalt, shellTokenFor, tokenFor, type Principal } from '../server/access.js';
import { Sandbox } from '../environments/isolation.js';
import { Workstation, type WorkstationCommands } from '../environments/workstation.js';
import { DockerCgroupParent, isCgroupV2 } from '../environments/cgroups.js';
import { AddressGuard } from '../environments/address-guard.js';
import type { DockerGateway } from '../environments/docker-gateway.js';
import { capacity, type Capacity, CapacityError, ensureRoom, GIB, type MemoryInfo, readHostCpu, readMemoryInfo } from './capacity.js';
import { HealthWatch, type HealthReport } from './health.js';

export interface ClassroomOptions {
  course: Course;
  store: ProgressStore;
  /** Parent of every environment's working folder. */
  envRoot: string;
  pathPrefix?: string[];
  /** Run the course's setup when an environment is created (default true). */
  runSetup?: boolean;
  instructorToken: string;
  /** Memory one environment needs (default: what the course declares). */
  bytesPerEnvironment?: number;
  /** CPUs one environment may use, where it gets a budget (default: what the course declares). */
  cpusPerEnvironment?: number;
  /** Where free memory is read from (tests give their own). */
  memory?: () => MemoryInfo;
  /** The key learner tokens are derived from (access.ts loadTokenKey). */
  tokenKey: Buffer;
  /** The lab's address as the environments' terminals reach it ('' until it listens): `zdm-lab infra up` there asks the lab to restore the learner's page. */
  labUrl?: () => string;
  /** Isolate every environment (the server runs as root): the lab's port (the one local port learners may reach) and a CPU budget. */
  isolation?: {
    labPorts: () => number[];
    cpusPerEnvironment?: number;
    /** On the Docker backend: the environment's only way to the daemon, scoped to it (server/docker-gateway.ts). */
    docker?: DockerGateway;
  };
  /** Not isolated and not told it may host several learners anyway: one environment only. */
  singleLearner?: boolean;
  /**
   * Every environment runs in a workstation of its own off this host (a pod on a Kubernetes
   * cluster: environments/workstation.ts), made when its learner is added: no account or
   * budget here, and no check of this host's memory, since the cluster's quotas hold them.
   */
  workstations?: WorkstationCommands;
  /** How often lifetimes and idle times are looked at (default 15 s). */
  lifecycleCheckMs?: number;
  /** How often the host's and the environments' CPU use is read for the capacity figures (default 15 s). */
  loadSampleMs?: number;
}

/** The class's rules for how long environments live, in minutes (fractions allowed); 0 turns a rule off. */
export interface LifetimeRules {
  /** Without activity this long, an environment is put to sleep (0: never). */
  idleMinutes: number;
  /** An environment ends this long after it was created (0: never). */
  lifetimeMinutes: number;
  /** How much a learner may add to it in all, EXTEND_MINUTES at a time. */
  extendLimitMinutes: number;
}

export const EXTEND_MINUTES = 15;
/** With less than this left, an environment is "expiring": its page counts down. */
const EXPIRING_MS = 10 * 60 * 1000;
const RULES: Record<keyof LifetimeRules, string> = { idleMinutes: 'idle-minutes', lifetimeMinutes: 'lifetime-minutes', extendLimitMinutes: 'extend-limit-minutes' };

/** Where an environment is in its life, for the console and the learner's page. */
export type Lifecycle = 'running' | Exclude<SleepState, 'awake'> | 'expiring';

export interface LifetimeView {
  lifecycle: Lifecycle;
  /** When it ends (ms since the epoch), or null. */
  expiresAt: number | null;
  extendedMinutes: number;
  /** Whether "extend" would add EXTEND_MINUTES now. */
  canExtend: boolean;
}

/** Processes and threads one environment may have: two Cassandra nodes take about 600. */
const TASKS_PER_ENVIRONMENT = 4096;

/** What an instructor action is doing right now, for the console. */
export interface Activity {
  kind: 'resetting' | 'playing' | 'destroying';
  /** The page a "reset to" plays up to. */
  to?: string;
  /** The latest progress line. */
  line: string;
  since: number;
}

/** One row of the instructor console. */
export interface EnvironmentRow {
  env: number;
  name: string;
  /** The learner's current page (null before they opened one). */
  current: string | null;
  currentTitle: string | null;
  /** 1-based position of the current page in the course. */
  step: number | null;
  pages: number;
  /** Distinct blocks run at least once. */
  blocksRun: number;
  checksPassed: number;
  checksTotal: number;
  setup: SetupState;
  health: HealthReport | null;
  lastActivity: number;
  activity: Activity | null;
  /** The outcome of the last instructor action, when it failed. */
  lastError: string | null;
  /** An isolated environment's budget and the memory it uses (null: not isolated). */
  budget: BudgetView | null;
  /** Seconds on the current page so far. */
  secondsOnPage: number;
  /** How often the current page's check ran, and its last message if the latest run failed. */
  checkAttempts: number;
  lastFailure: string | null;
  /** A hand the learner raised and the instructor has not cleared. */
  hand: Hand | null;
  helpRequests: number;
  /** Why the row needs the instructor's attention (rows are sorted by it), or null. */
  attention: string | null;
  lifetime: LifetimeView;
}

/** A page this long without its check passing needs a look. */
const STUCK_SECONDS = 10 * 60;

/** How urgent a row is, for sorting (lower first), and why. */
function attentionOf(r: Omit<EnvironmentRow, 'attention'>): [number, string | null] {
  if (r.hand) return [0, `asks for help on ${r.hand.page}`];
  if (r.setup === 'failed' || r.lastError) return [1, r.setup === 'failed' ? 'its setup failed' : 'the last action failed'];
  if (r.health?.components.some((c) => c.state === 'down')) return [2, 'a part is down'];
  if (r.lastFailure && r.checkAttempts >= 2) return [3, `the check failed ${r.checkAttempts} times`];
  if (r.secondsOnPage > STUCK_SECONDS && r.current) return [4, `${Math.round(r.secondsOnPage / 60)} min on this page`];
  return [5, null];
}

export interface BudgetView {
  memoryBytes: number;
  cpus: number | null;
  memoryUsedBytes: number;
  memoryPeakBytes: number | null;
}

export interface ResetOutcome {
  env: number;
  /** Time of the reset itself (course reset command, shells, progress). */
  resetSeconds: number;
  /** Of which the course's reset command took this long. */
  resetCommandSeconds: number;
  /** Until the environment was set up again (reset included). */
  readySeconds: number;
  /** Until the autopilot reached `to` (everything included), when asked for. */
  playedSeconds?: number;
  /** `to` was reached by restoring its saved state, not by playing. */
  restored?: boolean;
  current: string | null;
}

export class ClassroomError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 | 500,
  ) {
    super(message);
    this.name = 'ClassroomError';
  }
}

/** The warm seats: how many the instructor asked for, and how many are ready, starting, or in learners' hands. */
export interface SeatsView {
  reserved: number;
  ready: number;
  starting: number;
  inUse: number;
  /** Seats whose setup failed (they are not handed out; destroy them from the API or set the count again). */
  failed: number;
  /** Why fewer seats are kept than asked for (no room on this host), or null. */
  short: string | null;
}

const SEATS_SETTING = 'reserved-seats';
const SEAT_NAME = 'warm seat';

interface Learner {
  env: Environment;
  name: string;
  /** A warm seat nobody has taken yet. */
  reserved: boolean;
  extendedMinutes: number;
  /** Known when it was created or derived in this run (from the salt), or given by a test. */
  token: string | undefined;
  tokenHash: string;
  createdAt: number;
  health: HealthWatch;
  activity: Activity | null;
  lastError: string | null;
}

export class Classroom {
  /** Every environment by number; the server's routes read this same map. */
  readonly environments = new Map<number, Environment>();
  readonly course: Course;
  /** The course's saved states (course.json "states"), when it declares them. */
  readonly shelf: StateShelf | undefined;
  private readonly learners = new Map<number, Learner>();
  private readonly opts: ClassroomOptions;
  private readonly resetListeners: ((env: number) => void)[] = [];
  private seatsShort: string | null = null;
  /** Seats being removed (more were kept than asked for), environments ending. */
  private readonly leaving = new Set<number>();
  private readonly lifecycleTimer: NodeJS.Timeout;
  private readonly loadTimer: NodeJS.Timeout;
  /** The last reading of CPU times, and the rates between it and the one before. */
  private load: { at: number; host: { busy: number; total: number }; envs: Map<number, number>; busyCores: number | null; cpus: number[] } | undefined;
  /** With isolation: ends a learner's process that takes another environment's addresses (environments/address-guard.ts). */
  private readonly guard: AddressGuard | undefined;
  /** The instructor's settings, read from the database once and written through to it (every poll reads them). */
  private readonly lifetimeRules: LifetimeRules;
  private seatsWanted: number;

  constructor(opts: ClassroomOptions) {
    this.opts = opts;
    this.course = opts.course;
    this.shelf = opts.course.states ? new StateShelf(opts.envRoot, opts.course) : undefined;
    const read = (key: string, fallback: number) => Number(opts.store.setting(opts.course.dir, key) ?? fallback) || 0;
    this.lifetimeRules = {
      idleMinutes: read(RULES.idleMinutes, 0),
      lifetimeMinutes: read(RULES.lifetimeMinutes, 0),
      extendLimitMinutes: read(RULES.extendLimitMinutes, 2 * EXTEND_MINUTES),
    };
    this.seatsWanted = read(SEATS_SETTING, 0);
    this.lifecycleTimer = setInterval(() => this.checkLifetimes(), opts.lifecycleCheckMs ?? 15_000).unref();
    this.sampleLoad();
    this.loadTimer = setInterval(() => this.sampleLoad(), opts.loadSampleMs ?? 15_000).unref();
    if (opts.isolation) {
      this.guard = new AddressGuard(() => this.accounts(), (line) => console.error(line));
      this.guard.start();
    }
  }

  /** Each isolated environment's account (uid) and its number. */
  private accounts(): Map<number, number> {
    const owners = new Map<number, number>();
    for (const [env, l] of this.learners) {
      const uid = l.env.sandbox?.uidIfOpen;
      if (uid !== undefined) owners.set(uid, env);
    }
    return owners;
  }

  rules(): LifetimeRules {
    return { ...this.lifetimeRules };
  }

  setRules(change: Partial<Record<keyof LifetimeRules, unknown>>): LifetimeRules {
    for (const [key, value] of Object.entries(change)) {
      if (!(key in RULES)) throw new ClassroomError(`"${key}" is not a lifetime rule; they are: ${Object.keys(RULES).join(', ')}`, 400);
      if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) throw new ClassroomError(`"${key}" must be a number of minutes, 0 or more`, 400);
    }
    if (typeof change.idleMinutes === 'number' && change.idleMinutes > 0 && !this.course.suspend) {
      throw new ClassroomError('this course declares no suspend command, so its environments cannot be put to sleep', 409);
    }
    for (const [key, value] of Object.entries(change)) {
      if (typeof value !== 'number') continue;
      this.opts.store.saveSetting(this.course.dir, RULES[key as keyof LifetimeRules], String(value));
      this.lifetimeRules[key as keyof LifetimeRules] = value;
    }
    return this.rules();
  }

  /** Environment `env`'s place in its life: asleep or waking, ending soon, and whether it can be extended. */
  lifetime(env: number): LifetimeView {
    const environment = this.get(env);
    const learner = this.learners.get(env)!;
    const rules = this.rules();
    const expiresAt = rules.lifetimeMinutes > 0 && !learner.reserved ? learner.createdAt + (rules.lifetimeMinutes + learner.extendedMinutes) * 60_000 : null;
    const sleep = environment.sleep;
    const lifecycle: Lifecycle = sleep !== 'awake' ? sleep : expiresAt !== null && expiresAt - Date.now() < EXPIRING_MS ? 'expiring' : 'running';
    return { lifecycle, expiresAt, extendedMinutes: learner.extendedMinutes, canExtend: expiresAt !== null && learner.extendedMinutes + EXTEND_MINUTES <= rules.extendLimitMinutes };
  }

  /** EXTEND_MINUTES more for environment `env`, within the limit the instructor set. */
  extend(env: number): LifetimeView {
    const view = this.lifetime(env);
    if (view.expiresAt === null) throw new ClassroomError('this environment has no end to extend', 409);
    if (!view.canExtend) throw new ClassroomError(`this environment was extended by ${view.extendedMinutes} minutes already, the most the instructor allows`, 409);
    const learner = this.learners.get(env)!;
    learner.extendedMinutes += EXTEND_MINUTES;
    this.opts.store.saveExtension(env, this.course.dir, learner.extendedMinutes);
    return this.lifetime(env);
  }

  /** Ends environments whose lifetime is over and puts idle ones to sleep (warm seats and busy ones are left alone). */
  private checkLifetimes(): void {
    const { idleMinutes } = this.rules();
    for (const [env, l] of this.learners) {
      if (l.reserved || l.activity || this.leaving.has(env) || l.env.isResetting) continue;
      const { expiresAt } = this.lifetime(env);
      if (expiresAt !== null && Date.now() >= expiresAt) {
        this.leaving.add(env);
        console.log(`environment ${env} (${l.name}) reached the end of its lifetime: destroying it`);
        void this.destroy(env)
          .catch((err: Error) => console.error(`environment ${env} could not be destroyed at the end of its lifetime: ${err.message}`))
          .finally(() => this.leaving.delete(env));
        continue;
      }
      const idle = Date.now() - l.env.lastActivity;
      if (idleMinutes > 0 && idle >= idleMinutes * 60_000 && l.env.sleep === 'awake' && l.env.setupStatus !== 'running') {
        void l.env.sleepNow().then(
          (result) => result && !result.ok && console.error(`environment ${env}: going to sleep failed:\n${result.output.slice(-1000)}`),
          (err: Error) => console.error(`environment ${env} could not be put to sleep: ${err.message}`),
        );
      }
    }
  }

  /** How many warm seats the instructor asked for. */
  get reservedSeats(): number {
    return this.seatsWanted;
  }

  /** Keep `count` warm seats: starts the missing ones (as far as the host has room) and removes the surplus. */
  setReservedSeats(count: number): SeatsView {
    if (!Number.isInteger(count) || count < 0 || count > 254) throw new ClassroomError('"reserved" must be a whole number from 0 to 254', 400);
    if (count > 0 && this.opts.singleLearner) throw new ClassroomError(SINGLE_LEARNER, 409);
    this.opts.store.saveSetting(this.course.dir, SEATS_SETTING, String(count));
    this.seatsWanted = count;
    this.keepSeats();
    return this.seats();
  }

  /** The warm seats nobody has taken, without those being removed. */
  private seatEntries(): [number, Learner][] {
    return [...this.learners.entries()].filter(([env, l]) => l.reserved && !this.leaving.has(env));
  }

  seats(): SeatsView {
    const seats = this.seatEntries().map(([, l]) => l);
    return {
      reserved: this.reservedSeats,
      ready: seats.filter((l) => l.env.setupStatus === 'done' || l.env.setupStatus === 'none').length,
      starting: seats.filter((l) => l.env.setupStatus === 'running').length,
      inUse: [...this.learners.entries()].filter(([env, l]) => !l.reserved && !this.leaving.has(env)).length,
      failed: seats.filter((l) => l.env.setupStatus === 'failed').length,
      short: this.seatsShort,
    };
  }

  /** Start seats until as many are kept as asked for (room allowing); remove the newest surplus ones. */
  private keepSeats(): void {
    const want = this.reservedSeats;
    const seats = this.seatEntries();
    this.seatsShort = null;
    for (let have = seats.length; have < want; have++) {
      try {
        if (!this.opts.workstations) ensureRoom(this.capacity());
        const env = this.freeNumber();
        this.add(env, SEAT_NAME, { salt: newSalt() }, Date.now(), true);
      } catch (err) {
        this.seatsShort = `${want - have} of ${want} warm seats are not kept: ${(err as Error).message}`;
        break;
      }
    }
    // the surplus: failed seats go first, then seats still starting, then the newest
    const order = (l: Learner) => ({ failed: 0, running: 1 })[l.env.setupStatus as 'failed' | 'running'] ?? 2;
    const surplus = seats
      .sort(([a, x], [b, y]) => order(x) - order(y) || b - a)
      .slice(0, Math.max(0, seats.length - want));
    for (const [env] of surplus) {
      this.leaving.add(env);
      void this.destroy(env)
        .catch((err: Error) => console.error(`warm seat ${env} could not be removed: ${err.message}`))
        .finally(() => this.leaving.delete(env));
    }
  }

  /** A ready seat (else one still starting) handed to a learner: renamed, a fresh token, its creation time now. */
  private takeSeat(name: string | undefined): { env: number; name: string; token: string; warm: true } | undefined {
    const seats = this.seatEntries().filter(([, l]) => l.env.setupStatus !== 'failed');
    const ready = seats.find(([, l]) => l.env.setupStatus !== 'running') ?? seats[0];
    if (!ready) return undefined;
    const [env, seat] = ready;
    const salt = newSalt();
    seat.token = tokenFor(this.opts.tokenKey, salt);
    seat.tokenHash = hashToken(seat.token);
    seat.name = (name ?? '').trim() || `learner ${env}`;
    seat.reserved = false;
    seat.createdAt = Date.now();
    this.opts.store.saveLearner(this.course.dir, { env, name: seat.name, tokenHash: seat.tokenHash, tokenSalt: salt, createdAt: seat.createdAt, reserved: false });
    // the replacement starts once this answer is on its way
    setImmediate(() => this.keepSeats());
    return { env, name: seat.name, token: seat.token, warm: true };
  }

  /** Environments recorded in the database by an earlier start (or only `only`) are hosted again (their setup runs). */
  restore(only?: number): number[] {
    const restored: number[] = [];
    for (const r of this.opts.store.learners(this.course.dir)) {
      if (this.learners.has(r.env) || (only !== undefined && r.env !== only)) continue;
      if (this.opts.singleLearner && this.learners.size > 0) {
        console.warn(`environment ${r.env} (${r.name}) is not hosted: ${SINGLE_LEARNER}`);
        continue;
      }
      // A token given from outside (tests) is not known after a restart: the learner gets a new one.
      const salt = r.tokenSalt ?? newSalt();
      const learner = this.add(r.env, r.name, r.tokenSalt ? { salt } : { salt, token: tokenFor(this.opts.tokenKey, salt) }, r.createdAt, r.reserved === true);
      learner.extendedMinutes = r.extendedMinutes ?? 0;
      restored.push(r.env);
    }
    if (only === undefined) this.keepSeats();
    return restored;
  }

  /** Called with the environment's number after each reset or destroy (the server drops its terminal connections). */
  onReset(listener: (env: number) => void): void {
    this.resetListeners.push(listener);
  }

  /** Which principal a token names, compared in constant time. */
  resolve(token: string): Principal | undefined {
    if (same(this.opts.instructorToken, token)) return { role: 'instructor' };
    const hash = hashToken(token);
    for (const [env, l] of this.learners) if (same(l.tokenHash, hash)) return { role: 'learner', env };
    for (const env of this.learners.keys()) if (same(shellTokenFor(this.opts.tokenKey, env), token)) return { role: 'shell', env };
    return undefined;
  }

  /** Every isolated environment's packet filter rules again (the lab's port is known once it listens). */
  portKnown(): void {
    for (const l of this.learners.values()) l.env.sandbox?.applyRules();
  }

  tokenOf(env: number): string | undefined {
    return this.learners.get(env)?.token;
  }

  /**
   * A new environment for a learner: a warm seat when one is kept and no
   * number was asked for (`warm`), else the given number or the lowest free one,
   * the given token (tests) or a fresh one. Refused when it exists, or with a
   * CapacityError when the host's memory cannot hold it.
   */
  create(request: { env?: number; name?: string; token?: string; skipCapacityCheck?: boolean } = {}): { env: number; name: string; token: string; warm: boolean } {
    const env = request.env ?? this.freeNumber();
    const { first, last } = this.opts.course.environments;
    if (!Number.isInteger(env) || env < first || env > last) throw new ClassroomError(`an environment number of this course is ${first} to ${last}, not ${String(request.env)}`, 400);
    if (this.learners.has(env)) throw new ClassroomError(`environment ${env} already exists (learner: ${this.learners.get(env)!.name})`, 409);
    const name = (request.name ?? '').trim() || `learner ${env}`;
    if (name.length > 80) throw new ClassroomError('a learner name is at most 80 characters', 400);
    if (this.opts.singleLearner && this.learners.size > 0) throw new ClassroomError(SINGLE_LEARNER, 409);
    if (request.env === undefined && request.token === undefined) {
      const seat = this.takeSeat(request.name);
      if (seat) return seat;
    }
    if (!request.skipCapacityCheck && !this.opts.workstations) ensureRoom(this.capacity());
    const learner = this.add(env, name, request.token === undefined ? { salt: newSalt() } : { salt: null, token: request.token }, Date.now());
    return { env, name, token: learner.token!, warm: false };
  }

  capacity(): Capacity {
    const starting = [...this.learners.values()].filter((l) => l.env.setupStatus === 'running').length;
    // An amount the instructor gave wins over what is measured.
    const peaks = this.opts.bytesPerEnvironment === undefined ? this.measuredEnvironments().flatMap((l) => l.env.sandbox!.cgroup.memory().peak ?? []) : [];
    return capacity(this.opts.bytesPerEnvironment ?? this.opts.course.environments.memoryBytes, this.opts.runSetup === false ? 0 : starting, (this.opts.memory ?? readMemoryInfo)(), {
      peaks,
      cpus: this.load?.cpus ?? [],
      busyCores: this.load?.busyCores ?? null,
    });
  }

  /** The isolated environments whose use says what an environment costs: set up (or without a setup) and awake. */
  private measuredEnvironments(): Learner[] {
    return [...this.learners.values()].filter((l) => l.env.sandbox && (l.env.setupStatus === 'done' || l.env.setupStatus === 'none') && l.env.sleep === 'awake');
  }

  /** Reads the CPU time of the host and of each measured environment; the rates since the last reading feed capacity(). */
  private sampleLoad(): void {
    try {
      const at = Date.now();
      const host = readHostCpu();
      const envs = new Map<number, number>();
      for (const l of this.measuredEnvironments()) {
        const seconds = l.env.sandbox!.cgroup.cpuSeconds();
        if (seconds !== undefined) envs.set(l.env.id, seconds);
      }
      const last = this.load;
      const wall = last ? (at - last.at) / 1000 : 0;
      const busyCores = last && host.total > last.host.total ? ((host.busy - last.host.busy) / (host.total - last.host.total)) * availableParallelism() : null;
      const cpus = last && wall > 0 ? [...envs].flatMap(([id, s]) => (last.envs.has(id) ? [Math.max(0, s - last.envs.get(id)!) / wall] : [])) : [];
      this.load = { at, host, envs, busyCores, cpus };
    } catch (err) {
      console.error(`reading the host's CPU use: ${(err as Error).message}`);
    }
  }

  get(env: number): Environment {
    const l = this.learners.get(env);
    if (!l) throw new ClassroomError(`no environment ${env} on this lab server; it hosts: ${[...this.learners.keys()].join(', ') || 'none'}`, 404);
    return l.env;
  }

  /** The learner's name environment `env` was created for. */
  nameOf(env: number): string {
    this.get(env);
    return this.learners.get(env)!.name;
  }

  /** Every environment, the ones that need the instructor's attention first (a raised hand first of all, the oldest first). */
  async rows(): Promise<EnvironmentRow[]> {
    const rows = await Promise.all(
      [...this.learners.entries()]
        .filter(([, l]) => !l.reserved)
        .map(async ([id, l]): Promise<Omit<EnvironmentRow, 'attention'>> => {
        const progress = l.env.progress();
        const pages = this.course.pages;
        const index = pages.findIndex((p) => p.id === progress.current);
        const withCheck = pages.filter((p) => p.check !== undefined);
        const stats = progress.current ? l.env.pageStats(progress.current) : { ms: 0, checkAttempts: 0, lastFailure: null };
        return {
          env: id,
          name: l.name,
          current: progress.current,
          currentTitle: index >= 0 ? pages[index]!.title : null,
          step: index >= 0 ? index + 1 : null,
          pages: pages.length,
          blocksRun: Object.values(progress.runs).filter((n) => n > 0).length,
          checksPassed: withCheck.filter((p) => progress.checks[p.id]?.ok).length,
          checksTotal: withCheck.length,
          setup: l.env.setupStatus,
          health: l.activity || l.env.isResetting ? null : ((await l.health.current().catch(() => undefined)) ?? null),
          lastActivity: l.env.lastActivity,
          activity: l.activity,
          lastError: l.lastError,
          budget: budgetView(l.env),
          secondsOnPage: Math.round(stats.ms / 1000),
          checkAttempts: stats.checkAttempts,
          lastFailure: stats.lastFailure,
          hand: l.env.hand,
          helpRequests: l.env.helpRequests,
          lifetime: this.lifetime(id),
        };
      }),
    );
    const ranked = rows.map((r) => {
      const [rank, attention] = attentionOf(r);
      return { row: { ...r, attention }, rank };
    });
    ranked.sort((a, b) => a.rank - b.rank || (a.row.hand?.at ?? 0) - (b.row.hand?.at ?? 0) || a.row.env - b.row.env);
    return ranked.map((r) => r.row);
  }

  /**
   * The class's progress as CSV, one row per learner: name, environment,
   * current page, pages done (visited), checks passed, blocks run, help
   * requests, then the minutes spent on each page of the course.
   */
  progressCsv(): string {
    const pages = this.course.pages;
    const withCheck = pages.filter((p) => p.check !== undefined);
    const header = ['learner', 'environment', 'page', 'pages done', 'checks passed', 'blocks run', 'help requests', ...pages.map((p) => `minutes on ${p.id}`)];
    const records = [...this.learners.entries()]
      .filter(([, l]) => !l.reserved)
      .sort(([a], [b]) => a - b)
      .map(([env, l]) => {
        const progress = l.env.progress();
        const times = l.env.timeOnPages();
        return [
          l.name,
          env,
          progress.current ?? '',
          progress.visited.length,
          withCheck.filter((p) => progress.checks[p.id]?.ok).length,
          Object.values(progress.runs).filter((n) => n > 0).length,
          l.env.helpRequests,
          ...pages.map((p) => ((times[p.id] ?? 0) / 60_000).toFixed(1)),
        ];
      });
    return stringify([header, ...records]);
  }

  /** Changes an isolated environment's memory (GiB) or CPU budget while it runs. */
  setBudget(envId: number, change: { memoryGiB?: number; cpus?: number }): BudgetView {
    const sandbox = this.get(envId).sandbox;
    if (!sandbox) throw new ClassroomError('this lab does not isolate its environments, so they have no budget to change (start it as root)', 409);
    for (const [key, value] of Object.entries(change)) {
      if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new ClassroomError(`"${key}" must be a number above 0`, 400);
    }
    const budget = {
      ...sandbox.budget,
      ...(change.memoryGiB === undefined ? {} : { memoryBytes: Math.round(change.memoryGiB * 1024 ** 3) }),
      ...(change.cpus === undefined ? {} : { cpus: change.cpus }),
    };
    const before = sandbox.budget;
    const docker = this.opts.isolation?.docker;
    try {
      sandbox.setBudget(budget);
    } catch (err) {
      const used = sandbox.cgroup.memory().current;
      throw new ClassroomError(`environment ${envId} keeps its budget: ${(err as Error).message} (it uses ${(used / 1024 ** 3).toFixed(2)} GiB now)`, 409);
    }
    try {
      // Its Docker containers share the same budget in their own group.
      docker?.applyBudget(envId);
    } catch (err) {
      sandbox.setBudget(before);
      const used = docker!.groupOf(envId).memory().current;
      throw new ClassroomError(`environment ${envId} keeps its budget: ${(err as Error).message} (its containers use ${(used / 1024 ** 3).toFixed(2)} GiB now)`, 409);
    }
    // Kept for the environment's next start (a restart of the lab), until it is destroyed.
    this.opts.store.saveSetting(this.course.dir, budgetSetting(envId), JSON.stringify({ memoryBytes: budget.memoryBytes, cpus: budget.cpus ?? null }));
    return budgetView(this.get(envId))!;
  }

  /**
   * Back to the first page's state: the environment's reset (plays and setup
   * stopped, shells ended, the course's reset command, progress and working
   * folder cleared), then its setup again; with `to`, the autopilot then
   * plays the course up to that page, saving the state at the start of each
   * page it reaches on the way when the course declares "states". When `to`
   * has a saved state, that is restored instead, and the check of the page
   * before it confirms it (a restore that fails falls back to playing).
   * Progress lines go to `onProgress`.
   */
  async reset(envId: number, options: { to?: string; onProgress?: (line: string) => void; signal?: AbortSignal } = {}): Promise<ResetOutcome> {
    const l = this.learners.get(envId);
    if (!l) this.get(envId);
    const learner = l!;
    const { to } = options;
    if (to !== undefined && !this.course.pages.some((p) => p.id === to)) {
      throw new ClassroomError(`no page "${to}" in this course; its pages are: ${this.course.pages.map((p) => p.id).join(', ')}`, 400);
    }
    const started = Date.now();
    const activity: Activity = { kind: 'resetting', to, line: 'resetting', since: started };
    const say = (line: string) => {
      activity.line = line;
      options.onProgress?.(line);
    };
    learner.activity = activity;
    learner.lastError = null;
    try {
      if (to !== undefined && this.shelf?.has(to)) {
        try {
          return await this.restoreState(learner, envId, to, started, say);
        } catch (err) {
          say(`environment ${envId}: the saved state of ${to} did not restore (${(err as Error).message}); playing the course to it instead`);
        }
      }
      say(`environment ${envId}: resetting`);
      const reset = await learner.env.reset();
      learner.health.forget();
      if (!reset.ok) throw new ClassroomError(`the course's reset command failed in environment ${envId}:\n${reset.output.trim().slice(-2000)}`, 500);
      say(`environment ${envId}: reset in ${reset.seconds.toFixed(1)} s (the course's reset command ${reset.commandSeconds.toFixed(1)} s); setting up again`);
      const setup = await learner.env.setupDone();
      if (setup === 'failed') throw new ClassroomError(`environment ${envId} was reset but its setup failed: see ${learner.env.workDir}/setup.log`, 500);
      const readySeconds = (Date.now() - started) / 1000;
      say(`environment ${envId}: ready for the first page after ${readySeconds.toFixed(1)} s`);
      const outcome: ResetOutcome = { env: envId, resetSeconds: reset.seconds, resetCommandSeconds: reset.commandSeconds, readySeconds, current: null };
      if (to !== undefined) {
        activity.kind = 'playing';
        const atPageStart = this.shelf ? (page: PageSpec) => this.saveState(learner.env, page, say) : undefined;
        const played = await learner.env.track((signal) => playCourse(learner.env, { to, signal, onProgress: say, atPageStart }), options.signal);
        outcome.playedSeconds = (Date.now() - started) / 1000;
        outcome.current = played.current;
        say(`environment ${envId}: on ${to} after ${outcome.playedSeconds.toFixed(1)} s`);
      }
      return outcome;
    } catch (err) {
      // A later action that took over (another reset cancels this one's play) reports for itself.
      if (learner.activity === activity) learner.lastError = err instanceof PlayError || err instanceof ClassroomError ? err.message : `reset failed: ${(err as Error).message}`;
      throw err;
    } finally {
      if (learner.activity === activity) learner.activity = null;
      for (const listener of this.resetListeners) listener(envId);
    }
  }

  /**
   * `to` from its saved state (StateShelf): the environment restores it and
   * sets up for that page, then the check of the page before `to` must pass
   * (with the autopilot's patience), which proves the state works here; a
   * page whose check proves what happened, not a state ("confirmsRestore":
   * false), is passed over for the one before it.
   */
  private async restoreState(learner: Learner, envId: number, to: string, started: number, say: (line: string) => void): Promise<ResetOutcome> {
    say(`environment ${envId}: restoring the saved state of ${to}`);
    const restored = await learner.env.restoreTo(to, this.shelf!);
    learner.health.forget();
    if (!restored.ok) throw new Error(`the course's restore command failed: ${restored.output.trim().split('\n').at(-1) ?? ''}`);
    say(`environment ${envId}: state restored in ${restored.seconds.toFixed(1)} s (the course's restore command ${restored.commandSeconds.toFixed(1)} s); setting up for ${to}`);
    const setup = await learner.env.setupDone();
    if (setup === 'failed') throw new Error(`its setup failed: see ${learner.env.workDir}/setup.log`);
    const readySeconds = (Date.now() - started) / 1000;
    const path = this.course.pages.filter((p) => p.branchOf === undefined);
    // The check of the last page before `to` that can confirm a state (not one that proves what happened since, say, the proxies started).
    const before = path.slice(0, path.findIndex((p) => p.id === to)).filter((p) => p.check && p.confirmsRestore !== false).at(-1);
    if (before) {
      const check = await learner.env.track((signal) => checkUntilPassed(learner.env, before.id, { signal }));
      if (!check.ok) throw new Error(`${before.id}'s check does not pass after the restore: ${check.output.trim()}`);
      say(`environment ${envId}: ${before.id}'s check passes: ${check.output.trim().split('\n')[0]}`);
    }
    // the check left the learner where they are; the page they land on is `to`
    learner.env.visit(to);
    const playedSeconds = (Date.now() - started) / 1000;
    say(`environment ${envId}: on ${to} after ${playedSeconds.toFixed(1)} s, from its saved state`);
    return { env: envId, resetSeconds: restored.seconds, resetCommandSeconds: restored.commandSeconds, readySeconds, playedSeconds, current: to, restored: true };
  }

  /** Saves the state at the start of `page` while the autopilot plays from a reset, once per version of the course; a state that cannot be saved is said and skipped. */
  private async saveState(env: Environment, page: PageSpec, say: (line: string) => void): Promise<void> {
    if (!this.shelf || this.shelf.has(page.id)) return;
    const started = Date.now();
    try {
      await env.saveState(page.id, this.shelf);
      say(`${page.id}: its state saved (${((Date.now() - started) / 1000).toFixed(1)} s): a later reset to it restores it`);
    } catch (err) {
      say(`${page.id}: its state was not saved: ${(err as Error).message}`);
    }
  }

  /** Remove an environment for good: its shells, its infrastructure (the course's teardown), progress, folder and token. */
  async destroy(envId: number): Promise<{ ok: boolean; output: string }> {
    const learner = this.learners.get(envId);
    if (!learner) this.get(envId);
    learner!.activity = { kind: 'destroying', line: 'destroying', since: Date.now() };
    const result = await learner!.env.destroy();
    // The course's teardown removes its containers; what it left goes too.
    await this.opts.isolation?.docker?.removeEnvironment(envId).catch((err: Error) => {
      result.output += `\nDocker objects of environment ${envId} could not all be removed: ${err.message}`;
    });
    this.learners.delete(envId);
    this.environments.delete(envId);
    this.opts.store.forgetLearner(envId, this.course.dir);
    this.opts.store.removeSetting(this.course.dir, budgetSetting(envId));
    for (const listener of this.resetListeners) listener(envId);
    // memory came free: a seat that found no room may start now
    if (this.seatsShort && !this.leaving.has(envId)) this.keepSeats();
    return result;
  }

  async close(): Promise<void> {
    clearInterval(this.lifecycleTimer);
    clearInterval(this.loadTimer);
    this.guard?.stop();
    await Promise.all([...this.learners.values()].map((l) => l.env.close()));
  }

  /** Hosts environment `env`: its token is the one given, or derived from the salt. */
  private add(env: number, name: string, credential: { salt: string | null; token?: string }, createdAt: number, reserved = false): Learner {
    const { course, store, envRoot, pathPrefix, runSetup, isolation } = this.opts;
    const token = credential.token ?? tokenFor(this.opts.tokenKey, credential.salt!);
    const sandbox = isolation ? this.sandbox(env, isolation) : undefined;
    const budget = { memoryGiB: (this.opts.bytesPerEnvironment ?? course.environments.memoryBytes) / GIB, cpus: this.opts.cpusPerEnvironment ?? course.environments.cpus };
    const workstation = this.opts.workstations ? new Workstation(env, this.opts.workstations, budget) : undefined;
    let environment: Environment;
    try {
      // the recordings are the server's: out of every learner's reach, even their own environment's
      const recordings = join(resolve(envRoot), 'recordings');
      mkdirSync(recordings, { recursive: true, mode: 0o700 });
      chmodSync(recordings, 0o700);
      const { labUrl } = this.opts;
      const shellAccess = labUrl ? { url: labUrl, token: shellTokenFor(this.opts.tokenKey, env) } : undefined;
      environment = new Environment({ id: env, course, store, envRoot, pathPrefix, runSetup, sandbox, workstation, recordingDir: join(recordings, String(env)), shellAccess });
    } catch (err) {
      throw new ClassroomError(`environment ${env} could not be isolated: ${(err as Error).message}`, 500);
    }
    environment.onReset(() => {
      for (const listener of this.resetListeners) listener(env);
    });
    const tokenHash = hashToken(token);
    const learner: Learner = { env: environment, name, reserved, extendedMinutes: 0, token, tokenHash, createdAt, health: new HealthWatch(environment, course.status), activity: null, lastError: null };
    this.learners.set(env, learner);
    this.environments.set(env, environment);
    store.saveLearner(course.dir, { env, name, tokenHash, tokenSalt: credential.token === undefined ? credential.salt : null, createdAt, reserved });
    return learner;
  }

  /** The budget the instructor gave environment `env` before the lab restarted, if any. */
  private savedBudget(env: number): { memoryBytes?: number; cpus?: number } {
    const saved = this.opts.store.setting(this.course.dir, budgetSetting(env));
    if (!saved) return {};
    try {
      const { memoryBytes, cpus } = JSON.parse(saved) as { memoryBytes?: unknown; cpus?: unknown };
      return { ...(typeof memoryBytes === 'number' && memoryBytes > 0 ? { memoryBytes } : {}), ...(typeof cpus === 'number' && cpus > 0 ? { cpus } : {}) };
    } catch {
      return {};
    }
  }

  private sandbox(env: number, isolation: NonNullable<ClassroomOptions['isolation']>): Sandbox {
    const root = resolve(this.opts.envRoot);
    return new Sandbox({
      env,
      home: join(root, `home-${env}`),
      owned: [join(root, String(env))],
      budget: { memoryBytes: this.opts.bytesPerEnvironment ?? this.course.environments.memoryBytes, cpus: isolation.cpusPerEnvironment ?? this.course.environments.cpus, ...this.savedBudget(env), tasks: TASKS_PER_ENVIRONMENT },
      labPorts: isolation.labPorts,
      variables: isolation.docker?.variables(env),
      // On the Docker backend the environment's processes share its containers' group (cgroups.ts), so one budget holds them all;
      // cgroup v2 lets no group with processes of its own hand controllers to its children, so there each has its own.
      cgroup: isolation.docker && !isCgroupV2() ? new DockerCgroupParent(env) : undefined,
      release: isolation.docker ? () => isolation.docker!.removeEnvironment(env) : undefined,
    });
  }

  private freeNumber(): number {
    const { first, last } = this.opts.course.environments;
    for (let k = first; k <= last; k++) if (!this.learners.has(k)) return k;
    throw new ClassroomError(`every environment number from ${first} to ${last} is taken`, 409);
  }
}

/** The settings key of an environment's budget. */
function budgetSetting(env: number): string {
  return `budget-${env}`;
}

function budgetView(env: Environment): BudgetView | null {
  if (!env.sandbox) return null;
  const { memoryBytes, cpus } = env.sandbox.budget;
  const memory = env.sandbox.cgroup.memory();
  return { memoryBytes, cpus: cpus ?? null, memoryUsedBytes: memory.current, memoryPeakBytes: memory.peak ?? null };
}

const SINGLE_LEARNER =
  'this lab runs without isolation (it is not root), so one learner could reach every other environment; it hosts one environment. Start it as root to isolate environments, or with --no-isolation to host several anyway';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export { CapacityError };
