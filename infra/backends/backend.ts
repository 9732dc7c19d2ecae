/**
 * The one interface every backend implements: start, stop, status, logs and
 * exec for each component of a topology. The zdm-lab commands talk only to
 * this, so the embedded (local processes) and Docker backends are
 * interchangeable. Readiness (CQL login, proxy health) is checked by the
 * commands over the network, the same way for every backend.
 */
import type { Reporter } from '../progress.js';
import type { ComponentSpec, NodeSpec, ProxySpec, Topology } from '../topology.js';

export type ComponentState = 'running' | 'down';

export interface ComponentStatus {
  state: ComponentState;
  pid?: number;
  /** When the current process started (epoch ms). */
  startedAt?: number;
  /** Why it is down, when known: "exited with code 1", "never started". */
  detail?: string;
}

export interface ExecCommand {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export interface Backend {
  readonly name: string;
  /** Whether a node's data outlives `stop` (the embedded backend keeps its folder; Docker removes its volume). */
  readonly keepsDataWhenStopped: boolean;
  /** Fetches or builds whatever the backend needs (artifacts, images). Idempotent. */
  prepare(topo: Topology, report: Reporter): Promise<void>;
  startNode(node: NodeSpec, report: Reporter): Promise<void>;
  startProxy(proxy: ProxySpec, env: Record<string, string>, report: Reporter): Promise<void>;
  stop(component: ComponentSpec): Promise<void>;
  /**
   * A rolling update's step for one proxy: replaced by one on `env`, the
   * others untouched. Without it, the proxy is stopped and started again;
   * a backend whose `stop` cannot stop one proxy alone (kubernetes: the three
   * are one StatefulSet) gives it.
   */
  restartProxy?(proxy: ProxySpec, env: Record<string, string>, report: Reporter): Promise<void>;
  status(component: ComponentSpec): Promise<ComponentStatus>;
  /** Path of a file holding the component's log (its last lines, at least), or undefined if it has none yet; for error messages. */
  logFile(component: ComponentSpec): string | undefined;
  /**
   * The last `lines` lines of the component's log, for error messages, from
   * a backend whose logs are no file here (kubernetes: read through the API
   * server); undefined when there is none to read.
   */
  logLines?(component: ComponentSpec, lines: number): Promise<string | undefined>;
  /** The command that runs cqlsh against a node or a proxy, from the host. */
  cqlsh(component: ComponentSpec): Promise<ExecCommand>;
  /**
   * Prints each component's whole log (its first lines hold the parsed
   * configuration), or with follow its last lines and then new ones, across
   * restarts, as `tail -F` does. Resolves with the exit code.
   */
  printLogs(components: ComponentSpec[], follow: boolean): Promise<number>;
}
