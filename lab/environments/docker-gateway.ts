/**
 * The Docker daemon as an isolated environment sees it. The daemon's socket
 * is root on the host, so an environment's account never gets it; when the
 * lab isolates environments on the Docker backend, their Docker clients talk
 * to this gateway instead (DOCKER_HOST, and the environment's token in
 * ZDM_LAB_DOCKER_TOKEN), and it forwards to the socket only what the Docker
 * backend needs, scoped to that environment (common/docker-scope.ts):
 *
 * - the daemon's ping and version, and the inspection of a local image
 *   (pulls are refused: the images are the host's choice);
 * - lists of containers, networks and volumes, filtered to the
 *   environment's labels;
 * - creating its network, its volumes (local, no driver options) and its
 *   containers, by names of its own, with nothing of the host: no bind
 *   mounts, no privileges or capabilities, no host namespaces, ports
 *   published on its own 127.0.K.0/24 only, and `no-new-privileges`;
 * - within the environment's budget: every container of the environment is
 *   created under one control group of the environment's (Docker's
 *   CgroupParent, forced here; cgroups.ts), whose memory, CPU and process
 *   limits are the environment's budget, so that all its containers together
 *   stay within it; a container may ask for less for itself, more is
 *   refused; and an environment has at most CONTAINERS_PER_ENVIRONMENT
 *   containers;
 * - never as root: a container runs as a numeric uid other than 0 (its own
 *   `User`, or the image's; a name is refused, since the image's
 *   /etc/passwd, which the gateway does not read, may map any name to uid
 *   0), except the course's Cassandra image started
 *   with its own command, whose entrypoint switches to its own user
 *   (common/docker-scope.ts says what it may be given); an exec session runs
 *   as a numeric uid other than 0 likewise, and files are copied into a container only
 *   as plain files into that image's configuration folder;
 * - everything else on a container, network or volume only when the object
 *   carries the environment's label, and exec sessions only of its own
 *   containers.
 *
 * Anything else is refused with 403 and the rule it breaks, in the `message`
 * field Docker clients print. Kept here rather than taken from a package:
 * socket proxies such as Tecnativa's docker-socket-proxy open or close whole
 * sections of the API, and none scopes objects to one tenant by label.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Duplex } from 'node:stream';
import { extract } from 'tar-stream';
import { DockerCgroupParent } from './cgroups.js';
import {
  CONTAINERS_PER_ENVIRONMENT,
  labImageNames,
  LABEL_ENV,
  LABEL_MANAGED,
  nameInScope,
  NODE_CONFIG_DIR,
  NODE_DATA_DIR,
  NODE_IMAGE_VARIABLES,
  scopeLabels,
  scopeName,
} from '../../common/docker-scope.js';

const MAX_BODY = 1024 * 1024;
/** An image's name, tag or digest; never with `..`, which would lead the inspection elsewhere in the daemon's API. */
const IMAGE_NAME = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._\/:@-]*$/;
const VERSION_PREFIX = /^\/v\d+(\.\d+)?(?=\/)/;

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

interface Decision {
  /** Path and query for the daemon (lists get the environment's filter). */
  path: string;
  /** A body the gateway read, checked and maybe completed; without it the client's body streams through. */
  body?: Buffer;
  /** The answer names a new exec session of the environment's. */
  recordsExec?: boolean;
  /** A container of the environment's is being created (counted until the daemon answers). */
  creates?: boolean;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(what: string, value: unknown, allowed: readonly string[]): Json {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new Refusal(400, `${what} must be an object`);
  const extra = Object.keys(value).filter((k) => !allowed.includes(k) && value[k] !== null && value[k] !== undefined);
  if (extra.length > 0) throw new Refusal(403, `${what}.${extra[0]} is not allowed to an environment of the lab (allowed: ${allowed.join(', ')})`);
  return value;
}

function parseJson(body: Buffer, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    throw new Refusal(400, `${what}: the body is not JSON`);
  }
  if (!isObject(value)) throw new Refusal(400, `${what}: the body must be a JSON object`);
  return value;
}

const CONTAINER_KEYS = ['name', 'Image', 'Hostname', 'User', 'Labels', 'Env', 'Cmd', 'WorkingDir', 'ExposedPorts', 'HostConfig', 'NetworkingConfig', 'Tty', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'OpenStdin', 'StdinOnce'];
const HOST_CONFIG_KEYS = ['NetworkMode', 'PortBindings', 'Mounts', 'Memory', 'NanoCpus', 'PidsLimit'];
const EXEC_KEYS = ['Cmd', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'Env', 'WorkingDir', 'User', 'DetachKeys', 'ConsoleSize', 'Privileged'];

