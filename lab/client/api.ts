/**
 * The lab's HTTP API as the browser calls it, typed with the server's own
 * view types. Every call is same-origin with the access cookie; a failure
 * throws with the server's message.
 */
import type { CourseOutline, PageView } from '../server/course.js';
import type { CheckResult, Progress } from '../progress/store.js';

/** The environment this page drives: `?env=K` in the address (the server's URL carries it), else 1. */
export const ENV = Number(new URLSearchParams(location.search).get('env') ?? '1') || 1;

/** `generation` counts the environment's resets: the page starts over when it changes. */
export type ProgressView = Progress & { setup: string; generation: number };
export type RunResult = { ok: true; count: number } | { ok: false; error: string; count?: number };

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))) as T & { error?: string };
  if (!res.ok && !(method === 'POST' && path.endsWith('/run') && res.status === 409)) throw new Error(data.error ?? `${res.status} ${res.statusText}`);
  return data;
}

export const api = {
  course: () => call<CourseOutline>('GET', '/api/course'),
  page: (id: string) => call<PageView>('GET', `/api/pages/${encodeURIComponent(id)}`),
  progress: () => call<ProgressView>('GET', `/api/env/${ENV}/progress`),
  visit: (page: string) => call<{ firstTime: boolean }>('POST', `/api/env/${ENV}/visit`, { page }),
  run: (block: string) => call<RunResult>('POST', `/api/env/${ENV}/run`, { block }),
  check: (page: string) => call<CheckResult>('POST', `/api/env/${ENV}/check`, { page }),
  reset: () => call<{ ok: boolean; output: string }>('POST', `/api/env/${ENV}/reset`),
};
