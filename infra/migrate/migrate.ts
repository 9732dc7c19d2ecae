/**
 * `zdm-lab migrate`: copies every row of the chosen tables from Origin to
 * Target, node to node, while the application keeps dual-writing through the
 * proxies. Each table's token ring is split into sub-ranges scanned in
 * parallel (bounded: a few ranges at once, a bounded number of writes in
 * flight per range); the writes of one partition go to Target together as
 * one unlogged batch, a single mutation on the node. Every cell keeps its
 * Origin writetime and remaining TTL, so a newer dual-written value is never
 * overwritten. A range whose reads or writes still fail after the retries
 * stops the run; the error names the ranges not copied, and running migrate
 * again completes them (copying a row twice changes nothing).
 */
import cassandra from 'cassandra-driver';
import type { Endpoint } from '../cql/client.js';
import { listColumns, pointQuery, rowToken, rowWrites, scanQuery, keyValues, isStaticOnly, cellValue, type Write } from './cells.js';
import { InFlight, pool } from './concurrency.js';
import { connectBulk, type Connected } from './connect.js';
import { count, formatDuration, ProgressMeter, silentProgress, type ProgressSink } from './progress.js';
import { formatRange, splitRing, type TokenRange } from './ranges.js';
import { DEFAULT_RETRY, errorLine, withRetry, type RetryPolicy } from './retry.js';
import { scanPages } from './scan.js';
import { checkScan, qualified, resolveTables, type TableShape } from './schema.js';
import { canonical } from './values.js';

export interface CopyOptions {
  keyspace: string;
  /** Table names; all tables of the keyspace when empty. */
  tables?: string[];
  /** Token sub-ranges per table. */
  splits?: number;
  /** Sub-ranges scanned at the same time. */
  concurrency?: number;
  /** Statements (one write, or one partition's batch of writes) in flight per sub-range. */
  writesInFlight?: number;
  /** Rows per page of a scan. */
  fetchSize?: number;
  retry?: RetryPolicy;
  progress?: ProgressSink;
}

/** At most this many writes in one partition's batch (kept well under the node's batch size limits). */
const BATCH_WRITES = 16;

export const COPY_DEFAULTS = { splits: 64, concurrency: 4, writesInFlight: 64, fetchSize: 1000 };

export interface TableCopy {
  table: string;
  rows: number;
  writes: number;
  ranges: number;
  ms: number;
}

export interface NotCopied {
  table: string;
  ranges: TokenRange[];
  total: number;
}

/** Thrown when a run could not copy everything; names what is left to copy. */
export class IncompleteCopyError extends Error {
  constructor(
    readonly notCopied: NotCopied[],
    readonly cause: string,
    readonly copied: TableCopy[],
    rerun: string,
  ) {
    super(IncompleteCopyError.describe(notCopied, cause, rerun));
  }

  static describe(notCopied: NotCopied[], cause: string, rerun: string): string {
    const lines = [`migrate stopped: ${cause}`];
    for (const n of notCopied) {
      if (n.ranges.length === n.total) {
        lines.push(`  ${n.table}: not copied (none of its ${n.total} token ranges)`);
        continue;
      }
      const shown = n.ranges.slice(0, 10).map(formatRange).join(', ');
      const more = n.ranges.length > 10 ? ` and ${n.ranges.length - 10} more` : '';
      lines.push(`  ${n.table}: ${n.ranges.length} of ${n.total} token ranges not copied: ${shown}${more}`);
    }
    lines.push(`rows already copied keep their Origin writetimes, so copying again is safe: run ${rerun} to complete the copy`);
    return lines.join('\n');
  }
}

/** Another range failed: this one stops too. */
class Stopped extends Error {}

/** An error already saying which node failed, and doing what. */
class SideError extends Error {}

function side(doing: string, where: string, error: unknown): Error {
  if (error instanceof Stopped || error instanceof SideError) return error;
  return new SideError(`${doing} (${where}): ${errorLine(error)}`);
}

