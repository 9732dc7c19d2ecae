/**
 * A lab server in a process of its own, for tests that restart the lab as an
 * instructor's host would: SIGTERM closes it as `npm start` does on Ctrl-C,
 * SIGKILL kills it with nothing written afterwards. A browser drives it over
 * HTTP like any learner; what only the server's process can tell (the
 * autopilot's waiting rules for a block about to be clicked, an isolated
 * environment's memory) the test asks over the IPC channel
 * (test/support/lab-process-child.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { LabOptions } from '../../lab/server/app.js';

type Request =
  | { kind: 'expect'; env: number; page: string; block: string }
  | { kind: 'settled'; env: number; wait: number }
  | { kind: 'stats'; env: number }
  | { kind: 'destroy'; env: number };
export type ChildRequest = Request & { id: number };
export type ChildMessage =
  | { kind: 'ready'; openUrl: string; token: string; port: number }
  | { kind: 'failed'; message: string }
  | { kind: 'done'; id: number }
  | { kind: 'stats'; id: number; peak?: number; cpu?: number; budget: number }
  | { kind: 'error'; id: number; message: string };

/** What the options of a lab in another process can hold: plain data, no callbacks. */
export type LabProcessOptions = Omit<LabOptions, 'onPrepareOutput' | 'workstations'>;

export interface EnvironmentStats {
  /** Bytes; undefined when the environment is not isolated. */
  peak?: number;
  cpuSeconds?: number;
  budget: number;
}

export class LabProcess {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (m: ChildMessage) => void; reject: (e: Error) => void }>();
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly openUrl: string,
    readonly token: string,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.on('message', (m: ChildMessage) => {
      if (!('id' in m)) return;
      const waiting = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.kind === 'error') waiting?.reject(new Error(m.message));
      else waiting?.resolve(m);
    });
    void this.exited.then((code) => {
      for (const [, waiting] of this.pending) waiting.reject(new Error(`the lab's process ended (exit ${code}) before it answered`));
      this.pending.clear();
    });
  }

  /** Starts the lab and resolves once it listens; rejects with its output when it cannot start. */
  static start(options: LabProcessOptions): Promise<LabProcess> {
    const child = fork(new URL('./lab-process-child.ts', import.meta.url).pathname, [JSON.stringify(options)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let text = '';
    const collect = (b: Buffer) => (text += b.toString('utf8'));
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    return new Promise((resolve, reject) => {
      const early = (code: number | null) => reject(new Error(`the lab exited (${code}) before it listened:\n${text}`));
      child.once('exit', early);
      child.once('message', (m: ChildMessage) => {
        child.off('exit', early);
        if (m.kind !== 'ready') {
          child.kill('SIGKILL');
          return reject(new Error(`the lab cannot start: ${m.kind === 'failed' ? m.message : m.kind}\n${text}`));
        }
        // What it prints from now on is read on (a full pipe would stop it) and dropped.
        child.stdout!.off('data', collect).resume();
        child.stderr!.off('data', collect).resume();
        resolve(new LabProcess(child, m.openUrl, m.token, m.port));
      });
    });
  }

  /**
   * Watches `block` of `page` in environment `env` with the autopilot's waiting rules, from now on: click it
   * after this resolves, then await `settled`, which rejects with what did not come.
   */
  async expect(env: number, page: string, block: string): Promise<{ settled(): Promise<void> }> {
    const { id } = await this.request({ kind: 'expect', env, page, block });
    return { settled: async () => void (await this.request({ kind: 'settled', env, wait: id })) };
  }

  async stats(env: number): Promise<EnvironmentStats> {
    const m = await this.request({ kind: 'stats', env });
    if (m.kind !== 'stats') throw new Error(`the lab answered ${m.kind} to stats`);
    return { peak: m.peak, cpuSeconds: m.cpu, budget: m.budget };
  }

  /** The instructor's destroy of environment `env`: its teardown, then its account, rules and folders. */
  async destroy(env: number): Promise<void> {
    await this.request({ kind: 'destroy', env });
  }

  /** SIGTERM: the lab closes as on Ctrl-C; SIGKILL: it dies. Resolves once the process has ended. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  private request(request: Request): Promise<ChildMessage & { id: number }> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error("the lab's process has ended"));
      this.pending.set(id, { resolve: resolve as (m: ChildMessage) => void, reject });
      this.child.send({ ...request, id } satisfies ChildRequest);
    });
  }
}
