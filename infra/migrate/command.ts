/**
 * The `zdm-lab migrate` and `zdm-lab validate` commands as the learner runs
 * them: options checked and turned into a copy or a validation between the
 * environment's Origin and Target nodes, a progress line on stderr, and a
 * summary on stdout. validate exits 1 when differences remain.
 */
import { join } from 'node:path';
import type { LabContext } from '../commands/environment.js';
import { copyTables, formatCopy } from './migrate.js';
import { count, formatDuration, streamProgress, type ProgressSink } from './progress.js';
import { formatValidation, validateTables } from './validate.js';

export interface TableArgs {
  keyspace?: string;
  tables?: string;
  splits?: string;
  concurrency?: string;
}

export interface ValidateArgs extends TableArgs {
  autocorrect?: boolean;
  report?: string;
}

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number, got "${value}"`);
  return n;
}

function tableOptions(command: string, args: TableArgs) {
  if (!args.keyspace) throw new Error(`usage: zdm-lab ${command} --keyspace K [--tables a,b]  (--keyspace is required)`);
  const tables = args.tables?.split(',').map((t) => t.trim()).filter(Boolean);
  return {
    keyspace: args.keyspace,
    tables,
    splits: positive('splits', args.splits),
    concurrency: positive('concurrency', args.concurrency),
  };
}

function commandLine(command: string, args: TableArgs, env: number): string {
  return `zdm-lab ${command} --env ${env} --keyspace ${args.keyspace}${args.tables ? ` --tables ${args.tables}` : ''}`;
}

export async function migrateCommand(ctx: LabContext, args: TableArgs, progress: ProgressSink = streamProgress()): Promise<number> {
  const options = tableOptions('migrate', args);
  const { topo, print } = ctx;
  print(`copying ${options.keyspace}${options.tables ? ` (${options.tables.join(', ')})` : ''} from Origin ${topo.origin.address}:${topo.origin.port} to Target ${topo.target.address}:${topo.target.port}, keeping writetimes and TTLs`);
  const started = Date.now();
  const result = await copyTables({ origin: topo.origin, target: topo.target }, { ...options, progress }, commandLine('migrate', args, topo.env));
  for (const warning of result.warnings) print(`note: ${warning}`);
  for (const table of result.tables) print(formatCopy(table));
  const rows = result.tables.reduce((sum, t) => sum + t.rows, 0);
  print(`migrate complete: ${count(rows)} rows in ${formatDuration(Date.now() - started)}; check with: ${commandLine('validate', args, topo.env)}`);
  return 0;
}

export async function validateCommand(ctx: LabContext, args: ValidateArgs, progress: ProgressSink = streamProgress()): Promise<number> {
  const options = tableOptions('validate', args);
  const { topo, print } = ctx;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const reportFile = args.report ?? join(topo.dir, 'reports', `validate-${options.keyspace}-${stamp}.txt`);
  const result = await validateTables({ origin: topo.origin, target: topo.target }, { ...options, autocorrect: args.autocorrect, reportFile, progress });
  for (const table of result.tables) print(formatValidation(table));
  const found = result.tables.reduce((sum, t) => sum + t.missing + t.mismatched + t.extra, 0);
  if (found) {
    print(`first ${result.shown.length} of ${count(found)} differences:`);
    for (const line of result.shown) print(`  ${line}`);
    print(`all differences: ${result.reportFile}`);
  }
  if (result.remaining === 0) {
    print(found ? `every difference was corrected from Origin: Origin and Target agree` : `Origin and Target agree`);
    return 0;
  }
  print(
    args.autocorrect
      ? `${count(result.remaining)} differences remain (rows only on Target are never deleted)`
      : `${count(result.remaining)} differences: rerun with --autocorrect to rewrite missing and different rows from Origin`,
  );
  return 1;
}
