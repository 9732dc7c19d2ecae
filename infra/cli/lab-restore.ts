/**
 * `zdm-lab infra up` typed in a terminal of an environment the lab hosts
 * (the lab gives its terminals LAB_URL and LAB_SHELL_TOKEN): nodes alone
 * would not bring back what the learner's page expects (the proxies with
 * their configuration, the API, the writer loop). So it asks the lab to run
 * the environment's setup again, the one a restart of the lab runs, which
 * brings the environment to the learner's page (the step-1 state on the
 * first pages); the lab then starts what the page expects in the terminals
 * that are idle. This follows that setup's output (setup.log in the
 * environment's folder) until it ends and prints how it ended. Elsewhere, or
 * when the lab does not answer, the caller brings up the nodes alone.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 500;
/** How long the lab may stay out of reach while its setup runs (it may be restarting) before this gives up following. */
const UNREACHABLE_MS = 60_000;

interface Progress {
  setup: string;
  setupNote: string;
  current: string | null;
}

/** The lab's address and this terminal's token, when `env` is the environment this terminal belongs to. */
export function labOfTerminal(env: number, vars: NodeJS.ProcessEnv = process.env): { url: string; token: string; dir: string } | undefined {
  const { LAB_URL: url, LAB_SHELL_TOKEN: token, LAB_ENV: own, LAB_ENV_DIR: dir } = vars;
  if (!url || !token || !dir || Number(own) !== env) return undefined;
  return { url: url.replace(/\/+$/, ''), token, dir };
}

/**
 * Asks the lab to bring environment `env` back to its learner's page and
 * follows it. Returns the exit code, or undefined when the lab does not
 * answer (the caller then starts the nodes itself).
 */
export async function restoreThroughLab(env: number, lab: { url: string; token: string; dir: string }, print: (line: string) => void): Promise<number | undefined> {
  const headers = { authorization: `Bearer ${lab.token}` };
  let res: Response;
  try {
    res = await fetch(`${lab.url}/api/env/${env}/restore`, { method: 'POST', headers });
  } catch (err) {
    print(`the lab at ${lab.url} does not answer (${causeOf(err)}): bringing up the nodes only`);
    return undefined;
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; page?: string | null; setup?: string };
  if (res.status !== 202) {
    print(`the lab refused to bring environment ${env} back (HTTP ${res.status}): ${body.error ?? 'no reason given'}`);
    return 1;
  }
  const where = body.page ? `page ${body.page}` : 'the start of the course';
  print(`The lab brings environment ${env} back to where you are in the course (${where}), as a restart of the lab does.`);
  print(`Following its setup${body.setup === 'running' ? ', which was already running' : ''} (Ctrl-C stops following, not the setup):`);

  const log = join(lab.dir, 'setup.log');
  let offset = 0;
  let lastAnswer = Date.now();
  for (;;) {
    offset = printFrom(log, offset);
    let progress: Progress | undefined;
    try {
      const r = await fetch(`${lab.url}/api/env/${env}/progress`, { headers });
      if (r.ok) progress = (await r.json()) as Progress;
    } catch {
      progress = undefined;
    }
    if (progress) lastAnswer = Date.now();
    else if (Date.now() - lastAnswer > UNREACHABLE_MS) {
      print(`the lab at ${lab.url} stopped answering; its setup may still run (see ${log})`);
      return 1;
    }
    if (progress && progress.setup !== 'running') {
      printFrom(log, offset);
      if (progress.setup === 'done') {
        print(`Done: ${progress.setupNote}`);
        return 0;
      }
      print(`The setup did not bring the environment back (${progress.setup}): ${progress.setupNote || `see ${log}`}`);
      return 1;
    }
    await sleep(POLL_MS);
  }
}

/** Prints what the file holds past `offset` and returns the new offset (a file not there yet prints nothing). */
function printFrom(path: string, offset: number): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return offset;
  }
  try {
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, offset);
      if (n === 0) return offset;
      process.stdout.write(chunk.subarray(0, n));
      offset += n;
    }
  } finally {
    closeSync(fd);
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
