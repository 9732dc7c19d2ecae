/**
 * The embedded backend: Cassandra nodes as JVMs started from the cached jars
 * and zdm-proxy instances as native processes, all in the background on the
 * environment's loopback addresses. Each process runs in its own process
 * group with a pid file beside its data (common/processes.ts); status is read
 * from /proc, not from memory, so it tells the truth after a crash or a
 * restart of the CLI.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Supervised } from '../../common/processes.js';
import { ensureCassandra, type CassandraArtifact } from '../artifacts/cassandra.js';
import { classDataOptions } from '../artifacts/class-data.js';
import { ensureCqlsh } from '../artifacts/cqlsh.js';
import { ensureZdmProxy } from '../artifacts/zdm-proxy.js';
import { cassandraYaml, javaArgs, logbackXml, nodeEnvironment, nodePaths } from '../config/cassandra.js';
import type { Reporter } from '../progress.js';
import { credentialsFile, credentialsOf, loginCluster } from '../credentials.js';
import { COMPONENT_TAG } from '../paths.js';
import { type ComponentSpec, type NodeSpec, type ProxySpec, type Topology } from '../topology.js';
import type { Backend, ComponentStatus, ExecCommand } from './backend.js';
import { writeEffectiveConfig } from '../config/effective.js';

function supervised(component: ComponentSpec): Supervised {
  return new Supervised(component.dir, COMPONENT_TAG);
}

export class LocalBackend implements Backend {
  readonly name = 'local';
  readonly keepsDataWhenStopped = true;
  private cassandra?: CassandraArtifact;
  /** The JVM options that map the class data archive (none without one), decided once per command. */
  private classData?: string[];
  private proxyBin?: string;

  async prepare(_topo: Topology, report: Reporter): Promise<void> {
    this.cassandra = await ensureCassandra(report);
    this.classData ??= await classDataOptions(this.cassandra, report);
    await ensureCqlsh(report);
  }

  private async launch(component: ComponentSpec, command: string, args: string[], env: Record<string, string>, logName: string): Promise<void> {
    try {
      supervised(component).start(command, args, { env, logFile: join(component.dir, logName) });
    } catch (error) {
      throw new Error(`${component.name}: ${(error as Error).message}`);
    }
  }

  async startNode(node: NodeSpec, report: Reporter): Promise<void> {
    const artifact = this.cassandra ?? (this.cassandra = await ensureCassandra(report));
    const classData = this.classData ?? (this.classData = await classDataOptions(artifact, report));
    const paths = nodePaths(node);
    for (const dir of [paths.conf, paths.data, paths.logs]) mkdirSync(dir, { recursive: true });
    writeFileSync(paths.yaml, cassandraYaml(node));
    writeFileSync(paths.logback, logbackXml(node));
    await this.launch(node, 'java', [...classData, ...javaArgs(node, artifact)], nodeEnvironment(), join('logs', 'stdout.log'));
  }

  async startProxy(proxy: ProxySpec, env: Record<string, string>, report: Reporter): Promise<void> {
    const bin = this.proxyBin ?? (this.proxyBin = (await ensureZdmProxy(report)).path);
    mkdirSync(proxy.dir, { recursive: true });
    writeEffectiveConfig(proxy, env);
    await this.launch(proxy, bin, [], env, 'proxy.log');
  }

  async stop(component: ComponentSpec): Promise<void> {
    await supervised(component).stop(component.kind === 'cassandra' ? 20_000 : 5_000);
  }

  async status(component: ComponentSpec): Promise<ComponentStatus> {
    const s = supervised(component).status(() => !existsSync(component.dir));
    return s.running ? { state: 'running', pid: s.pid, startedAt: s.startedAt } : { state: 'down', detail: s.detail };
  }

  printLogs(components: ComponentSpec[], follow: boolean): Promise<number> {
    const files = components.map((c) => this.logFile(c)).filter((f): f is string => Boolean(f));
    if (files.length === 0) throw new Error('no proxy log yet: run zdm-lab proxy deploy first');
    const args = follow ? ['-n', '40', '-F', ...files] : ['-n', '+1', ...files];
    return new Promise((resolve) => {
      const child = spawn('tail', args, { stdio: 'inherit' });
      child.on('close', (code) => resolve(code ?? 0));
    });
  }

  logFile(component: ComponentSpec): string | undefined {
    const path = component.kind === 'cassandra' ? nodePaths(component).log : join(component.dir, 'proxy.log');
    return existsSync(path) ? path : undefined;
  }

  async cqlsh(component: ComponentSpec): Promise<ExecCommand> {
    const { address, port } = component;
    const bin = await ensureCqlsh(() => {});
    // Protocol v4: through the proxies the Python driver's v5 fails ("CRC mismatch on header", test/integration/infra-proxy.test.ts).
    // The environment's credentials file (mode 0600, as cqlsh insists) keeps the password off the command line.
    const cluster = loginCluster(component);
    const { username } = credentialsOf(component.env, cluster);
    return { command: bin, args: [address, String(port), '-u', username, '--credentials', credentialsFile(component.env, cluster), '--protocol-version=4'] };
  }
}
