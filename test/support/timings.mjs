/**
 * A node:test reporter that measures each test file's wall time, from the
 * moment the runner starts the file to the moment it completes (module
 * load and top-level awaits, such as an image build, included), and
 * writes one `milliseconds<TAB>file` line per file for test/run.ts.
 * Plain JavaScript: Node loads reporters before tsx can compile TypeScript.
 *
 * @param {AsyncIterable<{ type: string, data: { name?: string, file?: string } }>} source
 */
export default async function* timings(source) {
  const started = new Map();
  for await (const event of source) {
    const data = event.data;
    // a file is itself a test named by its path: dequeued when it starts, complete when it ends
    if (!data.file || data.name !== data.file) continue;
    if (event.type === 'test:dequeue') started.set(data.file, Date.now());
    if (event.type === 'test:complete' && started.has(data.file)) yield `${Date.now() - started.get(data.file)}\t${data.file}\n`;
  }
}