/** What one container of an environment may take at most: the environment's budget (its Sandbox's). */
export interface ContainerBudget {
  memoryBytes: number;
  /** CPUs' worth of time; undefined: as many as the host has. */
  cpus?: number;
  /** Processes and threads. */
  tasks: number;
}

/** The control group that holds all of one environment's containers (cgroups.ts DockerCgroupParent). */
export interface ContainerGroup {
  /** Docker's HostConfig.CgroupParent for it. */
  readonly path: string;
  readonly exists: boolean;
  /** Creates the group, or sets its limits again; throws when the kernel refuses a limit (memory below what is in use). */
  create(budget: ContainerBudget): void;
  /** Removes the group once its containers are gone. */
  remove(): Promise<void>;
  /** Memory its containers use now and at most so far, in bytes. */
  memory(): { current: number; peak: number | undefined };
}

export interface DockerGatewayOptions {
  /** The lab's token key: an environment's token is derived from it (0600, access.ts). */
  key: Buffer;
  /** The daemon's socket (default /var/run/docker.sock). */
  socketPath?: string;
  /** Environment K's budget, asked at each container it creates; undefined: K is not one of the lab's, so it creates none. */
  budget?: (env: number) => ContainerBudget | undefined;
  /** The course's Cassandra images, which start as root and switch to their own user (default: the backend's, common/docker-scope.ts). */
  nodeImages?: () => string[];
  /** Environment K's containers' control group (default: a DockerCgroupParent under /sys/fs/cgroup). */
  containerGroup?: (env: number) => ContainerGroup;
}

/** "root", "0", "root:…", "0:…" (Docker reads "+0" and "00" as 0 too). */
function isRootUser(user: string): boolean {
  const name = user.split(':')[0]!.trim();
  return name === 'root' || (/^[+-]?\d+$/.test(name) && Number(name) === 0);
}

/**
 * Why `user` may run as root, or undefined when it cannot: only a numeric
 * uid other than 0 (with a numeric group other than 0, when one is given) is
 * sure not to. Docker resolves a name in the image's /etc/passwd, where
 * any name (`toor`, say) may have uid 0.
 */
function rootProblem(user: string): string | undefined {
  if (isRootUser(user)) return `User "${user}" is root`;
  const numeric = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!numeric) return `User "${user}" is a name, which the image's /etc/passwd may map to uid 0: give a numeric uid:gid other than 0 (e.g. 999:999)`;
  if (numeric[2] !== undefined && Number(numeric[2]) === 0) return `User "${user}" has the root group: give a group other than 0`;
  return undefined;
}

export class DockerGateway {
  private server: Server | undefined;
  private port = 0;
  private readonly socketPath: string;
  /** Exec sessions by id, with the environment that made them. */
  private readonly execs = new Map<string, number>();
  /** Containers being created, by environment, counted against its limit until the daemon answers. */
  private readonly creating = new Map<number, number>();
  /** The daemon's cgroup driver, once it answered cgroupfs. */
  private cgroupDriver: string | undefined;

  constructor(private readonly opts: DockerGatewayOptions) {
    this.socketPath = opts.socketPath ?? '/var/run/docker.sock';
  }

  /** What environment `env`'s processes need in their environment to use the gateway. */
  variables(env: number): Record<string, string> {
    return { DOCKER_HOST: `tcp://127.0.0.1:${this.port}`, ZDM_LAB_DOCKER_TOKEN: this.tokenOf(env) };
  }

  get listeningPort(): number {
    return this.port;
  }

  tokenOf(env: number): string {
    return `${env}.${createHmac('sha256', this.opts.key).update(`docker-gateway:${env}`).digest('base64url')}`;
  }

