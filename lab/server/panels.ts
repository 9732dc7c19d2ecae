/**
 * Panels: views a course adds beside its terminals (course.json "panels").
 * The engine knows nothing of what a panel shows. At start it imports each
 * panel's server module from the course directory and bundles its browser
 * module with esbuild; then it serves the list (`GET /api/panels`), the
 * bundle (`/panels/:id/panel.js` and `.css`) and the panel's data for one
 * environment (`GET /api/env/:k/:panelId`, behind the same token as every
 * route, for environments this server holds only). A panel instance is
 * created the first time an environment asks for it and closed when that
 * environment is reset or destroyed, or the lab closes, so whatever it runs
 * in the background lives no longer than the environment it watches.
 */
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import type { Express } from 'express';
import { resolveCourseFile } from '../course/files.js';
import type { Course, PanelSpec } from '../course/schema.js';
import type { Environment } from '../environments/environment.js';

/** What a panel's server module is given: the environment's number and the variables its shells see. */
export interface PanelEnvironment {
  id: number;
  vars: Record<string, string>;
}

export interface PanelInstance {
  /** The panel's current data, served as JSON. */
  data(): unknown | Promise<unknown>;
  /** Stops whatever the panel runs in the background. */
  close?(): void | Promise<void>;
}

/** What a panel's server module exports as `createPanel`. */
export type PanelFactory = (env: PanelEnvironment) => PanelInstance | Promise<PanelInstance>;

/** What the browser is told about the course's panels. */
export interface PanelOutline {
  id: string;
  title: string;
}

export interface LoadedPanel {
  spec: PanelSpec;
  create: PanelFactory;
  js: string;
  css: string;
}

export class PanelError extends Error {
  constructor(panel: PanelSpec, message: string) {
    super(`course.json panel "${panel.id}": ${message}`);
    this.name = 'PanelError';
  }
}

/** Imports every panel's server module and bundles its browser module; throws PanelError naming the panel. */
export async function loadPanels(course: Course): Promise<LoadedPanel[]> {
  return Promise.all(
    course.panels.map(async (spec): Promise<LoadedPanel> => {
      const modulePath = resolveCourseFile(course.dir, spec.module);
      const clientPath = resolveCourseFile(course.dir, spec.client);
      if (!modulePath || !clientPath) throw new PanelError(spec, 'its files must be inside the course directory');
      let mod: { createPanel?: unknown };
      try {
        mod = (await import(pathToFileURL(modulePath).href)) as { createPanel?: unknown };
      } catch (error) {
        throw new PanelError(spec, `${spec.module} could not be loaded: ${(error as Error).message}`);
      }
      if (typeof mod.createPanel !== 'function') throw new PanelError(spec, `${spec.module} must export a function createPanel({ id, vars })`);
      let result: esbuild.BuildResult<{ write: false }>;
      try {
        result = await esbuild.build({
          entryPoints: [clientPath],
          // Errors then name files as the course's author knows them.
          absWorkingDir: course.dir,
          bundle: true,
          write: false,
          format: 'esm',
          target: 'es2022',
          minify: true,
          outdir: '/panel',
          loader: { '.css': 'css' },
          logLevel: 'silent',
        });
      } catch (error) {
        const errors = (error as { errors?: esbuild.Message[] }).errors ?? [];
        const first = errors[0];
        const where = first?.location ? `${first.location.file}:${first.location.line}: ` : '';
        throw new PanelError(spec, `${spec.client} could not be bundled for the browser: ${where}${first?.text ?? (error as Error).message}`);
      }
      const file = (ext: string) => result.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? '';
      return { spec, create: mod.createPanel as PanelFactory, js: file('.js'), css: file('.css') };
    }),
  );
}

export interface PanelRoutes {
  /** Closes every panel instance (the lab is closing). */
  close(): Promise<void>;
}

export function setupPanelRoutes(app: Express, environments: Map<number, Environment>, panels: LoadedPanel[]): PanelRoutes {
  const instances = new Map<string, { env: Environment; instance: Promise<PanelInstance> }>();
  const drop = (key: string) => {
    const entry = instances.get(key);
    instances.delete(key);
    void entry?.instance.then((i) => i.close?.()).catch(() => undefined);
  };

  app.get('/api/panels', (_req, res) => {
    const outline: PanelOutline[] = panels.map((p) => ({ id: p.spec.id, title: p.spec.title }));
    res.json(outline);
  });

  for (const ext of ['js', 'css'] as const) {
    app.get(`/panels/:id/panel.${ext}`, (req, res) => {
      const panel = panels.find((p) => p.spec.id === req.params.id);
      if (!panel) return void res.status(404).type('text/plain').send('no such panel\n');
      res.type(ext).set('Cache-Control', 'no-cache').send(ext === 'js' ? panel.js : panel.css);
    });
  }

  app.get('/api/env/:env/:panel', async (req, res, next) => {
    const panel = panels.find((p) => p.spec.id === req.params.panel);
    if (!panel) return next();
    const env = environments.get(Number(req.params.env));
    if (!env) return void res.status(404).json({ error: `no environment ${req.params.env}` });
    const key = `${env.id}/${panel.spec.id}`;
    // An environment destroyed and created again under the same number is a new one.
    if (instances.get(key) && instances.get(key)!.env !== env) drop(key);
    let entry = instances.get(key);
    if (!entry) {
      const created = { env, instance: Promise.resolve().then(() => panel.create({ id: env.id, vars: { ...env.vars } })) };
      entry = created;
      instances.set(key, created);
      // A panel that failed to start is tried afresh on the next request.
      created.instance.catch(() => instances.get(key) === created && instances.delete(key));
      // A reset or a destroy ends what the panel runs; the next request starts it afresh.
      env.onReset(() => instances.get(key) === created && drop(key));
    }
    try {
      res.set('Cache-Control', 'no-store').json(await (await entry.instance).data());
    } catch (error) {
      res.status(500).json({ error: `panel "${panel.spec.id}" of environment ${env.id}: ${(error as Error).message}` });
    }
  });

  return {
    async close() {
      const all = [...instances.values()];
      instances.clear();
      await Promise.all(all.map(async (e) => (await e.instance.catch(() => undefined))?.close?.()));
    },
  };
}
