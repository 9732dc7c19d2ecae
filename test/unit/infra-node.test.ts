/**
 * `zdm-lab node stop|start origin|target` without a real node: the node a
 * command line names, a node already stopped, and the Docker backend, which
 * would lose a stopped node's data and so refuses. The real stop and start
 * of Target run in the course's failure drill (test/integration/steps-checks).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Backend, ComponentStatus } from '../../infra/backends/backend.js';
import type { LabContext } from '../../infra/commands/environment.js';
import { nodeNamed, nodeStart, nodeStop } from '../../infra/commands/node.js';
import { topology } from '../../infra/topology.js';

const topo = topology(7);

function context(name: string, state: ComponentStatus['state']): { ctx: LabContext; printed: string[]; calls: string[] } {
  const printed: string[] = [];
  const calls: string[] = [];
  const backend = {
    name,
    status: async () => ({ state }),
    stop: async (c: { name: string }) => void calls.push(`stop ${c.name}`),
  } as unknown as Backend;
  return { ctx: { topo, backend, report: () => {}, print: (l) => printed.push(l) }, printed, calls };
}

describe('zdm-lab node', () => {
  test('names origin or target, and says how to call it otherwise', () => {
    assert.equal(nodeNamed(topo, 'target', 'stop'), topo.target);
    assert.equal(nodeNamed(topo, 'origin', 'start'), topo.origin);
    assert.throws(() => nodeNamed(topo, undefined, 'stop'), /^Error: usage: zdm-lab node stop origin\|target$/);
    assert.throws(() => nodeNamed(topo, 'proxy', 'start'), /^Error: usage: zdm-lab node start origin\|target \(not "proxy"\)$/);
  });

  test('stopping a node that is already down says so and how to start it', async () => {
    const { ctx, printed, calls } = context('local', 'down');
    await nodeStop(ctx, topo.target);
    assert.deepEqual(calls, []);
    assert.deepEqual(printed, ['target (127.0.7.2:9042) is already stopped: zdm-lab node start target starts it']);
  });

  test('a running node is stopped, its data kept', async () => {
    const { ctx, printed, calls } = context('local', 'running');
    await nodeStop(ctx, topo.target);
    assert.deepEqual(calls, ['stop target']);
    assert.match(printed[0]!, /^target stopped \(127\.0\.7\.2:9042\) in \d+\.\ds; its data stays: zdm-lab node start target brings it back$/);
  });

  test('on the Docker backend it refuses: a stopped node would lose its data', async () => {
    const { ctx, calls } = context('docker', 'running');
    await assert.rejects(nodeStop(ctx, topo.target), /the docker backend removes a stopped node's data with its container, so target is left running: the drill needs the local backend/);
    await assert.rejects(nodeStart(ctx, topo.target), /the drill needs the local backend/);
    assert.deepEqual(calls, []);
  });
});
