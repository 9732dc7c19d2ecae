/**
 * Retrying a statement that failed because a node was unreachable, slow or
 * overloaded. Every statement migrate and validate send is idempotent (a
 * write carries its own writetime), so repeating one is always safe. Errors
 * that another attempt cannot fix (bad CQL, wrong schema, no permission)
 * are thrown at once.
 */
import cassandra from 'cassandra-driver';
import pRetry from 'p-retry';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Wait before the second attempt; doubled before each further one, with jitter (×1 to ×2). */
  firstDelayMs: number;
  /** No wait is longer than this (default 10 s). */
  maxDelayMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, firstDelayMs: 500 };

const codes = cassandra.types.responseErrorCodes;
const permanent = new Set<number>([codes.syntaxError, codes.unauthorized, codes.invalid, codes.configError, codes.alreadyExists]);

export function isRetryable(error: unknown): boolean {
  if (error instanceof cassandra.errors.ResponseError) return !permanent.has(error.code);
  return !(error instanceof TypeError || error instanceof cassandra.errors.ArgumentError);
}

/**
 * Runs fn, again after a growing, jittered pause while it fails with an
 * error worth retrying, up to the policy's attempts; `shouldStop` ends the
 * retries early (the copy is being stopped). The last error is thrown as is.
 */
export function withRetry<T>(policy: RetryPolicy, fn: () => Promise<T>, shouldStop: () => boolean = () => false): Promise<T> {
  return pRetry(fn, {
    retries: policy.attempts - 1,
    minTimeout: policy.firstDelayMs,
    maxTimeout: policy.maxDelayMs ?? 10_000,
    factor: 2,
    randomize: true,
    shouldRetry: ({ error }) => isRetryable(error) && !shouldStop(),
  });
}

/** A driver error in one line, without the stack or the per-host breakdown's noise. */
export function errorLine(error: unknown): string {
  if (error instanceof cassandra.errors.NoHostAvailableError) {
    const inner = Object.entries(error.innerErrors ?? {}).map(([host, e]) => `${host}: ${String((e as Error).message).split('\n')[0]}`);
    return `no node available${inner.length ? ` (${inner.join('; ')})` : ''}`;
  }
  return (error as Error)?.message ?? String(error);
}
