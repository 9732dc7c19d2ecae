/**
 * The instructor's side of the server: the console page (`/instructor`, its
 * script bundled with esbuild at start) and the JSON API it and
 * `zdm-lab env …` call. Every route here needs the instructor token (the
 * access layer refuses learners). Listing answers at once; a reset answers as
 * newline-delimited JSON, one `InstructorEvent` a line, so a "reset to step
 * N" shows the autopilot's progress as it happens; a client that hangs up
 * does not stop the reset, only a play is cancelled with it.
 *
 *   GET    /api/instructor/environments             → { environments: EnvironmentView[], capacity }
 *   POST   /api/instructor/environments             { name?, env? } → 201 EnvironmentCreated
 *   POST   /api/instructor/environments/:env/reset  { to? } → NDJSON InstructorEvent lines
 *   DELETE /api/instructor/environments/:env        → { env, ok, output }
 *   DELETE /api/instructor/environments/:env/help   → { env, cleared }   (the learner's raised hand goes down)
 *   GET    /api/instructor/progress.csv             → the class's progress, one row per learner
 *   POST   /api/instructor/lifetime                 { idleMinutes?, lifetimeMinutes?, extendLimitMinutes? } → LifetimeRules
 *   POST   /api/instructor/seats                    { reserved } → SeatsView   (warm seats kept ready for learners to come)
 *   POST   /api/instructor/broadcast                { env, terminal } → { broadcast }   (shown to every learner, read-only)
 *   DELETE /api/instructor/broadcast                → { broadcast: null }
 *   GET    /api/instructor/environments/:env/recordings            → { recordings: RecordingView[] }
 *   GET    /api/instructor/environments/:env/recordings/:terminal  → the terminal's asciicast (`?part=earlier`: the part set aside; `?download=1`: as a file)
 *
 * Watching a learner's terminal and taking it over go through the terminal
 * socket (`/ws/terminal?…&watch=1`, see terminals.ts).
 */
import express, { type Express, type Response } from 'express';
import { describeCapacity, type Capacity } from '../instructor/capacity.js';
import { type ClientBundle, escapeHtml } from './client.js';
import { allowWasm } from './headers.js';
import { CapacityError, Classroom, ClassroomError, type EnvironmentRow, type LifetimeRules, type ResetOutcome, type SeatsView } from '../instructor/classroom.js';
import type { Broadcast, BroadcastView } from './broadcast.js';

export interface EnvironmentView extends EnvironmentRow {
  /** The learner's personal link: opens their environment and nothing else. */
  inviteUrl: string;
}

export interface EnvironmentList {
  /** Each page says whether a reset to it restores a saved state (fast) rather than playing the pages before it. */
  course: { title: string; pages: { id: string; title: string; saved: boolean }[]; terminals: { id: string; name: string }[] };
  environments: EnvironmentView[];
  capacity: Capacity;
  /** The capacity in one line: how many more fit by memory and by CPU, and which runs out first. */
  capacityText: string;
  /** The terminal shown to the class now, if any. */
  broadcast: BroadcastView | null;
  seats: SeatsView;
  rules: LifetimeRules;
  /** Whether the course can put idle environments to sleep (it declares a suspend command). */
  canSleep: boolean;
}

export interface EnvironmentCreated {
  env: number;
  name: string;
  inviteUrl: string;
  /** It was a warm seat: set up already. */
  warm: boolean;
}

/** A terminal's recording as the console lists it. */
export interface RecordingView {
  terminal: string;
  name: string;
  bytes: number;
  /** Older output set aside once the recording passed its cap. */
  earlierPart: boolean;
}

export type InstructorEvent = { type: 'progress'; line: string } | { type: 'done'; result: ResetOutcome } | { type: 'error'; message: string };

