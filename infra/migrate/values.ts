/**
 * Comparing and showing CQL values as the Node.js driver returns them. Two
 * values are equal for validate when their canonical strings are equal; the
 * canonical form is exact (blobs in hex, timestamps to the millisecond,
 * numbers and UUIDs through the driver's own toString) and keeps the order
 * Cassandra returns collection elements in, which is the same on any node.
 */
import cassandra from 'cassandra-driver';

export function canonical(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'boolean':
    case 'bigint':
      return String(value);
  }
  if (Buffer.isBuffer(value)) return `0x${value.toString('hex')}`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'invalid date' : value.toISOString();
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${canonical(k)}: ${canonical(v)}`).join(', ')}}`;
  if (value instanceof Set) return `{${[...value].map(canonical).join(', ')}}`;
  if (value instanceof cassandra.types.Tuple) return `(${value.values().map(canonical).join(', ')})`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(', ')}]`;
  if (ArrayBuffer.isView(value)) return `[${Array.from(value as unknown as ArrayLike<number>).map(canonical).join(', ')}]`;
  if (typeof value === 'object') {
    if (Object.getPrototypeOf(value) === Object.prototype) {
      const entries = Object.entries(value as Record<string, unknown>);
      return `{${entries.map(([k, v]) => `${k}: ${canonical(v)}`).join(', ')}}`;
    }
    // Long, Uuid, TimeUuid, BigDecimal, Integer, InetAddress, LocalDate, LocalTime, Duration
    return String(value);
  }
  return String(value);
}

/** A value as a user reads it in a report: text in single quotes, the rest canonical. */
export function display(value: unknown): string {
  if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
  const text = canonical(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
