/**
 * The lab's HTTP API as the browser calls it, typed with the server's own
 * view types. Every call is same-origin with the access cookie; a failure
 * throws with the server's message.
 */
import type { CourseOutline, PageView } from '../server/course.js';
import type { CheckResult, Hand, Progress } from '../progress/store.js';
import type { LifetimeView } from '../instructor/classroom.js';
import { requestJson } from './http.js';

/** The environment this page drives: `?env=K` in the address (the server's URL carries it), else 1. */
export const ENV = Number(new URLSearchParams(location.search).get('env') ?? '1') || 1;

/** `generation` counts the environment's resets: the page starts over when it changes. */
export type ProgressView = Progress & {
  setup: string;
  setupNote: string;
  generation: number;
  hand: Hand | null;
  /** The terminal the instructor shows to the class now, if any. */
  broadcast: { name: string; since: number; yours: boolean } | null;
  lifetime: LifetimeView;
};
export type RunResult = { ok: true; count: number } | { ok: false; error: string; count?: number };

function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  // A run refused with 409 answers with the block's count, which the page shows.
  const alsoOk = method === 'POST' && path.endsWith('/run') ? [409] : [];
  return requestJson<T>(method, path, body, alsoOk);
}

export const api = {
  course: () => call<CourseOutline>('GET', '/api/course'),
  page: (id: string) => call<PageView>('GET', `/api/pages/${encodeURIComponent(id)}`),
  progress: () => call<ProgressView>('GET', `/api/env/${ENV}/progress`),
  visit: (page: string) => call<{ firstTime: boolean }>('POST', `/api/env/${ENV}/visit`, { page }),
  run: (block: string) => call<RunResult>('POST', `/api/env/${ENV}/run`, { block }),
  check: (page: string) => call<CheckResult>('POST', `/api/env/${ENV}/check`, { page }),
  reset: () => call<{ ok: boolean; output: string }>('POST', `/api/env/${ENV}/reset`),
  help: () => call<{ hand: Hand }>('POST', `/api/env/${ENV}/help`),
  extend: () => call<LifetimeView>('POST', `/api/env/${ENV}/extend`),
  wake: () => call<LifetimeView>('POST', `/api/env/${ENV}/wake`),
};
