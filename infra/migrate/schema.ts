/**
 * What migrate and validate know about a table, read from the driver's schema
 * metadata: its partition and clustering keys, its static and regular
 * columns, and which of them are multi-cell (non-frozen collections and
 * UDTs, whose elements each carry their own writetime and TTL). This is also
 * where bad input is refused before anything is written: an unknown keyspace
 * or table, a counter table, a table Target lacks or declares differently.
 */
import cassandra from 'cassandra-driver';

type DataType = { code: number; info?: unknown; options?: { frozen?: boolean } };

const codes = cassandra.types.dataTypes;

/** A non-frozen collection or UDT: stored as one cell per element or field. */
export type MultiCell = 'set' | 'map' | 'list' | 'udt';

export interface ColumnShape {
  name: string;
  /** The CQL type as it would be declared, e.g. `frozen<list<text>>`. */
  type: string;
  kind: 'partition' | 'clustering' | 'static' | 'regular';
  multiCell?: MultiCell;
  /** Field names of a non-frozen UDT, in declaration order. */
  fields?: string[];
}

export interface TableShape {
  keyspace: string;
  table: string;
  partitionKeys: ColumnShape[];
  clusteringKeys: ColumnShape[];
  /** Static and regular columns, in the order the metadata lists them. */
  cells: ColumnShape[];
}

export class SchemaError extends Error {}

export function qualified(shape: { keyspace: string; table: string }): string {
  return `${shape.keyspace}.${shape.table}`;
}

export function typeName(type: DataType): string {
  const frozen = type.options?.frozen;
  const wrap = (s: string) => (frozen ? `frozen<${s}>` : s);
  switch (type.code) {
    case codes.list:
      return wrap(`list<${typeName(type.info as DataType)}>`);
    case codes.set:
      return wrap(`set<${typeName(type.info as DataType)}>`);
    case codes.map: {
      const [k, v] = type.info as DataType[];
      return wrap(`map<${typeName(k)}, ${typeName(v)}>`);
    }
    case codes.tuple:
      return `frozen<tuple<${(type.info as DataType[]).map(typeName).join(', ')}>>`;
    case codes.udt: {
      const info = type.info as { name: string; fields: { name: string; type: DataType }[] };
      return wrap(`${info.name}{${info.fields.map((f) => `${f.name} ${typeName(f.type)}`).join(', ')}}`);
    }
    case codes.custom:
      return String(type.info);
    default: {
      const name = Object.entries(codes).find(([, code]) => code === type.code)?.[0];
      return name === 'varchar' ? 'text' : (name ?? `type ${type.code}`);
    }
  }
}

function multiCellOf(type: DataType): MultiCell | undefined {
  if (type.options?.frozen) return undefined;
  if (type.code === codes.set) return 'set';
  if (type.code === codes.map) return 'map';
  if (type.code === codes.list) return 'list';
  if (type.code === codes.udt) return 'udt';
  return undefined;
}

function isCounter(type: DataType): boolean {
  return type.code === codes.counter;
}

/** Reads a table's shape; undefined when the table does not exist. */
export async function readTableShape(client: cassandra.Client, keyspace: string, table: string): Promise<TableShape | undefined> {
  const meta = await client.metadata.getTable(keyspace, table);
  if (!meta) return undefined;
  const keyNames = new Set([...meta.partitionKeys, ...meta.clusteringKeys].map((c) => c.name));
  const column = (c: cassandra.metadata.ColumnInfo, kind: ColumnShape['kind']): ColumnShape => {
    const type = c.type as DataType;
    const shape: ColumnShape = { name: c.name, type: typeName(type), kind };
    const multi = kind === 'static' || kind === 'regular' ? multiCellOf(type) : undefined;
    if (multi) shape.multiCell = multi;
    if (multi === 'udt') shape.fields = (type.info as { fields: { name: string }[] }).fields.map((f) => f.name);
    return shape;
  };
  const counters = meta.columns.filter((c) => isCounter(c.type as DataType)).map((c) => c.name);
  if (counters.length) {
    throw new SchemaError(
      `${keyspace}.${table} is a counter table (counter column${counters.length > 1 ? 's' : ''} ${counters.join(', ')}): ` +
        'a counter cannot be copied with its writetime, because writing one adds to it instead of setting it; ' +
        'leave it out with --tables and copy it another way',
    );
  }
  return {
    keyspace,
    table,
    partitionKeys: meta.partitionKeys.map((c) => column(c, 'partition')),
    clusteringKeys: meta.clusteringKeys.map((c) => column(c, 'clustering')),
    cells: meta.columns
      .filter((c) => !keyNames.has(c.name))
      .map((c) => column(c, (c as { isStatic?: boolean }).isStatic ? 'static' : 'regular')),
  };
}

export function keyColumns(shape: TableShape): ColumnShape[] {
  return [...shape.partitionKeys, ...shape.clusteringKeys];
}

export function allColumns(shape: TableShape): ColumnShape[] {
  return [...keyColumns(shape), ...shape.cells];
}

/**
 * Why Target's table cannot receive Origin's rows, one line per problem:
 * keys must be identical, and every column of Origin must exist on Target
 * with the same type and kind. Extra regular columns on Target are fine.
 */