  async listen(): Promise<number> {
    // A socket every user may open would let an account past the gateway.
    const mode = existsSync(this.socketPath) ? statSync(this.socketPath).mode & 0o777 : 0;
    if (mode & 0o006) {
      throw new Error(`${this.socketPath} is open to every user (mode ${mode.toString(8)}), so isolated environments would reach the Docker daemon past the lab's gateway: chmod 660 ${this.socketPath}`);
    }
    const server = createServer((req, res) => void this.answer(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head));
    server.on('clientError', (_error, socket) => socket.destroy());
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => ok());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  }

  /** Environment K's containers' control group. */
  groupOf(env: number): ContainerGroup {
    return (this.opts.containerGroup ?? ((k: number) => new DockerCgroupParent(k)))(env);
  }

  /** Sets the environment's budget (as it is now) on its containers' group, if it has one: the running containers are held to it at once. */
  applyBudget(env: number): void {
    const group = this.groupOf(env);
    const budget = this.opts.budget?.(env);
    if (budget && group.exists) group.create(budget);
  }

  /** Removes every container (with its anonymous volumes), network and volume of the environment, and its containers' control group, as its destroy must. */
  async removeEnvironment(env: number): Promise<void> {
    const filter = `?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${LABEL_MANAGED}=true`, `${LABEL_ENV}=${env}`] }))}`;
    const containers = (await this.daemon('GET', `/containers/json${filter}`)).json as { Id: string }[];
    for (const c of containers ?? []) await this.daemon('DELETE', `/containers/${c.Id}?force=true&v=true`);
    const networks = (await this.daemon('GET', `/networks${filter}`)).json as { Id: string }[];
    for (const n of networks ?? []) await this.daemon('DELETE', `/networks/${n.Id}`);
    const volumes = ((await this.daemon('GET', `/volumes${filter}`)).json as { Volumes?: { Name: string }[] } | undefined)?.Volumes;
    for (const v of volumes ?? []) await this.daemon('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
    for (const [id, owner] of this.execs) if (owner === env) this.execs.delete(id);
    await this.groupOf(env).remove();
  }

  /** The environment whose token the request carries; refuses browsers and other hosts. */
  private authenticate(req: IncomingMessage): number {
    if (req.headers.origin !== undefined) throw new Refusal(403, 'the lab\'s Docker gateway does not answer web pages');
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${this.port}` && host !== `localhost:${this.port}`) throw new Refusal(403, `the lab's Docker gateway answers 127.0.0.1:${this.port} only, not ${host}`);
    const match = /^Bearer (\d{1,3})\.([A-Za-z0-9_-]{43})$/.exec(req.headers.authorization ?? '');
    if (match) {
      const env = Number(match[1]);
      const expected = Buffer.from(this.tokenOf(env));
      const given = Buffer.from(`${match[1]}.${match[2]}`);
      if (expected.length === given.length && timingSafeEqual(expected, given)) return env;
    }
    throw new Refusal(401, 'the lab\'s Docker gateway wants the environment\'s token (ZDM_LAB_DOCKER_TOKEN)');
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const env = this.authenticate(req);
      const decision = await this.decide(env, req);
      let released = false;
      const release = () => {
        if (released || !decision.creates) return;
        released = true;
        this.creating.set(env, (this.creating.get(env) ?? 1) - 1);
      };
      res.on('close', release);
      const upstream = request({ socketPath: this.socketPath, method: req.method, path: decision.path, headers: this.forwardedHeaders(req, decision.body) });
      upstream.on('response', (answer) => {
        answer.on('end', release);
        if (decision.recordsExec && answer.statusCode === 201) {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => {
            const body = Buffer.concat(chunks);
            const id = (() => {
              try {
                return (JSON.parse(body.toString('utf8')) as { Id?: unknown }).Id;
              } catch {
                return undefined;
              }
            })();
            if (typeof id === 'string') this.execs.set(id, env);
            res.writeHead(answer.statusCode!, answer.headers);
            res.end(body);
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (error) => refuse(res, new Refusal(502, `the Docker daemon did not answer: ${error.message}`)));
      res.on('close', () => upstream.destroy());
      if (decision.body) upstream.end(decision.body);
      else req.pipe(upstream);
    } catch (error) {
      refuse(res, error);
    }
  }

  /** Hijacked streams (exec start, attach): checked like any request, then the two sockets are joined once the daemon switches protocols. */
  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    try {
      const env = this.authenticate(req);
      const decision = await this.decide(env, req, head);
      const upstream = request({ socketPath: this.socketPath, method: req.method, path: decision.path, headers: this.forwardedHeaders(req, decision.body) });
      upstream.on('upgrade', (answer, daemonSocket, daemonHead) => {
        socket.write(statusLine(answer) + '\r\n');
        if (daemonHead.length > 0) socket.write(daemonHead);
        daemonSocket.on('error', () => socket.destroy());
        socket.on('close', () => daemonSocket.destroy());
        daemonSocket.on('close', () => socket.destroy());
        daemonSocket.pipe(socket);
        socket.pipe(daemonSocket);
      });
      upstream.on('response', (answer) => {
        socket.write(statusLine(answer) + '\r\n');
        answer.pipe(socket);
      });
      upstream.on('error', () => socket.destroy());
      upstream.end(decision.body);
    } catch (error) {
      const refusal = error instanceof Refusal ? error : new Refusal(400, (error as Error).message);
      const body = JSON.stringify({ message: refusal.message });
      socket.end(`HTTP/1.1 ${refusal.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  }

  private forwardedHeaders(req: IncomingMessage, body: Buffer | undefined): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = { ...req.headers, host: 'docker' };
    delete headers.authorization;
    if (body) {
      delete headers['transfer-encoding'];
      headers['content-length'] = body.length;
    }
    return headers;
  }

  /** The request as the daemon will get it, or a Refusal. `head`: for a hijack, the bytes read past the request's headers. */
  private async decide(env: number, req: IncomingMessage, head?: Buffer): Promise<Decision> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const path = url.pathname.replace(VERSION_PREFIX, '');
    const method = req.method ?? 'GET';
    const reading = method === 'GET' || method === 'HEAD';
    const keep = (): Decision => ({ path: `${url.pathname}${url.search}` });
    const body = async (what: string): Promise<Json> => parseJson(await readBody(req, head), what);

    if (reading && (path === '/_ping' || path === '/version')) return keep();
    if (reading && /^\/images\/.+\/json$/.test(path)) return keep();
    if (method === 'POST' && path === '/images/create') throw new Refusal(403, 'images are the host\'s choice: the lab does not pull images for an environment');

    if (method === 'GET' && (path === '/containers/json' || path === '/networks' || path === '/volumes')) {
      url.searchParams.set('filters', JSON.stringify(scopedFilters(url.searchParams.get('filters'), env)));
      return keep();
    }

    if (method === 'POST' && path === '/containers/create') {
      const name = url.searchParams.get('name') ?? '';
      if (!nameInScope(name, env)) throw new Refusal(403, `a container of environment ${env} is named ${scopeName(env)}-…, not "${name}"`);
      const spec = checkContainer(await body('container'), env);
      await this.requireNotRoot(spec);
      const within = this.withinBudget(spec, env);
      await this.requireRoom(env);
      const limited = await this.inGroup(within, env);
      this.creating.set(env, (this.creating.get(env) ?? 0) + 1);
      return { ...keep(), body: Buffer.from(JSON.stringify(limited)), creates: true };
    }
    if (method === 'POST' && path === '/networks/create') {
      const spec = onlyKeys('network', await body('network'), ['Name', 'Driver', 'Labels', 'CheckDuplicate']);
      if (spec.Name !== scopeName(env)) throw new Refusal(403, `environment ${env}'s network is ${scopeName(env)}, not "${String(spec.Name)}"`);
      if (spec.Driver !== undefined && spec.Driver !== 'bridge') throw new Refusal(403, `a network of the lab uses the bridge driver, not "${String(spec.Driver)}"`);
      return { ...keep(), body: Buffer.from(JSON.stringify({ ...spec, Labels: { ...labelsOf(spec.Labels), ...scopeLabels(env) } })) };
    }
    if (method === 'POST' && path === '/volumes/create') {
      const spec = onlyKeys('volume', await body('volume'), ['Name', 'Labels', 'Driver']);
      if (typeof spec.Name !== 'string' || !nameInScope(spec.Name, env)) throw new Refusal(403, `a volume of environment ${env} is named ${scopeName(env)}-…, not "${String(spec.Name)}"`);
      if (spec.Driver !== undefined && spec.Driver !== 'local') throw new Refusal(403, `a volume of the lab uses the local driver, not "${String(spec.Driver)}"`);
      return { ...keep(), body: Buffer.from(JSON.stringify({ ...spec, Labels: { ...labelsOf(spec.Labels), ...scopeLabels(env) } })) };
    }

    const container = /^\/containers\/([A-Za-z0-9][A-Za-z0-9_.-]*)(?:\/(json|start|stop|restart|kill|wait|logs|archive|exec|resize|top))?$/.exec(path);
    if (container) {
      const [, ref, action] = container;
      if (method === 'DELETE' && action !== undefined) throw new Refusal(403, `DELETE ${path} is not something the lab does`);
      const info = (await this.requireOwned('container', `/containers/${ref}/json`, env)) as { Config?: { User?: unknown; Image?: unknown } } | undefined;
      if (action === 'exec') {
        const spec = onlyKeys('exec', await body('exec'), EXEC_KEYS);
        if (spec.Privileged) throw new Refusal(403, 'an exec session of the lab is never privileged');
        const user = typeof spec.User === 'string' && spec.User.trim() !== '' ? spec.User : typeof info?.Config?.User === 'string' ? info.Config.User : '';
        if (user.trim() === '') throw new Refusal(403, 'an exec session of the lab never runs as root: this container\'s user is root, so give a numeric User of the image\'s (e.g. 999:999)');
        const problem = rootProblem(user);
        if (problem) throw new Refusal(403, `an exec session of the lab never runs as root: ${spec.User ? problem : `this container's ${problem}`}`);
        return { ...keep(), body: Buffer.from(JSON.stringify(spec)), recordsExec: true };
      }
      if (action === 'archive' && !reading) {
        if (method !== 'PUT') throw new Refusal(403, `${method} ${path} is not something the lab does`);
        if (url.searchParams.get('path') !== NODE_CONFIG_DIR) {
          throw new Refusal(403, `files are copied into a container of the lab in ${NODE_CONFIG_DIR} only, not "${url.searchParams.get('path') ?? ''}"`);
        }
        const archive = await readBody(req, head);
        await requirePlainFiles(archive);
        return { ...keep(), body: archive };
      }
      return keep();
    }
    const network = /^\/networks\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(path);
    if (network && (reading || method === 'DELETE')) {
      await this.requireOwned('network', `/networks/${network[1]}`, env);
      return keep();
    }
    const volume = /^\/volumes\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(path);
    if (volume && (reading || method === 'DELETE')) {
      await this.requireOwned('volume', `/volumes/${volume[1]}`, env);
      return keep();
    }
    const exec = /^\/exec\/([a-f0-9]{64})\/(start|resize|json)$/.exec(path);
    if (exec) {
      if (this.execs.get(exec[1]!) !== env) throw new Refusal(403, `exec session ${exec[1]} is not one of environment ${env}'s`);
      return head === undefined ? keep() : { ...keep(), body: await readBody(req, head) };
    }
    throw new Refusal(403, `${method} ${path} is not among what an environment of the lab may ask of Docker`);
  }

  /** The object must carry the environment's label; one that does not exist is left to the daemon's own 404. Resolves with what the daemon said of it. */
  private async requireOwned(what: string, inspectPath: string, env: number): Promise<unknown> {
    const { status, json } = await this.daemon('GET', inspectPath);
    if (status === 404) return undefined;
    const info = json as { Labels?: unknown; Config?: { Labels?: unknown } } | undefined;
    const labels = labelsOf(info?.Config?.Labels ?? info?.Labels);
    if (labels[LABEL_ENV] !== String(env) || labels[LABEL_MANAGED] !== 'true') {
      throw new Refusal(403, `that ${what} is not environment ${env}'s`);
    }
    return json;
  }

  /**
   * The container's user, its own or its image's, is not root; or its image
   * is one of the course's Cassandra images started as that image starts
   * (its own command, only the variables it reads after switching to its
   * user), whose entrypoint runs the node as the image's user. Only such a
   * node mounts volumes, at its data folder: a volume shared with another
   * container could hold files of another owner, which the entrypoint, as
   * root, would hand to the node's user.
   */
  private async requireNotRoot(spec: Json): Promise<void> {
    if (typeof spec.Image !== 'string' || !IMAGE_NAME.test(spec.Image)) throw new Refusal(400, `a container needs an Image named as Docker names them, not ${JSON.stringify(spec.Image ?? null)}`);
    const image = await this.daemon('GET', `/images/${spec.Image}/json`);
    if (image.status !== 200) throw new Refusal(image.status === 404 ? 404 : 502, `no such image: ${spec.Image} (the lab does not pull images)`);
    const config = (image.json as { Id?: string; Config?: { User?: unknown; Cmd?: unknown } } | undefined) ?? {};
    const given = typeof spec.User === 'string' ? spec.User : '';
    const own = typeof config.Config?.User === 'string' ? config.Config.User : '';
    const mounts = isObject(spec.HostConfig) && Array.isArray(spec.HostConfig.Mounts) ? (spec.HostConfig.Mounts as Json[]) : [];
    if (given.trim() !== '' && isRootUser(given)) throw new Refusal(403, `a container of the lab never runs as root, not as User "${given}"`);
    const givenProblem = given.trim() === '' ? undefined : rootProblem(given);
    if (givenProblem) throw new Refusal(403, `a container of the lab never runs as root: ${givenProblem}`);
    const nodeStart = async (): Promise<string | undefined> => {
      if (given.trim() !== '') return 'a User is given';
      const nodeIds = new Set<string>();
      for (const name of new Set((this.opts.nodeImages ?? defaultNodeImages)())) {
        if (!IMAGE_NAME.test(name)) continue;
        const node = await this.daemon('GET', `/images/${name}/json`);
        const id = (node.json as { Id?: unknown } | undefined)?.Id;
        if (node.status === 200 && typeof id === 'string') nodeIds.add(id);
      }
      if (typeof config.Id !== 'string' || !nodeIds.has(config.Id)) return NOT_NODE;
      if (spec.Cmd !== undefined && spec.Cmd !== null && JSON.stringify(spec.Cmd) !== JSON.stringify(config.Config?.Cmd ?? null)) return 'it runs another command than the image\'s';
      for (const entry of Array.isArray(spec.Env) ? spec.Env : spec.Env === undefined || spec.Env === null ? [] : [spec.Env]) {
        const name = String(entry).split('=')[0]!;
        if (!NODE_IMAGE_VARIABLES.includes(name)) return `it takes ${name} (only ${NODE_IMAGE_VARIABLES.join(', ')})`;
      }
      return undefined;
    };
    // An image's own user given by name may be root (its /etc/passwd says): it is treated as root.
    const runsAsRoot = given.trim() === '' && (own.trim() === '' || rootProblem(own) !== undefined);
    if (!runsAsRoot && mounts.length === 0) return;
    const notNode = await nodeStart();
    if (runsAsRoot && notNode !== undefined) {
      const only = notNode === NOT_NODE ? '' : ` until its own command switches to its user, so it runs only as the image starts it, and ${notNode}`;
      const as = own.trim() === '' || isRootUser(own) ? 'root' : `"${own}" (a name its /etc/passwd may map to uid 0)`;
      throw new Refusal(403, `a container of the lab never runs as root: image ${spec.Image} runs as ${as}${only}; give a numeric User other than 0 (uid:gid, e.g. 999:999)`);
    }
    if (mounts.length > 0 && (notNode !== undefined || mounts.some((m) => m.Target !== NODE_DATA_DIR) || mounts.length > 1)) {
      throw new Refusal(403, `a volume is mounted only by the course's Cassandra image started as it starts, at ${NODE_DATA_DIR}`);
    }
  }

  /**
   * A container's own memory, CPU and process limits, only when it asks for
   * them and for no more than the environment's whole budget (which its
   * group holds all its containers to, inGroup); a container that asks for
   * none is held by the group alone, so a change of the budget reaches it.
   */
  private withinBudget(spec: Json, env: number): Json {
    const budget = this.opts.budget?.(env);
    if (!budget) throw new Refusal(403, `environment ${env} has no budget in this lab, so it creates no container`);
    const host = isObject(spec.HostConfig) ? { ...spec.HostConfig } : {};
    const cpus = budget.cpus ?? availableParallelism();
    const limit = (key: string, most: number, unit: (n: number) => string): void => {
      const asked = host[key];
      if (asked === undefined || asked === null || asked === 0) {
        delete host[key];
        return;
      }
      if (typeof asked !== 'number' || !Number.isInteger(asked) || asked < 0) throw new Refusal(400, `HostConfig.${key} must be a positive whole number`);
      if (asked > most) throw new Refusal(403, `HostConfig.${key} asks for ${unit(asked)}, more than environment ${env}'s budget of ${unit(most)}, which all its containers share`);
    };
    limit('Memory', Math.floor(budget.memoryBytes), (n) => `${(n / 1024 ** 3).toFixed(2)} GiB of memory`);
    limit('NanoCpus', Math.round(cpus * 1e9), (n) => `${n / 1e9} CPU(s)`);
    // -1 asks Docker for no limit of the container's own; the group's still holds, but the request says what it wants.
    if (host.PidsLimit === -1) throw new Refusal(403, `HostConfig.PidsLimit asks for no limit, more than environment ${env}'s budget of ${budget.tasks} processes, which all its containers share`);
    limit('PidsLimit', budget.tasks, (n) => `${n} processes`);
    // A container's own memory limit takes no more in swap.
    if (typeof host.Memory === 'number') host.MemorySwap = host.Memory;
    return { ...spec, HostConfig: host };
  }

  /**
   * The container placed in the environment's group: the group is created
   * (or its limits set again to the budget as it is now) and named as the
   * container's CgroupParent. Docker reads CgroupParent as a path of the
   * hierarchies only with its cgroupfs driver; under systemd's it would want
   * a slice, so such a daemon is refused rather than let a container run
   * outside the budget.
   */
  private async inGroup(spec: Json, env: number): Promise<Json> {
    if (this.cgroupDriver !== 'cgroupfs') {
      const info = await this.daemon('GET', '/info');
      const driver = (info.json as { CgroupDriver?: unknown } | undefined)?.CgroupDriver;
      if (driver !== 'cgroupfs') {
        throw new Refusal(503, `the Docker daemon uses the ${String(driver ?? 'unknown')} cgroup driver; the lab holds an environment's containers to its budget with the cgroupfs driver only: start dockerd with --exec-opt native.cgroupdriver=cgroupfs`);
      }
      this.cgroupDriver = driver;
    }
    const group = this.groupOf(env);
    try {
      group.create(this.opts.budget!(env)!);
    } catch (error) {
      throw new Refusal(500, `environment ${env}'s containers' control group could not be set up: ${(error as Error).message}`);
    }
    return { ...spec, HostConfig: { ...(spec.HostConfig as Json), CgroupParent: group.path } };
  }

  /** Room for one more container of the environment's. */
  private async requireRoom(env: number): Promise<void> {
    const filter = encodeURIComponent(JSON.stringify({ label: [`${LABEL_MANAGED}=true`, `${LABEL_ENV}=${env}`] }));
    const list = await this.daemon('GET', `/containers/json?all=true&filters=${filter}`);
    if (list.status !== 200 || !Array.isArray(list.json)) throw new Refusal(502, 'the Docker daemon did not list the environment\'s containers');
    const count = list.json.length + (this.creating.get(env) ?? 0);
    if (count >= CONTAINERS_PER_ENVIRONMENT) {
      throw new Refusal(403, `environment ${env} has ${count} containers, the most one environment may have is ${CONTAINERS_PER_ENVIRONMENT}: remove one first`);
    }
  }

  private daemon(method: string, path: string): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, headers: { host: 'docker' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 502, json });
        });
        res.on('error', reject);
      });
      req.on('error', (error) => reject(new Refusal(502, `the Docker daemon did not answer: ${error.message}`)));
      req.end();
    });
  }
}

