/**
 * The scripts exec-shell.ts runs in a workstation pod (infra/kube/exec-scripts.ts),
 * in a real bash on this machine, as the API server would leave them: a
 * terminal's shell behind a pty (`script`, as the TTY stream gives it one,
 * the shell a session leader) whose client goes away, and a command without
 * a TTY whose client goes away. In both, what the client started ends once
 * the stream's input closes; a daemon in a session of its own (the course's
 * Prometheus) stays.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { HANGUP, SESSION_NOTE, WATCHED } from '../../infra/kube/exec-scripts.js';

/** Processes whose command line is exactly `words`. */
function processes(...words: string[]): number[] {
  const wanted = `${words.join('\0')}\0`;
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === wanted;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until(what: string, holds: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await sleep(50);
  }
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
const leftovers: number[] = [];
after(() => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

describe('the scripts beside what exec-shell runs in a pod', () => {
  test('a terminal\'s shell notes its session, and its hangup ends the shell and its jobs, not a daemon of a session of its own', async () => {
    const name = randomBytes(6).toString('hex');
    const file = `/tmp/.zdm-lab-terminal-${name}`;
    const terminal = spawn('script', ['-qfec', `exec bash -c "$NOTE" ${name} bash --norc --noprofile -i`, '/dev/null'], { env: { ...process.env, NOTE: SESSION_NOTE, PS1: '$ ' }, stdio: ['pipe', 'pipe', 'pipe'] });
    terminal.stdout!.resume();
    try {
      await until('the shell notes its session', () => existsSync(file));
      const shell = Number(readFileSync(file, 'utf8'));
      assert.ok(shell > 0);
      terminal.stdin!.write('sleep 301 & setsid sleep 303 & sleep 302\n');
      await until('the jobs run', () => processes('sleep', '301').length === 1 && processes('sleep', '302').length === 1 && processes('sleep', '303').length === 1);
      leftovers.push(...processes('sleep', '303'));

      // The client has gone: the hangup's stream input closes.
      const hangup = spawn('bash', ['-c', HANGUP, 'zdm-lab-hangup', name], { stdio: ['pipe', 'ignore', 'inherit'] });
      hangup.stdin!.end();
      assert.equal(await exited(hangup), 0);
      assert.deepEqual([processes('sleep', '301'), processes('sleep', '302')], [[], []], 'the shell\'s jobs are gone');
      assert.equal(existsSync(`/proc/${shell}`), false, 'the shell is gone');
      assert.equal(processes('sleep', '303').length, 1, 'a daemon in a session of its own stays');
      assert.equal(existsSync(file), false, 'the note is gone');
      await exited(terminal);
    } finally {
      terminal.kill('SIGKILL');
    }
  });

  test('a shell that is not a session leader notes nothing, and a hangup without a note ends nothing', async () => {
    const name = randomBytes(6).toString('hex');
    const noted = spawn('bash', ['-c', SESSION_NOTE, name, 'bash', '-c', 'sleep 305'], { stdio: 'ignore' });
    await until('the command runs', () => processes('sleep', '305').length === 1);
    assert.equal(existsSync(`/tmp/.zdm-lab-terminal-${name}`), false);
    const hangup = spawn('bash', ['-c', HANGUP, 'zdm-lab-hangup', name], { stdio: ['pipe', 'ignore', 'inherit'] });
    hangup.stdin!.end();
    assert.equal(await exited(hangup), 0);
    assert.equal(processes('sleep', '305').length, 1, 'nothing was ended');
    noted.kill('SIGKILL');
    for (const pid of processes('sleep', '305')) process.kill(pid, 'SIGKILL');
  });

  test('a command without a TTY passes its exit code on, and ends, with what it started, once its input closes', async () => {
    const quick = spawn('bash', ['-c', WATCHED, 'zdm-lab-watched', 'bash', '-c', 'exit 7'], { stdio: ['pipe', 'ignore', 'inherit'] });
    assert.equal(await exited(quick), 7, 'the input still open, the command ended on its own');
    quick.stdin!.end();

    const slow = spawn('bash', ['-c', WATCHED, 'zdm-lab-watched', 'bash', '-c', 'sleep 306 & sleep 307'], { stdio: ['pipe', 'ignore', 'inherit'] });
    await until('the command runs', () => processes('sleep', '306').length === 1 && processes('sleep', '307').length === 1);
    slow.stdin!.end();
    await exited(slow);
    await until('the command and its job end', () => processes('sleep', '306').length === 0 && processes('sleep', '307').length === 0, 8000);
  });
});
