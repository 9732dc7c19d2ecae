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
import { PassThrough } from 'node:stream';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { apiMessage } from './environment.js';

/**
 * The remote side of a command without a TTY (bash in the pod, the command
 * as its arguments): the command in a session of its own with no input, and
 * beside it a reader of the stream's input, which ends when the client's end
 * closes it and then ends the command's process group.
 */
const WATCHED = [
  // A job in the background reads /dev/null unless told otherwise: the stream's input is handed to the reader as 3.
  'exec 3<&0',
  'setsid "$@" </dev/null 3<&- & command=$!',
  '{ while read -r _; do :; done; kill -TERM -- "-$command" 2>/dev/null && sleep 5 && kill -KILL -- "-$command" 2>/dev/null; } <&3 3<&- & watch=$!',
  'exec 3<&-',
  'wait "$command"; status=$?',
  'kill "$watch" 2>/dev/null',
  'exit "$status"',
].join('\n');

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
  const remote = command.length === 0 ? ['/bin/bash', '-l'] : tty || withInput ? command : ['/bin/bash', '-c', WATCHED, 'zdm-lab-watched', ...command];
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
