/**
 * How every zdm-lab entry point ends: the command's exit code, or for an
 * error one line `zdm-lab: message` (no stack trace: a learner reads it) and
 * exit code 1.
 */
export function runCommand(main: () => number | Promise<number>): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => process.exit(code),
      (error: unknown) => {
        console.error(`zdm-lab: ${(error as Error)?.message ?? String(error)}`);
        process.exit(1);
      },
    );
}
