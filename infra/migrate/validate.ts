/**
 * `zdm-lab validate`: proves that Target holds what Origin holds. Both
 * tables are scanned over the same token sub-ranges and merged row by row
 * (both scans come back in token order, rows of a partition together). A
 * row missing on Target, different on Target, or present only on Target is
 * a difference. Because the application keeps writing through the proxies
 * during validation, each difference is read again from both nodes before it
 * is counted (up to a limit), so a write caught half-way is not reported.
 * With autocorrect, missing and different rows are written again from
 * Origin with Origin's writetimes (a newer value on Target still wins) and
 * read back; rows only on Target are reported, never deleted.
 */
import cassandra from 'cassandra-driver';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { Endpoint } from '../cql/client.js';
import { cellValues, isStaticOnly, keyValues, pointQuery, rowToken, rowWrites, scanQuery } from './cells.js';
import { connectBulk, type Connected } from './connect.js';
import { InFlight, pool } from './concurrency.js';
import { count, formatDuration, ProgressMeter, silentProgress, type ProgressSink } from './progress.js';
import { splitRing, type TokenRange } from './ranges.js';
import { DEFAULT_RETRY, errorLine, withRetry, type RetryPolicy } from './retry.js';
import { RowCursor, scanPages } from './scan.js';
import { checkScan, keyColumns, qualified, resolveTables, type TableShape } from './schema.js';
import { canonical, display } from './values.js';

export interface ValidateOptions {
  keyspace: string;
  tables?: string[];
  /** Rewrite missing and different rows from Origin. */
  autocorrect?: boolean;
  /** Where every difference is listed. */
  reportFile: string;
  /** How many differences to keep for the summary. */
  show?: number;
  /** Differences read again before counting; beyond this the scan's word is taken. */
  recheckLimit?: number;
  splits?: number;
  concurrency?: number;
  fetchSize?: number;
  retry?: RetryPolicy;
  progress?: ProgressSink;
}

export const VALIDATE_DEFAULTS = { splits: 64, concurrency: 4, fetchSize: 2000, show: 10, recheckLimit: 1000 };

export type DifferenceKind = 'missing' | 'mismatch' | 'extra';

export interface TableValidation {
  table: string;
  originRows: number;
  targetRows: number;
  missing: number;
  mismatched: number;
  extra: number;
  /** Rows rewritten from Origin and read back equal (autocorrect). */
  corrected: number;
  ms: number;
}

export interface ValidateResult {
  tables: TableValidation[];
  /** The first differences, as listed in the report. */
  shown: string[];
  reportFile: string;
  /** Differences left after autocorrect (all of them without it). */
  remaining: number;
}

type Row = cassandra.types.Row;

function describeKey(shape: TableShape, row: Row): string {
  const values = keyValues(shape, row);
  return keyColumns(shape)
    .map((c, i) => `${c.name}=${display(values[i])}`)
    .filter((_, i) => !(isStaticOnly(shape, row) && i >= shape.partitionKeys.length))
    .join(' ');
}

function cellsText(shape: TableShape, row: Row): string {
  return cellValues(shape, row).map(canonical).join('\u0001');
}

function mismatchDetail(shape: TableShape, origin: Row, target: Row): string {
  const a = cellValues(shape, origin);
  const b = cellValues(shape, target);
  return shape.cells
    .map((c, i) => (canonical(a[i]) === canonical(b[i]) ? undefined : `${c.name}: Origin ${display(a[i])}, Target ${display(b[i])}`))
    .filter(Boolean)
    .join('; ');
}

interface Ends {
  origin: Connected;
  target: Connected;
}

interface Settings {
  splits: number;
  concurrency: number;
  fetchSize: number;
  retry: RetryPolicy;
  progress: ProgressSink;
  autocorrect: boolean;
  show: number;
  recheckLimit: number;
}

class Findings {
  shown: string[] = [];
  rechecked = 0;
  constructor(
    private readonly report: WriteStream,
    private readonly show: number,
  ) {}
  add(line: string): void {
    this.report.write(`${line}\n`);
    if (this.shown.length < this.show) this.shown.push(line);
  }
}