export function schemaDifferences(origin: TableShape, target: TableShape): string[] {
  const problems: string[] = [];
  const keys = (cols: ColumnShape[]) => `(${cols.map((c) => `${c.name} ${c.type}`).join(', ')})`;
  if (keys(origin.partitionKeys) !== keys(target.partitionKeys)) {
    problems.push(`partition key is ${keys(origin.partitionKeys)} on Origin but ${keys(target.partitionKeys)} on Target`);
  }
  if (keys(origin.clusteringKeys) !== keys(target.clusteringKeys)) {
    problems.push(`clustering key is ${keys(origin.clusteringKeys)} on Origin but ${keys(target.clusteringKeys)} on Target`);
  }
  const targetCells = new Map(target.cells.map((c) => [c.name, c]));
  for (const cell of origin.cells) {
    const other = targetCells.get(cell.name);
    if (!other) problems.push(`column ${cell.name} (${cell.type}) is missing on Target`);
    else if (other.type !== cell.type) problems.push(`column ${cell.name} is ${cell.type} on Origin but ${other.type} on Target`);
    else if (other.kind !== cell.kind) problems.push(`column ${cell.name} is ${cell.kind} on Origin but ${other.kind} on Target`);
  }
  return problems;
}

async function tableNames(client: cassandra.Client, keyspace: string): Promise<string[]> {
  const rs = await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [keyspace], { prepare: true });
  return rs.rows.map((r) => String(r.table_name)).sort();
}

async function keyspaceNames(client: cassandra.Client): Promise<string[]> {
  const rs = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces');
  return rs.rows.map((r) => String(r.keyspace_name)).filter((k) => !k.startsWith('system')).sort();
}

/** CQL names are case-insensitive unless quoted: accept `Users` for users, and `"Users"` for exactly that. */
function matchName(given: string, known: string[]): string | undefined {
  if (/^".*"$/.test(given)) return known.find((k) => k === given.slice(1, -1));
  return known.find((k) => k === given) ?? known.find((k) => k === given.toLowerCase());
}

export interface Endpoints {
  origin: { client: cassandra.Client; where: string };
  target: { client: cassandra.Client; where: string };
}

/**
 * Resolves the tables to work on and checks each against Target. Throws a
 * SchemaError naming every problem found, so nothing is written unless all
 * the requested tables can be copied.
 */
export async function resolveTables(ends: Endpoints, keyspace: string, tables?: string[]): Promise<TableShape[]> {
  const { origin, target } = ends;
  const originKeyspaces = await keyspaceNames(origin.client);
  const ks = matchName(keyspace, originKeyspaces);
  if (!ks) {
    throw new SchemaError(
      `keyspace "${keyspace}" does not exist on Origin (${origin.where}); keyspaces there: ${originKeyspaces.join(', ') || '(none)'}`,
    );
  }
  const available = await tableNames(origin.client, ks);
  let names: string[];
  if (tables && tables.length) {
    const unknown = tables.filter((t) => !matchName(t, available));
    if (unknown.length) {
      throw new SchemaError(
        `table${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `${ks}.${t}`).join(', ')} not found on Origin (${origin.where}); ` +
          `tables in ${ks}: ${available.join(', ') || '(none)'}`,
      );
    }
    names = tables.map((t) => matchName(t, available)!);
  } else {
    names = available;
    if (!names.length) throw new SchemaError(`keyspace ${ks} on Origin (${origin.where}) has no tables to copy`);
  }

  const targetKeyspaces = await keyspaceNames(target.client);
  if (!targetKeyspaces.includes(ks)) {
    throw new SchemaError(
      `keyspace ${ks} does not exist on Target (${target.where}): create the schema on Target first ` +
        `(for the lab's own keyspace: zdm-lab cqlsh target -f infra/schema/zdmapp.cql)`,
    );
  }
  const problems: string[] = [];
  const shapes: TableShape[] = [];
  for (const name of names) {
    const originShape = await readTableShape(origin.client, ks, name);
    if (!originShape) throw new SchemaError(`table ${ks}.${name} vanished from Origin while reading its schema`);
    const targetShape = await readTableShape(target.client, ks, name);
    if (!targetShape) {
      problems.push(`table ${ks}.${name} does not exist on Target (${target.where}): create it with the same schema as on Origin`);
      continue;
    }
    const differences = schemaDifferences(originShape, targetShape);
    if (differences.length) problems.push(`table ${ks}.${name} differs on Target (${target.where}): ${differences.join('; ')}`);
    shapes.push(originShape);
  }
  if (problems.length) throw new SchemaError(`${problems.join('\n')}\nnothing was written`);
  return shapes;
}

/**
 * Runs a scan over a tiny token range on Origin, so that a query the node
 * cannot answer (an older Cassandra refuses WRITETIME on a non-frozen
 * collection) is refused before anything is written.
 */
export async function checkScan(origin: Endpoints['origin'], shape: TableShape, cql: string): Promise<void> {
  const tiny = [cassandra.types.Long.fromNumber(0), cassandra.types.Long.fromNumber(1)];
  try {
    await origin.client.execute(cql, tiny, { prepare: true, fetchSize: 1 });
  } catch (error) {
    throw new SchemaError(`cannot read ${qualified(shape)} from Origin (${origin.where}): ${(error as Error).message}\nnothing was written`);
  }
}
