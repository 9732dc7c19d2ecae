/**
 * A terminal in a pod: what a lab terminal of the kubernetes backend runs
 * on the lab's side. The learner's shell runs in the environment's
 * workstation pod, reached through the API server's exec stream with a TTY;
 * on the lab's host there is only this client, in the terminal's pty
 * (lab/terminals/session.ts `launcher`), passing keys in and output out.
 * The pty's size follows along: the official client sends the stream's
 * resize messages whenever the pty's size changes (SIGWINCH).
 *
 *   exec-shell.ts [--announce TEXT] NAMESPACE POD CONTAINER [COMMAND [ARGS…]]
 *
 * --announce prints TEXT once the stream is open (the lab's terminals hold
 * what is typed until their shell announces itself: lab/terminals/session.ts
 * READY_MARKER), so that nothing typed earlier is echoed by the local pty
 * before it is raw.
 * The cluster is the one of KUBECONFIG, or the cluster the lab runs in
 * (its ServiceAccount). Without a command: an interactive login bash. The
 * exit code is the remote command's; a connection that fails says why on
 * the terminal and exits 1.
 */
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { apiMessage } from './environment.js';

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
  if (argv[0] === '--announce') [, announce, ...argv] = argv;
  if (argv.length < 3) {
    process.stderr.write('usage: exec-shell.ts [--announce TEXT] NAMESPACE POD CONTAINER [COMMAND [ARGS…]]\n');
    return 2;
  }
  const [namespace, pod, container, ...command] = argv;
  const config = new KubeConfig();
  config.loadFromDefault();
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  let status: V1Status | undefined;
  try {
    const socket = await new Exec(config).exec(namespace, pod, container, command.length > 0 ? command : ['/bin/bash', '-l'], process.stdout, null, process.stdin, true, (s) => {
      status = s;
    });
    if (announce !== undefined) process.stdout.write(announce);
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
  } catch (error) {
    process.stdout.write(`\r\nno shell in ${namespace}/${pod}: ${apiMessage(error)}\r\n`);
    return 1;
  }
  return exitCodeOf(status);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stdout.write(`\r\n${(error as Error).message}\r\n`);
    process.exit(1);
  },
);
