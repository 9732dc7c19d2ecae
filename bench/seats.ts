/**
 * Warm seats benchmark on the ZDM course: the time from "create a learner's
 * environment" (the instructor API) to a ready first page (its setup done,
 * "Ready for Step 1", and the first page served), without a warm seat and,
 * in the same run, with one kept ready. Goal: under 2 s with a warm seat.
 *
 *   npx tsx bench/seats.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab } from '../lab/server/app.js';

const root = new URL('..', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'bench-seats-'));
const lab = await startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, environmentId: null });

async function call(method: string, path: string, token: string, body?: unknown): Promise<any> {
  const res = await fetch(new URL(path, lab.url), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Seconds from the create call to the learner's first page ready (setup done, page served), as the learner's token sees it. */
async function createToReady(name: string): Promise<{ env: number; seconds: number; warm: boolean }> {
  const started = performance.now();
  const created = await call('POST', '/api/instructor/environments', lab.instructorToken, { name });
  const token = new URL(created.inviteUrl).searchParams.get('token')!;
  let last = '';
  for (;;) {
    const progress = await call('GET', `/api/env/${created.env}/progress`, token);
    if (progress.setup === 'failed') throw new Error(`environment ${created.env}'s setup failed`);
    if (progress.setup === 'done') break;
    const line = `  ${name}: setting up (${((performance.now() - started) / 1000).toFixed(0)} s)`;
    if (line !== last) process.stderr.write(`${line}\n`);
    last = line;
    await new Promise((r) => setTimeout(r, 200));
  }
  await call('GET', '/api/pages/intro', token);
  return { env: created.env, seconds: (performance.now() - started) / 1000, warm: created.warm };
}

try {
  const cold = await createToReady('cold learner');
  await call('DELETE', `/api/instructor/environments/${cold.env}`, lab.instructorToken);

  process.stderr.write('keeping one warm seat ready\n');
  await call('POST', '/api/instructor/seats', lab.instructorToken, { reserved: 1 });
  for (let s = 0; (await call('GET', '/api/instructor/environments', lab.instructorToken)).seats.ready < 1; s++) {
    if (s % 25 === 0) process.stderr.write(`  the warm seat is starting (${s / 5} s)\n`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const warm = await createToReady('warm learner');
  if (!warm.warm) throw new Error('the learner did not get the warm seat');

  console.log(`create → first page ready, without a warm seat: ${cold.seconds.toFixed(1)} s (the course's setup: two Cassandra nodes started)`);
  console.log(`create → first page ready, from a warm seat:    ${warm.seconds.toFixed(2)} s (goal < 2 s)`);
  await call('POST', '/api/instructor/seats', lab.instructorToken, { reserved: 0 });
  await call('DELETE', `/api/instructor/environments/${warm.env}`, lab.instructorToken);
} finally {
  for (const env of [...lab.environments.keys()]) await lab.classroom.destroy(env).catch(() => undefined);
  await lab.close();
  rmSync(dataDir, { recursive: true, force: true });
}
