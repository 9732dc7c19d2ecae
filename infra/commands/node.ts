/**
 * `zdm-lab node stop|start origin|target`: one Cassandra node of an
 * environment goes down, as a failing cluster does, while the other node and
 * the proxies keep running, and later comes back with its data. The course's
 * failure drill (Phase 3) stops Target this way. On the Docker backend a
 * stopped node's container goes with its data volume, so there the command
 * refuses instead of losing the learner's rows.
 */
import type { Reporter } from '../progress.js';
import { waitForNode } from '../readiness.js';
import type { NodeSpec, Topology } from '../topology.js';
import type { LabContext } from './environment.js';

/** The node a command line names: origin or target. */
export function nodeNamed(topo: Topology, name: string | undefined, verb: 'stop' | 'start'): NodeSpec {
  if (name === 'origin') return topo.origin;
  if (name === 'target') return topo.target;
  throw new Error(`usage: zdm-lab node ${verb} origin|target${name === undefined ? '' : ` (not "${name}")`}`);
}

function refuseWithoutData(ctx: LabContext, node: NodeSpec): void {
  if (ctx.backend.name === 'local') return;
  throw new Error(`the ${ctx.backend.name} backend removes a stopped node's data with its container, so ${node.name} is left running: the drill needs the local backend`);
}

/** Stops the node; its data stays where it is. Prints one line saying so and how to bring it back. */
export async function nodeStop(ctx: LabContext, node: NodeSpec): Promise<void> {
  refuseWithoutData(ctx, node);
  if ((await ctx.backend.status(node)).state === 'down') {
    ctx.print(`${node.name} (${node.address}:${node.port}) is already stopped: zdm-lab node start ${node.name} starts it`);
    return;
  }
  const started = Date.now();
  await ctx.backend.stop(node);
  ctx.print(`${node.name} stopped (${node.address}:${node.port}) in ${seconds(started)}; its data stays: zdm-lab node start ${node.name} brings it back`);
}

/** Starts the node with the data it had and waits until it accepts a login. */
export async function nodeStart(ctx: LabContext, node: NodeSpec): Promise<void> {
  refuseWithoutData(ctx, node);
  const { backend } = ctx;
  const report: Reporter = ctx.report;
  const started = Date.now();
  if ((await backend.status(node)).state !== 'running') {
    await backend.prepare(ctx.topo, report);
    await backend.startNode(node, report);
    report(`${node.name}: Cassandra starting on ${node.address}:${node.port}`);
  }
  await waitForNode(node, backend, report);
  ctx.print(`${node.name} is up (${node.address}:${node.port}) and accepts logins, ${seconds(started)} after the start`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}
