/**
 * The embedded backend: Cassandra nodes as JVMs started from the cached jars
 * and zdm-proxy instances as native processes, all in the background on the
 * environment's loopback addresses. Each process runs in its own process
 * group with a pid file beside its data; status is read from /proc, not from
 * memory, so it tells the truth after a crash or a restart of the CLI.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCassandra, type CassandraArtifact } from '../artifacts/cassandra.js';
import { ensureCqlsh } from '../artifacts/cqlsh.js';
import { ensureZdmProxy } from '../artifacts/zdm-proxy.js';
import { cassandraYaml, javaArgs, logbackXml, nodePaths } from '../config/cassandra.js';
import type { Reporter } from '../progress.js';
import { cacheDir } from '../paths.js';
import { PASSWORD, USERNAME, type ComponentSpec, type NodeSpec, type ProxySpec, type Topology } from '../topology.js';
import type { Backend, ComponentStatus, ExecCommand } from './backend.js';

interface PidFile {
  pid: number;
  startedAt: number;
}

const TAG = 'ZDM_LAB_COMPONENT';

function pidPath(component: ComponentSpec): string {
  return join(component.dir, 'pid.json');
}

function readPid(component: ComponentSpec): PidFile | undefined {
  try {
    return JSON.parse(readFileSync(pidPath(component), 'utf8')) as PidFile;
  } catch {
    return undefined;
  }
}

/** True when pid is alive and is this component (its environment carries our tag). */
function isOurs(pid: number, component: ComponentSpec): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && environ.split('\0').includes(`${TAG}=${component.dir}`);
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class LocalBackend implements Backend {
  readonly name = 'local';
  private cassandra?: CassandraArtifact;
  private proxyBin?: string;

  async prepare(_topo: Topology, report: Reporter): Promise<void> {
    this.cassandra = await ensureCassandra(report);
    await ensureCqlsh(report);
  }

  private async launch(component: ComponentSpec, command: string, args: string[], env: Record<string, string>, logName: string): Promise<void> {
    const current = await this.status(component);
    if (current.state === 'running') return;
    mkdirSync(component.dir, { recursive: true });
    const logPath = join(component.dir, logName);
    const out = openSync(logPath, 'a');
    const child = spawn(command, args, {
      cwd: component.dir,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, ...env, [TAG]: component.dir },
    });
    closeSync(out);
    if (child.pid === undefined) {
      throw new Error(`${component.name}: could not start ${command}`);
    }
    const pidFile: PidFile = { pid: child.pid, startedAt: Date.now() };
    writeFileSync(pidPath(component), JSON.stringify(pidFile));
    child.unref();
  }

  async startNode(node: NodeSpec, report: Reporter): Promise<void> {
    const artifact = this.cassandra ?? (this.cassandra = await ensureCassandra(report));
    const paths = nodePaths(node);
    for (const dir of [paths.conf, paths.data, paths.logs]) mkdirSync(dir, { recursive: true });
    writeFileSync(paths.yaml, cassandraYaml(node));
    writeFileSync(paths.logback, logbackXml(node));
    await this.launch(node, 'java', javaArgs(node, artifact), {}, join('logs', 'stdout.log'));
  }

  async startProxy(proxy: ProxySpec, env: Record<string, string>, report: Reporter): Promise<void> {
    const bin = this.proxyBin ?? (this.proxyBin = (await ensureZdmProxy(report)).path);
    mkdirSync(proxy.dir, { recursive: true });
    writeFileSync(join(proxy.dir, 'effective-config.json'), JSON.stringify(env, null, 2));
    await this.launch(proxy, bin, [], env, 'proxy.log');
  }

  async stop(component: ComponentSpec): Promise<void> {
    const pidFile = readPid(component);
    if (!pidFile || !isOurs(pidFile.pid, component)) {
      rmSync(pidPath(component), { force: true });
      return;
    }
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pidFile.pid, sig);
      } catch {
        // the group is already gone
      }
    };
    signal('SIGTERM');
    const deadline = Date.now() + (component.kind === 'cassandra' ? 20_000 : 5_000);
    while (isOurs(pidFile.pid, component) && Date.now() < deadline) await sleep(100);
    if (isOurs(pidFile.pid, component)) {
      signal('SIGKILL');
      while (isOurs(pidFile.pid, component)) await sleep(50);
    }
    rmSync(pidPath(component), { force: true });
  }

  async status(component: ComponentSpec): Promise<ComponentStatus> {
    const pidFile = readPid(component);
    if (!pidFile) return { state: 'down', detail: existsSync(component.dir) ? 'stopped' : 'never started' };
    if (!isOurs(pidFile.pid, component)) return { state: 'down', detail: `process ${pidFile.pid} is gone` };
    return { state: 'running', pid: pidFile.pid, startedAt: pidFile.startedAt };
  }

  logFile(component: ComponentSpec): string | undefined {
    const path = component.kind === 'cassandra' ? nodePaths(component).log : join(component.dir, 'proxy.log');
    return existsSync(path) ? path : undefined;
  }

  async cqlsh({ address, port }: ComponentSpec): Promise<ExecCommand> {
    const bin = await ensureCqlsh(() => {});
    // Protocol v4: the ZDM proxy does not speak v5 framing.
    // A credentials file (mode 0600, as cqlsh insists) keeps the password off the command line.
    const credentials = join(cacheDir, 'cqlsh-credentials');
    if (!existsSync(credentials)) {
      writeFileSync(credentials, `[PlainTextAuthProvider]\nusername = ${USERNAME}\npassword = ${PASSWORD}\n`, { mode: 0o600 });
    }
    return { command: bin, args: [address, String(port), '-u', USERNAME, '--credentials', credentials, '--protocol-version=4'] };
  }
}
