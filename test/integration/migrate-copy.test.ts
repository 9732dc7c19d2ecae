/**
 * `zdm-lab migrate` and `zdm-lab validate` against real Cassandra 5.0 Origin
 * and Target nodes (no proxy needed): every cell arrives with its Origin
 * writetime and remaining TTL, null cells stay absent rather than becoming
 * tombstones, a static column, collections and a UDT copy exactly, a newer
 * value already on Target is never overwritten, validate lists what differs
 * and autocorrect fixes what Origin can fix, bad input is refused before any
 * write, and a Target that goes down mid-run stops the copy with the ranges
 * left to do, which a rerun completes.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import cassandra from 'cassandra-driver';
import { startNodes, SCHEMA_FILE, type LabContext } from '../../infra/commands/environment.js';
import { runCqlFile, withClient } from '../../infra/cql/client.js';
import { copyTables, IncompleteCopyError } from '../../infra/migrate/migrate.js';
import { validateTables } from '../../infra/migrate/validate.js';
import { InFlight } from '../../infra/migrate/concurrency.js';
import { DEFAULT_RETRY, withRetry } from '../../infra/migrate/retry.js';
import type { NodeSpec } from '../../infra/topology.js';
import { zdmLab } from '../support/cli.js';
import { freshEnvironment, stopEnvironment } from '../support/lab.js';

const ENV = 5;
const env = ['--env', String(ENV)];
let ctx: LabContext;

/** Writetimes in microseconds: T1 < T2, both long ago. */
const T1 = 1_700_000_000_000_000;
const T2 = T1 + 60_000_000;

async function cql(node: NodeSpec, statement: string, params: unknown[] = []): Promise<cassandra.types.Row[]> {
  return withClient(node, async (client) => (await client.execute(statement, params, { prepare: params.length > 0 })).rows);
}

async function both(statements: string[]): Promise<void> {
  for (const node of [ctx.topo.origin, ctx.topo.target]) {
    await withClient(node, async (client) => {
      for (const s of statements) await client.execute(s);
    });
  }
}

const SHOP_SCHEMA = [
  "CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
  'CREATE TYPE shop.address (street text, zip int)',
  `CREATE TABLE shop.customers (id int, seq int, team text static, name text, email text,
     tags set<text>, prefs map<text, int>, home address, visits frozen<list<int>>, PRIMARY KEY (id, seq))`,
  'CREATE TABLE shop.fresh (id int PRIMARY KEY, v text)',
  'CREATE TABLE shop.hits (id int PRIMARY KEY, n counter)',
  'CREATE TABLE shop.events (id int, seq int, payload text, PRIMARY KEY (id, seq))',
  'CREATE TABLE shop.playlists (id int PRIMARY KEY, songs list<text>)',
  'CREATE TABLE shop.photos (album int, seq int, data blob, PRIMARY KEY (album, seq))',
];

const CUSTOMERS_SELECT = `SELECT id, seq, team, WRITETIME(team) AS wt_team, name, WRITETIME(name) AS wt_name, TTL(name) AS ttl_name,
  email, WRITETIME(email) AS wt_email, tags, WRITETIME(tags) AS wt_tags, prefs, WRITETIME(prefs) AS wt_prefs,
  home, WRITETIME(home) AS wt_home, visits, WRITETIME(visits) AS wt_visits FROM shop.customers`;

/** A row as JSON, with the TTL left out (it counts down between two reads). */
function comparable(rows: cassandra.types.Row[]): string[] {
  return rows.map((r) => JSON.stringify({ ...r, ttl_name: undefined })).sort();
}

