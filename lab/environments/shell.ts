/**
 * Running a course's shell commands (setup, reset, checks) on the server, in
 * an environment's working directory with its variables, under a time limit.
 * The command runs in its own process group so a timeout kills everything it
 * started, not only the outer bash. Output (stdout and stderr interleaved) is
 * kept up to a cap: it is the message a learner sees next to pass or fail.
 * An abort signal (a reset in the middle of setup) kills the group as a
 * timeout does.
 */
import { spawn } from 'node:child_process';
import { signal } from '../../common/processes.js';

const OUTPUT_LIMIT = 64 * 1024;

export interface ShellResult {
  ok: boolean;
  exitCode: number | null;
  timedOut: boolean;
  output: string;
}

/** Turns a command line into the one that runs it (an isolated environment's: as its account, in its budget). */
export type Wrap = (command: string, args: string[]) => { command: string; args: string[] };

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs: number;
  onOutput?: (text: string) => void;
  keepBackground?: boolean;
  signal?: AbortSignal;
  /** Written to the command's standard input, which then ends (without it the command reads nothing). */
  input?: Uint8Array;
  /** Takes the command's standard output as it comes, as bytes (a tar stream): then only its errors are the output kept. */
  onStdout?: (chunk: Buffer) => void;
}

export function runShell(command: string, opts: RunOptions & { cwd: string; env: Record<string, string>; wrap?: Wrap }): Promise<ShellResult> {
  return runCommand(opts.wrap ? opts.wrap('bash', ['-c', command]) : { command: 'bash', args: ['-c', command] }, opts);
}

/** A command line (no shell of its own), run as runShell runs a command: its own process group, a time limit, the output kept. */
export function runCommand(line: { command: string; args: string[] }, opts: RunOptions): Promise<ShellResult> {
  return new Promise((resolve) => {
    const child = spawn(line.command, line.args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    // A command that ends before it read all of its input is not an error of the writing: its exit status says what happened.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input);
    let output = '';
    let timedOut = false;
    const collect = (buf: Buffer) => {
      const text = buf.toString('utf8');
      opts.onOutput?.(text);
      if (output.length < OUTPUT_LIMIT) output += text.slice(0, OUTPUT_LIMIT - output.length);
    };
    child.stdout!.on('data', opts.onStdout ?? collect);
    child.stderr!.on('data', collect);
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid) signal([-child.pid], sig);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 1000).unref();
    }, opts.timeoutMs);
    const onAbort = () => {
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 1000).unref();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ok: false, exitCode: null, timedOut, output: `could not run ${line.command}: ${err.message}` });
    });
    // A daemon started by setup keeps the pipes open: then the exit of bash itself ends the wait.
    child.on('exit', (code) => {
      if (!opts.keepBackground) return;
      setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish(code);
      }, 100);
    });
    let finished = false;
    const finish = (code: number | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // A check leaves nothing behind; setup may start daemons on purpose.
      if (!opts.keepBackground) killGroup('SIGKILL');
      if (timedOut) output += `${output.endsWith('\n') || output === '' ? '' : '\n'}timed out after ${Math.round(opts.timeoutMs / 1000)} s`;
      resolve({ ok: code === 0 && !timedOut, exitCode: code, timedOut, output });
    };
    child.on('close', (code) => finish(code));
  });
}
