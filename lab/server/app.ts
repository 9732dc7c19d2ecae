/**
 * The lab server: one HTTP + WebSocket server for one course and its
 * environments (the classroom: one per learner, created on demand by the
 * instructor). `startLab` loads the course (refusing one that cannot be
 * read), opens the progress database, bundles the browser client and the
 * instructor console, wires each concern's routes (access first, so nothing
 * is reachable without a token, and a learner's token reaches only their own
 * environment) and listens; the course's panels are loaded and bundled beside the client.
 * `close()` closes the panels and ends every shell before it returns, so a
 * stopped lab leaves no processes behind.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import express from 'express';
import { loadCourse } from '../course/load.js';
import { CourseError, errorsOf, type Course, type CourseProblem } from '../course/schema.js';
import type { Environment } from '../environments/environment.js';
import { Classroom } from '../instructor/classroom.js';
import { runShell } from '../environments/shell.js';
import type { MemoryInfo } from '../instructor/capacity.js';
import { ProgressStore } from '../progress/store.js';
import { DockerGateway, type ContainerBudget } from '../environments/docker-gateway.js';
import { loadTokenKey, newToken, setupAccess } from './access.js';
import { defaultDataDir, removeServerAddress, writeServerAddress } from './address.js';
import { buildClient, setupClient } from './client.js';
import { setupCourseRoutes } from './course.js';
import { setupEnvironmentRoutes } from './environment.js';
import { setupInstructorRoutes } from './instructor.js';
import { loadPanels, setupPanelRoutes } from './panels.js';
import { setupPlayRoute } from './play.js';
import { setupTerminalSocket } from './terminals.js';
import { Broadcast } from './broadcast.js';
import { answerErrors, refuseForeignPaths } from './errors.js';
import { securityHeaders } from './headers.js';
import type { WorkstationCommands } from '../environments/workstation.js';

export interface LabOptions {
  courseDir: string;
  host?: string;
  /** PEM files: serve HTTPS (and WSS), and mark the access cookie Secure. */
  tls?: { cert: string; key: string };
  port?: number;
  /** Where the progress database and environments' working dirs live. */
  dataDir?: string;
  /** Fixed token of the first environment's learner (tests); the remembered or a fresh random one otherwise. */
  token?: string;
  /** Fixed instructor token (tests); a fresh random one at every start otherwise. */
  instructorToken?: string;
  /**
   * The address people open the lab at, when it is not the one it listens on
   * (behind a port-forward, a proxy or an Ingress): what the printed links and
   * the learners' invitations carry. Local tools still use the listening one.
   */
  publicUrl?: string;
  /** Run the course's setup command when an environment starts (default true). */
  runSetup?: boolean;
  /**
   * Run the course's prepare command at the start (default true, and never
   * without runSetup). A lab whose environments come whole from images
   * pulled by a Kubernetes cluster has nothing to prepare where it runs.
   */
  runPrepare?: boolean;
  /** The environment hosted from the start (default 1; null: none, the instructor creates them); it owns 127.0.K.0/24. */
  environmentId?: number | null;
  /** Memory one environment needs, for refusing one too many (default 2.1 GiB). */
  bytesPerEnvironment?: number;
  /** Where free memory is read from (tests). */
  memory?: () => MemoryInfo;
  /** Run every environment as its own account, in its own budget, behind its own packet filter rules (needs root; environments/isolation.ts). */
  isolate?: boolean;
  /** CPUs one isolated environment may use (default: what the course declares). */
  cpusPerEnvironment?: number;
  /** Without isolation: host one environment only (default false: as many as asked for). */
  singleLearner?: boolean;
  /** Isolated environments use the host's Docker daemon (the course's Docker backend), through a gateway scoped to each (environments/docker-gateway.ts). */
  dockerGateway?: boolean;
  /** Where the course's prepare command's output goes as it runs (default: nowhere). */
  onPrepareOutput?: (text: string) => void;
  /** Every environment runs in a workstation of its own off this host, through these commands (environments/workstation.ts); then nothing is isolated here, as nothing of a learner runs here. */
  workstations?: WorkstationCommands;
  /** How often environments' lifetimes and idle times are looked at (tests; default 15 s). */
  lifecycleCheckMs?: number;
  /** How often CPU use is read for the console's capacity figures (default 15 s; tests read it more often). */
  loadSampleMs?: number;
}

export interface LabServer {
  url: string;
  /** The URL to open: carries the first environment's learner token (the instructor's when there is none). */
  openUrl: string;
  /** The first environment's learner token (the instructor's when there is none). */
  token: string;
  /** The instructor console's URL, carrying the instructor token. */
  instructorUrl: string;
  instructorToken: string;
  port: number;
  course: Course;
  problems: CourseProblem[];
  /** Every environment hosted now (it changes as the instructor creates and destroys them). */
  environments: Map<number, Environment>;
  classroom: Classroom;
  close(): Promise<void>;
}

const repoRoot = resolve(new URL('../..', import.meta.url).pathname);
const labPath = [join(repoRoot, 'bin'), join(repoRoot, 'node_modules', '.bin')];
const PREPARE_TIMEOUT_MS = 30 * 60 * 1000;

/** The course's prepare command, as the server's own user, in the course folder; a failure stops the start with its output. */
async function prepare(course: Course, onOutput?: (text: string) => void): Promise<void> {
  const env = { ...(process.env as Record<string, string>), PATH: [...labPath, process.env.PATH ?? '/usr/bin:/bin'].join(':'), LAB_COURSE_DIR: course.dir };
  const result = await runShell(course.prepare!, { cwd: course.dir, env, timeoutMs: PREPARE_TIMEOUT_MS, onOutput });
  if (!result.ok) throw new Error(`the course's prepare command failed (${course.prepare}):\n${result.output.trim().slice(-2000)}`);
}

