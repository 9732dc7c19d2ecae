/**
 * Talking to the Docker daemon for the Docker backend: one dockerode client
 * (DOCKER_HOST or the default socket), a ping that turns "nothing answers"
 * into one sentence saying where it looked and what to do, image pulls that
 * report progress per layer in bytes, and the lab's labels and names, so that
 * everything the lab creates can be found again and nothing else is touched.
 */
import Docker from 'dockerode';
import { GATEWAY_TOKEN_VARIABLE, LABEL_ENV, LABEL_MANAGED, scopeLabels } from '../../common/docker-scope.js';
import type { Reporter } from '../progress.js';

export class DockerUnavailableError extends Error {}

/** Every container, network and volume the lab creates carries the scope's labels (common/docker-scope.ts), and its component's. */
export { LABEL_ENV, LABEL_MANAGED };
export const LABEL_COMPONENT = 'zdm-lab.component';

export function labLabels(env: number, component?: string): Record<string, string> {
  return { ...scopeLabels(env), ...(component ? { [LABEL_COMPONENT]: component } : {}) };
}

/** Docker's label filter for everything of one environment. */
export function envFilter(env: number): { label: string[] } {
  return { label: [`${LABEL_MANAGED}=true`, `${LABEL_ENV}=${env}`] };
}

/**
 * DOCKER_HOST or the default socket. An isolated environment has no access
 * to the socket: its DOCKER_HOST is the lab's Docker gateway, which wants
 * the environment's token on every request.
 */
export function dockerClient(): Docker {
  const token = process.env[GATEWAY_TOKEN_VARIABLE];
  return token ? new Docker({ headers: { Authorization: `Bearer ${token}` } }) : new Docker();
}

/** Where the client looks for the daemon, for messages. */
export function daemonAddress(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** undefined when the daemon answers a ping within timeoutMs, else why not. */
export async function daemonProblem(docker: Docker, timeoutMs = 3000): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs / 1000}s`), timeoutMs);
  });
  try {
    return await Promise.race([
      docker.ping().then(
        () => undefined,
        (error: Error) => error.message,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function requireDaemon(docker: Docker): Promise<void> {
  const problem = await daemonProblem(docker);
  if (problem !== undefined) {
    throw new DockerUnavailableError(
      `the Docker daemon does not answer at ${daemonAddress()} (${problem}): start Docker ` +
        `(for example: sudo systemctl start docker), set DOCKER_HOST, or use --backend local`,
    );
  }
}

function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

export function isNotFound(error: unknown): boolean {
  return statusCode(error) === 404;
}

interface PullEvent {
  id?: string;
  status?: string;
  error?: string;
  progressDetail?: { current?: number; total?: number };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/**
 * Pulls an image, reporting at most once a second how far each layer is
 * (bytes downloaded of its size) and how many layers are done.
 */
export interface ImageRole {
  /** What the image is for, as the learner knows it: "Origin", "ZDM proxy". */
  what: string;
  /** The variable that names another image for that role. */
  variable: string;
}

export async function pullImage(docker: Docker, image: string, role: ImageRole, report: Reporter): Promise<void> {
  const { what } = role;
  report(`${image}: not on this machine, pulling it (${what})`);
  const layers = new Map<string, { current: number; total: number; done: boolean }>();
  let lastReport = 0;
  const progress = (event: PullEvent) => {
    if (!event.id || event.id === image.slice(image.lastIndexOf(':') + 1)) return;
    const layer = layers.get(event.id) ?? { current: 0, total: 0, done: false };
    if (event.status === 'Downloading' && event.progressDetail) {
      layer.current = event.progressDetail.current ?? layer.current;
      layer.total = event.progressDetail.total ?? layer.total;
    }
    if (event.status === 'Download complete' || event.status === 'Pull complete' || event.status === 'Already exists') {
      layer.done = true;
      layer.current = layer.total || layer.current;
    }
    layers.set(event.id, layer);
    if (Date.now() - lastReport < 1000) return;
    lastReport = Date.now();
    const active = [...layers.entries()].filter(([, l]) => !l.done && l.total > 0);
    const done = [...layers.values()].filter((l) => l.done).length;
    const detail = active.map(([id, l]) => `${id.slice(0, 12)} ${megabytes(l.current)}/${megabytes(l.total)}`).join(', ');
    report(`${image}: ${done}/${layers.size} layers done${detail ? `; ${detail}` : ''}`);
  };
  try {
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error: Error | null, events: PullEvent[]) => {
          const failed = events?.find((e) => e.error);
          if (error || failed) reject(new Error(error?.message ?? failed?.error));
          else resolve();
        },
        progress,
      );
    });
  } catch (error) {
    throw new DockerUnavailableError(
      `image ${image} (${what}) is not on this machine and could not be pulled: ${(error as Error).message.trim()}. ` +
        `Check the name and your network, or set ${role.variable} to an image you have`,
    );
  }
  const total = [...layers.values()].reduce((sum, l) => sum + l.total, 0);
  report(`${image}: pulled (${layers.size} layers, ${megabytes(total)})`);
}

/** Makes sure the image is on the daemon, pulling it when it is not. */
export async function ensureImage(docker: Docker, image: string, role: ImageRole, report: Reporter): Promise<void> {
  try {
    await docker.getImage(image).inspect();
    return;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  await pullImage(docker, image, role, report);
}
