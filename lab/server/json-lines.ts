/**
 * Reading a streamed JSON-lines response (the play and reset routes send one
 * JSON event per line as the work goes on): yields each event as soon as its
 * line is complete, skipping blank lines.
 */
export async function* jsonLines<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') yield JSON.parse(line) as T;
      }
    }
  } finally {
    void reader.cancel().catch(() => {});
  }
}
