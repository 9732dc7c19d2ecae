/**
 * The HTTP side of the sample API: a user's latest statuses, posting a new
 * status (now, or at a given time, which writes that row again), and the health of the database connection. Every request is logged
 * on one line (time, method, path, status, milliseconds, mode), so the API's
 * terminal shows each write of the learner's loop and which database mode
 * served it. Errors are JSON with a sentence a learner can act on.
 */
import cassandra from 'cassandra-driver';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DatabaseUnavailableError, type Connection, type Log } from './connection.js';

/** A status (or user name) above this many bytes of UTF-8 is refused with 413. */
export const MAX_TEXT_BYTES = 64 * 1024;
export const MAX_ENTRIES = 1000;

const TABLE = 'zdmapp.user_status';

/** `?entries=N`: a whole number from 1 to 1000; anything missing, malformed or below 1 means 1. */
export function parseEntries(raw: unknown): number {
  if (typeof raw !== 'string' || !/^\s*\d+\s*$/.test(raw)) return 1;
  const n = Number(raw);
  return n < 1 ? 1 : Math.min(n, MAX_ENTRIES);
}

/**
 * `?when=`: the time a posted status is for, so that a client can write one row again and again (a
 * fixed user and time is one row: each write replaces its status). ISO 8601 with a time zone, from
 * the year 1970 on; missing means now. Returns the date, or a sentence saying what is wrong.
 */
export function parseWhen(raw: unknown, now: () => Date = () => new Date()): Date | string {
  if (raw === undefined) return now();
  if (typeof raw !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:\d\d)$/.test(raw)) {
    return `when must be one date and time with its zone, like 2024-01-01T00:00:00Z, not ${JSON.stringify(raw).slice(0, 60)}`;
  }
  const when = new Date(raw);
  if (Number.isNaN(when.getTime()) || when.getTime() < 0) return `when must be a real date and time from 1970 on, not ${raw}`;
  return when;
}

interface StatusRow {
  user: string;
  when: string;
  status: string;
}

function clock(): string {
  return new Date().toISOString().slice(11, 23);
}

/** The path as a person reads it (decoded), and only its start when long: a 64 KiB status would flood the terminal. */
function shortPath(raw: string): string {
  let path = raw;
  try {
    path = decodeURIComponent(raw);
  } catch {
    // broken %-encoding: show it as it came
  }
  return path.length > 120 ? `${path.slice(0, 100)}… (${path.length} chars)` : path;
}

function tooLong(what: string, text: string): string | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > MAX_TEXT_BYTES ? `${what} is ${bytes} bytes; the limit is ${MAX_TEXT_BYTES} bytes (64 KiB)` : undefined;
}

export function createApp(connection: Connection, log: Log): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log(`${clock()} ${req.method} ${shortPath(req.originalUrl)} ${res.statusCode} ${ms.toFixed(0)}ms ${connection.mode}`);
    });
    next();
  });

  app.get('/', (_req, res) => {
    res.json({
      endpoints: ['GET /status/:user?entries=N', 'POST /status/:user/:status?when=ISO-8601', 'GET /health'],
      mode: connection.mode,
    });
  });

  app.get('/health', (_req, res) => {
    const health = connection.health();
    res.status(health.connected ? 200 : 503).json(health);
  });

  app.get('/status/:user', async (req, res) => {
    const user = req.params.user;
    const problem = tooLong('the user name', user);
    if (problem) return void res.status(413).json({ error: problem });
    const entries = parseEntries(req.query.entries);
    const rs = await connection.execute(`SELECT user, when, status FROM ${TABLE} WHERE user = ? LIMIT ?`, [user, entries]);
    const rows: StatusRow[] = rs.rows.map((r) => ({ user: String(r.user), when: (r.when as Date).toISOString(), status: String(r.status) }));
    res.json(rows);
  });

  app.post('/status/:user/:status', async (req, res) => {
    const { user, status } = req.params;
    const problem = tooLong('the user name', user) ?? tooLong('the status', status);
    if (problem) return void res.status(413).json({ error: problem });
    const when = parseWhen(req.query.when);
    if (typeof when === 'string') return void res.status(400).json({ error: when });
    await connection.execute(`INSERT INTO ${TABLE} (user, when, status) VALUES (?, ?, ?)`, [user, when, status]);
    const row: StatusRow = { user, when: when.toISOString(), status };
    res.json(row);
  });

  app.use((req, res) => {
    res.status(404).json({ error: `no such endpoint: ${req.method} ${shortPath(req.path)}; try GET /status/eva or POST /status/eva/hello` });
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof DatabaseUnavailableError) {
      res.status(503).json({ error: `database unavailable: ${error.message}`, mode: connection.mode });
      return;
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // express's own refusals, e.g. a path with broken %-encoding
      res.status(status).json({ error: (error as Error).message });
      return;
    }
    // A statement the database refused (e.g. the table does not exist yet) is its message; anything else is a bug worth a stack.
    const refused = error instanceof cassandra.errors.ResponseError;
    log(`${clock()} error: ${refused ? error.message : ((error as Error).stack ?? String(error))}`);
    res.status(500).json({ error: `database error: ${(error as Error).message}`, mode: connection.mode });
  });

  return app;
}
