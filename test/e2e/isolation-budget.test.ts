/**
 * An isolated environment's budget, set from the course's declaration and
 * changed by the instructor while it runs: the console's list shows it with
 * the memory in use, and the control group's own files hold the new limits.
 * A lab that does not isolate has no budget to change. Needs root
 * (isolation); skipped, with the reason, without it (failed under CI=true).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isolationProblem } from '../../lab/environments/isolation.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { required } from '../support/requirement.js';
import { fixtures, labFetch, startTestLab, type TestLab } from './lab-harness.js';

const ENV = 31;
const skip = required('learner isolation', isolationProblem());
let lab: LabServer;
let dataDir: string;

const instructor = (path: string, body?: unknown) => labFetch(lab, path, { token: lab.instructorToken, method: body === undefined ? 'GET' : 'POST', body });
const row = async () => ((await instructor('/api/instructor/environments')).body.environments as { env: number; budget: any }[]).find((r) => r.env === ENV)!;

describe('the budget of an isolated environment', { skip }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'isolation-budget-'));
    lab = await startLab({ courseDir: join(fixtures, 'course-basic'), port: 0, dataDir, environmentId: ENV, isolate: true, runSetup: false });
  });
  after(async () => {
    await lab.classroom.destroy(ENV);
    await lab.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("starts as the course declares it and is listed with the memory in use", async () => {
    const { budget } = await row();
    assert.equal(budget.memoryBytes, lab.course.environments.memoryBytes);
    assert.ok(budget.memoryUsedBytes >= 0 && budget.memoryUsedBytes < budget.memoryBytes);
  });

  test("the instructor changes it while the environment runs, and the kernel holds the new limits", async () => {
    const res = await instructor(`/api/instructor/environments/${ENV}/budget`, { memoryGiB: 0.5, cpus: 0.5 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await row()).budget.memoryBytes, 512 * 1024 ** 2);
    const cgroup = lab.environments.get(ENV)!.sandbox!.cgroup;
    const read = (file: string) => readFileSync(join(cgroup.dirs.find((d) => existsSync(join(d, file)))!, file), 'utf8').trim();
    if (cgroup.dirs.length === 1) {
      assert.equal(read('memory.max'), String(512 * 1024 ** 2));
      assert.equal(read('cpu.max'), '50000 100000');
    } else {
      assert.equal(read('memory.limit_in_bytes'), String(512 * 1024 ** 2));
      assert.equal(read('cpu.cfs_quota_us'), '50000');
    }
    const bad = await instructor(`/api/instructor/environments/${ENV}/budget`, { cpus: -1 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /"cpus" must be a number above 0/);
  });

  test('a restart of the lab keeps the budget the instructor gave, not the course default', async () => {
    await lab.close();
    lab = await startLab({ courseDir: join(fixtures, 'course-basic'), port: 0, dataDir, environmentId: ENV, isolate: true, runSetup: false });
    const { budget } = await row();
    assert.equal(budget.memoryBytes, 512 * 1024 ** 2);
    assert.equal(budget.cpus, 0.5);
  });
});

describe('a lab that does not isolate', () => {
  let t: TestLab;
  before(async () => {
    t = await startTestLab();
  });
  after(() => t.dispose());
  test('has no budget to change, and says why', async () => {
    const res = await labFetch(t.lab, '/api/instructor/environments/1/budget', { token: t.lab.instructorToken, method: 'POST', body: { memoryGiB: 1 } });
    assert.equal(res.status, 409);
    assert.match(res.body.error, /does not isolate/);
  });
});