describe('zdm-lab migrate and validate on real Cassandra 5.0 nodes', { timeout: 600_000 }, () => {
  before(async () => {
    ctx = await freshEnvironment(ENV);
    // a node restarted from its data folder still holds the keyspaces of an earlier run
    await both(['DROP KEYSPACE IF EXISTS shop']);
    await cql(ctx.topo.target, 'DROP KEYSPACE IF EXISTS zdmapp');
    await withClient(ctx.topo.target, (client) => runCqlFile(client, SCHEMA_FILE));
    await both(SHOP_SCHEMA);
    await cql(ctx.topo.origin, 'CREATE TABLE shop.orders (id int PRIMARY KEY, total int)');
    await cql(ctx.topo.target, 'CREATE TABLE shop.orders (id int PRIMARY KEY, total text)');
    await cql(ctx.topo.origin, 'CREATE TABLE shop.only_origin (id int PRIMARY KEY)');
    const o = ctx.topo.origin;
    // customer 1: one row whose cells were written at two different times
    await cql(o, `INSERT INTO shop.customers (id, seq, team, name, email, tags, prefs, home, visits)
      VALUES (1, 1, 'blue', 'Eva', 'eva@old.example', {'a', 'b'}, {'lang': 1}, {zip: 75001}, [3, 1, 2]) USING TIMESTAMP ${T1}`);
    await cql(o, `UPDATE shop.customers USING TIMESTAMP ${T2} SET email = 'eva@new.example', tags = tags + {'c'}, prefs['tz'] = 2, home.street = 'Rue Neuve' WHERE id = 1 AND seq = 1`);
    await cql(o, `INSERT INTO shop.customers (id, seq, name) VALUES (1, 2, 'Eva again') USING TIMESTAMP ${T2}`);
    // customer 2: email never set (a null cell)
    await cql(o, `INSERT INTO shop.customers (id, seq, name) VALUES (2, 1, 'Marco') USING TIMESTAMP ${T1}`);
    // customer 3: a partition with its static column only
    await cql(o, `INSERT INTO shop.customers (id, team) VALUES (3, 'solo') USING TIMESTAMP ${T1}`);
    // customer 4: a row made of its key only
    await cql(o, 'INSERT INTO shop.customers (id, seq) VALUES (4, 1)');
    // customer 5: a name that expires in an hour
    await cql(o, `INSERT INTO shop.customers (id, seq, name) VALUES (5, 1, 'Temporary') USING TIMESTAMP ${T2} AND TTL 3600`);
    await cql(o, "INSERT INTO shop.fresh (id, v) VALUES (1, 'one')");
    await cql(o, `INSERT INTO shop.playlists (id, songs) VALUES (1, ['intro', 'theme']) USING TIMESTAMP ${T1}`);
    await cql(o, `UPDATE shop.playlists USING TIMESTAMP ${T2} SET songs = songs + ['outro'] WHERE id = 1`);
  });

  after(async () => {
    if (ctx) await stopEnvironment(ctx);
  });

  test('migrate copies every cell with its Origin writetime: static, set, map, UDT, frozen list, key-only row', async () => {
    const result = await zdmLab(['migrate', ...env, '--keyspace', 'shop', '--tables', 'customers']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /shop\.customers: 6 rows copied/);
    assert.match(result.stderr, /migrate shop\.customers \[#{20}\] 100%  6 rows/);
    const origin = await cql(ctx.topo.origin, CUSTOMERS_SELECT);
    const target = await cql(ctx.topo.target, CUSTOMERS_SELECT);
    assert.deepEqual(comparable(target), comparable(origin));
    const eva = target.find((r) => r.id === 1 && r.seq === 1)!;
    assert.equal(eva.email, 'eva@new.example');
    assert.equal(String(eva.wt_email), String(T2));
    assert.equal(String(eva.wt_name), String(T1));
    assert.deepEqual([...eva.tags], ['a', 'b', 'c']);
    assert.deepEqual(eva.wt_tags.map(String), [String(T1), String(T1), String(T2)]);
    assert.deepEqual(eva.home, { street: 'Rue Neuve', zip: 75001 });
    assert.deepEqual(eva.wt_home.map(String), [String(T2), String(T1)]);
    assert.ok(target.some((r) => r.id === 3 && r.seq === null && r.team === 'solo'), 'the static-only partition is on Target');
    assert.ok(target.some((r) => r.id === 4 && r.seq === 1), 'the key-only row is on Target');
  });

  test('a value with a 1-hour TTL keeps its remaining TTL on Target', async () => {
    const [[origin], [target]] = await Promise.all([
      cql(ctx.topo.origin, 'SELECT TTL(name) AS ttl FROM shop.customers WHERE id = 5 AND seq = 1'),
      cql(ctx.topo.target, 'SELECT name, TTL(name) AS ttl, WRITETIME(name) AS wt FROM shop.customers WHERE id = 5 AND seq = 1'),
    ]);
    assert.equal(target.name, 'Temporary');
    assert.equal(String(target.wt), String(T2));
    // TTLs count whole seconds, and the copy is written a moment after it is read
    assert.ok(target.ttl > 3500 && Math.abs(target.ttl - origin.ttl) <= 2, `TTL on Target ${target.ttl}s, on Origin ${origin.ttl}s`);
  });

  test('a null cell is not copied as a tombstone: an older write arriving later still shows', async () => {
    // if the copy had written email = null at T1, this write at T1 - 1 would stay hidden behind it
    await cql(ctx.topo.target, `UPDATE shop.customers USING TIMESTAMP ${T1 - 1} SET email = 'late@example' WHERE id = 2 AND seq = 1`);
    const [row] = await cql(ctx.topo.target, 'SELECT email FROM shop.customers WHERE id = 2 AND seq = 1');
    assert.equal(row.email, 'late@example');
    await cql(ctx.topo.target, `DELETE email FROM shop.customers USING TIMESTAMP ${T1 - 1} WHERE id = 2 AND seq = 1`);
  });

  test('validate finds no difference after migrate', async () => {
    const result = await zdmLab(['validate', ...env, '--keyspace', 'shop', '--tables', 'customers']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /shop\.customers: 6 rows on Origin, 6 on Target.*: no differences/);
    assert.match(result.stdout, /Origin and Target agree/);
  });

  test('validate lists missing, different and extra rows; autocorrect fixes what Origin can and never deletes', async () => {
    const t = ctx.topo.target;
    const seedWhen = new Date('2024-03-01T09:00:00Z');
    // a stale copy of eva's first status (older writetime), a newer status for marco (as if dual-written), a row Origin never had
    await cql(t, 'INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?) USING TIMESTAMP 1000', ['eva', seedWhen, 'stale']);
    await cql(t, 'INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)', ['marco', new Date('2024-03-01T18:45:00Z'), 'newer']);
    await cql(t, 'INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)', ['zoe', seedWhen, 'only on target']);
    const report = join(ctx.topo.dir, 'test-validate.txt');
    rmSync(report, { force: true });

    const first = await zdmLab(['validate', ...env, '--keyspace', 'zdmapp', '--report', report]);
    assert.equal(first.code, 1, first.stdout + first.stderr);
    assert.match(first.stdout, /zdmapp\.user_status: 4 rows on Origin, 3 on Target.*: 2 missing on Target, 2 different, 1 only on Target/);
    assert.match(first.stdout, /mismatch +zdmapp\.user_status user='eva' when=2024-03-01T09:00:00\.000Z +status: Origin 'hiking', Target 'stale'/);
    assert.match(first.stdout, /all differences: .*test-validate\.txt/);
    const listed = readFileSync(report, 'utf8').split('\n').filter((l) => /^(missing|mismatch|extra)/.test(l));
    assert.equal(listed.length, 5);

    const fixed = await zdmLab(['validate', ...env, '--keyspace', 'zdmapp', '--autocorrect', '--report', report]);
    assert.equal(fixed.code, 1, 'a newer value and an extra row are left as they are, so differences remain');
    assert.match(fixed.stdout, /3 corrected/);
    assert.match(fixed.stdout, /user='marco'.*-> rewritten, still different \(Target holds a newer write\)/);

    const rows = await cql(t, 'SELECT user, status FROM zdmapp.user_status');
    assert.deepEqual(rows.map((r) => `${r.user}:${r.status}`).sort(), ['eva:commuting', 'eva:hiking', 'eva:lunch', 'marco:newer', 'zoe:only on target']);

    // migrate never overwrites a newer value either
    const again = await zdmLab(['migrate', ...env, '--keyspace', 'zdmapp']);
    assert.equal(again.code, 0, again.stderr);
    const [marco] = await cql(t, "SELECT status FROM zdmapp.user_status WHERE user = 'marco'");
    assert.equal(marco.status, 'newer');
  });

  test('a non-frozen list copied twice keeps its elements once', async () => {
    for (let run = 0; run < 2; run++) {
      const result = await zdmLab(['migrate', ...env, '--keyspace', 'shop', '--tables', 'playlists']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /note: shop\.playlists\.songs is a non-frozen list/);
    }
    const [row] = await cql(ctx.topo.target, 'SELECT songs, WRITETIME(songs) AS wt FROM shop.playlists WHERE id = 1');
    assert.deepEqual(row.songs, ['intro', 'theme', 'outro']);
    assert.deepEqual(row.wt.map(String), [String(T2), String(T2), String(T2)], 'written whole at its newest element\'s writetime');
  });

  test('a partition of large rows, written to Target in batches, arrives intact', async () => {
    // 20 rows of 8 KiB in one partition: batches of 16 writes of 8 KiB each
    const photo = (seq: number) => Buffer.alloc(8192, seq);
    await withClient(ctx.topo.origin, async (client) => {
      for (let seq = 0; seq < 20; seq++) await client.execute('INSERT INTO shop.photos (album, seq, data) VALUES (1, ?, ?)', [seq, photo(seq)], { prepare: true });
    });
    const result = await zdmLab(['migrate', ...env, '--keyspace', 'shop', '--tables', 'photos']);
    assert.equal(result.code, 0, result.stderr);
    const rows = await cql(ctx.topo.target, 'SELECT seq, data FROM shop.photos WHERE album = 1');
    assert.equal(rows.length, 20);
    for (const row of rows) assert.ok(photo(row.seq).equals(row.data), `photo ${row.seq} arrived intact`);
  });

  test('bad input is refused with a clear message before anything is written', async () => {
    const run = (...args: string[]) => zdmLab(['migrate', ...env, ...args]);
    const unknownKeyspace = await run('--keyspace', 'nosuch');
    assert.equal(unknownKeyspace.code, 1);
    assert.match(unknownKeyspace.stderr, /keyspace "nosuch" does not exist on Origin \(127\.0\.5\.1:9042\); keyspaces there: shop, zdmapp/);

    const unknownTable = await run('--keyspace', 'shop', '--tables', 'customers,nosuch');
    assert.match(unknownTable.stderr, /table shop\.nosuch not found on Origin .*tables in shop: customers, events, fresh, hits, only_origin, orders, photos, playlists/);

    const lacking = await run('--keyspace', 'shop', '--tables', 'only_origin');
    assert.match(lacking.stderr, /table shop\.only_origin does not exist on Target \(127\.0\.5\.2:9042\)/);

    const counter = await run('--keyspace', 'shop', '--tables', 'hits');
    assert.match(counter.stderr, /shop\.hits is a counter table \(counter column n\)/);

    const different = await run('--keyspace', 'shop', '--tables', 'fresh,orders');
    assert.equal(different.code, 1);
    assert.match(different.stderr, /table shop\.orders differs on Target .*column total is int on Origin but text on Target/);
    assert.match(different.stderr, /nothing was written/);
    assert.deepEqual(await cql(ctx.topo.target, 'SELECT * FROM shop.fresh'), [], 'the good table listed first was not copied either');

    const validateMissing = await zdmLab(['validate', ...env, '--keyspace', 'shop', '--tables', 'only_origin']);
    assert.equal(validateMissing.code, 1);
    assert.match(validateMissing.stderr, /does not exist on Target/);
  });

  test('Target going down mid-run stops the copy naming the ranges not copied; a rerun completes them', async () => {
    const rows = 40_000;
    await withClient(ctx.topo.origin, async (client) => {
      const insert = 'INSERT INTO shop.events (id, seq, payload) VALUES (?, ?, ?)';
      const writes = new InFlight(64);
      for (let i = 0; i < rows; i++) {
        await writes.run(() => withRetry(DEFAULT_RETRY, () => client.execute(insert, [Math.floor(i / 4), i % 4, `event ${i}`], { prepare: true })));
      }
      await writes.drain();
    });
    const endpoints = { origin: ctx.topo.origin, target: ctx.topo.target };
    const options = { keyspace: 'shop', tables: ['events'], concurrency: 2, writesInFlight: 8, retry: { attempts: 3, firstDelayMs: 300 } };
    let stopping: Promise<void> | undefined;
    const copy = copyTables(endpoints, {
      ...options,
      progress: (line) => {
        const copied = Number(/ ([\d,]+) rows /.exec(line)?.[1].replace(/,/g, '') ?? 0);
        if (!stopping && copied >= 4000) stopping = ctx.backend.stop(ctx.topo.target);
      },
    }, 'zdm-lab migrate --keyspace shop --tables events');
    const error = await copy.then(
      () => assert.fail('the copy should stop when Target is down'),
      (e: unknown) => e,
    );
    await stopping;
    assert.ok(error instanceof IncompleteCopyError, String(error));
    assert.match(error.message, /migrate stopped: writing Target \(127\.0\.5\.2:9042\): .*after 3 attempts/);
    assert.match(error.message, /shop\.events: \d+ of 64 token ranges not copied: \(-?\d+, -?\d+\]/);
    assert.match(error.message, /run zdm-lab migrate --keyspace shop --tables events to complete the copy/);
    assert.ok(error.notCopied[0].ranges.length > 0 && error.notCopied[0].ranges.length < 64, `${error.notCopied[0].ranges.length} ranges left`);

    await startNodes(ctx);
    const rerun = await copyTables(endpoints, options);
    assert.equal(rerun.tables[0].rows, rows);
    const check = await validateTables(endpoints, { keyspace: 'shop', tables: ['events'], reportFile: join(ctx.topo.dir, 'test-events.txt') });
    assert.equal(check.remaining, 0, check.shown.join('\n'));
    assert.equal(check.tables[0].targetRows, rows);
    assert.ok(existsSync(check.reportFile));
  });
});
