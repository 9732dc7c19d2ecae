/**
 * The Docker backend: the same topology as the embedded backend, as
 * containers driven through dockerode. Each environment gets its own bridge
 * network; Origin and Target run the Cassandra image (cassandra:5.0 unless
 * configured, Origin's may differ, e.g. cassandra:4.1) with the lab's
 * cassandra.yaml copied in before start and a named volume each; the three
 * proxies run datastax/zdm-proxy:2.4.2 with the ZDM_* variables made from the
 * learner's YAML files. Every container port is published on the
 * component's own loopback address (127.0.k.x), so host-side clients do not
 * know which backend runs. Everything created carries the lab's labels;
 * stopping a component removes its container (and a node's volume), and the
 * network goes with the environment's last container, so `infra down` leaves
 * nothing behind and touches nothing it did not create.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { cassandraYaml, FAST_START, HEAP } from '../config/cassandra.js';
import { projectRoot } from '../paths.js';
import type { Reporter } from '../progress.js';
import { labImageNames, NODE_IMAGE_USER, scopeName } from '../../common/docker-scope.js';
import { credentialsOf, loginCluster } from '../credentials.js';
import { topology, type ComponentSpec, type NodeSpec, type ProxySpec, type Topology } from '../topology.js';
import type { Backend, ComponentStatus, ExecCommand } from './backend.js';
import {
  dockerClient,
  ensureImage,
  envFilter,
  isNotFound,
  labLabels,
  requireDaemon,
} from './docker-daemon.js';
import { followLogs, readLogs } from './docker-logs.js';
import { writeEffectiveConfig } from '../config/effective.js';

export interface DockerImages {
  origin: string;
  target: string;
  proxy: string;
}

/** Image names, each configurable for a private registry or another version. */
export function dockerImages(): DockerImages {
  return labImageNames();
}

/** The proxy needs no privilege (its ports are above 1024, it writes no file): it runs as nobody, whatever the image's own user. */
const PROXY_USER = '65534:65534';

export function networkName(env: number): string {
  return scopeName(env);
}

export function containerName(component: ComponentSpec): string {
  return `${scopeName(component.env)}-${component.name}`;
}

export function volumeName(node: NodeSpec): string {
  return `${scopeName(node.env)}-${node.name}-data`;
}

/**
 * cassandra.yaml for a node in a container: the embedded backend's file with
 * container paths. listen_address, rpc_address and the seed are rewritten
 * at start by the image's entrypoint (the container's own address, or
 * 0.0.0.0 for rpc); the commented broadcast lines are where it puts the
 * container address that the proxies on the network reach.
 */
export function containerCassandraYaml(node: NodeSpec): string {
  return `${cassandraYaml({ ...node, dir: '/var/lib/cassandra' }, 'small')}# broadcast_address: set by the image's entrypoint
# broadcast_rpc_address: set by the image's entrypoint
`;
}