export function setupInstructorRoutes(app: Express, classroom: Classroom, bundle: ClientBundle, baseUrl: () => string, broadcast: Broadcast): void {
  const json = express.json({ limit: '4kb' });
  const invite = (env: number) => `${baseUrl()}?token=${classroom.tokenOf(env)}&env=${env}`;
  const html = bundle.html.replaceAll('{{title}}', escapeHtml(classroom.course.title));

  app.get('/instructor', (_req, res) => {
    allowWasm(res);
    res.type('html').set('Cache-Control', 'no-store').send(html);
  });
  app.get('/instructor.js', (_req, res) => {
    res.type('js').set('Cache-Control', 'no-cache').send(bundle.js);
  });
  app.get('/instructor.css', (_req, res) => {
    res.type('css').set('Cache-Control', 'no-cache').send(bundle.css);
  });

  app.get('/api/instructor/environments', async (_req, res) => {
    const rows = await classroom.rows();
    const capacity = classroom.capacity();
    const list: EnvironmentList = {
      course: {
        title: classroom.course.title,
        pages: classroom.course.pages.map((p) => ({ id: p.id, title: p.title, saved: classroom.shelf?.has(p.id) ?? false })),
        terminals: classroom.course.terminals.map((t) => ({ id: t.id, name: t.name })),
      },
      environments: rows.map((r) => ({ ...r, inviteUrl: invite(r.env) })),
      capacity,
      capacityText: describeCapacity(capacity),
      broadcast: broadcast.target ?? null,
      seats: classroom.seats(),
      rules: classroom.rules(),
      canSleep: classroom.course.suspend !== undefined,
    };
    res.set('Cache-Control', 'no-store').json(list);
  });

  app.get('/api/instructor/progress.csv', (_req, res) => {
    const day = new Date().toISOString().slice(0, 10);
    res.set('Cache-Control', 'no-store').attachment(`class-progress-${day}.csv`).type('text/csv').send(classroom.progressCsv());
  });

  app.get('/api/instructor/environments/:env/recordings', (req, res) => {
    try {
      const recordings: RecordingView[] = classroom
        .get(Number(req.params.env))
        .recordings()
        .map(({ terminal, info }) => ({
          terminal,
          name: classroom.course.terminals.find((t) => t.id === terminal)?.name ?? terminal,
          bytes: info.bytes,
          earlierPart: info.earlierPart !== undefined,
        }));
      res.set('Cache-Control', 'no-store').json({ recordings });
    } catch (err) {
      fail(res, err);
    }
  });

  app.get('/api/instructor/environments/:env/recordings/:terminal', (req, res) => {
    const env = Number(req.params.env);
    try {
      // the terminal is looked up among the recordings, never used as a path
      const found = classroom.get(env).recordings().find((r) => r.terminal === req.params.terminal);
      if (!found) return void res.status(404).json({ error: `environment ${env} has no recording of a terminal "${req.params.terminal}"` });
      const earlier = req.query.part === 'earlier';
      const file = earlier ? found.info.earlierPart : found.info.path;
      if (!file) return void res.status(404).json({ error: `the recording of "${found.terminal}" has no earlier part` });
      res.set('Cache-Control', 'no-store').type('application/x-asciicast');
      if (req.query.download === '1') res.attachment(`environment-${env}-${found.terminal}${earlier ? '-earlier' : ''}.cast`);
      res.sendFile(file, { dotfiles: 'allow' }, (err) => {
        if (err && !res.headersSent) res.status(404).json({ error: `the recording of "${found.terminal}" could not be read` });
      });
    } catch (err) {
      fail(res, err);
    }
  });

  app.post('/api/instructor/lifetime', json, (req, res) => {
    try {
      res.json(classroom.setRules((req.body ?? {}) as Record<string, unknown>));
    } catch (err) {
      fail(res, err);
    }
  });

  app.post('/api/instructor/seats', json, (req, res) => {
    const reserved = (req.body as { reserved?: unknown } | undefined)?.reserved;
    if (typeof reserved !== 'number') return void res.status(400).json({ error: '"reserved" must be a whole number from 0 to 254' });
    try {
      res.json(classroom.setReservedSeats(reserved));
    } catch (err) {
      fail(res, err);
    }
  });

  app.post('/api/instructor/broadcast', json, (req, res) => {
    const body = (req.body ?? {}) as { env?: unknown; terminal?: unknown };
    if (typeof body.env !== 'number') return void res.status(400).json({ error: '"env" must be the number of an environment' });
    const spec = classroom.course.terminals.find((t) => t.id === body.terminal);
    if (!spec) return void res.status(400).json({ error: `"terminal" must be one of the course's terminals: ${classroom.course.terminals.map((t) => t.id).join(', ')}` });
    try {
      broadcast.show({ env: body.env, terminal: spec.id, name: `${spec.name} (${classroom.nameOf(body.env)}, environment ${body.env})` });
      res.json({ broadcast: broadcast.target });
    } catch (err) {
      fail(res, err);
    }
  });

  app.delete('/api/instructor/broadcast', (_req, res) => {
    broadcast.show(undefined);
    res.json({ broadcast: null });
  });

  app.delete('/api/instructor/environments/:env/help', (req, res) => {
    const env = Number(req.params.env);
    try {
      res.json({ env, cleared: classroom.get(env).clearHand() });
    } catch (err) {
      fail(res, err);
    }
  });

  app.post('/api/instructor/environments', json, (req, res) => {
    const body = (req.body ?? {}) as { name?: unknown; env?: unknown };
    if (body.name !== undefined && typeof body.name !== 'string') return void res.status(400).json({ error: '"name" must be a string' });
    if (body.env !== undefined && body.env !== null && typeof body.env !== 'number') return void res.status(400).json({ error: '"env" must be a number from 1 to 254' });
    try {
      const created = classroom.create({ name: body.name, env: typeof body.env === 'number' ? body.env : undefined });
      const view: EnvironmentCreated = { env: created.env, name: created.name, inviteUrl: invite(created.env), warm: created.warm };
      res.status(201).json(view);
    } catch (err) {
      fail(res, err);
    }
  });

  app.post('/api/instructor/environments/:env/reset', json, async (req, res) => {
    const env = Number(req.params.env);
    const to = (req.body as { to?: unknown } | undefined)?.to;
    if (to !== undefined && to !== null && (typeof to !== 'string' || to === '')) return void res.status(400).json({ error: '"to" must be the id of a page' });
    try {
      classroom.get(env);
    } catch (err) {
      return fail(res, err);
    }
    res.status(200).type('application/x-ndjson').set('Cache-Control', 'no-store');
    res.flushHeaders();
    const send = (event: InstructorEvent) => {
      if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(event) + '\n');
    };
    try {
      const result = await classroom.reset(env, { to: typeof to === 'string' ? to : undefined, onProgress: (line) => send({ type: 'progress', line }) });
      send({ type: 'done', result });
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    } finally {
      res.end();
    }
  });

  app.post('/api/instructor/environments/:env/budget', json, (req, res) => {
    const body = (req.body ?? {}) as { memoryGiB?: unknown; cpus?: unknown };
    for (const key of ['memoryGiB', 'cpus'] as const) {
      if (body[key] !== undefined && typeof body[key] !== 'number') return void res.status(400).json({ error: `"${key}" must be a number above 0` });
    }
    try {
      res.json({ env: Number(req.params.env), budget: classroom.setBudget(Number(req.params.env), { memoryGiB: body.memoryGiB as number | undefined, cpus: body.cpus as number | undefined }) });
    } catch (err) {
      fail(res, err);
    }
  });

  app.delete('/api/instructor/environments/:env', async (req, res) => {
    const env = Number(req.params.env);
    try {
      const result = await classroom.destroy(env);
      res.json({ env, ...result });
    } catch (err) {
      fail(res, err);
    }
  });
}

function fail(res: Response, err: unknown): void {
  if (err instanceof CapacityError) return void res.status(507).json({ error: err.message });
  if (err instanceof ClassroomError) return void res.status(err.status).json({ error: err.message });
  res.status(500).json({ error: (err as Error).message });
}

