/**
 * Runs a command inside a lab container through the Docker API, as
 * `docker exec -i` would, for `zdm-lab cqlsh` on the Docker backend: the
 * terminal is passed through (with a TTY when this process has one, so
 * interactive cqlsh works), the exit code is the command's, and `-f FILE`
 * names a file on the host, so its content is sent on stdin instead (cqlsh
 * runs statements from stdin). `-u USER` runs the command as USER (the
 * lab's gateway refuses root); `-e NAME`, as `docker exec -e NAME` does,
 * hands this process's variable NAME to the command, so that a secret
 * reaches it without being on any command line.
 *
 *   tsx docker-exec.ts [-u USER] [-e NAME]... CONTAINER COMMAND [ARGS...]
 */
import { createReadStream, existsSync } from 'node:fs';
import { dockerClient, requireDaemon } from './docker-daemon.js';

async function main(argv: string[]): Promise<number> {
  let user: string | undefined;
  const env: string[] = [];
  while (argv[0] === '-u' || argv[0] === '-e') {
    const [option, value] = argv;
    if (value === undefined) throw new Error(`${option} wants a value`);
    if (option === '-u') user = value;
    else if (process.env[value] !== undefined) env.push(`${value}=${process.env[value]}`);
    argv = argv.slice(2);
  }
  const [container, ...command] = argv;
  if (!container || command.length === 0) throw new Error('usage: docker-exec.ts [-u USER] [-e NAME]... CONTAINER COMMAND [ARGS...]');
  const fileAt = command.indexOf('-f');
  let input: NodeJS.ReadableStream = process.stdin;
  if (fileAt >= 0) {
    const file = command[fileAt + 1];
    if (!file || !existsSync(file)) throw new Error(`${file ?? '(no file name)'}: no such file to run with -f`);
    input = createReadStream(file);
    command.splice(fileAt, 2);
  }
  const tty = fileAt < 0 && Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const docker = dockerClient();
  await requireDaemon(docker);
  const target = docker.getContainer(container);
  const running = await target.inspect().then((i) => i.State.Running, () => false);
  if (!running) throw new Error(`container ${container} is not running: run zdm-lab infra up`);
  const exec = await target.exec({ Cmd: command, ...(user === undefined ? {} : { User: user }), ...(env.length > 0 ? { Env: env } : {}), AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: tty });
  const stream = await exec.start({ hijack: true, stdin: true, Tty: tty });
  if (tty) {
    process.stdin.setRawMode?.(true);
    stream.pipe(process.stdout);
    const resize = () => exec.resize({ h: process.stdout.rows, w: process.stdout.columns }).catch(() => {});
    process.stdout.on('resize', resize);
    await resize();
  } else {
    docker.modem.demuxStream(stream, process.stdout, process.stderr);
  }
  input.on('data', (chunk) => stream.write(chunk));
  input.on('end', () => (stream as unknown as { end(): void }).end());
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
  });
  process.stdin.setRawMode?.(false);
  const { ExitCode } = await exec.inspect();
  return ExitCode ?? 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`zdm-lab: ${(error as Error).message}`);
    process.exit(1);
  },
);