async function validateTable(ends: Ends, shape: TableShape, settings: Settings, findings: Findings): Promise<TableValidation> {
  const { origin, target } = ends;
  const table = qualified(shape);
  const ranges = splitRing(settings.splits);
  const meter = new ProgressMeter(`validate ${table}`, ranges, settings.progress);
  const originCql = scanQuery(shape, { writetimes: settings.autocorrect });
  const targetCql = scanQuery(shape, { writetimes: false });
  const result: TableValidation = { table, originRows: 0, targetRows: 0, missing: 0, mismatched: 0, extra: 0, corrected: 0, ms: 0 };
  const scan = { fetchSize: settings.fetchSize, retry: settings.retry };

  const readOne = async (client: cassandra.Client, row: Row, writetimes: boolean): Promise<Row | undefined> => {
    const staticOnly = isStaticOnly(shape, row);
    const params = keyValues(shape, row).slice(0, staticOnly ? shape.partitionKeys.length : undefined);
    const rs = await withRetry(settings.retry, () => client.execute(pointQuery(shape, { writetimes, staticOnly }), params, { prepare: true }));
    const found = rs.rows[0];
    // a static-only row read by partition: it exists only while the partition has no rows
    if (found && staticOnly && !isStaticOnly(shape, found)) return undefined;
    return found;
  };

  /** Reads a difference again, rewrites it if asked, and records what is left of it. */
  const settle = async (kind: DifferenceKind, originRow: Row | undefined, targetRow: Row | undefined) => {
    const anyRow = (originRow ?? targetRow)!;
    if (findings.rechecked < settings.recheckLimit) {
      findings.rechecked++;
      const [o, t] = await Promise.all([readOne(origin.client, anyRow, settings.autocorrect), readOne(target.client, anyRow, false)]);
      if (!o && !t) return;
      if (o && t && cellsText(shape, o) === cellsText(shape, t)) return;
      originRow = o;
      targetRow = t;
      kind = !o ? 'extra' : !t ? 'missing' : 'mismatch';
    }
    const key = `${table} ${describeKey(shape, anyRow)}`;
    if (kind === 'extra') {
      result.extra++;
      findings.add(`extra     ${key}  (on Target only; validate never deletes)`);
      return;
    }
    if (kind === 'missing') result.missing++;
    else result.mismatched++;
    const detail = kind === 'missing' ? '' : `  ${mismatchDetail(shape, originRow!, targetRow!)}`;
    let outcome = '';
    if (settings.autocorrect && originRow) {
      const keyOnlyTimestamp = cassandra.types.Long.fromNumber(Date.now()).multiply(1000);
      for (const write of rowWrites(shape, originRow, { keyOnlyTimestamp })) {
        await withRetry(settings.retry, () => target.client.execute(write.cql, write.params, { prepare: true, isIdempotent: true }));
      }
      const after = await readOne(target.client, originRow, false);
      if (after && cellsText(shape, after) === cellsText(shape, originRow)) {
        result.corrected++;
        outcome = '  -> corrected';
      } else {
        outcome = '  -> rewritten, still different (Target holds a newer write)';
      }
    }
    findings.add(`${kind === 'missing' ? 'missing ' : 'mismatch'}  ${key}${detail}${outcome}`);
  };

  const compareRange = async (index: number) => {
    const range: TokenRange = ranges[index];
    const a = new RowCursor(scanPages(origin.client, originCql, range, scan));
    const b = new RowCursor(scanPages(target.client, targetCql, range, scan));
    const followUp = new InFlight(16);
    const take = async (cursor: RowCursor, token: cassandra.types.Long): Promise<Row[]> => {
      const rows: Row[] = [];
      for (let row = await cursor.peek(); row && rowToken(row).equals(token); row = await cursor.peek()) rows.push((await cursor.take())!);
      return rows;
    };
    for (;;) {
      const [x, y] = await Promise.all([a.peek(), b.peek()]);
      if (!x && !y) break;
      const token = !y || (x && rowToken(x).lessThanOrEqual(rowToken(y))) ? rowToken(x!) : rowToken(y);
      const [fromOrigin, fromTarget] = [await take(a, token), await take(b, token)];
      result.originRows += fromOrigin.length;
      result.targetRows += fromTarget.length;
      const onTarget = new Map(fromTarget.map((r) => [canonical(keyValues(shape, r)), r]));
      for (const o of fromOrigin) {
        const key = canonical(keyValues(shape, o));
        const t = onTarget.get(key);
        onTarget.delete(key);
        if (!t) await followUp.run(() => settle('missing', o, undefined));
        else if (cellsText(shape, o) !== cellsText(shape, t)) await followUp.run(() => settle('mismatch', o, t));
        meter.row(index, token);
      }
      for (const t of onTarget.values()) await followUp.run(() => settle('extra', undefined, t));
    }
    await followUp.drain();
    meter.rangeDone(index);
  };

  let failure: unknown;
  await pool(ranges.length, settings.concurrency, async (index) => {
    if (failure) return;
    try {
      await compareRange(index);
    } catch (error) {
      failure ??= error;
    }
  });
  meter.finish();
  if (failure) throw new Error(`validate of ${table} stopped: ${errorLine(failure)} (Origin ${origin.where}, Target ${target.where}); nothing is wrong with the data for that reason alone, run validate again`);
  result.ms = meter.elapsedMs;
  return result;
}

