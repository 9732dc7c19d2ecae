/**
 * Phase 2 for real: Origin holds rows written before the proxies existed,
 * three real zdm-proxy instances dual-write an application's new rows and
 * updates to both clusters, and `zdm-lab migrate` copies the history while
 * those writes go on. Afterwards `zdm-lab validate` finds no difference and
 * no row on Target holds a value older than the last update the application
 * had acknowledged for it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import cassandra from 'cassandra-driver';
import { SCHEMA_FILE, type LabContext } from '../../infra/commands/environment.js';
import { proxyDeploy } from '../../infra/commands/proxy.js';
import { cqlClient, runCqlFile, withClient } from '../../infra/cql/client.js';
import { InFlight } from '../../infra/migrate/concurrency.js';
import { DEFAULT_RETRY, withRetry } from '../../infra/migrate/retry.js';
import { zdmLab } from '../support/cli.js';
import { freshEnvironment, stopEnvironment, zdmProxyUnavailable } from '../support/lab.js';

const ENV = 5;
const USERS = 2000;
const STATUSES_PER_USER = 10;
const DAY = 86_400_000;
const historyStart = Date.UTC(2024, 0, 1);

let ctx: LabContext | undefined;
const skip = await zdmProxyUnavailable();

/** The key of a user_status row, as the writer and the checks name it. */
const keyOf = (user: string, when: Date) => `${user}@${when.toISOString()}`;

interface Writer {
  stop(): Promise<void>;
  acknowledged: Map<string, { user: string; when: Date; status: string }>;
  counts: { updates: number; inserts: number; errors: string[] };
}

/**
 * The application during Phase 2: through the proxies, it updates statuses
 * written before the migration and inserts new ones, a few at a time, never
 * two writes to the same row at once, and remembers what was acknowledged.
 */
function startWriter(client: cassandra.Client): Writer {
  const acknowledged: Writer['acknowledged'] = new Map();
  const counts = { updates: 0, inserts: 0, errors: [] as string[] };
  const busy = new Set<string>();
  let running = true;
  let sequence = 0;
  const insert = 'INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?)';
  const loop = async () => {
    while (running) {
      const n = sequence++;
      const update = n % 2 === 0;
      const user = update ? `user-${Math.floor(Math.random() * USERS)}` : `live-${n % 50}`;
      const when = update ? new Date(historyStart + Math.floor(Math.random() * STATUSES_PER_USER) * DAY) : new Date(Date.UTC(2025, 0, 1) + n);
      const key = keyOf(user, when);
      if (busy.has(key)) continue;
      busy.add(key);
      const status = `${update ? 'updated' : 'new'} #${n}`;
      try {
        // as a careful application does: an idempotent write that timed out is sent again until acknowledged
        await withRetry({ attempts: 10, firstDelayMs: 100 }, () => client.execute(insert, [user, when, status], { prepare: true, isIdempotent: true }));
        acknowledged.set(key, { user, when, status });
        if (update) counts.updates++;
        else counts.inserts++;
      } catch (error) {
        counts.errors.push((error as Error).message);
      } finally {
        busy.delete(key);
      }
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  return {
    acknowledged,
    counts,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('migrate under live dual writes through real ZDM proxies', { timeout: 600_000, skip }, () => {
  before(async () => {
    ctx = await freshEnvironment(ENV);
    await withClient(ctx.topo.target, async (client) => {
      await client.execute('DROP KEYSPACE IF EXISTS zdmapp');
      await runCqlFile(client, SCHEMA_FILE);
    });
    // history written straight to Origin, a day ago, before any proxy existed
    const writtenAt = (Date.now() - DAY) * 1000;
    await withClient(ctx.topo.origin, async (client) => {
      const insert = `INSERT INTO zdmapp.user_status (user, when, status) VALUES (?, ?, ?) USING TIMESTAMP ${writtenAt}`;
      const writes = new InFlight(64);
      for (let u = 0; u < USERS; u++) {
        for (let s = 0; s < STATUSES_PER_USER; s++) {
          const params = [`user-${u}`, new Date(historyStart + s * DAY), `historical ${s}`];
          await writes.run(() => withRetry(DEFAULT_RETRY, () => client.execute(insert, params, { prepare: true })));
        }
      }
      await writes.drain();
    });
    await proxyDeploy(ctx);
  });

  after(async () => {
    if (ctx) await stopEnvironment(ctx);
  });

  test('validate finds no difference and Target holds every acknowledged update', async () => {
    const { topo } = ctx!;
    const app = cqlClient(topo.proxies[0]);
    await app.connect();
    const writer = startWriter(app);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const before = writer.counts.updates;
      const migrate = await zdmLab(['migrate', '--env', String(ENV), '--keyspace', 'zdmapp', '--tables', 'user_status']);
      assert.equal(migrate.code, 0, migrate.stdout + migrate.stderr);
      assert.match(migrate.stdout, /migrate complete/);
      const during = writer.counts.updates - before;
      assert.ok(during >= 100, `only ${during} updates went through the proxies while migrate ran`);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await writer.stop();
      await app.shutdown();
    }
    assert.deepEqual(writer.counts.errors.slice(0, 3), [], 'the application saw no write error');

    const validate = await zdmLab(['validate', '--env', String(ENV), '--keyspace', 'zdmapp']);
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
    assert.match(validate.stdout, /zdmapp\.user_status: [\d,]+ rows on Origin, [\d,]+ on Target.*: no differences/);

    const stale: string[] = [];
    await withClient(topo.target, async (client) => {
      for (const [key, last] of writer.acknowledged) {
        const rs = await client.execute('SELECT status FROM zdmapp.user_status WHERE user = ? AND when = ?', [last.user, last.when], { prepare: true });
        const found = rs.rows[0]?.status;
        if (found !== last.status) stale.push(`${key}: Target has ${found ?? 'nothing'}, last acknowledged ${last.status}`);
      }
    });
    assert.ok(writer.acknowledged.size > 200, `${writer.acknowledged.size} rows written through the proxies`);
    assert.deepEqual(stale.slice(0, 5), [], `${stale.length} rows on Target are older than their last acknowledged write`);
  });
});