interface Ends {
  origin: Connected;
  target: Connected;
}

async function copyTable(ends: Ends, shape: TableShape, options: Required<Omit<CopyOptions, 'tables'>>, keyOnlyTimestamp: cassandra.types.Long): Promise<{ copy: TableCopy; notCopied: TokenRange[]; failure?: Error }> {
  const ranges = splitRing(options.splits);
  const meter = new ProgressMeter(`migrate ${qualified(shape)}`, ranges, options.progress);
  const cql = scanQuery(shape, { writetimes: true });
  const lists = listColumns(shape);
  const hasStatic = shape.cells.some((c) => c.kind === 'static');
  const { origin, target } = ends;
  let failure: Error | undefined;
  const stop = () => failure !== undefined;
  const notCopied: TokenRange[] = [];
  let writeCount = 0;

  /** Non-frozen lists Target already holds as on Origin: left out, since writing a list again duplicates its elements. */
  const sameLists = async (row: cassandra.types.Row): Promise<Set<string>> => {
    const staticOnly = isStaticOnly(shape, row);
    const params = keyValues(shape, row).slice(0, staticOnly ? shape.partitionKeys.length : undefined);
    const rs = await withRetry(options.retry, () => target.client.execute(pointQuery(shape, { writetimes: false, staticOnly }), params, { prepare: true }), stop);
    const same = new Set<string>();
    const existing = rs.rows[0];
    if (!existing) return same;
    for (const column of lists) {
      if (canonical(cellValue(shape, row, column)) === canonical(cellValue(shape, existing, column))) same.add(column.name);
    }
    return same;
  };

  const execute = (writes: Write[]) =>
    withRetry(
      options.retry,
      async () => {
        if (writes.length === 1) return target.client.execute(writes[0].cql, writes[0].params, { prepare: true, isIdempotent: true });
        try {
          return await target.client.batch(writes.map((w) => ({ query: w.cql, params: w.params })), { prepare: true, logged: false, isIdempotent: true });
        } catch (error) {
          // a batch the node refuses as a whole (too large): the same writes one by one
          if (!(error instanceof cassandra.errors.ResponseError) || error.code !== cassandra.types.responseErrorCodes.invalid) throw error;
          return Promise.all(writes.map((w) => target.client.execute(w.cql, w.params, { prepare: true, isIdempotent: true })));
        }
      },
      stop,
    );

  const copyRange = async (index: number) => {
    const writer = new InFlight(options.writesInFlight);
    let lastPartition: string | undefined;
    // writes of one partition go together as one unlogged batch: a single mutation on Target
    let pending: Write[] = [];
    let pendingToken: cassandra.types.Long | undefined;
    const flush = async () => {
      if (!pending.length) return;
      const writes = pending;
      pending = [];
      await writer.run(() => execute(writes)).catch((error: unknown) => {
        throw side('writing Target', target.where, error);
      });
    };
    const pages = scanPages(origin.client, cql, ranges[index], { fetchSize: options.fetchSize, retry: options.retry, shouldStop: stop });
    try {
      for await (const page of pages) {
        for (const row of page) {
          if (stop()) throw new Stopped();
          const token = rowToken(row);
          if (pendingToken && (!token.equals(pendingToken) || pending.length >= BATCH_WRITES)) await flush();
          pendingToken = token;
          let skipStatic = false;
          if (hasStatic) {
            const partition = canonical(keyValues(shape, row).slice(0, shape.partitionKeys.length));
            skipStatic = partition === lastPartition;
            lastPartition = partition;
          }
          let skipColumns: Set<string> | undefined;
          if (lists.length) {
            try {
              skipColumns = await sameLists(row);
            } catch (error) {
              throw side('reading Target', target.where, error);
            }
          }
          const writes = rowWrites(shape, row, { keyOnlyTimestamp, skipStatic, skipColumns });
          writes.forEach((w) => pending.push(w));
          writeCount += writes.length;
          meter.row(index, token);
        }
      }
      await flush();
    } catch (error) {
      await writer.drain().catch(() => {});
      throw side('reading Origin', origin.where, error);
    }
    await writer.drain().catch((error: unknown) => {
      throw side('writing Target', target.where, error);
    });
  };

  await pool(ranges.length, options.concurrency, async (index) => {
    if (stop()) {
      notCopied.push(ranges[index]);
      return;
    }
    try {
      await copyRange(index);
      meter.rangeDone(index);
    } catch (error) {
      if (!(error instanceof Stopped)) failure ??= error as Error;
      notCopied.push(ranges[index]);
    }
  });
  meter.finish();
  notCopied.sort((a, b) => (a.start < b.start ? -1 : 1));
  return {
    copy: { table: qualified(shape), rows: meter.rows, writes: writeCount, ranges: ranges.length, ms: meter.elapsedMs },
    notCopied,
    failure,
  };
}

