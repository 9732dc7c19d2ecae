/**
 * A paged scan of one token range: yields the rows page by page, fetching the
 * next page while the caller works on the current one. A page that fails is
 * asked for again (same paging state) under the retry policy.
 */
import cassandra from 'cassandra-driver';
import { rangeParams, type TokenRange } from './ranges.js';
import { withRetry, type RetryPolicy } from './retry.js';

export interface ScanOptions {
  fetchSize: number;
  retry: RetryPolicy;
  shouldStop?: () => boolean;
}

export async function* scanPages(
  client: cassandra.Client,
  cql: string,
  range: TokenRange,
  options: ScanOptions,
): AsyncGenerator<cassandra.types.Row[]> {
  const params = rangeParams(range);
  const fetch = (pageState?: string) =>
    withRetry(
      options.retry,
      () => client.execute(cql, params, { prepare: true, fetchSize: options.fetchSize, pageState, autoPage: false, isIdempotent: true }),
      options.shouldStop,
    );
  let next: Promise<cassandra.types.ResultSet> | undefined = fetch();
  while (next) {
    const page: cassandra.types.ResultSet = await next;
    next = page.pageState ? fetch(page.pageState) : undefined;
    // the prefetch is awaited on the next turn; mark it handled in case the caller stops first
    next?.catch(() => {});
    yield page.rows;
  }
}

/** Rows one at a time over scanPages, with a look at the next row without taking it. */
export class RowCursor {
  private rows: cassandra.types.Row[] = [];
  private index = 0;
  private done = false;

  constructor(private readonly pages: AsyncGenerator<cassandra.types.Row[]>) {}

  async peek(): Promise<cassandra.types.Row | undefined> {
    while (this.index >= this.rows.length) {
      if (this.done) return undefined;
      const next = await this.pages.next();
      if (next.done) {
        this.done = true;
        return undefined;
      }
      this.rows = next.value;
      this.index = 0;
    }
    return this.rows[this.index];
  }

  async take(): Promise<cassandra.types.Row | undefined> {
    const row = await this.peek();
    if (row) this.index++;
    return row;
  }
}