export async function validateTables(endpoints: { origin: Endpoint; target: Endpoint }, options: ValidateOptions): Promise<ValidateResult> {
  const settings: Settings = {
    splits: options.splits ?? VALIDATE_DEFAULTS.splits,
    concurrency: options.concurrency ?? VALIDATE_DEFAULTS.concurrency,
    fetchSize: options.fetchSize ?? VALIDATE_DEFAULTS.fetchSize,
    retry: options.retry ?? DEFAULT_RETRY,
    progress: options.progress ?? silentProgress,
    autocorrect: options.autocorrect ?? false,
    show: options.show ?? VALIDATE_DEFAULTS.show,
    recheckLimit: options.recheckLimit ?? VALIDATE_DEFAULTS.recheckLimit,
  };
  const origin = await connectBulk('Origin', endpoints.origin);
  let target: Connected | undefined;
  let report: WriteStream | undefined;
  try {
    target = await connectBulk('Target', endpoints.target);
    const shapes = await resolveTables({ origin, target }, options.keyspace, options.tables);
    for (const shape of shapes) await checkScan(origin, shape, scanQuery(shape, { writetimes: settings.autocorrect }));
    mkdirSync(dirname(options.reportFile), { recursive: true });
    report = createWriteStream(options.reportFile);
    report.write(
      `# zdm-lab validate ${new Date().toISOString()}: Origin ${origin.where}, Target ${target.where}, ` +
        `tables ${shapes.map(qualified).join(', ')}${settings.autocorrect ? ', with autocorrect' : ''}\n`,
    );
    const findings = new Findings(report, settings.show);
    const tables: TableValidation[] = [];
    for (const shape of shapes) tables.push(await validateTable({ origin, target }, shape, settings, findings));
    let remaining = 0;
    for (const t of tables) {
      const found = t.missing + t.mismatched + t.extra;
      remaining += found - t.corrected;
      report.write(`# ${formatValidation(t)}\n`);
    }
    if (findings.rechecked >= settings.recheckLimit) {
      report.write(`# more than ${settings.recheckLimit} differences: those after the first ${settings.recheckLimit} were not read a second time\n`);
    }
    return { tables, shown: findings.shown, reportFile: options.reportFile, remaining };
  } finally {
    if (report) await new Promise<void>((resolve) => report!.end(resolve));
    await Promise.all([origin.client.shutdown(), target?.client.shutdown()].map((p) => p?.catch(() => {})));
  }
}

export function formatValidation(t: TableValidation): string {
  const seconds = Math.max(t.ms / 1000, 0.001);
  const found = t.missing + t.mismatched + t.extra;
  const head = `${t.table}: ${count(t.originRows)} rows on Origin, ${count(t.targetRows)} on Target, compared in ${formatDuration(t.ms)} (${count(t.originRows / seconds)} rows/s)`;
  if (!found) return `${head}: no differences`;
  const parts = [`${count(t.missing)} missing on Target`, `${count(t.mismatched)} different`, `${count(t.extra)} only on Target`];
  const corrected = t.corrected ? `, ${count(t.corrected)} corrected` : '';
  return `${head}: ${parts.join(', ')}${corrected}`;
}
