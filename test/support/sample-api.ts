/**
 * The sample API as a test sees it: the real `sample-api/server.ts` started
 * as its own process with the variables a learner would give it, its output
 * collected line by line, and plain HTTP to talk to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { infraReset, infraUp, type LabContext } from '../../infra/commands/environment.js';
import { credentialsOf, type Credentials } from '../../infra/credentials.js';
import { parseMode, type Mode } from '../../sample-api/settings.js';
import { testContext } from './lab.js';

const root = new URL('../..', import.meta.url).pathname;

export interface ApiProcess {
  child: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** The variables the sample API (and the Python test client) read the login they start with from. */
export function apiLoginVariables(c: Credentials): Record<string, string> {
  return { CASSANDRA_USERNAME: c.username, CASSANDRA_PASSWORD: c.password };
}

/** The login a mode takes: Origin's straight to Origin, Target's straight to Target and through the proxies (they hand the client's login to Target). */
export function loginOfMode(env: number, mode: Mode) {
  return credentialsOf(env, mode === 'ORIGIN' ? 'origin' : 'target');
}

/** A mode file's text, as the course writes it: the mode, then the login that mode takes. */
export function connectionText(env: number, mode: Mode): string {
  const { username, password } = loginOfMode(env, mode);
  return `${mode}\nusername=${username}\npassword=${password}\n`;
}

/** Started with environment LAB_ENV's own login for the mode it starts in (CLIENT_CONNECTION_MODE; a mode file gives its own). */
export function startApi(env: Record<string, string>): ApiProcess {
  const login = env.LAB_ENV ? apiLoginVariables(loginOfMode(Number(env.LAB_ENV), parseMode(env.CLIENT_CONNECTION_MODE ?? '') ?? 'ORIGIN')) : {};
  const child = spawn(process.execPath, ['--import', 'tsx', 'sample-api/server.ts'], {
    cwd: root,
    env: { ...process.env, CLIENT_CONNECTION_MODE: '', CLIENT_CONNECTION_MODE_FILE: '', ...login, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (b: Buffer) => (text += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (text += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  return {
    child,
    output: () => text,
    exited,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const m = pattern.exec(text);
        if (m) return m[0];
        if (ended) throw new Error(`the API exited before printing ${pattern}:\n${text}`);
        await sleep(50);
      }
      throw new Error(`the API did not print ${pattern} within ${timeoutMs} ms:\n${text}`);
    },
    async stop() {
      if (ended) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface Answer {
  status: number;
  body: any;
}

export async function http(method: 'GET' | 'POST', url: string): Promise<Answer> {
  const response = await fetch(url, { method, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text, the assertion will show it
  }
  return { status: response.status, body };
}

/** Polls until `probe` returns true, or throws with `what` after timeoutMs. */
export async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${what}: still not so after ${timeoutMs / 1000} s`);
}

/**
 * A writer like the course's loop: posts a status every `everyMs` until
 * stopped, and counts the answers that were not 200.
 */
export function writerLoop(base: string, user: string, prefix: string, everyMs = 50) {
  let running = true;
  let sent = 0;
  const failures: string[] = [];
  const done = (async () => {
    while (running) {
      sent++;
      try {
        const a = await http('POST', `${base}/status/${user}/${prefix}-${sent}`);
        if (a.status !== 200) failures.push(`write ${sent}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
      } catch (error) {
        failures.push(`write ${sent}: ${(error as Error).message}`);
      }
      await sleep(everyMs);
    }
  })();
  return {
    failures,
    get sent() {
      return sent;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * Origin (only the seed rows) and Target (empty), whatever an earlier run
 * left: `infra up` keeps the data of a stopped environment, so reset always.
 */
export async function stepOneEnvironment(env: number): Promise<LabContext> {
  const ctx = testContext(env);
  await infraUp(ctx);
  await infraReset(ctx);
  return ctx;
}
