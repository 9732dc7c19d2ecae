/**
 * The Docker gateway's own rules, before any daemon is asked: who may talk to
 * it (a token of one environment, from a program, to its loopback address),
 * and what malformed or hostile requests get — a clear refusal, after which
 * the gateway still answers. Here the daemon's socket is a path where nothing
 * listens, so whatever would be forwarded answers 502; the forwarding itself
 * is proved against a real daemon in test/e2e/docker-gateway.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { pack } from 'tar-stream';
import { DockerGateway, type ContainerBudget, type ContainerGroup } from '../../lab/environments/docker-gateway.js';

const folder = mkdtempSync(join(tmpdir(), 'docker-gateway-'));
const gateway = new DockerGateway({ key: randomBytes(32), socketPath: join(folder, 'no-daemon.sock') });

/** One request to a gateway; the answer's status and its JSON `message` (or its text when it has none). */
function send(to: DockerGateway, path: string, method: string, headers: Record<string, string | number>, body?: string | Buffer): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: to.listeningPort, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let message = text;
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, message });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One request as a Docker client (or anything else) could send it, every header under the caller's control. */
function ask(path: string, init: { method?: string; body?: string; headers?: Record<string, string>; token?: string | null } = {}): Promise<{ status: number; message: string }> {
  const { token = gateway.tokenOf(5), method = 'GET', body, headers = {} } = init;
  return send(gateway, path, method, { ...(token === null ? {} : { Authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers }, body);
}

describe("the Docker gateway's rules", () => {
  before(async () => {
    await gateway.listen();
  });
  after(async () => {
    await gateway.close();
    rmSync(folder, { recursive: true, force: true });
  });

  test('an environment gets its own variables: the gateway as DOCKER_HOST and a token naming it', () => {
    const vars = gateway.variables(5);
    assert.equal(vars.DOCKER_HOST, `tcp://127.0.0.1:${gateway.listeningPort}`);
    assert.match(vars.ZDM_LAB_DOCKER_TOKEN!, /^5\.[A-Za-z0-9_-]{43}$/);
    assert.notEqual(gateway.tokenOf(6).split('.')[1], vars.ZDM_LAB_DOCKER_TOKEN!.split('.')[1]);
  });

  test('no token, a forged one, another token relabelled, a web page or another host name are turned away', async () => {
    assert.equal((await ask('/_ping', { token: null })).status, 401);
    assert.equal((await ask('/_ping', { token: '5.' + 'A'.repeat(43) })).status, 401);
    assert.equal((await ask('/_ping', { token: `6.${gateway.tokenOf(5).split('.')[1]}` })).status, 401);
    const page = await ask('/_ping', { headers: { Origin: 'http://evil.example' } });
    assert.deepEqual(page, { status: 403, message: "the lab's Docker gateway does not answer web pages" });
    const rebound = await ask('/_ping', { headers: { Host: `evil.example:${gateway.listeningPort}` } });
    assert.equal(rebound.status, 403);
  });

  test('malformed and oversized requests get a clear refusal, and the gateway goes on answering', async () => {
    const create = (body: string) => ask('/v1.41/containers/create?name=zdm-lab-5-origin', { method: 'POST', body });
    assert.deepEqual(await create('{not json'), { status: 400, message: 'container: the body is not JSON' });
    assert.deepEqual(await create('[1,2]'), { status: 400, message: 'container: the body must be a JSON object' });
    assert.deepEqual(await create(JSON.stringify({ Image: 'x', HostConfig: 'privileged' })), { status: 400, message: 'HostConfig must be an object' });
    assert.deepEqual(await create(JSON.stringify({ Image: 'x'.repeat(2 * 1024 * 1024) })), { status: 413, message: 'the body is larger than 1 MiB' });
    assert.deepEqual(await ask('/containers/json?filters=%7Bnope'), { status: 400, message: 'filters is not JSON' });
    assert.equal((await ask('/exec/not-an-id/start', { method: 'POST' })).status, 403);
    assert.equal((await ask('/containers/..%2F..%2Fetc/json')).status, 403);
    const ping = await ask('/_ping');
    assert.equal(ping.status, 502);
    assert.match(ping.message, /the Docker daemon did not answer/);
  });

  test('a container with anything of the host is refused before the daemon is asked', async () => {
    const create = (name: string, spec: unknown) => ask(`/containers/create?name=${name}`, { method: 'POST', body: JSON.stringify(spec) });
    assert.deepEqual(await create('zdm-lab-5-x', { Image: 'i', HostConfig: { CapAdd: ['SYS_ADMIN'] } }), {
      status: 403,
      message: 'HostConfig.CapAdd is not allowed to an environment of the lab (allowed: NetworkMode, PortBindings, Mounts, Memory, NanoCpus, PidsLimit)',
    });
    assert.equal((await create('zdm-lab-5-x', { Image: 'i', HostConfig: { Devices: [{ PathOnHost: '/dev/sda' }] } })).status, 403);
    assert.equal((await create('zdm-lab-5-x', { Image: 'i', User: 'root', Entrypoint: ['sh'] })).status, 403);
    assert.equal((await create('zdm-lab-50-x', { Image: 'i' })).status, 403, 'environment 50 is not environment 5, though its name starts alike');
    assert.equal((await create('zdm-lab-5-x', { Image: 'i', NetworkingConfig: { EndpointsConfig: { bridge: {} } } })).status, 403);
    assert.equal((await ask('/networks/create', { method: 'POST', body: JSON.stringify({ Name: 'zdm-lab-5', Options: { 'com.docker.network.bridge.name': 'eth0' } }) })).status, 403);
  });
});

/**
 * What the gateway forwards, against a stand-in for the daemon on a socket of
 * the test's: it answers the inspections the gateway makes (images, the
 * environment's containers) and records every request that gets through.
 */
const IMAGES: Record<string, { Id: string; Config: { User: string; Cmd: string[] } }> = {
  rooty: { Id: 'sha256:rooty', Config: { User: '', Cmd: ['sh'] } },
  node: { Id: 'sha256:node', Config: { User: '', Cmd: ['cassandra', '-f'] } },
  nobody: { Id: 'sha256:nobody', Config: { User: '65534:65534', Cmd: ['/main'] } },
  // A name: the image's /etc/passwd may give it uid 0.
  named: { Id: 'sha256:named', Config: { User: 'toor', Cmd: ['sh'] } },
};
const CONTAINERS: Record<string, string> = { 'zdm-lab-5-origin': '', 'zdm-lab-5-proxy-1': '65534:65534' };
const GIB = 1024 ** 3;

describe('the Docker gateway against a stand-in daemon: no root, a budget, a room', () => {
  const daemonFolder = mkdtempSync(join(tmpdir(), 'docker-gateway-daemon-'));
  const socketPath = join(daemonFolder, 'docker.sock');
  const forwarded: { method: string; path: string; body: string }[] = [];
  let existing = 5;
  let cgroupDriver = 'cgroupfs';
  /** The budgets the environment's containers' group was given, in order. */
  const groupBudgets: ContainerBudget[] = [];
  const group: ContainerGroup = {
    path: '/zdmlab-docker-5',
    exists: true,
    create: (budget) => void groupBudgets.push(budget),
    remove: async () => {},
    memory: () => ({ current: 0, peak: undefined }),
  };
  const daemon = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').replace(/^\/v[\d.]+/, '').split('?')[0]!;
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const image = /^\/images\/(.+)\/json$/.exec(path);
      if (image) return IMAGES[image[1]!] ? json(200, IMAGES[image[1]!]) : json(404, { message: 'No such image' });
      if (req.method === 'GET' && path === '/info') return json(200, { CgroupDriver: cgroupDriver });
      if (req.method === 'GET' && path === '/containers/json') return json(200, Array.from({ length: existing }, (_, i) => ({ Id: `c${i}` })));
      const inspect = /^\/containers\/([^/]+)\/json$/.exec(path);
      if (inspect) {
        const user = CONTAINERS[inspect[1]!];
        return user === undefined ? json(404, { message: 'No such container' }) : json(200, { Config: { User: user, Labels: { 'zdm-lab.managed': 'true', 'zdm-lab.env': '5' } } });
      }
      forwarded.push({ method: req.method ?? '', path: req.url ?? '', body: Buffer.concat(chunks).toString('latin1') });
      if (path.endsWith('/exec')) return json(201, { Id: 'e'.repeat(64) });
      if (path === '/containers/create') return json(201, { Id: 'new', Warnings: [] });
      return json(200, {});
    });
  });
  const budgeted = new DockerGateway({
    key: randomBytes(32),
    socketPath,
    budget: (env) => (env === 5 ? { memoryBytes: 2 * GIB, cpus: 1.5, tasks: 1000 } : undefined),
    nodeImages: () => ['node'],
    containerGroup: (env) => ({ ...group, path: `/zdmlab-docker-${env}` }),
  });
  const call = (path: string, method: string, body: unknown, env = 5, type = 'application/json') => {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    return send(budgeted, path, method, { Authorization: `Bearer ${budgeted.tokenOf(env)}`, 'Content-Type': type, 'Content-Length': data.length }, data);
  };
  const create = (spec: unknown, env = 5) => call(`/v1.41/containers/create?name=zdm-lab-${env}-x`, 'POST', spec, env);
  const lastCreated = () => JSON.parse(forwarded.filter((f) => f.path.includes('/containers/create')).at(-1)!.body) as { HostConfig: Record<string, unknown> };

  before(async () => {
    await new Promise<void>((ok) => daemon.listen(socketPath, ok));
    chmodSync(socketPath, 0o660);
    await budgeted.listen();
  });
  after(async () => {
    await budgeted.close();
    await new Promise<void>((ok) => daemon.close(() => ok()));
    rmSync(daemonFolder, { recursive: true, force: true });
  });

  test('an exec session as root is refused, given as a user or as the container\'s own, and so is one as a name', async () => {
    for (const User of ['root', '0', '0:0', '+0', '00', 'root:cassandra']) {
      const answer = await call('/v1.41/containers/zdm-lab-5-proxy-1/exec', 'POST', { Cmd: ['id'], User });
      assert.equal(answer.status, 403, User);
      assert.equal(answer.message, `an exec session of the lab never runs as root: User "${User}" is root`);
    }
    const asImage = await call('/v1.41/containers/zdm-lab-5-origin/exec', 'POST', { Cmd: ['id'] });
    assert.deepEqual(asImage, { status: 403, message: "an exec session of the lab never runs as root: this container's user is root, so give a numeric User of the image's (e.g. 999:999)" });
    for (const User of ['toor', 'cassandra', 'cassandra:cassandra']) {
      assert.deepEqual(await call('/v1.41/containers/zdm-lab-5-origin/exec', 'POST', { Cmd: ['id'], User }), {
        status: 403,
        message: `an exec session of the lab never runs as root: User "${User}" is a name, which the image's /etc/passwd may map to uid 0: give a numeric uid:gid other than 0 (e.g. 999:999)`,
      });
    }
    assert.equal((await call('/v1.41/containers/zdm-lab-5-origin/exec', 'POST', { Cmd: ['id'], User: '999:0' })).message, 'an exec session of the lab never runs as root: User "999:0" has the root group: give a group other than 0');
    const before = forwarded.length;
    assert.equal((await call('/v1.41/containers/zdm-lab-5-origin/exec', 'POST', { Cmd: ['id'], User: '999:999' })).status, 201);
    assert.equal((await call('/v1.41/containers/zdm-lab-5-proxy-1/exec', 'POST', { Cmd: ['id'] })).status, 201, "the proxy's own user is nobody");
    assert.equal(forwarded.length, before + 2, 'only the two sessions not as root reached the daemon');
  });

  test('a container that would run as root is refused, except the Cassandra image started as it starts', async () => {
    const refused: [unknown, RegExp][] = [
      [{ Image: 'rooty' }, /^a container of the lab never runs as root: image rooty runs as root; give a numeric User other than 0 \(uid:gid, e\.g\. 999:999\)$/],
      [{ Image: 'rooty', User: 'root' }, /never runs as root, not as User "root"/],
      [{ Image: 'nobody', User: '0:0' }, /never runs as root, not as User "0:0"/],
      [{ Image: 'nobody', User: 'toor' }, /^a container of the lab never runs as root: User "toor" is a name, which the image's \/etc\/passwd may map to uid 0: give a numeric uid:gid other than 0 \(e\.g\. 999:999\)$/],
      [{ Image: 'nobody', User: '65534:0' }, /User "65534:0" has the root group/],
      [{ Image: 'named' }, /^a container of the lab never runs as root: image named runs as "toor" \(a name its \/etc\/passwd may map to uid 0\); give a numeric User/],
      [{ Image: 'node', Cmd: ['sh', '-c', 'id'] }, /image node runs as root until its own command switches to its user, so it runs only as the image starts it, and it runs another command than the image's; give a numeric User other than 0/],
      [{ Image: 'node', Env: ['BASH_ENV=/tmp/x'] }, /and it takes BASH_ENV \(only MAX_HEAP_SIZE, /],
      [{ Image: 'node', Env: ['CASSANDRA_CONF=/'] }, /and it takes CASSANDRA_CONF/],
      [{ Image: 'nobody', HostConfig: { Mounts: [{ Type: 'volume', Source: 'zdm-lab-5-data', Target: '/x' }] } }, /a volume is mounted only by the course's Cassandra image started as it starts, at \/var\/lib\/cassandra/],
      [{ Image: 'node', User: '999', HostConfig: { Mounts: [{ Type: 'volume', Source: 'zdm-lab-5-data', Target: '/var/lib/cassandra' }] } }, /a volume is mounted only by/],
      [{ Image: 'node', HostConfig: { Mounts: [{ Type: 'volume', Source: 'zdm-lab-5-data', Target: '/usr/local/bin' }] } }, /a volume is mounted only by/],
      [{ Image: '../containers/zdm-lab-5-origin' }, /needs an Image named as Docker names them/],
    ];
    const before = forwarded.length;
    for (const [spec, message] of refused) {
      const answer = await create(spec);
      assert.ok(answer.status === 403 || answer.status === 400, `${JSON.stringify(spec)}: ${answer.status} ${answer.message}`);
      assert.match(answer.message, message);
    }
    assert.equal(forwarded.length, before, 'none reached the daemon');
    for (const spec of [{ Image: 'rooty', User: '999' }, { Image: 'named', User: '1000:1000' }, { Image: 'nobody' }, { Image: 'node' }, { Image: 'node', Cmd: ['cassandra', '-f'], Env: ['MAX_HEAP_SIZE=512M', 'JVM_EXTRA_OPTS=-Dx=1'], HostConfig: { Mounts: [{ Type: 'volume', Source: 'zdm-lab-5-data', Target: '/var/lib/cassandra' }] } }]) {
      assert.equal((await create(spec)).status, 201, JSON.stringify(spec));
    }
  });

  test("every container goes into the environment's group, which gets the budget; a container may ask for less for itself, never more", async () => {
    groupBudgets.length = 0;
    assert.equal((await create({ Image: 'nobody' })).status, 201);
    assert.deepEqual(lastCreated().HostConfig, { NetworkMode: 'zdm-lab-5', SecurityOpt: ['no-new-privileges'], CgroupParent: '/zdmlab-docker-5' }, 'no limit of its own: the group holds it');
    assert.deepEqual(groupBudgets, [{ memoryBytes: 2 * GIB, cpus: 1.5, tasks: 1000 }], 'the group was set to the budget before the container was created');
    assert.equal((await create({ Image: 'nobody', HostConfig: { Memory: GIB, NanoCpus: 5e8, PidsLimit: 200 } })).status, 201);
    const { Memory, MemorySwap, NanoCpus, PidsLimit, CgroupParent } = lastCreated().HostConfig;
    assert.deepEqual({ Memory, MemorySwap, NanoCpus, PidsLimit, CgroupParent }, { Memory: GIB, MemorySwap: GIB, NanoCpus: 5e8, PidsLimit: 200, CgroupParent: '/zdmlab-docker-5' });
    const before = forwarded.length;
    assert.deepEqual(await create({ Image: 'nobody', HostConfig: { CgroupParent: '/' } }), {
      status: 403,
      message: 'HostConfig.CgroupParent is not allowed to an environment of the lab (allowed: NetworkMode, PortBindings, Mounts, Memory, NanoCpus, PidsLimit)',
    });
    assert.deepEqual(await create({ Image: 'nobody', HostConfig: { Memory: 3 * GIB } }), { status: 403, message: "HostConfig.Memory asks for 3.00 GiB of memory, more than environment 5's budget of 2.00 GiB of memory, which all its containers share" });
    assert.deepEqual(await create({ Image: 'nobody', HostConfig: { NanoCpus: 2e9 } }), { status: 403, message: "HostConfig.NanoCpus asks for 2 CPU(s), more than environment 5's budget of 1.5 CPU(s), which all its containers share" });
    assert.equal((await create({ Image: 'nobody', HostConfig: { PidsLimit: 100_000 } })).status, 403);
    assert.equal((await create({ Image: 'nobody', HostConfig: { PidsLimit: -1 } })).status, 403, 'no limit at all');
    assert.equal((await create({ Image: 'nobody', HostConfig: { MemorySwap: -1 } })).status, 403, 'unlimited swap is not among what may be asked');
    assert.deepEqual(await create({ Image: 'nobody' }, 6), { status: 403, message: 'environment 6 has no budget in this lab, so it creates no container' });
    assert.equal(forwarded.length, before);
  });

  test("a daemon whose cgroup driver is not cgroupfs gets no container: it would not put it in the environment's group", async () => {
    const strict = new DockerGateway({ key: randomBytes(32), socketPath, budget: () => ({ memoryBytes: GIB, tasks: 100 }), containerGroup: () => group });
    await strict.listen();
    cgroupDriver = 'systemd';
    try {
      const before = forwarded.length;
      const data = JSON.stringify({ Image: 'nobody' });
      const answer = await send(strict, '/v1.41/containers/create?name=zdm-lab-5-x', 'POST', { Authorization: `Bearer ${strict.tokenOf(5)}`, 'Content-Type': 'application/json', 'Content-Length': data.length }, data);
      assert.deepEqual(answer, {
        status: 503,
        message: "the Docker daemon uses the systemd cgroup driver; the lab holds an environment's containers to its budget with the cgroupfs driver only: start dockerd with --exec-opt native.cgroupdriver=cgroupfs",
      });
      assert.equal(forwarded.length, before);
    } finally {
      cgroupDriver = 'cgroupfs';
      await strict.close();
    }
  });

  test('an environment has at most 8 containers', async () => {
    existing = 8;
    try {
      assert.deepEqual(await create({ Image: 'nobody' }), { status: 403, message: 'environment 5 has 8 containers, the most one environment may have is 8: remove one first' });
      existing = 7;
      assert.equal((await create({ Image: 'nobody' })).status, 201);
    } finally {
      existing = 5;
    }
  });

  test('files are copied into a container as plain files into the configuration folder only', async () => {
    const tar = async (entries: { name: string; type?: 'file' | 'symlink'; linkname?: string }[]) => {
      const archive = pack();
      for (const e of entries) {
        if (e.type === 'symlink') archive.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
        else archive.entry({ name: e.name }, 'x: 1\n');
      }
      archive.finalize();
      const chunks: Buffer[] = [];
      for await (const chunk of archive) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    const put = async (path: string, body: Buffer) => call(`/v1.41/containers/zdm-lab-5-origin/archive?path=${encodeURIComponent(path)}`, 'PUT', body, 5, 'application/x-tar');
    assert.deepEqual(await put('/etc', await tar([{ name: 'passwd' }])), { status: 403, message: 'files are copied into a container of the lab in /etc/cassandra only, not "/etc"' });
    assert.equal((await put('/etc/cassandra', await tar([{ name: 'x', type: 'symlink', linkname: '/etc/passwd' }]))).status, 403);
    assert.equal((await put('/etc/cassandra', await tar([{ name: '../passwd' }]))).status, 403);
    assert.equal((await put('/etc/cassandra', Buffer.from('not a tar'))).status, 400);
    assert.equal((await put('/etc/cassandra', await tar([{ name: 'cassandra.yaml' }]))).status, 200);
  });
});
