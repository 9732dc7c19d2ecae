/**
 * Progress output for long waits: one line per step on stderr, with the
 * elapsed time, so a learner watching `infra up` always sees that something
 * is happening and what.
 */
export type Reporter = (message: string) => void;

export function consoleReporter(prefix = ''): Reporter {
  const started = Date.now();
  return (message) => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
    process.stderr.write(`[${seconds}s] ${prefix}${message}\n`);
  };
}

export const silentReporter: Reporter = () => {};
