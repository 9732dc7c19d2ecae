import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Every zdm-lab command line has the shape `<command> [sub] [rest…]` with
 * options anywhere and -h/--help; an unknown option is refused by name.
 */
export function parseCommandLine<O extends Options>(argv: string[], options: O) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } as const } });
  const [command, sub, ...rest] = positionals;
  return { values, positionals, command, sub, rest };
}

/**
 * How every zdm-lab entry point ends: the command's exit code, or for an
 * error one line `zdm-lab: message` (no stack trace: a learner reads it) and
 * exit code 1.
 *
 * The process is held open until the command settles. Node ends a process
 * whose event loop has nothing left to wait on, with code 0, even when a
 * promise is still pending; a fetch to a port whose connection was reset
 * (a proxy restarting behind Docker's port forwarding) can be left waiting
 * on an unreferenced socket, with only the unreferenced timer of its
 * AbortSignal.timeout to end it. Without the hold, `proxy rolling-update`
 * could stop in the middle and still report success.
 */
export function runCommand(main: () => number | Promise<number>): void {
  const hold = setInterval(() => {}, 2 ** 30);
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        clearInterval(hold);
        process.exit(code);
      },
      (error: unknown) => {
        clearInterval(hold);
        console.error(`zdm-lab: ${(error as Error)?.message ?? String(error)}`);
        process.exit(1);
      },
    );
}
