/**
 * An isolated environment on the Docker backend. The lab server runs as root
 * with isolation and ZDM_LAB_BACKEND=docker; learner A (environment 16) has
 * no access to the daemon's socket, yet `zdm-lab infra up`, `proxy deploy`
 * and `cqlsh` typed in A's terminal start and reach A's own containers,
 * through the lab's Docker gateway. From the same shell, every way past the
 * gateway's scope is tried with A's own token: another environment's
 * container (made here by root for environment 17), a privileged container,
 * a bind mount of the host, a volume bound to a host folder, a container
 * named for another environment, a port published on every address, an image
 * pull, no token or a forged one, a container or exec session as root, a
 * container past A's budget or past the most containers an environment may
 * have. Each is refused with the rule it breaks. Every container of A's
 * is in A's one control group, which carries A's budget and holds A's
 * shell too (the environment as a whole, one budget); while cqlsh runs, the Cassandra password
 * is on no process's command line, on the host or in a container; A's shell
 * cannot open a connection to B's container on B's own bridge network.
 * Destroying A removes its account and every container, network, volume and
 * control group of it, and nothing of 17. Needs root, dockerd and the locally built images
 * with the real Cassandra and zdm-proxy; skipped, with the reason, without
 * them (failed under CI=true).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { scopeLabels, scopeName } from '../../common/docker-scope.js';
import { credentialsFile, readCredentials } from '../../infra/credentials.js';
import { Packet } from '../../lab/terminals/protocol.js';
import { isolationProblem } from '../../lab/environments/isolation.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { dockerLabWithProxy, labelled } from '../support/docker.js';
import { required } from '../support/requirement.js';
import { commandRunner, connectTerminal, type TerminalClient } from './lab-harness.js';

const A = 16;
const B = 17;
const BYSTANDER = `zdm-lab-${B}-bystander`;
const BYSTANDER_PORT = 8080;
let bystanderIp = '';
const root = new URL('../..', import.meta.url).pathname;
const isolation = required('learner isolation', isolationProblem());
const docker = isolation === undefined ? await dockerLabWithProxy() : { skip: isolation };
const skip = docker.skip;
const setup = docker.setup!;

let lab: LabServer;
let dataDir: string;
let shellA: TerminalClient;
const backendBefore = process.env.ZDM_LAB_BACKEND;

/** Types a command line into A's terminal and returns what it printed, up to the prompt after it. */
const inA = commandRunner(() => shellA, 30_000);

/** A Docker API call from A's shell, with A's own token, as any program of A's could make it. */
async function fromA(method: string, path: string, body?: unknown, token = '$ZDM_LAB_DOCKER_TOKEN'): Promise<{ status: number; text: string; message: string }> {
  const data = body === undefined ? '' : `-H 'Content-Type: application/json' --data '${JSON.stringify(body)}'`;
  const out = await inA(`curl -s -X ${method} -H "Authorization: Bearer ${token}" ${data} "http://\${DOCKER_HOST#tcp://}/v1.41${path}" -w '\\nstatus:%{http_code}'`);
  const status = Number(/status:(\d+)/.exec(out)?.[1]);
  // What a Docker client prints of a refusal: the answer's message.
  const answer = /^(\{"message":.*\})\r?$/m.exec(out)?.[1];
  return { status, text: out, message: answer ? String((JSON.parse(answer) as { message: unknown }).message) : '' };
}

