/**
 * A node:test reporter for test/run.ts, one tab-separated line per record:
 *
 *   file  <ms>  <file>                  each test file's wall time, from the moment the runner
 *                                       starts the file to the moment it completes (module load
 *                                       and top-level awaits, such as an image build, included)
 *   test  <ms>  <file>  <name>          each test or suite of 30 s or more
 *   fail  <file>  <name>  <reason>      each failed test, suite or hook, with the first lines of
 *                                       its error on one line
 *
 * so that the end of a long run's output names its slowest tests and what failed, and why,
 * where a CI log's tail shows them. Plain JavaScript: Node loads reporters before tsx can
 * compile TypeScript.
 *
 * @param {AsyncIterable<{ type: string, data: { name?: string, file?: string, details?: { duration_ms?: number, error?: any } } }>} source
 */
export default async function* timings(source) {
  const started = new Map();
  const oneLine = (text) => String(text).replace(/\s+/g, ' ').trim();
  for await (const event of source) {
    const data = event.data;
    if (!data.file) continue;
    // a file is itself a test named by its path: dequeued when it starts, complete when it ends
    if (data.name === data.file) {
      if (event.type === 'test:dequeue') started.set(data.file, Date.now());
      if (event.type === 'test:complete' && started.has(data.file)) yield `file\t${Date.now() - started.get(data.file)}\t${data.file}\n`;
      continue;
    }
    const ms = data.details?.duration_ms ?? 0;
    if ((event.type === 'test:pass' || event.type === 'test:fail') && ms >= 30_000) yield `test\t${Math.round(ms)}\t${data.file}\t${oneLine(data.name)}\n`;
    if (event.type === 'test:fail') {
      const error = data.details?.error;
      // A hook's or a subtest's failure wraps the error that says why.
      const cause = error?.cause ?? error;
      const why = oneLine(`${error?.failureType && error.failureType !== 'testCodeFailure' ? `${error.failureType}: ` : ''}${cause?.message ?? cause}`).slice(0, 400);
      // A suite failed only because tests in it did says nothing new.
      if (error?.failureType !== 'subtestsFailed') yield `fail\t${data.file}\t${oneLine(data.name)}\t${why}\n`;
    }
  }
}
