/**
 * The lab's Docker gateway against a real daemon, on what a container of an
 * isolated environment takes and as whom it runs. All of an environment's
 * containers share its budget: a memory hog in each of two containers, each
 * within the budget alone, together past it, and the kernel kills one at the
 * combined limit; the environment's group carries the budget, every
 * container's group is inside it, and a budget change reaches the running
 * containers. An image whose /etc/passwd maps the name `toor` to uid 0
 * (built here with `docker commit`, since no image can be pulled) gets no
 * container and no exec session as `toor`, whether the image or the request
 * names it. Removing the environment leaves none of its control groups in any
 * hierarchy. Runs on environment 21 against a dockerd started here, with the
 * locally built Cassandra image; needs root (the gateway and the groups are
 * the lab's as root runs it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { DockerGateway, type ContainerBudget } from '../../lab/environments/docker-gateway.js';
import { dockerLab, labelled, type DockerSetup } from '../support/docker.js';
import { required } from '../support/requirement.js';

const ENV = 21;
const MIB = 1024 ** 2;
const GROUP = `zdmlab-docker-${ENV}`;
const TOOR_IMAGE = 'zdm-lab-test/toor:latest';
const rootProblem = required('the lab run as root', process.getuid?.() === 0 ? undefined : 'the gateway sets control groups, which needs root');
const lab = rootProblem === undefined ? await dockerLab() : rootProblem;
const skip = typeof lab === 'string' ? lab : undefined;
const setup = lab as DockerSetup;

let budget: ContainerBudget = { memoryBytes: 384 * MIB, cpus: 1, tasks: 200 };
const gateway = new DockerGateway({ key: randomBytes(32), budget: (env) => (env === ENV ? budget : undefined) });
const docker = new Docker();

/** A request through the gateway with environment 21's token, as its Docker clients make them. */
function ask(method: string, path: string, body?: unknown): Promise<{ status: number; message: string; json: unknown }> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: gateway.listeningPort,
        method,
        path: `/v1.41${path}`,
        headers: { Authorization: `Bearer ${gateway.tokenOf(ENV)}`, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, message: (json as { message?: string } | undefined)?.message ?? text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** A container of environment 21's that keeps `mib` MiB of memory in use (bytes written, so every page is resident) and sleeps. */
async function hog(name: string, mib: number): Promise<void> {
  const created = await ask('POST', `/containers/create?name=zdm-lab-${ENV}-${name}`, {
    Image: setup.images.cassandra,
    User: '999:999',
    Cmd: ['python3', '-c', `import time\nheld = b'x' * (${mib} << 20)\nprint('holding', flush=True)\ntime.sleep(600)`],
  });
  assert.equal(created.status, 201, created.message);
  const started = await ask('POST', `/containers/zdm-lab-${ENV}-${name}/start`);
  assert.equal(started.status, 204, started.message);
}

function groupFile(controller: string, file: string): number {
  return Number(readFileSync(join('/sys/fs/cgroup', controller, GROUP, file), 'utf8').trim());
}

/** Every hierarchy under /sys/fs/cgroup that holds a group of the environment's containers. */
function groupsLeft(): string[] {
  const top = existsSync(join('/sys/fs/cgroup', GROUP)) ? [join('/sys/fs/cgroup', GROUP)] : [];
  return [...top, ...readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, GROUP)).filter((dir) => existsSync(dir))];
}

