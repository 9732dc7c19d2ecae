/**
 * What a learner does to an environment, over HTTP: read progress, show a
 * page (onLoad commands), run a block by id, run a page's check, ask the
 * instructor for help (a raised hand, until they clear it), reset, extend
 * the environment's lifetime, wake it when it sleeps, bring it back to the
 * learner's page (restore: `zdm-lab infra up` in one of its terminals, which
 * then follows the setup through progress). Progress also says
 * whether the instructor shows a terminal to the class, and where the
 * environment is in its life (asleep, waking, ending at). The
 * client names blocks by id only; the server looks the text up in the course,
 * so nothing but the course's own commands can be run this way.
 */
import express, { type Express, type Request, type Response } from 'express';
import type { Environment } from '../environments/environment.js';
import type { Broadcast } from './broadcast.js';
import { ClassroomError, type Classroom } from '../instructor/classroom.js';

export function setupEnvironmentRoutes(app: Express, environments: Map<number, Environment>, broadcast: Broadcast, classroom: Pick<Classroom, 'lifetime' | 'extend'>): void {
  const json = express.json({ limit: '16kb' });
  const env = (req: Request, res: Response): Environment | undefined => {
    const e = environments.get(Number(req.params.env));
    if (!e) res.status(404).json({ error: `no environment ${req.params.env}` });
    return e;
  };
  const field = (req: Request, res: Response, name: string): string | undefined => {
    const v = (req.body as Record<string, unknown> | undefined)?.[name];
    if (typeof v !== 'string' || v === '') res.status(400).json({ error: `the request needs "${name}"` });
    return typeof v === 'string' && v !== '' ? v : undefined;
  };

  app.get('/api/env/:env/progress', (req, res) => {
    const e = env(req, res);
    // the terminal the instructor shows to the class, if any: the page opens it read-only
    const shown = broadcast.target;
    if (!e) return;
    res.json({
      ...e.progress(),
      setup: e.setupStatus,
      setupNote: e.setupNote,
      generation: e.generation,
      hand: e.hand,
      broadcast: shown ? { name: shown.name, since: shown.since, yours: shown.env === e.id } : null,
      lifetime: classroom.lifetime(e.id),
    });
  });

  app.post('/api/env/:env/extend', (req, res) => {
    const e = env(req, res);
    if (!e) return;
    try {
      res.json(classroom.extend(e.id));
    } catch (err) {
      res.status(err instanceof ClassroomError ? err.status : 500).json({ error: (err as Error).message });
    }
  });

  app.post('/api/env/:env/wake', (req, res) => {
    const e = env(req, res);
    if (!e) return;
    e.touch();
    res.json(classroom.lifetime(e.id));
  });

  app.post('/api/env/:env/visit', json, (req, res) => {
    const e = env(req, res);
    const page = e && field(req, res, 'page');
    if (!e || !page) return;
    try {
      res.json(e.visit(page));
    } catch (err) {
      res.status(404).json({ error: (err as Error).message });
    }
  });

  app.post('/api/env/:env/run', json, async (req, res) => {
    const e = env(req, res);
    const block = e && field(req, res, 'block');
    if (!e || !block) return;
    const outcome = await e.run(block);
    if (outcome.ok) res.json(outcome);
    else res.status(outcome.status).json(outcome);
  });

  app.post('/api/env/:env/help', (req, res) => {
    const e = env(req, res);
    if (e) res.json({ hand: e.askForHelp() });
  });

  app.post('/api/env/:env/check', json, async (req, res) => {
    const e = env(req, res);
    const page = e && field(req, res, 'page');
    if (!e || !page) return;
    try {
      res.json(await e.check(page));
    } catch (err) {
      res.status(404).json({ error: (err as Error).message });
    }
  });

  app.post('/api/env/:env/restore', (req, res) => {
    const e = env(req, res);
    if (!e) return;
    try {
      res.status(202).json({ setup: e.restoreToPage(), page: e.progress().current });
    } catch (err) {
      res.status(409).json({ error: (err as Error).message });
    }
  });

  app.post('/api/env/:env/reset', async (req, res) => {
    const e = env(req, res);
    if (e) res.json(await e.reset());
  });
}