/** A tar archive of small files, as the daemon's archive endpoint wants (tar-stream writes it). */
async function tarOf(files: { name: string; content: string; mode?: number }[]): Promise<Buffer> {
  const archive = pack();
  for (const file of files) archive.entry({ name: file.name, mode: file.mode ?? 0o644 }, file.content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The variable that carries a cqlsh session's password into the container. */
const PASSWORD_VARIABLE = 'ZDM_LAB_CQL_PASSWORD';

export class DockerBackend implements Backend {
  readonly name = 'docker';
  readonly keepsDataWhenStopped = false;
  private readonly docker: Docker;
  private readonly images: DockerImages;
  private answered = false;
  /** When each component's log was last copied to the host, by container name. */
  private readonly logSaved = new Map<string, number>();

  constructor(docker: Docker = dockerClient(), images: DockerImages = dockerImages()) {
    this.docker = docker;
    this.images = images;
  }

  /** Every operation starts here, so that a daemon that does not answer gives one clear error. */
  private async daemon(): Promise<Docker> {
    if (!this.answered) {
      await requireDaemon(this.docker);
      this.answered = true;
    }
    return this.docker;
  }

  async prepare(topo: Topology, report: Reporter): Promise<void> {
    await this.daemon();
    await ensureImage(this.docker, this.images.origin, { what: 'Origin', variable: 'ZDM_LAB_ORIGIN_IMAGE' }, report);
    if (this.images.target !== this.images.origin) await ensureImage(this.docker, this.images.target, { what: 'Target', variable: 'ZDM_LAB_TARGET_IMAGE' }, report);
    await this.ensureNetwork(topo.env, report);
  }

  private async ensureNetwork(env: number, report: Reporter): Promise<string> {
    const name = networkName(env);
    try {
      await this.docker.getNetwork(name).inspect();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labLabels(env), CheckDuplicate: true });
        report(`network ${name} created`);
      } catch (createError) {
        // 409: created meanwhile by a command running beside this one
        if ((createError as { statusCode?: number }).statusCode !== 409) throw createError;
      }
    }
    return name;
  }

  private async inspect(component: ComponentSpec): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await (await this.daemon()).getContainer(containerName(component)).inspect();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Removes a container that exists but does not run, keeping its last log lines beside the component's files. */
  private async removeStale(component: ComponentSpec): Promise<void> {
    const info = await this.inspect(component);
    if (!info || info.State.Running) return;
    await this.saveLog(component);
    await this.docker.getContainer(info.Id).remove({ force: true });
  }

  private async run(component: ComponentSpec, options: Docker.ContainerCreateOptions, files: { name: string; content: string }[], dir: string): Promise<void> {
    // an earlier container's log must not pass for this one's in an error message
    rmSync(join(component.dir, 'container.log'), { force: true });
    const container = await this.docker.createContainer(options);
    if (files.length) await container.putArchive(await tarOf(files), { path: dir });
    try {
      await container.start();
    } catch (error) {
      await container.remove({ force: true }).catch(() => {});
      throw new Error(`${component.name}: container ${containerName(component)} could not start: ${(error as Error).message.trim()}`);
    }
  }

  private publish(address: string, ports: number[]): Pick<Docker.ContainerCreateOptions, 'ExposedPorts'> & { PortBindings: Docker.PortMap } {
    return {
      ExposedPorts: Object.fromEntries(ports.map((p) => [`${p}/tcp`, {}])),
      PortBindings: Object.fromEntries(ports.map((p) => [`${p}/tcp`, [{ HostIp: address, HostPort: String(p) }]])),
    };
  }

  async startNode(node: NodeSpec, report: Reporter): Promise<void> {
    const env = node.env;
    if ((await this.inspect(node))?.State.Running) return;
    await this.removeStale(node);
    const image = node.name === 'origin' ? this.images.origin : this.images.target;
    const network = await this.ensureNetwork(env, report);
    const volume = volumeName(node);
    await this.docker.createVolume({ Name: volume, Labels: labLabels(env, node.name) });
    const yaml = containerCassandraYaml(node);
    mkdirSync(join(node.dir, 'conf'), { recursive: true });
    writeFileSync(join(node.dir, 'conf', 'cassandra.yaml'), yaml);
    const ports = this.publish(node.address, [node.port]);
    await this.run(
      node,
      {
        name: containerName(node),
        Image: image,
        Hostname: node.name,
        Labels: labLabels(env, node.name),
        Env: [`MAX_HEAP_SIZE=${HEAP}`, 'HEAP_NEWSIZE=64M', `JVM_EXTRA_OPTS=${FAST_START.join(' ')}`],
        ExposedPorts: ports.ExposedPorts,
        HostConfig: {
          NetworkMode: network,
          PortBindings: ports.PortBindings,
          Mounts: [{ Type: 'volume', Source: volume, Target: '/var/lib/cassandra' }],
        },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [node.name] } } },
      },
      // The image's entrypoint edits this file in place; a copy keeps the host's file as the lab wrote it.
      [{ name: 'cassandra.yaml', content: yaml }],
      '/etc/cassandra',
    );
    report(`${node.name}: container ${containerName(node)} from ${image}, volume ${volume}`);
  }

  /**
   * The proxy's ZDM_* variables for a container: it listens on all of the
   * container's addresses (its port is published on the proxy's own host
   * address), and a contact point that is a node's host address becomes that
   * node's container name on the environment's network.
   */
  containerEnvironment(proxy: ProxySpec, env: Record<string, string>): Record<string, string> {
    const { origin, target } = topology(proxy.env);
    const names = new Map([origin, target].map((node) => [node.address, containerName(node)]));
    const onNetwork = (points: string | undefined) =>
      (points ?? '')
        .split(',')
        .map((p) => p.trim())
        .map((p) => names.get(p) ?? p)
        .join(',');
    return {
      ...env,
      ZDM_PROXY_LISTEN_ADDRESS: '0.0.0.0',
      ZDM_METRICS_ADDRESS: '0.0.0.0',
      ZDM_ORIGIN_CONTACT_POINTS: onNetwork(env.ZDM_ORIGIN_CONTACT_POINTS),
      ZDM_TARGET_CONTACT_POINTS: onNetwork(env.ZDM_TARGET_CONTACT_POINTS),
    };
  }

  async startProxy(proxy: ProxySpec, env: Record<string, string>, report: Reporter): Promise<void> {
    const e = proxy.env;
    if ((await this.inspect(proxy))?.State.Running) return;
    await this.removeStale(proxy);
    await ensureImage(this.docker, this.images.proxy, { what: 'ZDM proxy', variable: 'ZDM_LAB_PROXY_IMAGE' }, report);
    const network = await this.ensureNetwork(e, report);
    const containerEnv = this.containerEnvironment(proxy, env);
    mkdirSync(proxy.dir, { recursive: true });
    writeEffectiveConfig(proxy, containerEnv);
    const ports = this.publish(proxy.address, [proxy.port, proxy.metricsPort]);
    await this.run(
      proxy,
      {
        name: containerName(proxy),
        Image: this.images.proxy,
        Hostname: proxy.name,
        User: PROXY_USER,
        Labels: labLabels(e, proxy.name),
        Env: Object.entries(containerEnv).map(([k, v]) => `${k}=${v}`),
        ExposedPorts: ports.ExposedPorts,
        HostConfig: { NetworkMode: network, PortBindings: ports.PortBindings },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [proxy.name] } } },
      },
      [],
      '/',
    );
  }

  /** Keeps the container's last log lines in a file, for logFile() and error messages. */
  private async saveLog(component: ComponentSpec): Promise<void> {
    this.logSaved.set(containerName(component), Date.now());
    try {
      const text = await readLogs(this.docker.getContainer(containerName(component)), 200);
      mkdirSync(component.dir, { recursive: true });
      writeFileSync(join(component.dir, 'container.log'), text);
    } catch {
      // no container, no log to keep
    }
  }

  async stop(component: ComponentSpec): Promise<void> {
    const info = await this.inspect(component);
    const env = component.env;
    if (info) {
      const container = this.docker.getContainer(info.Id);
      if (info.State.Running) {
        await container.stop({ t: component.kind === 'cassandra' ? 20 : 5 }).catch((error) => {
          if ((error as { statusCode?: number }).statusCode !== 304) throw error;
        });
      }
      await this.saveLog(component);
      await container.remove({ force: true }).catch((error) => {
        if (!isNotFound(error)) throw error;
      });
    }
    if (component.kind === 'cassandra') await this.removeVolume(component);
    await this.removeNetworkIfUnused(env);
  }

  private async removeVolume(node: NodeSpec): Promise<void> {
    const volume = this.docker.getVolume(volumeName(node));
    try {
      const info = await volume.inspect();
      if (info.Labels?.['zdm-lab.managed'] !== 'true') return;
      await volume.remove();
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  private async removeNetworkIfUnused(env: number): Promise<void> {
    const left = await this.docker.listContainers({ all: true, filters: envFilter(env) });
    if (left.length) return;
    const networks = await this.docker.listNetworks({ filters: envFilter(env) });
    for (const network of networks) {
      await this.docker.getNetwork(network.Id).remove().catch((error) => {
        if (!isNotFound(error)) throw error;
      });
    }
  }

  async status(component: ComponentSpec): Promise<ComponentStatus> {
    const info = await this.inspect(component);
    if (!info) return { state: 'down', detail: existsSync(component.dir) ? 'stopped' : 'never started' };
    if (!info.State.Running) {
      await this.saveLog(component);
      return { state: 'down', detail: `container exited with code ${info.State.ExitCode}` };
    }
    const startedAt = Date.parse(info.State.StartedAt);
    // While a component starts, its log on the host is kept fresh (every 5 s at most) for a timeout's message.
    const saved = this.logSaved.get(containerName(component)) ?? 0;
    if (Date.now() - startedAt < 600_000 && Date.now() - saved > 5000) await this.saveLog(component);
    return { state: 'running', pid: info.State.Pid, startedAt };
  }

  logFile(component: ComponentSpec): string | undefined {
    const path = join(component.dir, 'container.log');
    return existsSync(path) ? path : undefined;
  }

  async printLogs(components: ComponentSpec[], follow: boolean): Promise<number> {
    await this.daemon();
    return followLogs(this.docker, components.map((c) => ({ name: c.name, container: containerName(c), savedLog: this.logFile(c) })), follow);
  }

  /**
   * cqlsh inside the node's container (the official image ships it), as the
   * image's own user; for the proxy, from inside Origin's container to the
   * proxy's name on the network. The password reaches the container in a
   * variable of the exec session (docker-exec.ts -e), never on a command
   * line, where `ps` on the host or in the container would show it; there it
   * goes into a credentials file (mode 0600, as cqlsh insists).
   */
  async cqlsh(component: ComponentSpec): Promise<ExecCommand> {
    const { port } = component;
    const { username, password } = credentialsOf(component.env, loginCluster(component));
    // from inside the node itself, or for a proxy from inside Origin to the proxy's name on the network
    const container = containerName(component.kind === 'cassandra' ? component : topology(component.env).origin);
    const target = component.kind === 'cassandra' ? '127.0.0.1' : containerName(component);
    return {
      command: join(projectRoot, 'node_modules', '.bin', 'tsx'),
      args: [
        join(projectRoot, 'infra', 'backends', 'docker-exec.ts'),
        '-u',
        NODE_IMAGE_USER,
        '-e',
        PASSWORD_VARIABLE,
        container,
        'sh',
        '-c',
        // A here-document is written by the shell itself: no process gets the password as an argument.
        `umask 077; f=$(mktemp) || exit 1; cat > "$f" <<EOF\n[PlainTextAuthProvider]\nusername = ${username}\npassword = $${PASSWORD_VARIABLE}\nEOF\n` +
          `unset ${PASSWORD_VARIABLE}; cqlsh "$@" --credentials "$f"; code=$?; rm -f "$f"; exit $code`,
        'cqlsh',
        target,
        String(port),
        '-u',
        username,
        '--protocol-version=4',
      ],
      env: { [PASSWORD_VARIABLE]: password },
    };
  }

  /** Names of everything of one environment that carries the lab's labels, for checks. */
  async labelled(env: number): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
    const filters = envFilter(env);
    await this.daemon();
    const containers = await this.docker.listContainers({ all: true, filters });
    const networks = await this.docker.listNetworks({ filters });
    const volumes = await this.docker.listVolumes({ filters });
    return {
      containers: containers.map((c) => c.Names[0].replace(/^\//, '')).sort(),
      networks: networks.map((n) => n.Name).sort(),
      volumes: (volumes.Volumes ?? []).map((v) => v.Name).sort(),
    };
  }
}
