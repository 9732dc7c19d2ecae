/**
 * From an Origin row to the writes that recreate it on Target with the same
 * writetimes and TTLs. The scan selects each static and regular column with
 * WRITETIME() and TTL() (for a non-frozen collection or UDT Cassandra 5.0
 * returns one per element or field). Cells are grouped by (writetime, TTL)
 * and each group becomes one statement `USING TIMESTAMP wt AND TTL ttl`, so a
 * value dual-written through the proxies after the scan (a newer writetime)
 * always wins over the copy. Null cells are left out, never written as null,
 * so the copy creates no tombstones. Set and map elements and UDT fields are
 * added one by one (`s = s + ?`, `u.f = ?`), which is idempotent. A
 * non-frozen list is the exception: appending the same element twice makes
 * two elements, so it is written whole (at its newest element's writetime)
 * and only when Target's list differs.
 */
import cassandra from 'cassandra-driver';
import { keyColumns, type ColumnShape, type TableShape } from './schema.js';

type Row = cassandra.types.Row;
type Long = cassandra.types.Long;

export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function tableRef(shape: TableShape): string {
  return `${quote(shape.keyspace)}.${quote(shape.table)}`;
}

/** Row field names in every scan: k0.. for key columns, c0.. for cells, w/t for their writetime and TTL. */
export const TOKEN = 'tk';
const keyAlias = (i: number) => `k${i}`;
const cellAlias = (i: number) => `c${i}`;
const wtAlias = (i: number) => `w${i}`;
const ttlAlias = (i: number) => `t${i}`;

export function tokenExpression(shape: TableShape): string {
  return `token(${shape.partitionKeys.map((c) => quote(c.name)).join(', ')})`;
}

/**
 * The SELECT of a token-range scan (two bind markers: start, end). With
 * writetimes the result feeds rowWrites; without, it is enough to compare.
 */
export function scanQuery(shape: TableShape, options: { writetimes: boolean }): string {
  const parts = [`${tokenExpression(shape)} AS ${TOKEN}`];
  keyColumns(shape).forEach((c, i) => parts.push(`${quote(c.name)} AS ${keyAlias(i)}`));
  shape.cells.forEach((c, i) => {
    parts.push(`${quote(c.name)} AS ${cellAlias(i)}`);
    if (options.writetimes) parts.push(`WRITETIME(${quote(c.name)}) AS ${wtAlias(i)}`, `TTL(${quote(c.name)}) AS ${ttlAlias(i)}`);
  });
  const range = `${tokenExpression(shape)} > ? AND ${tokenExpression(shape)} <= ?`;
  return `SELECT ${parts.join(', ')} FROM ${tableRef(shape)} WHERE ${range}`;
}

/** The same columns as scanQuery, for one primary key (bind markers: the key columns). */
export function pointQuery(shape: TableShape, options: { writetimes: boolean; staticOnly?: boolean }): string {
  const base = scanQuery(shape, options);
  const select = base.slice(0, base.indexOf(' WHERE '));
  const keys = options.staticOnly ? shape.partitionKeys : keyColumns(shape);
  return `${select} WHERE ${keys.map((c) => `${quote(c.name)} = ?`).join(' AND ')}${options.staticOnly ? ' LIMIT 1' : ''}`;
}

export function keyValues(shape: TableShape, row: Row): unknown[] {
  return keyColumns(shape).map((_, i) => row[keyAlias(i)]);
}

export function cellValue(shape: TableShape, row: Row, column: ColumnShape): unknown {
  return row[cellAlias(shape.cells.indexOf(column))];
}

export function cellValues(shape: TableShape, row: Row): unknown[] {
  return shape.cells.map((_, i) => row[cellAlias(i)]);
}

/** A row that exists only to carry its partition's static columns (clustering columns null). */
export function isStaticOnly(shape: TableShape, row: Row): boolean {
  return shape.clusteringKeys.length > 0 && row[keyAlias(shape.partitionKeys.length)] === null;
}

export function rowToken(row: Row): Long {
  return row[TOKEN] as Long;
}

export interface Write {
  cql: string;
  params: unknown[];
}

/** One piece of a group: a whole value, elements added to a set or map, or a UDT field. */
type Part =
  | { kind: 'value'; column: ColumnShape; value: unknown }
  | { kind: 'add'; column: ColumnShape; value: unknown }
  | { kind: 'field'; column: ColumnShape; field: string; value: unknown };

interface Group {
  writetime: Long;
  ttl: number;
  parts: Part[];
}

export interface RowWriteOptions {
  /** Writetime for a row that has no cell to take one from (only its key): the start of the run. */
  keyOnlyTimestamp: Long;
  /** Leave the static cells out (already written for this partition). */
  skipStatic?: boolean;
  /** Non-frozen list columns to leave out because Target already holds the same list. */
  skipColumns?: Set<string>;
}

function remainingTtl(ttl: unknown): number {
  return typeof ttl === 'number' && ttl > 0 ? ttl : 0;
}

