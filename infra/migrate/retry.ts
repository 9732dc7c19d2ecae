/**
 * Retrying a statement that failed because a node was unreachable, slow or
 * overloaded. Every statement migrate and validate send is idempotent (a
 * write carries its own writetime), so repeating one is always safe. Errors
 * that another attempt cannot fix (bad CQL, wrong schema, no permission)
 * are thrown at once.
 */
import cassandra from 'cassandra-driver';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Wait before the second attempt; doubled before each further one. */
  firstDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, firstDelayMs: 500 };

const codes = cassandra.types.responseErrorCodes;
const permanent = new Set<number>([codes.syntaxError, codes.unauthorized, codes.invalid, codes.configError, codes.alreadyExists]);

export function isRetryable(error: unknown): boolean {
  if (error instanceof cassandra.errors.ResponseError) return !permanent.has(error.code);
  return !(error instanceof TypeError || error instanceof cassandra.errors.ArgumentError);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withRetry<T>(policy: RetryPolicy, fn: () => Promise<T>, shouldStop: () => boolean = () => false): Promise<T> {
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= policy.attempts || !isRetryable(error) || shouldStop()) throw error;
      await sleep(delay);
      delay *= 2;
    }
  }
}

/** A driver error in one line, without the stack or the per-host breakdown's noise. */
export function errorLine(error: unknown): string {
  if (error instanceof cassandra.errors.NoHostAvailableError) {
    const inner = Object.entries(error.innerErrors ?? {}).map(([host, e]) => `${host}: ${String((e as Error).message).split('\n')[0]}`);
    return `no node available${inner.length ? ` (${inner.join('; ')})` : ''}`;
  }
  return (error as Error)?.message ?? String(error);
}
