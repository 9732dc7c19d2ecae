/**
 * A shell or a command in a pod, reached through the API server's exec
 * stream: what a lab terminal of the kubernetes backend runs on the lab's
 * side, and what runs the course's commands (setup, checks, resets) there.
 * The learner's shell runs in the environment's workstation pod; on the
 * lab's host there is only this client.
 *
 *   exec-shell.ts [--announce TEXT | --input] NAMESPACE POD CONTAINER [COMMAND [ARGS…]]
 *
 * In a terminal (standard input is a TTY, lab/terminals/session.ts
 * `launcher`) the stream has a TTY: keys go in and output comes out raw, and
 * the pty's size follows along (the official client sends the stream's
 * resize messages whenever the pty's size changes, SIGWINCH). --announce
 * prints TEXT once the stream is open (the lab's terminals hold what is
 * typed until their shell announces itself: READY_MARKER there), so that
 * nothing typed earlier is echoed by the local pty before it is raw.
 * The API server ends neither the shell nor its jobs when this client goes
 * away, as a pty's hangup would: a second stream, without a TTY, runs
 * HANGUP beside the shell, which gives every process of the shell's session
 * HUP once this client's end closes that stream's input (a reset or a
 * restart of the lab, which then starts the course's API and loop afresh).
 *
 * Otherwise (a command the lab runs, its output read from pipes) there is no
 * TTY: the remote command's standard output and error come out on this
 * process's, and it reads no input. The API server does not end a remote
 * command whose client went away, so the command runs under a watch
 * (WATCHED): in a process group of its own, while the stream's input stays
 * open, which only this client's end closes; then the group is ended
 * (TERM, and KILL 5 s later). So the lab's time limit on a command, or its
 * abort, stops the command in the pod too, not only the waiting for it.
 * With --input the command reads this process's standard input instead (a
 * tar stream of a saved state, lab/environments/workstation.ts) and ends
 * when it ends, as `tar -x` does; it runs without the watch.
 *
 * The cluster is the one of KUBECONFIG, or the cluster the lab runs in
 * (its ServiceAccount). Without a command: an interactive login bash. The
 * exit code is the remote command's; a connection that fails says why and
 * exits 1.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { apiMessage } from './environment.js';
import { HANGUP, SESSION_NOTE, WATCHED } from './exec-scripts.js';

/** The remote command's exit code from the stream's final status. */
export function exitCodeOf(status: V1Status | undefined): number {
  if (status === undefined) return 1;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  return Number.isInteger(code) && code > 0 ? code : 1;
}

async function main(argv: string[]): Promise<number> {
  let announce: string | undefined;
  let withInput = false;
  if (argv[0] === '--announce') [, announce, ...argv] = argv;
  else if (argv[0] === '--input') [withInput, argv] = [true, argv.slice(1)];
  if (argv.length < 3 || (withInput && argv.length === 3)) {
    process.stderr.write('usage: exec-shell.ts [--announce TEXT | --input] NAMESPACE POD CONTAINER [COMMAND [ARGS…]] (a COMMAND with --input)\n');
    return 2;
  }
  const [namespace, pod, container, ...command] = argv;
  const config = new KubeConfig();
  config.loadFromDefault();
  const tty = !withInput && process.stdin.isTTY === true;
  if (tty) process.stdin.setRawMode(true);
  let status: V1Status | undefined;
  const name = randomBytes(8).toString('hex');
  const shell = command.length === 0 ? ['/bin/bash', '-l'] : command;
  const remote = tty ? ['/bin/bash', '-c', SESSION_NOTE, name, ...shell] : command.length === 0 || withInput ? shell : ['/bin/bash', '-c', WATCHED, 'zdm-lab-watched', ...command];
  // Without a TTY a command's input is held open, and never written to, until this process ends (unless it reads this one's).
  const input = tty || withInput ? process.stdin : command.length > 0 ? new PassThrough() : null;
  try {
    const socket = await new Exec(config).exec(
      namespace,
      pod,
      container,
      remote,
      process.stdout,
      tty ? null : process.stderr,
      input,
      tty,
      (s) => {
        status = s;
      },
    );
    if (announce !== undefined) process.stdout.write(announce);
    // The hangup's stream: its input stays open, never written to, until this process ends.
    if (tty) await new Exec(config).exec(namespace, pod, container, ['/bin/bash', '-c', HANGUP, 'zdm-lab-hangup', name], null, null, new PassThrough(), false);
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
  } catch (error) {
    const message = `no ${command.length > 0 ? 'command' : 'shell'} in ${namespace}/${pod}: ${apiMessage(error)}`;
    if (tty) process.stdout.write(`\r\n${message}\r\n`);
    else process.stderr.write(`${message}\n`);
    return 1;
  }
  return exitCodeOf(status);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    if (process.stdin.isTTY) process.stdout.write(`\r\n${(error as Error).message}\r\n`);
    else process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  },
);
