/**
 * The Murmur3 token ring cut into sub-ranges that migrate and validate scan
 * in parallel. A range is (start, end]: `token(pk) > start AND token(pk) <= end`.
 * The ring's minimum token is never a partition's token, so the ranges of one
 * split cover every partition exactly once.
 */
import cassandra from 'cassandra-driver';

export const MIN_TOKEN = -(2n ** 63n);
export const MAX_TOKEN = 2n ** 63n - 1n;

export interface TokenRange {
  start: bigint;
  end: bigint;
}

export function splitRing(count: number): TokenRange[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`the number of token ranges must be a positive integer, got ${count}`);
  const width = (MAX_TOKEN - MIN_TOKEN) / BigInt(count);
  return Array.from({ length: count }, (_, i) => ({
    start: MIN_TOKEN + width * BigInt(i),
    end: i === count - 1 ? MAX_TOKEN : MIN_TOKEN + width * BigInt(i + 1),
  }));
}

export function formatRange(range: TokenRange): string {
  return `(${range.start}, ${range.end}]`;
}

export function rangeParams(range: TokenRange): cassandra.types.Long[] {
  return [cassandra.types.Long.fromString(range.start.toString()), cassandra.types.Long.fromString(range.end.toString())];
}

/** How far into the range a token lies, from 0 to 1 (for progress and ETA). */
export function rangeFraction(range: TokenRange, token: cassandra.types.Long | bigint): number {
  const t = typeof token === 'bigint' ? Number(token) : token.toNumber();
  const done = (t - Number(range.start)) / Number(range.end - range.start);
  return Math.min(1, Math.max(0, done));
}