/** Groups the cells of one set of columns (static or regular) by (writetime, TTL). */
function groupCells(shape: TableShape, row: Row, columns: ColumnShape[], skip?: Set<string>): Group[] {
  const groups = new Map<string, Group>();
  const add = (writetime: Long | null, ttl: unknown, part: Part) => {
    if (writetime === null || writetime === undefined) return;
    const t = remainingTtl(ttl);
    const id = `${writetime.high}:${writetime.low}/${t}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { writetime, ttl: t, parts: [] }));
    group.parts.push(part);
  };
  for (const column of columns) {
    if (skip?.has(column.name)) continue;
    const i = shape.cells.indexOf(column);
    const value = row[cellAlias(i)];
    if (value === null || value === undefined) continue;
    const wt = row[wtAlias(i)] as unknown;
    const ttl = row[ttlAlias(i)] as unknown;
    if (!column.multiCell) {
      add(wt as Long, ttl, { kind: 'value', column, value });
      continue;
    }
    const wts = (wt ?? []) as (Long | null)[];
    const ttls = (ttl ?? []) as (number | null)[];
    switch (column.multiCell) {
      case 'set': {
        const elements = [...(value as Iterable<unknown>)];
        elements.forEach((element, j) => add(wts[j], ttls[j], { kind: 'add', column, value: new Set([element]) }));
        break;
      }
      case 'map': {
        const entries = [...(value as Map<unknown, unknown>)];
        entries.forEach(([k, v], j) => add(wts[j], ttls[j], { kind: 'add', column, value: new Map([[k, v]]) }));
        break;
      }
      case 'udt': {
        const fields = column.fields ?? [];
        const object = value as Record<string, unknown>;
        fields.forEach((field, j) => {
          const fieldValue = object[field];
          if (fieldValue === null || fieldValue === undefined) return;
          add(wts[j], ttls[j], { kind: 'field', column, field, value: fieldValue });
        });
        break;
      }
      case 'list': {
        // written whole, at the newest element's writetime, with the longest remaining TTL (none if any has none)
        let newest: Long | null = null;
        for (const w of wts) if (w && (!newest || w.greaterThan(newest))) newest = w;
        const ttlValues = ttls.map(remainingTtl);
        const listTtl = ttlValues.includes(0) ? 0 : Math.max(0, ...ttlValues);
        add(newest, listTtl, { kind: 'value', column, value });
        break;
      }
    }
  }
  return [...groups.values()].map(mergeAdds);
}

/** Several single-element additions to the same set or map in one group become one addition. */
function mergeAdds(group: Group): Group {
  const merged: Part[] = [];
  const byColumn = new Map<string, Part & { kind: 'add' }>();
  for (const part of group.parts) {
    if (part.kind !== 'add') {
      merged.push(part);
      continue;
    }
    const existing = byColumn.get(part.column.name);
    if (!existing) {
      const copy = { ...part, value: part.value instanceof Set ? new Set(part.value) : new Map(part.value as Map<unknown, unknown>) };
      byColumn.set(part.column.name, copy);
      merged.push(copy);
    } else if (existing.value instanceof Set) {
      for (const element of part.value as Set<unknown>) existing.value.add(element);
    } else {
      for (const [k, v] of part.value as Map<unknown, unknown>) (existing.value as Map<unknown, unknown>).set(k, v);
    }
  }
  return { ...group, parts: merged };
}

function groupWrite(shape: TableShape, keys: ColumnShape[], keyParams: unknown[], group: Group): Write {
  const using = 'USING TIMESTAMP ? AND TTL ?';
  if (group.parts.every((p) => p.kind === 'value')) {
    const columns = [...keys.map((c) => c.name), ...group.parts.map((p) => p.column.name)];
    return {
      cql: `INSERT INTO ${tableRef(shape)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ${using}`,
      params: [...keyParams, ...group.parts.map((p) => p.value), group.writetime, group.ttl],
    };
  }
  const assignments = group.parts.map((p) => {
    const name = quote(p.column.name);
    if (p.kind === 'add') return `${name} = ${name} + ?`;
    if (p.kind === 'field') return `${name}.${quote(p.field)} = ?`;
    return `${name} = ?`;
  });
  const where = keys.map((c) => `${quote(c.name)} = ?`).join(' AND ');
  return {
    cql: `UPDATE ${tableRef(shape)} ${using} SET ${assignments.join(', ')} WHERE ${where}`,
    params: [group.writetime, group.ttl, ...group.parts.map((p) => p.value), ...keyParams],
  };
}

/** The statements that recreate one scanned Origin row (selected with writetimes) on Target. */
export function rowWrites(shape: TableShape, row: Row, options: RowWriteOptions): Write[] {
  const writes: Write[] = [];
  const keyParams = keyValues(shape, row);
  const partitionParams = keyParams.slice(0, shape.partitionKeys.length);
  if (!options.skipStatic) {
    const statics = shape.cells.filter((c) => c.kind === 'static');
    for (const group of groupCells(shape, row, statics, options.skipColumns)) {
      writes.push(groupWrite(shape, shape.partitionKeys, partitionParams, group));
    }
  }
  if (isStaticOnly(shape, row)) return writes;
  const regular = shape.cells.filter((c) => c.kind === 'regular');
  const groups = groupCells(shape, row, regular, options.skipColumns);
  const keys = keyColumns(shape);
  for (const group of groups) writes.push(groupWrite(shape, keys, keyParams, group));
  const anyRegular = regular.some((c) => row[cellAlias(shape.cells.indexOf(c))] !== null);
  if (!anyRegular) {
    // a row made of its key only: Cassandra keeps no writetime for it
    const names = keys.map((c) => quote(c.name));
    writes.push({
      cql: `INSERT INTO ${tableRef(shape)} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')}) USING TIMESTAMP ?`,
      params: [...keyParams, options.keyOnlyTimestamp],
    });
  }
  return writes;
}

export function listColumns(shape: TableShape): ColumnShape[] {
  return shape.cells.filter((c) => c.multiCell === 'list');
}