function statusLine(answer: IncomingMessage): string {
  const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage ?? ''}`];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
  return lines.join('\r\n') + '\r\n';
}

function refuse(res: ServerResponse, error: unknown): void {
  const refusal = error instanceof Refusal ? error : new Refusal(500, (error as Error).message);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(refusal.status, { 'Content-Type': 'application/json', ...(refusal.status === 413 ? { Connection: 'close' } : {}) });
  res.end(JSON.stringify({ message: refusal.message }));
}

function labelsOf(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Docker's list filters, whatever the client asked, narrowed to the environment's labels (label filters are and-ed). */
function scopedFilters(given: string | null, env: number): Record<string, string[]> {
  let parsed: unknown = {};
  try {
    parsed = given ? JSON.parse(given) : {};
  } catch {
    throw new Refusal(400, 'filters is not JSON');
  }
  const filters: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(isObject(parsed) ? parsed : {})) {
    // Docker takes either ["a=b"] or the older {"a=b": true}.
    filters[key] = Array.isArray(value) ? value.map(String) : isObject(value) ? Object.keys(value) : [];
  }
  filters.label = [...(filters.label ?? []), `${LABEL_MANAGED}=true`, `${LABEL_ENV}=${env}`];
  return filters;
}

/** A container of the environment's with nothing of the host's; its labels and confinement completed by the gateway. */
function checkContainer(spec: Json, env: number): Json {
  onlyKeys('container', spec, CONTAINER_KEYS);
  const host = onlyKeys('HostConfig', spec.HostConfig, HOST_CONFIG_KEYS);
  if (host.NetworkMode !== undefined && host.NetworkMode !== scopeName(env)) {
    throw new Refusal(403, `a container of environment ${env} joins network ${scopeName(env)}, not "${String(host.NetworkMode)}"`);
  }
  for (const [port, bindings] of Object.entries(isObject(host.PortBindings) ? host.PortBindings : {})) {
    for (const binding of Array.isArray(bindings) ? bindings : [bindings]) {
      const ip = isObject(binding) ? binding.HostIp : undefined;
      if (typeof ip !== 'string' || !new RegExp(`^127\\.0\\.${env}\\.\\d{1,3}$`).test(ip)) {
        throw new Refusal(403, `port ${port} of a container of environment ${env} is published on its own 127.0.${env}.0/24 only, not on "${String(ip ?? 'every address')}"`);
      }
    }
  }
  for (const mount of Array.isArray(host.Mounts) ? host.Mounts : host.Mounts === undefined ? [] : [host.Mounts]) {
    const m = onlyKeys('Mounts[]', mount, ['Type', 'Source', 'Target', 'ReadOnly']);
    if (m.Type !== 'volume' || typeof m.Source !== 'string' || !nameInScope(m.Source, env)) {
      throw new Refusal(403, `a container of environment ${env} mounts its own volumes (${scopeName(env)}-…) only, not ${String(m.Type)} "${String(m.Source)}"`);
    }
  }
  const networking = onlyKeys('NetworkingConfig', spec.NetworkingConfig, ['EndpointsConfig']);
  for (const [name, endpoint] of Object.entries(isObject(networking.EndpointsConfig) ? networking.EndpointsConfig : {})) {
    if (name !== scopeName(env)) throw new Refusal(403, `a container of environment ${env} joins network ${scopeName(env)}, not "${name}"`);
    onlyKeys(`EndpointsConfig.${name}`, endpoint, ['Aliases']);
  }
  return {
    ...spec,
    Labels: { ...labelsOf(spec.Labels), ...scopeLabels(env) },
    HostConfig: { ...host, NetworkMode: host.NetworkMode ?? scopeName(env), SecurityOpt: ['no-new-privileges'] },
  };
}

const NOT_NODE = "it is not the course's Cassandra image";

function defaultNodeImages(): string[] {
  const { origin, target } = labImageNames();
  return [origin, target];
}

/** A tar archive of plain files named without a folder: no link, device or path that could reach past the configuration folder. */
async function requirePlainFiles(archive: Buffer): Promise<void> {
  const reader = extract();
  const entries: { name: string; type: string }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      entries.push({ name: header.name, type: header.type ?? 'file' });
      stream.on('end', () => next());
      stream.resume();
    });
    reader.on('finish', () => resolve());
    reader.on('error', (error: Error) => reject(new Refusal(400, `the archive is not an uncompressed tar: ${error.message}`)));
  });
  reader.end(archive);
  await done;
  for (const { name, type } of entries) {
    if (type !== 'file' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name.replace(/^\.\//, ''))) {
      throw new Refusal(403, `files are copied into a container of the lab as plain files without folders, not ${type} "${name}"`);
    }
  }
}

/** The request's body (at most 1 MiB); for a hijack, Content-Length bytes from what was read past the headers and the socket. */
function readBody(req: IncomingMessage, head?: Buffer): Promise<Buffer> {
  const length = Number(req.headers['content-length'] ?? 0);
  if (head !== undefined) {
    if (!Number.isInteger(length) || length > MAX_BODY) return Promise.reject(new Refusal(413, `the body is larger than ${MAX_BODY / 1024 / 1024} MiB`));
    return new Promise((resolve, reject) => {
      let got = head;
      const done = () => {
        req.socket.off('data', more);
        // Nothing may flow past until the two sockets are joined.
        req.socket.pause();
        const body = got.subarray(0, length);
        const rest = got.subarray(length);
        if (rest.length > 0) req.socket.unshift(rest);
        resolve(body);
      };
      const more = (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= length) done();
      };
      if (got.length >= length) return done();
      req.socket.on('data', more);
      req.socket.once('error', reject);
    });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        // The rest is read and dropped, so that the client gets the answer rather than a reset connection.
        req.removeAllListeners('data');
        req.resume();
        reject(new Refusal(413, `the body is larger than ${MAX_BODY / 1024 / 1024} MiB`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