export interface CopyResult {
  tables: TableCopy[];
  /** Non-frozen list columns, copied whole (see the file comment). */
  warnings: string[];
}

/**
 * Copies the tables; `rerun` is the command line to print if the run stops.
 * Throws SchemaError before writing anything when the input is wrong, and
 * IncompleteCopyError when ranges could not be copied.
 */
export async function copyTables(endpoints: { origin: Endpoint; target: Endpoint }, options: CopyOptions, rerun = 'zdm-lab migrate again'): Promise<CopyResult> {
  const settings = {
    splits: options.splits ?? COPY_DEFAULTS.splits,
    concurrency: options.concurrency ?? COPY_DEFAULTS.concurrency,
    writesInFlight: options.writesInFlight ?? COPY_DEFAULTS.writesInFlight,
    fetchSize: options.fetchSize ?? COPY_DEFAULTS.fetchSize,
    retry: options.retry ?? DEFAULT_RETRY,
    progress: options.progress ?? silentProgress,
    keyspace: options.keyspace,
  };
  const origin = await connectBulk('Origin', endpoints.origin);
  let target: Connected | undefined;
  try {
    target = await connectBulk('Target', endpoints.target);
    const ends = { origin, target };
    const shapes = await resolveTables(ends, options.keyspace, options.tables);
    for (const shape of shapes) await checkScan(origin, shape, scanQuery(shape, { writetimes: true }));
    const warnings = shapes.flatMap((shape) =>
      listColumns(shape).map(
        (c) => `${qualified(shape)}.${c.name} is a non-frozen list: it is copied whole, and only where Target's list differs (list appends are not idempotent)`,
      ),
    );
    const keyOnlyTimestamp = cassandra.types.Long.fromNumber(Date.now()).multiply(1000);
    const copied: TableCopy[] = [];
    for (const [i, shape] of shapes.entries()) {
      const { copy, notCopied, failure } = await copyTable(ends, shape, settings, keyOnlyTimestamp);
      copied.push(copy);
      if (failure || notCopied.length) {
        const left: NotCopied[] = [{ table: copy.table, ranges: notCopied, total: copy.ranges }];
        for (const later of shapes.slice(i + 1)) left.push({ table: qualified(later), ranges: splitRing(settings.splits), total: settings.splits });
        const cause = `${failure?.message ?? 'stopped'}, after ${settings.retry.attempts} attempts`;
        throw new IncompleteCopyError(left, cause, copied, rerun);
      }
    }
    return { tables: copied, warnings };
  } finally {
    await Promise.all([origin.client.shutdown(), target?.client.shutdown()].map((p) => p?.catch(() => {})));
  }
}

export function formatCopy(copy: TableCopy): string {
  const seconds = Math.max(copy.ms / 1000, 0.001);
  return `${copy.table}: ${count(copy.rows)} rows copied in ${formatDuration(copy.ms)} (${count(copy.rows / seconds)} rows/s, ${count(copy.writes)} writes, ${copy.ranges} token ranges)`;
}
