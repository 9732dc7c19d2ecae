/**
 * How an environment's budget is split on Kubernetes (infra/kube): the
 * limits of its six containers (two nodes, three proxies, the workstation)
 * add up to the course's per-environment budget, which is the namespace's
 * quota, so that a whole environment always fits it; each request is within
 * its limit; and a container that states no resources gets an even sixth.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1LimitRange, V1ResourceQuota } from '@kubernetes/client-node';
import { environmentObjects } from '../../infra/kube/environment.js';
import { RESOURCES } from '../../infra/kube/workloads.js';
import { projectRoot } from '../../infra/paths.js';
import { PROXY_COUNT } from '../../infra/topology.js';
import { loadCourse } from '../../lab/course/load.js';

const mebibytes = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1] ?? NaN);
const millicores = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000);

const { course } = loadCourse(join(projectRoot, 'steps'));
const budget = { memoryBytes: course!.environments.memoryBytes, cpus: course!.environments.cpus };
const containers = [RESOURCES.node, RESOURCES.node, ...Array.from({ length: PROXY_COUNT }, () => RESOURCES.proxy), RESOURCES.workstation];
const objects = environmentObjects(7, { budget, apiServer: { addresses: ['10.0.0.1/32'], ports: [6443] } });
const quota = objects.find((o) => o.kind === 'ResourceQuota') as V1ResourceQuota;
const limitRange = objects.find((o) => o.kind === 'LimitRange') as V1LimitRange;

describe('the split of an environment\'s budget among its containers', () => {
  test('the limits add up to the namespace\'s quota, the course\'s budget', () => {
    const memory = containers.reduce((sum, c) => sum + mebibytes(c.limits.memory), 0);
    const cpu = containers.reduce((sum, c) => sum + millicores(c.limits.cpu), 0);
    assert.equal(`${memory}Mi`, quota.spec?.hard?.['limits.memory']);
    assert.equal(`${cpu}m`, quota.spec?.hard?.['limits.cpu']);
  });

  test('each container asks for no more than its limit', () => {
    for (const [name, c] of Object.entries(RESOURCES)) {
      assert.ok(mebibytes(c.requests.memory) <= mebibytes(c.limits.memory), `${name}: memory`);
      assert.ok(millicores(c.requests.cpu) <= millicores(c.limits.cpu), `${name}: CPU`);
    }
  });

  test('a container without resources gets a sixth of the budget', () => {
    const share = limitRange.spec?.limits[0]._default;
    assert.equal(share?.memory, `${Math.floor(budget.memoryBytes / 6 / 1024 ** 2)}Mi`);
    assert.equal(share?.cpu, `${Math.floor((budget.cpus! * 1000) / 6)}m`);
  });
});