export async function startLab(opts: LabOptions): Promise<LabServer> {
  const { course, problems } = loadCourse(opts.courseDir);
  // Warnings are what Katapod tolerates: the course runs, and `npm start` prints them.
  if (!course || errorsOf(problems).length > 0) throw new CourseError(errorsOf(problems));
  if (opts.workstations && (opts.cpusPerEnvironment ?? course.environments.cpus) === undefined) {
    throw new Error('environments in workstations each get a CPU budget, and the course declares no "cpus" per environment: give the lab one (--cpus-per-env)');
  }
  const host = opts.host ?? '127.0.0.1';
  const dataDir = resolve(opts.dataDir ?? defaultDataDir);
  const instructorToken = opts.instructorToken ?? newToken();
  // Others may pass through to an isolated environment's own folders, never list or read the server's state.
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o711);
  if (course.prepare && opts.runSetup !== false && opts.runPrepare !== false) await prepare(course, opts.onPrepareOutput);
  const store = new ProgressStore(join(dataDir, 'progress.sqlite'));
  let port = opts.port ?? 4000;
  let listening = false;
  const [bundle, instructorBundle, panels] = await Promise.all([buildClient(), buildClient('instructor.ts', 'instructor.html'), loadPanels(course)]);

  const tokenKey = loadTokenKey(dataDir);
  // Each container an environment creates is held to that environment's budget, as it is now (the instructor may change it).
  const gateway = opts.isolate && opts.dockerGateway ? new DockerGateway({ key: tokenKey, budget: (env): ContainerBudget | undefined => classroom.environments.get(env)?.sandbox?.budget }) : undefined;
  await gateway?.listen();
  const classroom = new Classroom({
    course,
    store,
    envRoot: dataDir,
    pathPrefix: labPath,
    runSetup: opts.runSetup,
    instructorToken,
    bytesPerEnvironment: opts.bytesPerEnvironment,
    cpusPerEnvironment: opts.cpusPerEnvironment,
    memory: opts.memory,
    tokenKey,
    // what the terminals dial: the loopback address when the lab listens on every address
    labUrl: () => (listening ? `${opts.tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host}:${port}` : ''),
    workstations: opts.workstations,
    isolation: opts.isolate && !opts.workstations ? { labPorts: () => [listening ? port : 0, gateway?.listeningPort ?? 0], cpusPerEnvironment: opts.cpusPerEnvironment, docker: gateway } : undefined,
    singleLearner: !opts.isolate && !opts.workstations && opts.singleLearner,
    lifecycleCheckMs: opts.lifecycleCheckMs,
    loadSampleMs: opts.loadSampleMs,
  });
  const environments = classroom.environments;
  const envId = opts.environmentId === undefined ? 1 : opts.environmentId;
  if (envId !== null) {
    const saved = store.learners(course.dir).find((l) => l.env === envId);
    if (saved && opts.token === undefined) classroom.restore(envId);
    else classroom.create({ env: envId, name: saved?.name, token: opts.token, skipCapacityCheck: true });
  }
  classroom.restore();
  const token = envId === null ? instructorToken : classroom.tokenOf(envId)!;

  const broadcast = new Broadcast((env) => environments.has(env));
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  refuseForeignPaths(app);
  app.use(securityHeaders());
  // Served from its root: the public address is an origin (start.ts refuses a path).
  const publicOrigin = opts.publicUrl === undefined ? undefined : new URL(opts.publicUrl).origin;
  let url = '';
  /** The links people open: at the public address when there is one, else where the lab listens. */
  const shownUrl = () => (publicOrigin === undefined ? url : `${publicOrigin}/`);
  setupAccess(app, (t) => classroom.resolve(t), () => port, publicOrigin);
  setupClient(app, bundle, course.title);
  setupCourseRoutes(app, course);
  setupEnvironmentRoutes(app, environments, broadcast, classroom);
  const panelRoutes = setupPanelRoutes(app, environments, panels);
  setupPlayRoute(app, environments);
  setupInstructorRoutes(app, classroom, instructorBundle, shownUrl, broadcast);
  answerErrors(app);

  const server: Server = opts.tls ? createTlsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }, app) : createServer(app);
  // Idle keep-alive connections outlive the clients' own idle timeouts (undici 4 s, browsers longer), so a
  // client never sends a request on a connection the server is closing at that moment (ECONNRESET).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const sockets = setupTerminalSocket(server, environments, (t) => classroom.resolve(t), () => port, broadcast, publicOrigin);
  classroom.onReset((env) => sockets.disconnect(env));
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is in use; choose another with --port`) : err),
    );
    server.listen(port, host, () => ok());
  });
  port = (server.address() as AddressInfo).port;
  listening = true;
  classroom.portKnown();
  const shownHost = host.includes(':') ? `[${host}]` : host;
  url = `${opts.tls ? 'https' : 'http'}://${shownHost}:${port}/`;
  // The address file carries the instructor token: local tools (zdm-lab env, course play) act for the instructor.
  writeServerAddress(dataDir, { url, token: instructorToken, pid: process.pid, environments: [...environments.keys()] });

  return {
    url,
    openUrl: envId === null ? `${shownUrl()}instructor?token=${instructorToken}` : `${shownUrl()}?token=${token}${envId === 1 ? '' : `&env=${envId}`}`,
    token,
    instructorUrl: `${shownUrl()}instructor?token=${instructorToken}`,
    instructorToken,
    port,
    course,
    problems,
    environments,
    classroom,
    async close() {
      for (const client of sockets.wss.clients) client.terminate();
      await panelRoutes.close();
      await classroom.close();
      await gateway?.close();
      await new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
      store.close();
      removeServerAddress(dataDir, instructorToken);
    },
  };
}
