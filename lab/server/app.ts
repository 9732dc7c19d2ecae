/**
 * The lab server: one HTTP + WebSocket server for one course and its
 * environments. `startLab` loads the course (refusing one that cannot be
 * read), opens the progress database, bundles the browser client, wires each
 * concern's routes (access first, so nothing is reachable without the token)
 * and listens; the course's panels are loaded and bundled beside the client.
 * `close()` closes the panels and ends every shell before it returns, so a
 * stopped lab leaves no processes behind.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import express from 'express';
import { loadCourse } from '../course/load.js';
import { CourseError, type Course, type CourseProblem } from '../course/schema.js';
import { Environment } from '../environments/environment.js';
import { ProgressStore } from '../progress/store.js';
import { newToken, setupAccess } from './access.js';
import { removeServerAddress, writeServerAddress } from './address.js';
import { buildClient, setupClient } from './client.js';
import { setupCourseRoutes } from './course.js';
import { setupEnvironmentRoutes } from './environment.js';
import { loadPanels, setupPanelRoutes } from './panels.js';
import { setupPlayRoute } from './play.js';
import { setupTerminalSocket } from './terminals.js';

export interface LabOptions {
  courseDir: string;
  host?: string;
  port?: number;
  /** Where the progress database and environments' working dirs live. */
  dataDir?: string;
  /** Fixed token (tests); a fresh random one otherwise. */
  token?: string;
  /** Run the course's setup command when an environment starts (default true). */
  runSetup?: boolean;
  /** The environment this server hosts (default 1); it owns 127.0.K.0/24. */
  environmentId?: number;
}

export interface LabServer {
  url: string;
  /** The URL to open: carries the token. */
  openUrl: string;
  token: string;
  port: number;
  course: Course;
  problems: CourseProblem[];
  environments: Map<number, Environment>;
  close(): Promise<void>;
}

const repoRoot = resolve(new URL('../..', import.meta.url).pathname);

export async function startLab(opts: LabOptions): Promise<LabServer> {
  const { course, problems } = loadCourse(opts.courseDir);
  if (!course) throw new CourseError(problems);
  const host = opts.host ?? '127.0.0.1';
  const dataDir = resolve(opts.dataDir ?? join(repoRoot, '.lab-envs'));
  const token = opts.token ?? newToken();
  const store = new ProgressStore(join(dataDir, 'progress.sqlite'));
  const [bundle, panels] = await Promise.all([buildClient(), loadPanels(course)]);

  const environments = new Map<number, Environment>();
  const envId = opts.environmentId ?? 1;
  environments.set(envId, new Environment({ id: envId, course, store, envRoot: dataDir, pathPrefix: [join(repoRoot, 'bin'), join(repoRoot, 'node_modules', '.bin')], runSetup: opts.runSetup }));

  let port = opts.port ?? 4000;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  setupAccess(app, token, () => port);
  setupClient(app, bundle, course.title);
  setupCourseRoutes(app, course);
  setupEnvironmentRoutes(app, environments);
  const panelRoutes = setupPanelRoutes(app, environments, panels);
  setupPlayRoute(app, environments);

  const server: Server = createServer(app);
  const wss = setupTerminalSocket(server, environments, token, () => port);
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is in use; choose another with --port`) : err),
    );
    server.listen(port, host, () => ok());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}/`;
  writeServerAddress(dataDir, { url, token, pid: process.pid, environments: [...environments.keys()] });

  return {
    url,
    openUrl: `${url}?token=${token}${envId === 1 ? '' : `&env=${envId}`}`,
    token,
    port,
    course,
    problems,
    environments,
    async close() {
      for (const client of wss.clients) client.terminate();
      await panelRoutes.close();
      await Promise.all([...environments.values()].map((e) => e.close()));
      await new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
      store.close();
      removeServerAddress(dataDir, token);
    },
  };
}