async function until<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${seconds} s`);
    await sleep(250);
  }
}

describe("an environment's containers on a real Docker daemon: one budget for all of them, and no name that is root", { skip, timeout: 600_000 }, () => {
  before(async () => {
    await gateway.listen();
    await gateway.removeEnvironment(ENV);
    const network = await ask('POST', '/networks/create', { Name: `zdm-lab-${ENV}` });
    assert.equal(network.status, 201, network.message);
  });
  after(async () => {
    await gateway.removeEnvironment(ENV).catch((error) => process.stderr.write(`removing environment ${ENV}: ${error}\n`));
    await gateway.close();
    await docker.getImage(TOOR_IMAGE).remove({ force: true }).catch(() => {});
    await setup.stop();
  });

  test('the daemon uses the cgroupfs driver, with which a CgroupParent is a path of the hierarchies', async () => {
    assert.equal((await docker.info()).CgroupDriver, 'cgroupfs');
  });

  test("two hogs, each within the environment's memory alone, together past it: the kernel kills one at the combined limit", async () => {
    await hog('hog-1', 250);
    const first = docker.getContainer(`zdm-lab-${ENV}-hog-1`);
    await until('the first hog holds its memory', 60, async () => ((await first.logs({ stdout: true })).toString().includes('holding') ? true : undefined));
    // The environment's group carries the budget, and the container's own group is inside it.
    const info = await first.inspect();
    assert.equal(info.HostConfig.CgroupParent, `/${GROUP}`);
    assert.equal(info.HostConfig.Memory, 0, 'no limit of its own: the group holds it');
    assert.ok(existsSync(join('/sys/fs/cgroup/memory', GROUP, info.Id)), `the container's group is under /sys/fs/cgroup/memory/${GROUP}`);
    assert.equal(groupFile('memory', 'memory.limit_in_bytes'), 384 * MIB);
    assert.equal(groupFile('pids', 'pids.max'), 200);
    assert.equal(groupFile('cpu', 'cpu.cfs_quota_us'), 100_000);
    assert.ok(groupFile('memory', 'memory.usage_in_bytes') > 250 * MIB, 'the first hog counts in the group');
    assert.equal((await first.inspect()).State.Running, true, 'alone, within the budget, it runs');

    await hog('hog-2', 250);
    const both = [first, docker.getContainer(`zdm-lab-${ENV}-hog-2`)];
    const killed = await until('one of the two hogs is killed', 60, async () => {
      const states = await Promise.all(both.map(async (c) => (await c.inspect()).State));
      return states.some((s) => !s.Running) ? states : undefined;
    });
    assert.equal(killed.filter((s) => !s.Running).length, 1, `one of them ends: ${JSON.stringify(killed.map((s) => [s.Status, s.ExitCode]))}`);
    assert.equal(killed.find((s) => !s.Running)!.ExitCode, 137, 'killed by the kernel (SIGKILL)');
    // Both hogs counted in the one group: its peak went past what one hog holds, up to the budget and no further.
    const peak = groupFile('memory', 'memory.max_usage_in_bytes');
    assert.ok(peak > 300 * MIB && peak <= 384 * MIB, `the group's peak: ${(peak / MIB).toFixed(0)} MiB`);
  });

  test("a budget change reaches the environment's running containers", async () => {
    budget = { memoryBytes: 512 * MIB, cpus: 0.5, tasks: 100 };
    gateway.applyBudget(ENV);
    assert.deepEqual(
      [groupFile('memory', 'memory.limit_in_bytes'), groupFile('cpu', 'cpu.cfs_quota_us'), groupFile('pids', 'pids.max')],
      [512 * MIB, 50_000, 100],
    );
  });

  test('a user name that the image maps to uid 0 gets no container and no exec session', async () => {
    // An image of the host's whose /etc/passwd has a second root, "toor", and which runs as it.
    const maker = await docker.createContainer({ Image: setup.images.cassandra, User: '0', Entrypoint: ['sh', '-c', "echo 'toor:x:0:0:toor:/root:/bin/sh' >> /etc/passwd"] });
    await maker.start();
    await maker.wait();
    await maker.commit({ repo: 'zdm-lab-test/toor', tag: 'latest', changes: ['USER toor', 'ENTRYPOINT ["/usr/bin/env"]', 'CMD ["sleep", "600"]'] });
    await maker.remove();
    const asToor = await docker.createContainer({ Image: TOOR_IMAGE, Cmd: ['id', '-u'] });
    await asToor.start();
    await asToor.wait();
    assert.match((await asToor.logs({ stdout: true })).toString(), /^.{0,8}0\s*$/s, 'toor is root in that image');
    await asToor.remove();

    const refused: [unknown, string][] = [
      [{ Image: TOOR_IMAGE }, `a container of the lab never runs as root: image ${TOOR_IMAGE} runs as "toor" (a name its /etc/passwd may map to uid 0); give a numeric User other than 0 (uid:gid, e.g. 999:999)`],
      [{ Image: TOOR_IMAGE, User: 'toor' }, `a container of the lab never runs as root: User "toor" is a name, which the image's /etc/passwd may map to uid 0: give a numeric uid:gid other than 0 (e.g. 999:999)`],
      [{ Image: setup.images.cassandra, User: 'toor:toor' }, `a container of the lab never runs as root: User "toor:toor" is a name, which the image's /etc/passwd may map to uid 0: give a numeric uid:gid other than 0 (e.g. 999:999)`],
    ];
    for (const [spec, message] of refused) assert.deepEqual(await ask('POST', `/containers/create?name=zdm-lab-${ENV}-toor`, spec), { status: 403, message, json: { message } }, JSON.stringify(spec));
    assert.equal((await labelled(ENV)).containers.includes(`zdm-lab-${ENV}-toor`), false);

    // As a number the same image runs; an exec session as "toor" in it is refused, though the daemon would run it as root.
    assert.equal((await ask('POST', `/containers/create?name=zdm-lab-${ENV}-toor`, { Image: TOOR_IMAGE, User: '1000:1000' })).status, 201);
    assert.equal((await ask('POST', `/containers/zdm-lab-${ENV}-toor/start`)).status, 204);
    const exec = await ask('POST', `/containers/zdm-lab-${ENV}-toor/exec`, { Cmd: ['id', '-u'], User: 'toor', AttachStdout: true });
    assert.deepEqual([exec.status, exec.message], [403, `an exec session of the lab never runs as root: User "toor" is a name, which the image's /etc/passwd may map to uid 0: give a numeric uid:gid other than 0 (e.g. 999:999)`]);
    const direct = await docker.getContainer(`zdm-lab-${ENV}-toor`).exec({ Cmd: ['id', '-u'], User: 'toor', AttachStdout: true });
    const output = await new Promise<string>((resolve, reject) => {
      direct.start({}, (error, stream) => {
        if (error || !stream) return reject(error ?? new Error('no stream'));
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      });
    });
    assert.match(output, /0\s*$/, 'the daemon itself runs "toor" as uid 0');
    const allowed = await ask('POST', `/containers/zdm-lab-${ENV}-toor/exec`, { Cmd: ['id', '-u'], User: '1000:1000', AttachStdout: true });
    assert.equal(allowed.status, 201, allowed.message);
  });

  test("removing the environment leaves no container and none of its containers' control groups, in any hierarchy", async () => {
    assert.notDeepEqual(groupsLeft(), [], 'the groups were there');
    await gateway.removeEnvironment(ENV);
    assert.deepEqual(await labelled(ENV), { containers: [], networks: [], volumes: [] });
    assert.deepEqual(groupsLeft(), []);
  });
});
