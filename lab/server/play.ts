/**
 * Playing a course over HTTP, for instructors' tools: `POST
 * /api/env/:env/play` with `{"to": "step6"}` (optional) runs the autopilot on
 * that environment and streams what it does as newline-delimited JSON, one
 * `PlayEvent` a line: progress lines as they happen, then the result or the
 * error that stopped it. One play per environment at a time (409 otherwise);
 * a client that hangs up cancels its play. Like every route, it needs the
 * access token.
 */
import express, { type Express } from 'express';
import { PlayError, playCourse, type PlayResult } from '../autopilot/play.js';
import type { Environment } from '../environments/environment.js';

export type PlayEvent =
  | { type: 'progress'; line: string }
  | { type: 'done'; result: PlayResult }
  | { type: 'error'; message: string; page?: string; block?: string };

export function setupPlayRoute(app: Express, environments: Map<number, Environment>): void {
  const playing = new Set<number>();

  app.post('/api/env/:env/play', express.json({ limit: '4kb' }), async (req, res) => {
    const env = environments.get(Number(req.params.env));
    if (!env) {
      return void res.status(404).json({ error: `no environment ${req.params.env} on this lab server; it hosts: ${[...environments.keys()].join(', ')}` });
    }
    const to = (req.body as { to?: unknown } | undefined)?.to;
    if (to !== undefined && (typeof to !== 'string' || to === '')) return void res.status(400).json({ error: '"to" must be the id of a page' });
    if (playing.has(env.id)) return void res.status(409).json({ error: `environment ${env.id} is already being played` });

    playing.add(env.id);
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    res.status(200).type('application/x-ndjson').set('Cache-Control', 'no-store');
    res.flushHeaders();
    const send = (event: PlayEvent) => {
      if (!res.writableEnded) res.write(JSON.stringify(event) + '\n');
    };
    try {
      // Tracked by the environment, so a reset taken meanwhile stops the play first.
      const result = await env.track((signal) => playCourse(env, { to, signal, onProgress: (line) => send({ type: 'progress', line }) }), controller.signal);
      send({ type: 'done', result });
    } catch (err) {
      const e = err as Error;
      send(err instanceof PlayError ? { type: 'error', message: e.message, page: err.pageId, block: err.blockId } : { type: 'error', message: `the autopilot failed: ${e.message}` });
    } finally {
      playing.delete(env.id);
      res.end();
    }
  });
}
