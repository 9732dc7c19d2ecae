/**
 * How migrate turns an Origin row into writes, without a node: one statement
 * per (writetime, TTL) group, null cells left out, set elements and UDT
 * fields added one by one, statics written once per partition with the
 * partition key only, a key-only row kept; and the token split that decides
 * what each parallel scan covers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import cassandra from 'cassandra-driver';
import { rowWrites, scanQuery } from '../../infra/migrate/cells.js';
import { MAX_TOKEN, MIN_TOKEN, splitRing } from '../../infra/migrate/ranges.js';
import { schemaDifferences, type TableShape } from '../../infra/migrate/schema.js';
import { canonical } from '../../infra/migrate/values.js';

const Long = cassandra.types.Long;
const wt = (n: number) => Long.fromNumber(n);
const row = (fields: Record<string, unknown>) => fields as unknown as cassandra.types.Row;
const keyOnlyTimestamp = wt(999);

const profiles: TableShape = {
  keyspace: 'app',
  table: 'profiles',
  partitionKeys: [{ name: 'id', type: 'int', kind: 'partition' }],
  clusteringKeys: [{ name: 'seq', type: 'int', kind: 'clustering' }],
  cells: [
    { name: 'team', type: 'text', kind: 'static' },
    { name: 'name', type: 'text', kind: 'regular' },
    { name: 'email', type: 'text', kind: 'regular' },
    { name: 'tags', type: 'set<text>', kind: 'regular', multiCell: 'set' },
    { name: 'home', type: 'address{street text, zip int}', kind: 'regular', multiCell: 'udt', fields: ['street', 'zip'] },
  ],
};

describe('an Origin row becomes writes that keep its writetimes', () => {
  test('cells with the same writetime and TTL share one INSERT; a different TTL gets its own', () => {
    const writes = rowWrites(
      profiles,
      row({ k0: 1, k1: 1, c0: null, c1: 'Eva', w1: wt(100), t1: null, c2: 'eva@example.org', w2: wt(100), t2: 3500, c3: null, c4: null }),
      { keyOnlyTimestamp, skipStatic: true },
    );
    assert.equal(writes.length, 2);
    assert.equal(writes[0].cql, 'INSERT INTO "app"."profiles" ("id", "seq", "name") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?');
    assert.deepEqual(writes[0].params, [1, 1, 'Eva', wt(100), 0]);
    assert.deepEqual(writes[1].params, [1, 1, 'eva@example.org', wt(100), 3500]);
  });

  test('a null cell is left out instead of being written as null', () => {
    const writes = rowWrites(profiles, row({ k0: 1, k1: 2, c0: null, c1: 'Eva', w1: wt(5), t1: null, c2: null, c3: null, c4: null }), { keyOnlyTimestamp });
    assert.equal(writes.length, 1);
    assert.doesNotMatch(writes[0].cql, /email|null/i);
  });

  test('set elements and UDT fields written at different times are added separately, never replaced whole', () => {
    const writes = rowWrites(
      profiles,
      row({
        k0: 1, k1: 3, c0: null, c1: null, c2: null,
        c3: new Set(['a', 'b', 'c']), w3: [wt(10), wt(20), wt(10)], t3: [null, null, null],
        c4: { street: null, zip: 75001 }, w4: [null, wt(20)], t4: [null, null],
      }),
      { keyOnlyTimestamp },
    );
    assert.deepEqual(writes.map((w) => w.cql), [
      'UPDATE "app"."profiles" USING TIMESTAMP ? AND TTL ? SET "tags" = "tags" + ? WHERE "id" = ? AND "seq" = ?',
      'UPDATE "app"."profiles" USING TIMESTAMP ? AND TTL ? SET "tags" = "tags" + ?, "home"."zip" = ? WHERE "id" = ? AND "seq" = ?',
    ]);
    assert.deepEqual([...(writes[0].params[2] as Set<string>)], ['a', 'c']);
    assert.deepEqual(writes[1].params, [wt(20), 0, new Set(['b']), 75001, 1, 3]);
  });

  test('a static column is written with the partition key only, and a row of keys only keeps existing', () => {
    const writes = rowWrites(profiles, row({ k0: 7, k1: 1, c0: 'blue', w0: wt(3), t0: null, c1: null, c2: null, c3: null, c4: null }), { keyOnlyTimestamp });
    assert.deepEqual(writes.map((w) => w.cql), [
      'INSERT INTO "app"."profiles" ("id", "team") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?',
      'INSERT INTO "app"."profiles" ("id", "seq") VALUES (?, ?) USING TIMESTAMP ?',
    ]);
    assert.deepEqual(writes[1].params, [7, 1, keyOnlyTimestamp]);
  });

  test('a partition holding only its static columns is copied without inventing a row', () => {
    const writes = rowWrites(profiles, row({ k0: 8, k1: null, c0: 'red', w0: wt(3), t0: null, c1: null, c2: null, c3: null, c4: null }), { keyOnlyTimestamp });
    assert.equal(writes.length, 1);
    assert.match(writes[0].cql, /\("id", "team"\)/);
  });

  test('the scan selects every cell with its WRITETIME and TTL within one token range', () => {
    assert.equal(
      scanQuery({ ...profiles, cells: profiles.cells.slice(1, 2) }, { writetimes: true }),
      'SELECT token("id") AS tk, "id" AS k0, "seq" AS k1, "name" AS c0, WRITETIME("name") AS w0, TTL("name") AS t0 FROM "app"."profiles" WHERE token("id") > ? AND token("id") <= ?',
    );
  });
});

describe('the token ring split', () => {
  test('ranges are contiguous and cover the whole ring', () => {
    for (const n of [1, 7, 64]) {
      const ranges = splitRing(n);
      assert.equal(ranges.length, n);
      assert.equal(ranges[0].start, MIN_TOKEN);
      assert.equal(ranges[n - 1].end, MAX_TOKEN);
      for (let i = 1; i < n; i++) assert.equal(ranges[i].start, ranges[i - 1].end);
    }
  });
});

describe('comparing values and schemas', () => {
  test('values that differ only in a detail compare as different', () => {
    assert.notEqual(canonical(new Date(1000)), canonical(new Date(1001)));
    assert.notEqual(canonical(Buffer.from('ab')), canonical(Buffer.from('ac')));
    assert.notEqual(canonical(new Map([['a', 1]])), canonical(new Map([['a', 2]])));
    assert.equal(canonical({ street: 'x', zip: null }), canonical({ street: 'x', zip: null }));
    assert.equal(canonical(Long.fromString('9007199254740993')), '9007199254740993');
  });

  test('a column of another type on Target is named, an extra Target column is accepted', () => {
    const target: TableShape = {
      ...profiles,
      cells: [...profiles.cells.map((c) => (c.name === 'email' ? { ...c, type: 'int' } : c)), { name: 'added', type: 'text', kind: 'regular' }],
    };
    assert.deepEqual(schemaDifferences(profiles, target), ['column email is text on Origin but int on Target']);
  });
});
