/**
 * When a command has ended in a terminal whose shell runs elsewhere (a
 * workstation pod, behind its exec client): the lab's pty then always has
 * the client in its foreground, so the shell says it itself, with the marks
 * the workstation image's profile.sh prints when the lab asks for them. Here
 * `script` stands where the exec client stands, between the lab's pty and
 * a real bash that reads that profile.sh.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { TerminalWatch } from '../../lab/autopilot/watch.js';
import { COMMAND_MARK, PROMPT_MARK, TerminalSession } from '../../lab/terminals/session.js';
import { projectRoot } from '../../infra/paths.js';

const home = mkdtempSync(join(tmpdir(), 'prompt-marks-'));
const profile = join(projectRoot, 'infra', 'images', 'workstation', 'profile.sh');
const sessions: TerminalSession[] = [];

/** A terminal whose pty runs `script`, which runs bash with the workstation's profile in a pty of its own. */
function remoteLike(marks: boolean): TerminalSession {
  const session = new TerminalSession({
    cwd: home,
    // No zdm-lab on this PATH: the profile's own lines for the environment's variables stay out of it.
    env: { PATH: '/usr/bin:/bin', HOME: home, TERM: 'xterm-256color', ...(marks ? { LAB_PROMPT_MARK: PROMPT_MARK, LAB_COMMAND_MARK: COMMAND_MARK } : {}) },
    shell: 'bash',
    launcher: { command: 'script', args: ['-qfec', `bash --noprofile --rcfile ${profile} -i`, '/dev/null'] },
    readyMarker: false,
    marksPrompt: marks,
  });
  sessions.push(session);
  return session;
}

async function until(what: string, holds: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!holds()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(20);
  }
  return Date.now() - started;
}

after(async () => {
  for (const s of sessions) await s.close();
  rmSync(home, { recursive: true, force: true });
});

describe('prompt marks of a shell that runs elsewhere', () => {
  test('the terminal is at its prompt once the shell has shown it, busy while a command runs, and at its prompt again when it ends', async () => {
    const terminal = remoteLike(true);
    const watch = new TerminalWatch(terminal);
    try {
      await until('the first prompt', () => terminal.atPrompt, 10_000);
      assert.notEqual(terminal.foreground, 'bash', 'the pty\'s foreground process is the client, not the shell');
      terminal.write('sleep 1.5; echo "slept $((1 + 1))"\r');
      await until('the command to start', () => !terminal.atPrompt, 5_000);
      assert.equal(watch.shellInForeground(), false, 'the autopilot sees it busy');
      const waited = await until('the prompt after the command', () => terminal.atPrompt, 10_000);
      assert.ok(waited >= 1000, `busy for the command's length (${waited} ms)`);
      assert.match(watch.output, /slept 2/);
      assert.equal(watch.shellInForeground(), true);
    } finally {
      watch.stop();
    }
  });

  test('the marks are not left in the shell\'s variables, and the learner\'s prompt is still shown', async () => {
    const terminal = remoteLike(true);
    const watch = new TerminalWatch(terminal);
    try {
      await until('the first prompt', () => terminal.atPrompt, 10_000);
      terminal.write('echo "marks: [${LAB_PROMPT_MARK:-none}] [$(env | grep -c LAB_COMMAND_MARK)]"\r');
      await until('the answer', () => /marks: \[none\] \[0\]/.test(watch.output), 10_000);
      await until('the prompt after it', () => terminal.atPrompt, 10_000);
      assert.match(watch.output, /[$#] $/, 'a prompt ends the output');
    } finally {
      watch.stop();
    }
  });

  test('without the marks, the same terminal never looks idle: its foreground process is always the client', async () => {
    const terminal = remoteLike(false);
    await sleep(1500);
    assert.equal(terminal.atPrompt, false);
  });
});
