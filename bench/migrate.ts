/**
 * Migrate and validate benchmark: fills Origin's zdmapp.user_status with N
 * rows (default 1,000,000), measures this machine's write limit as a plain
 * concurrent insert load of N rows from the same driver into a table of the
 * same shape on Target, then times migrate and validate of those N rows.
 * Prints rows/s of each and how they compare with the goals: migrate at
 * least 70% of the write limit, validate at least 100% of it.
 *
 *   npx tsx bench/migrate.ts [--rows N] [--env K]
 */
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { infraUp, type LabContext } from '../infra/commands/environment.js';
import { selectBackend } from '../infra/backends/select.js';
import { runCqlFile } from '../infra/cql/client.js';
import { InFlight } from '../infra/migrate/concurrency.js';
import { bulkClient } from '../infra/migrate/connect.js';
import { copyTables } from '../infra/migrate/migrate.js';
import { count, streamProgress } from '../infra/migrate/progress.js';
import { validateTables } from '../infra/migrate/validate.js';
import { SCHEMA_FILE } from '../infra/commands/environment.js';
import { topology, type NodeSpec } from '../infra/topology.js';
import { join } from 'node:path';

const { values } = parseArgs({ options: { rows: { type: 'string' }, env: { type: 'string' }, inflight: { type: 'string' } } });
const ROWS = Number(values.rows ?? 1_000_000);
const ENV = Number(values.env ?? 5);
const IN_FLIGHT = Number(values.inflight ?? 256);
const STATUSES_PER_USER = 10;

const ctx: LabContext = {
  topo: topology(ENV),
  backend: selectBackend('local'),
  report: (m) => process.stderr.write(`  ${m}\n`),
  print: (m) => process.stderr.write(`  ${m}\n`),
};

async function session(node: NodeSpec): Promise<cassandra.Client> {
  const client = bulkClient(node);
  await client.connect();
  return client;
}

function row(i: number): [string, Date, string] {
  return [`user-${Math.floor(i / STATUSES_PER_USER)}`, new Date(Date.UTC(2024, 0, 1) + (i % STATUSES_PER_USER) * 3_600_000), `status number ${i} of the benchmark`];
}

/** N single-row INSERTs with `IN_FLIGHT` in flight: the plain write load. Returns rows/s. */
async function insertLoad(client: cassandra.Client, table: string, label: string): Promise<number> {
  const cql = `INSERT INTO ${table} (user, when, status) VALUES (?, ?, ?)`;
  const writer = new InFlight(IN_FLIGHT);
  const progress = streamProgress();
  const started = Date.now();
  for (let i = 0; i < ROWS; i++) {
    await writer.run(() => client.execute(cql, row(i), { prepare: true, isIdempotent: true }));
    if (i % 10_000 === 0) progress(`${label}: ${count(i)} rows`, false);
  }
  await writer.drain();
  const rate = ROWS / ((Date.now() - started) / 1000);
  progress(`${label}: ${count(ROWS)} rows, ${count(rate)} rows/s`, true);
  return rate;
}

process.stderr.write(`environment ${ENV}: bringing up Origin and Target\n`);
await infraUp(ctx);
const origin = await session(ctx.topo.origin);
const target = await session(ctx.topo.target);
for (const client of [origin, target]) {
  await client.execute('DROP KEYSPACE IF EXISTS zdmapp');
  await client.execute('DROP KEYSPACE IF EXISTS zdmbench');
  await runCqlFile(client, SCHEMA_FILE);
}
await target.execute("CREATE KEYSPACE zdmbench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
await target.execute('CREATE TABLE zdmbench.user_status (user text, when timestamp, status text, PRIMARY KEY ((user), when)) WITH CLUSTERING ORDER BY (when DESC)');

const seedRate = await insertLoad(origin, 'zdmapp.user_status', 'filling Origin');
const limit = await insertLoad(target, 'zdmbench.user_status', 'write limit: plain inserts into Target');
await Promise.all([origin.shutdown(), target.shutdown()]);

const endpoints = { origin: ctx.topo.origin, target: ctx.topo.target };
const copy = await copyTables(endpoints, { keyspace: 'zdmapp', tables: ['user_status'], progress: streamProgress() });
const migrated = copy.tables[0];
const migrateRate = migrated.rows / (migrated.ms / 1000);

const check = await validateTables(endpoints, {
  keyspace: 'zdmapp',
  tables: ['user_status'],
  reportFile: join(ctx.topo.dir, 'reports', 'bench-validate.txt'),
  progress: streamProgress(),
});
const validated = check.tables[0];
const validateRate = validated.originRows / (validated.ms / 1000);

const pct = (rate: number) => `${Math.round((rate / limit) * 100)}% of the write limit`;
console.log(`rows                                  ${count(ROWS)}`);
console.log(`filling Origin (plain inserts)        ${count(seedRate)} rows/s`);
console.log(`write limit (plain inserts, Target)   ${count(limit)} rows/s  (${IN_FLIGHT} in flight)`);
console.log(`migrate                               ${count(migrateRate)} rows/s  ${pct(migrateRate)} (goal 70%)  ${migrated.rows === ROWS ? '' : `ROWS COPIED: ${migrated.rows}`}`);
console.log(`validate                              ${count(validateRate)} rows/s  ${pct(validateRate)} (goal 100%)  ${check.remaining === 0 ? 'no differences' : `${check.remaining} DIFFERENCES`}`);
process.exit(0);