describe('an isolated environment on the Docker backend reaches Docker only through the lab, for its own', { skip, timeout: 1_200_000 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'docker-gateway-'));
    // The environment's processes take the backend from the server's environment (ZDM_* variables pass).
    process.env.ZDM_LAB_BACKEND = 'docker';
    lab = await startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, environmentId: null, isolate: true, dockerGateway: true, runSetup: false });
    const a = lab.classroom.create({ env: A, name: 'Ada' });
    const daemon = new Docker();
    await daemon.getContainer(BYSTANDER).remove({ force: true }).catch(() => {});
    await daemon.getNetwork(scopeName(B)).remove().catch(() => {});
    // B's container listens on its own bridge network, as B's nodes and proxies do.
    await daemon.createNetwork({ Name: scopeName(B), Driver: 'bridge', Labels: scopeLabels(B) });
    const bystander = await daemon.createContainer({
      name: BYSTANDER,
      Image: setup.images.cassandra,
      Labels: scopeLabels(B),
      User: '999',
      Cmd: ['python3', '-m', 'http.server', '--bind', '0.0.0.0', String(BYSTANDER_PORT)],
      HostConfig: { NetworkMode: scopeName(B) },
    });
    await bystander.start();
    bystanderIp = (await bystander.inspect()).NetworkSettings.Networks[scopeName(B)]!.IPAddress;
    shellA = await connectTerminal(lab, { env: A, token: a.token, terminal: 'host' });
    await shellA.waitFor(/\$ $/m, 30_000);
  });
  after(async () => {
    await shellA?.close();
    if (lab) {
      for (const env of [...lab.environments.keys()]) await lab.classroom.destroy(env).catch((err) => process.stderr.write(`destroy ${env}: ${err}\n`));
      await lab.close();
    }
    await new Docker().getContainer(BYSTANDER).remove({ force: true }).catch(() => {});
    await new Docker().getNetwork(scopeName(B)).remove().catch(() => {});
    if (backendBefore === undefined) delete process.env.ZDM_LAB_BACKEND;
    else process.env.ZDM_LAB_BACKEND = backendBefore;
    rmSync(dataDir, { recursive: true, force: true });
    await setup.stop();
  });

  test("A's shell cannot open the Docker daemon's socket", async () => {
    const out = await inA(`python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/var/run/docker.sock')"`);
    assert.match(out, /PermissionError: \[Errno 13\] Permission denied/);
    assert.match(await inA('echo "docker at $DOCKER_HOST"'), /^docker at tcp:\/\/127\.0\.0\.1:\d+\s*$/m);
  });

  test("infra up, proxy deploy and cqlsh from A's terminal run A's own containers through the lab", async () => {
    // --backend: the command itself, not the lab's restore of the learner's page that a bare `infra up` in a lab terminal asks for.
    const up = await inA('zdm-lab infra up --backend docker', 600_000);
    assert.match(up, new RegExp(`environment ${A} is up: Origin 127\\.0\\.${A}\\.1:9042 \\(seeded\\)`));
    const deploy = await inA('zdm-lab proxy deploy', 300_000);
    assert.match(deploy, /proxies are up/);
    // cqlsh runs in Origin's container: an exec session, its stream hijacked through the gateway.
    const rows = await inA(`zdm-lab cqlsh proxy -e "SELECT count(*) FROM zdmapp.user_status"`, 120_000);
    assert.match(stripVTControlCharacters(rows), /^\s+count\s*\r?\n-+\s*\r?\n\s+4\s*$/m, 'the four seeded rows, counted through a proxy');
    const mine = await labelled(A);
    assert.deepEqual(mine.containers.sort(), [`zdm-lab-${A}-origin`, `zdm-lab-${A}-proxy-1`, `zdm-lab-${A}-proxy-2`, `zdm-lab-${A}-proxy-3`, `zdm-lab-${A}-target`]);
    for (const name of mine.containers) {
      const container = new Docker().getContainer(name);
      const info = await container.inspect();
      assert.deepEqual(info.HostConfig.SecurityOpt, ['no-new-privileges'], name);
      assert.equal(info.HostConfig.Privileged, false, name);
      // Nothing A started runs as root, in a container either: Cassandra drops to its user, the proxy runs as nobody.
      const top = await container.top({ ps_args: '-o pid,uid,comm' });
      const uids = (top.Processes as string[][]).map((row) => Number(row[1]));
      assert.ok(uids.length > 0 && uids.every((uid) => uid !== 0), `${name} runs ${JSON.stringify(top.Processes)}`);
      // All of A's containers are in A's one group, which holds them together to A's budget.
      assert.equal(info.HostConfig.CgroupParent, `/zdmlab-docker-${A}`, name);
      assert.ok(existsSync(`/sys/fs/cgroup/memory/zdmlab-docker-${A}/${info.Id}`), `${name}'s control group is inside A's`);
    }
    const budget = lab.environments.get(A)!.sandbox!.budget;
    // A's own processes are in the same group: one budget holds the environment as a whole.
    const shellGroups = await inA('grep -E ":(memory|pids):" /proc/self/cgroup');
    for (const controller of ['memory', 'pids']) assert.match(shellGroups, new RegExp(`^\\d+:${controller}:/zdmlab-docker-${A}\\s*$`, 'm'), controller);
    const page = (bytes: number) => Math.floor(bytes / 4096) * 4096;
    const group = (controller: string, file: string) => Number(readFileSync(`/sys/fs/cgroup/${controller}/zdmlab-docker-${A}/${file}`, 'utf8').trim());
    assert.deepEqual(
      { memory: group('memory', 'memory.limit_in_bytes'), swap: group('memory', 'memory.memsw.limit_in_bytes'), cpus: group('cpu', 'cpu.cfs_quota_us') === -1 ? 'no cap' : group('cpu', 'cpu.cfs_quota_us') / group('cpu', 'cpu.cfs_period_us'), tasks: group('pids', 'pids.max') },
      // The kernel keeps a memory limit in whole pages, rounded down.
      { memory: page(budget.memoryBytes), swap: page(budget.memoryBytes), cpus: budget.cpus ?? 'no cap', tasks: budget.tasks },
    );
  });

  test("while cqlsh runs from A's terminal, the Cassandra password is on no process's command line, on the host or in a container", async () => {
    const { password } = readCredentials(credentialsFile(A, 'origin', lab.environments.get(A)!.sandbox!.home));
    const start = shellA.output.length;
    shellA.send({ type: Packet.INPUT, args: { data: 'zdm-lab cqlsh origin\r' } });
    const deadline = Date.now() + 120_000;
    while (!/cqlsh>/.test(shellA.output.slice(start))) {
      if (Date.now() > deadline) assert.fail(`cqlsh never showed its prompt; the terminal shows:\n${shellA.output.slice(start).slice(-1000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The host's /proc shows the containers' processes too.
    const lines: string[] = [];
    for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
      try {
        lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
      } catch {
        // gone meanwhile
      }
    }
    // Back at the shell's prompt before typing on: what is typed while cqlsh ends goes to cqlsh.
    const exitAt = shellA.output.length;
    shellA.send({ type: Packet.INPUT, args: { data: 'exit\r' } });
    const back = Date.now() + 30_000;
    while (!/\$ $/.test(shellA.output.slice(exitAt))) {
      if (Date.now() > back) assert.fail(`the shell's prompt never came back after cqlsh; the terminal shows:\n${shellA.output.slice(exitAt).slice(-1000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(lines.some((line) => /cqlsh .*--credentials/.test(line)), 'cqlsh was running in the container');
    const showing = lines.filter((line) => line.includes(password));
    assert.deepEqual(showing, [], 'command lines holding the password');
    assert.match(await inA('echo back'), /^back\s*$/m);
  });

  test('A runs nothing as root and nothing past its budget in Docker, and has at most 8 containers', async () => {
    const cassandra = setup.images.cassandra;
    const proxy = setup.images.proxy!;
    const budget = lab.environments.get(A)!.sandbox!.budget;
    const refused: [string, string, unknown, RegExp][] = [
      ['POST', `/containers/zdm-lab-${A}-origin/exec`, { Cmd: ['id'], User: 'root' }, /^an exec session of the lab never runs as root: User "root" is root$/],
      ['POST', `/containers/zdm-lab-${A}-origin/exec`, { Cmd: ['id'], User: '0:0' }, /never runs as root: User "0:0" is root/],
      ['POST', `/containers/zdm-lab-${A}-origin/exec`, { Cmd: ['id'] }, /this container's user is root, so give a numeric User of the image's/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: cassandra, Cmd: ['sleep', '1000'] }, /image .* runs as root until its own command switches to its user, so it runs only as the image starts it, and it runs another command than the image's/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: cassandra, Env: ['CASSANDRA_CONF=/'] }, /and it takes CASSANDRA_CONF/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: proxy, HostConfig: { Mounts: [{ Type: 'volume', Source: `zdm-lab-${A}-origin-data`, Target: '/x' }] } }, /a volume is mounted only by the course's Cassandra image/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: proxy, User: 'root' }, /never runs as root, not as User "root"/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: proxy, HostConfig: { Memory: budget.memoryBytes * 2 } }, /HostConfig\.Memory asks for .* more than environment 16's budget of .*, which all its containers share/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: proxy, HostConfig: { NanoCpus: 64e9 } }, /HostConfig\.NanoCpus asks for 64 CPU\(s\), more than environment 16's budget/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: proxy, HostConfig: { PidsLimit: budget.tasks + 1 } }, /HostConfig\.PidsLimit asks for .* more than environment 16's budget/],
      ['PUT', `/containers/zdm-lab-${A}-origin/archive?path=/etc`, undefined, /copied into a container of the lab in \/etc\/cassandra only, not "\/etc"/],
    ];
    for (const [method, path, body, message] of refused) {
      const answer = await fromA(method, path, body);
      assert.equal(answer.status, 403, `${method} ${path}: ${answer.text}`);
      assert.match(answer.message, message);
    }
    // A's five containers and three more make eight, the most; a ninth is refused.
    const extra = [1, 2, 3].map((i) => `zdm-lab-${A}-extra-${i}`);
    for (const name of extra) assert.equal((await fromA('POST', `/containers/create?name=${name}`, { Image: proxy })).status, 201, name);
    const ninth = await fromA('POST', `/containers/create?name=zdm-lab-${A}-extra-4`, { Image: proxy });
    assert.equal(ninth.status, 403, ninth.text);
    assert.equal(ninth.message, `environment ${A} has 8 containers, the most one environment may have is 8: remove one first`);
    for (const name of extra) assert.equal((await fromA('DELETE', `/containers/${name}`)).status, 204, name);
  });

  test("A's shell cannot open a connection to B's container on B's bridge network", async () => {
    // From the host the bystander answers, so a refusal from A's shell is A's, not an absent server.
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: bystanderIp, port: BYSTANDER_PORT, timeout: 5000 }, () => {
        socket.destroy();
        resolve();
      });
      socket.on('error', reject);
      socket.on('timeout', () => reject(new Error(`${bystanderIp}:${BYSTANDER_PORT} did not answer the host`)));
    });
    const out = await inA(`python3 -c "import socket; socket.create_connection(('${bystanderIp}', ${BYSTANDER_PORT}), timeout=5); print('connected')"`, 30_000);
    assert.doesNotMatch(out, /^connected\s*$/m);
    assert.match(out, /(ConnectionRefusedError|PermissionError|TimeoutError|OSError)/);
  });

  test("A's token opens only A's containers: another environment's is out of sight and out of reach", async () => {
    const list = await fromA('GET', '/containers/json?all=true');
    assert.equal(list.status, 200);
    assert.match(list.text, new RegExp(`zdm-lab-${A}-origin`));
    assert.doesNotMatch(list.text, new RegExp(BYSTANDER));
    for (const [method, path] of [
      ['GET', `/containers/${BYSTANDER}/json`],
      ['DELETE', `/containers/${BYSTANDER}?force=true`],
      ['POST', `/containers/${BYSTANDER}/start`],
    ] as const) {
      const answer = await fromA(method, path);
      assert.equal(answer.status, 403, `${method} ${path}: ${answer.text}`);
      assert.equal(answer.message, `that container is not environment ${A}'s`);
    }
    assert.equal((await new Docker().getContainer(BYSTANDER).inspect()).Name, `/${BYSTANDER}`);
  });

  test('what would give A the host is refused, with the rule it breaks', async () => {
    const image = setup.images.cassandra;
    const attempts: [string, string, unknown, RegExp][] = [
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: image, HostConfig: { Privileged: true } }, /HostConfig\.Privileged is not allowed/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: image, HostConfig: { Binds: ['/:/host'] } }, /HostConfig\.Binds is not allowed/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: image, HostConfig: { Mounts: [{ Type: 'bind', Source: '/', Target: '/host' }] } }, /mounts its own volumes \(zdm-lab-16-…\) only, not bind "\/"/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: image, HostConfig: { PidMode: 'host' } }, /HostConfig\.PidMode is not allowed/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: image, HostConfig: { NetworkMode: 'host' } }, /joins network zdm-lab-16, not "host"/],
      ['POST', `/containers/create?name=zdm-lab-${A}-evil`, { Image: image, HostConfig: { PortBindings: { '22/tcp': [{ HostPort: '2222' }] } } }, /published on its own 127\.0\.16\.0\/24 only/],
      ['POST', `/containers/create?name=zdm-lab-${B}-evil`, { Image: image }, /a container of environment 16 is named zdm-lab-16-…, not "zdm-lab-17-evil"/],
      ['POST', '/volumes/create', { Name: `zdm-lab-${A}-evil`, DriverOpts: { type: 'none', o: 'bind', device: '/' } }, /volume\.DriverOpts is not allowed/],
      ['POST', '/images/create?fromImage=alpine&tag=latest', undefined, /the lab does not pull images/],
      ['GET', '/info', undefined, /GET \/info is not among what an environment of the lab may ask of Docker/],
    ];
    for (const [method, path, body, message] of attempts) {
      const answer = await fromA(method, path, body);
      assert.equal(answer.status, 403, `${method} ${path}: ${answer.text}`);
      assert.match(answer.message, message);
    }
    assert.equal((await labelled(A)).containers.some((c) => c.endsWith('-evil')), false);
    const anonymous = await fromA('GET', '/_ping', undefined, '');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.message, /wants the environment's token/);
    const forged = await fromA('GET', '/_ping', undefined, `${B}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
    assert.equal(forged.status, 401);
  });

  test('destroying A removes its account and every container, network and volume of it, and nothing of another', async () => {
    await shellA.close();
    const result = await lab.classroom.destroy(A);
    assert.equal(result.ok, true, result.output);
    assert.deepEqual(await labelled(A), { containers: [], networks: [], volumes: [] });
    assert.throws(() => execFileSync('id', [`zdmlab-${A}`], { stdio: 'pipe' }), /no such user/);
    assert.deepEqual(readdirSync('/sys/fs/cgroup').filter((h) => existsSync(`/sys/fs/cgroup/${h}/zdmlab-docker-${A}`)), [], "hierarchies still holding A's containers' group");
    assert.equal((await new Docker().getContainer(BYSTANDER).inspect()).Name, `/${BYSTANDER}`);
  });
});
