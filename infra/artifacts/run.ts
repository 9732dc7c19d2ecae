/**
 * Runs a fetch command (mvn, go, pip) and turns its chatty output into a few
 * progress lines: every line that announces a download is counted and, at
 * most once a second, reported; a command that prints nothing for a while
 * (a compiler at work) is reported as still running every few seconds. The
 * full output is kept so that a failure can show its tail.
 */
import { spawn } from 'node:child_process';
import type { Reporter } from '../progress.js';

/** A silent command is reported as still running this often. */
const HEARTBEAT_MS = 5000;

export interface FetchCommand {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Lines matching this count as one downloaded item. */
  itemPattern: RegExp;
  what: string;
}

export function runFetch(spec: FetchCommand, report: Reporter): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let items = 0;
    const started = Date.now();
    let lastReport = started;
    const heartbeat = setInterval(() => {
      if (Date.now() - lastReport < HEARTBEAT_MS) return;
      lastReport = Date.now();
      report(`${spec.what}: still running (${Math.round((Date.now() - started) / 1000)} s, ${items} files fetched so far)`);
    }, 1000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split('\n')) {
        if (spec.itemPattern.test(line)) items += 1;
      }
      if (Date.now() - lastReport > 1000) {
        lastReport = Date.now();
        report(`${spec.what}: ${items} files fetched so far`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      clearInterval(heartbeat);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(heartbeat);
      if (code === 0) {
        report(`${spec.what}: done (${items} files fetched)`);
        resolve(output);
      } else {
        const tail = output.trim().split('\n').slice(-15).join('\n');
        reject(new Error(`${spec.what} failed (${spec.command} exited ${code}):\n${tail}`));
      }
    });
  });
}
