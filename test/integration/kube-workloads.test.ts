/**
 * Environment 41 on the local Kubernetes cluster, as its learner meets it:
 * an instructor makes environments 41 and 42 with `zdm-lab kube env create
 * 41 42 --local` (each its namespace, Pod Security `restricted`
 * enforced, and every workload: Origin, Target and the proxies not started,
 * the workstation running), from the lab's Cassandra, zdm-proxy and
 * workstation images, built with Docker as the Docker backend's suites
 * build them and imported into the cluster's containerd. Then everything
 * happens in terminals of the lab whose shells run in the workstation pod,
 * through the API server's exec stream, with nothing of them on this host:
 * the shell finds the environment by its names. A lab server started with
 * `--kubernetes local` then hosts environment 41: it makes the environment
 * again, runs the course's setup in the workstation, which starts Origin and
 * Target (they answer with their cluster names and the environment's login
 * only, on bound volumes) and seeds Origin, passes the intro's Check there
 * and opens the learner's terminal there; and the course's steps 1 to 7 are
 * played through it as a learner plays them (the sample API, the writer
 * loop, `zdm-lab proxy deploy`, the API through the proxies, `migrate` and
 * `validate`), every Check passing and no request of the writer loop
 * failing; the state at step 7's start is saved from the workstation on the
 * way, and a later reset to step 7 restores it there, the loop writing on
 * from its saved record. The three proxies the course deployed are ready at their names,
 * and a write through them lands on both clusters; `zdm-lab proxy
 * rolling-update` to another read mode, while a writer of the test's keeps
 * writing through the proxies, replaces one proxy at a time (never fewer
 * than two ready) with no failed write and none missing; another learner's
 * `zdm-lab`, in environment 42's workstation, is refused environment 41 by
 * the API server, and
 * environment 42's workstation finds environment 41's nodes and proxies by
 * their names but reaches none of them (NetworkPolicy, enforced by the local
 * cluster's kube-netpol). The test's own writer runs on the
 * cluster's host and reaches the proxies at their Services' addresses, as a
 * client outside the cluster's pod network would through its own route.
 * `down` leaves nothing on the host.
 *
 * Needs what kube-cluster.test.ts needs, and a Docker daemon with the lab's
 * images (test/support/docker.ts starts dockerd and builds them if needed).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import cassandra from 'cassandra-driver';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import stripAnsi from 'strip-ansi';
import { defaultPauseMs } from '../../infra/commands/proxy.js';
import { credentialsOf } from '../../infra/credentials.js';
import { findZdmProxy } from '../../infra/artifacts/zdm-proxy.js';
import { dockerClient } from '../../infra/backends/docker-daemon.js';
import { KubernetesBackend } from '../../infra/backends/kubernetes.js';
import { ensureLabImages } from '../../infra/images/build.js';
import { binDir } from '../../infra/kube/build.js';
import { adminKubeconfig, apiGet, importFromDocker, NODE_NAME } from '../../infra/kube/cluster.js';
import { LOCAL_STORAGE_CLASS, provideLocalVolumes, releaseLocalVolumes } from '../../infra/kube/storage.js';
import { LAB_ENVIRONMENT_ROLE, namespaceOf } from '../../infra/kube/environment.js';
import { nodeClaims, PROXY_NAME, readProxyAddresses } from '../../infra/kube/workloads.js';
import { workstationShell } from '../../infra/kube/workstation.js';
import { projectRoot } from '../../infra/paths.js';
import { consoleReporter } from '../../infra/progress.js';
import { clusterProxyName, CQL_PORT, DATACENTER, topology } from '../../infra/topology.js';
import { loadCourse } from '../../lab/course/load.js';
import { kubernetesWorkstations } from '../../lab/environments/workstation.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { playCourse } from '../../lab/autopilot/play.js';
import { Packet } from '../../lab/terminals/protocol.js';
import { READY_MARKER, TerminalSession, type Viewer } from '../../lab/terminals/session.js';
import { dockerLabWithProxy, type DockerSetup } from '../support/docker.js';
import { recordFinding } from '../support/findings.js';
import { connectTerminal, labFetch, launchBrowser, waitForTerminal } from '../e2e/lab-harness.js';
import { blockId } from '../support/blocks.js';
import { assertCliOk, assertNothingLeft, execIn, hostDirsNow, kubeCli, kubeHostProblem } from '../support/kube.js';
import { required } from '../support/requirement.js';

const ENV = 41;
const NAMESPACE = namespaceOf(ENV);
/** Another learner's environment beside it, whose workstation must not act on 41. */
const OTHER_ENV = 42;
/** The environment the lab server deployed in the cluster (deploy/kubernetes) makes for its learner. */
const DEPLOYED_ENV = 43;
const LAB_NAMESPACE = 'zdm-lab';
const report = consoleReporter('  workloads: ');

/** cqlsh in a node's pod, as the environment's login (its credentials file in the container), or with the login given. */
async function cqlshIn(admin: KubeConfig, pod: string, statement: string, login?: { username: string; password: string }): Promise<{ ok: boolean; out: string }> {
  const args = login ? ['-u', login.username, '-p', login.password, '--insecure-password-without-warning'] : [];
  const result = await execIn(admin, NAMESPACE, pod, ['cqlsh', ...args, '-e', statement], 'cassandra');
  return { ok: result.status.status === 'Success', out: result.stdout };
}

/** The one number a `SELECT count(*)` prints. */
function countOf(out: string): number {
  const match = /^\s*(\d+)\s*$/m.exec(out);
  assert.ok(match, `no count in cqlsh's output:\n${out}`);
  return Number(match[1]);
}

/** A client of the proxies as the lab's clients are configured (DESIGN.md): protocol v4, the proxies' port, idempotent statements. */
function proxyClient(addresses: string[]): cassandra.Client {
  const { username, password } = credentialsOf(ENV, 'target');
  return new cassandra.Client({
    contactPoints: addresses.map((a) => `${a}:${CQL_PORT}`),
    localDataCenter: DATACENTER,
    credentials: { username, password },
    protocolOptions: { port: CQL_PORT, maxVersion: 4 },
    queryOptions: { isIdempotent: true, consistency: cassandra.types.consistencies.localQuorum, prepare: true },
    socketOptions: { connectTimeout: 5000, readTimeout: 12000 },
  });
}

/**
 * A client of the proxies, connected. Right after the proxies are in their
 * Services, kube-proxy may not have programmed those yet (it follows them
 * within a second or so): the first connection is tried again for a while.
 */
async function connectedClient(addresses: string[]): Promise<cassandra.Client> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const client = proxyClient(addresses);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.shutdown();
      if (Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
}

/** Each pod's working-set memory in MiB, from the kubelet's summary, once it has a figure for each of the six (a new pod's comes after a few seconds). */
async function podMemory(): Promise<Record<string, number>> {
  let memory: Record<string, number> = {};
  for (let attempt = 0; attempt < 40; attempt++) {
    const answer = await apiGet(`/api/v1/nodes/${NODE_NAME}/proxy/stats/summary`);
    assert.equal(answer?.status, 200, `the kubelet's summary: ${answer?.body.slice(0, 200)}`);
    const summary = JSON.parse(answer.body) as { pods: { podRef: { name: string; namespace: string }; memory?: { workingSetBytes?: number } }[] };
    memory = Object.fromEntries(
      summary.pods.filter((p) => p.podRef.namespace === NAMESPACE).map((p) => [p.podRef.name, Math.round((p.memory?.workingSetBytes ?? 0) / 1024 ** 2)]),
    );
    if (Object.keys(memory).length === 6 && Object.values(memory).every((mib) => mib > 0)) break;
    await sleep(500);
  }
  return Object.fromEntries(Object.entries(memory).sort());
}

/** What a terminal has printed so far, as text, and a wait for a pattern in it (with the last lines on a timeout). */
function watch(terminal: TerminalSession): { text: () => string; waitFor: (pattern: RegExp, timeoutMs: number) => Promise<void> } {
  let output = '';
  const viewer: Viewer = {
    seq: 0,
    role: 'audience',
    send: (frame) => {
      if (frame.startsWith(Packet.OUTPUT)) output += frame.slice(frame.indexOf(':') + 1);
    },
  };
  terminal.attach(viewer, undefined, 0);
  const text = () => stripAnsi(output);
  return {
    text,
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text())) {
        if (Date.now() > deadline) assert.fail(`the terminal did not show ${pattern} within ${timeoutMs / 1000}s; it ends:\n${text().slice(-1500)}`);
        await sleep(200);
      }
    },
  };
}

/** The command lines of the processes whose parent is `pid`. */
function childrenOf(pid: number): string[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        if (readFileSync(`/proc/${name}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] !== String(pid)) return [];
        return [readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim()];
      } catch {
        return [];
      }
    });
}

/** Types a command in a terminal and waits until it has ended; its exit code. */
async function exitCode(terminal: TerminalSession, screen: ReturnType<typeof watch>, command: string, timeoutMs: number): Promise<number> {
  const mark = `done-${Math.random().toString(36).slice(2, 8)}`;
  // The mark is typed in two quoted halves, so that only the command's end prints it whole.
  terminal.write(`${command}; echo "${mark.slice(0, 4)}""${mark.slice(4)} $?"\r`);
  await screen.waitFor(new RegExp(`${mark} \\d+`), timeoutMs);
  return Number(new RegExp(`${mark} (\\d+)`).exec(screen.text())![1]);
}

/** kubectl as an instructor runs it, against the local cluster: its exit code and output (both streams, passed through unless `quiet`). */
function kubectl(args: string[], quiet = false): Promise<{ code: number; output: string }> {
  const child = spawn(join(binDir, 'kubectl'), args, { env: { ...process.env, KUBECONFIG: adminKubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const take = (chunk: Buffer) => {
    output += chunk.toString();
    if (!quiet) process.stderr.write(`  kubectl: ${chunk.toString().trimEnd().split('\n').join('\n  kubectl: ')}\n`);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, output })));
}

/**
 * The lab server deploy/kubernetes runs, as its instructor reaches it: the
 * instructor's token from the server's log, and `kubectl port-forward` to
 * its Service on a free port of this machine.
 */
async function deployedLab(): Promise<{ port: number; fetch: (path: string, init?: { method?: string; body?: unknown }) => Promise<{ status: number; body: any }>; close: () => Promise<void> }> {
  let token: string | undefined;
  let log = '';
  for (let attempt = 0; attempt < 60 && !token; attempt++) {
    if (attempt > 0) await sleep(1000);
    log = (await kubectl(['-n', LAB_NAMESPACE, 'logs', 'deployment/zdm-lab'], true)).output;
    token = /^\s*http:\/\/127\.0\.0\.1:4000\/instructor\?token=(\S+)$/m.exec(log)?.[1];
  }
  assert.ok(token, `the lab server's log gives the instructor's link at its public address:\n${log.slice(-2000)}`);
  const forward = spawn(join(binDir, 'kubectl'), ['-n', LAB_NAMESPACE, 'port-forward', 'service/zdm-lab', ':80'], { env: { ...process.env, KUBECONFIG: adminKubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kubectl port-forward gave no port within 30 s: ${said}`)), 30_000);
    const listen = (chunk: Buffer) => {
      said += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(said);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    forward.stdout.on('data', listen);
    forward.stderr.on('data', listen);
    forward.on('close', () => reject(new Error(`kubectl port-forward ended: ${said}`)));
  });
  return {
    port,
    fetch: async (path, init = {}) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
      const text = await res.text();
      try {
        return { status: res.status, body: JSON.parse(text) };
      } catch {
        return { status: res.status, body: text };
      }
    },
    close: async () => {
      if (forward.exitCode !== null || forward.signalCode !== null) return;
      forward.kill();
      await new Promise((resolve) => forward.once('close', resolve));
    },
  };
}

const kubeProblem = required('local Kubernetes cluster', kubeHostProblem());
// A Docker daemon and the lab's images (built when missing), only where the cluster can run.
const lab: { setup?: DockerSetup; skip?: string } = kubeProblem === undefined ? await dockerLabWithProxy() : { skip: kubeProblem };

/** A terminal of the lab whose shell runs in environment K's workstation pod. */
function workstationTerminal(kubeconfig: string, env = ENV): TerminalSession {
  return new TerminalSession({
    cwd: '/',
    env: { PATH: process.env.PATH!, KUBECONFIG: kubeconfig, TERM: 'xterm-256color' },
    shell: 'bash',
    launcher: workstationShell(env, READY_MARKER),
  });
}

describe('environment 41 on a real Kubernetes cluster, driven from its workstation pod', { skip: lab.skip, timeout: 30 * 60_000 }, () => {
  let docker: DockerSetup | undefined;
  let admin: KubeConfig;
  let core: CoreV1Api;
  let kubeconfig = '';
  let shell: TerminalSession | undefined;
  let screen: ReturnType<typeof watch>;
  let torn = false;
  /** The lab server that hosts environment 41 in its workstation (the last tests), its folder and the learner's token. */
  let server: LabServer | undefined;
  let labData: string | undefined;
  let learnerToken = '';
  /** The instructor's kustomization of deploy/kubernetes for this cluster (the deploy test). */
  let overlay: string | undefined;
  const hostDirsBefore = hostDirsNow();
  const figures: string[] = [];

  /** Types a command in the workstation's terminal and waits until it has ended with exit code 0; the seconds it took. */
  async function run(command: string, timeoutMs: number): Promise<number> {
    const started = Date.now();
    const code = await exitCode(shell!, screen, command, timeoutMs);
    assert.equal(code, 0, `\`${command}\` in the workstation exited ${code}:\n${screen.text().slice(-3000)}`);
    return (Date.now() - started) / 1000;
  }

  before(async () => {
    docker = lab.setup!;
    const up = await kubeCli('up');
    assertCliOk(up, 'up');
    kubeconfig = up.stdout.trim().split('\n').at(-1)!;
    admin = new KubeConfig();
    admin.loadFromFile(kubeconfig);
    core = admin.makeApiClient(CoreV1Api);
    // The lab's copies of the proxy files start from the defaults, as for new environments.
    for (const env of [ENV, OTHER_ENV]) rmSync(topology(env).proxyConfigDir, { recursive: true, force: true });
    // As an instructor makes them: the lab's images (built with Docker when missing) into the cluster, then the two environments.
    const { course } = loadCourse(join(projectRoot, 'steps'));
    assert.ok(course, 'the course loads');
    const created = await kubeCli(`env create ${ENV} ${OTHER_ENV} --local --memory-gib ${course.environments.memoryBytes / 1024 ** 3} --cpus ${course.environments.cpus}`);
    assertCliOk(created, 'env create');
    figures.push(`env create ${ENV} ${OTHER_ENV} --local in ${created.seconds.toFixed(1)} s (images imported, two environments made)`);
    report(figures.at(-1)!);
    shell = workstationTerminal(kubeconfig);
    screen = watch(shell);
  });

  after(async () => {
    await server?.close();
    if (labData) rmSync(labData, { recursive: true, force: true });
    if (overlay) rmSync(overlay, { recursive: true, force: true });
    await shell?.close();
    if (!torn) await kubeCli('down');
    await docker?.stop();
  });

  test('a terminal is a shell in the workstation pod, with nothing of it on this host, and finds the environment by its names', async () => {
    // The login shell has the environment's variables, as a lab terminal on a host has them.
    await run('echo "I am $(id -un) on $(hostname)"; echo "origin=$ORIGIN_HOST proxies=$PROXY_HOSTS api=$API_URL"', 60_000);
    // Only the exec client runs on this host, in the terminal's pty: no shell of the learner's. (Read once the
    // shell answered: until the pty's child has exec'd the client, its command line is this test's.)
    const onHost = readFileSync(`/proc/${shell!.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(onHost.some((arg) => arg.endsWith('exec-shell.mjs')), `the terminal's process on the host is the bundled exec client: ${onHost.join(' ')}`);
    assert.deepEqual(childrenOf(shell!.pid), [], 'the exec client starts nothing on the host');
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${shell!.pid}/status`, 'utf8'))?.[1]) / 1024;
    figures.push(`a terminal's exec client on the lab's side: ${rss.toFixed(0)} MiB resident`);
    report(figures.at(-1)!);
    assert.match(screen.text(), /I am learner on workstation-0/);
    assert.match(screen.text(), /origin=origin-0\.origin proxies=zdm-proxy-0 zdm-proxy-1 zdm-proxy-2 api=http:\/\/127\.0\.41\.20:8000/);
    // The new size reaches the pod through the stream a moment after the lab's pty has it.
    shell!.resize(101, 33);
    for (let i = 0; i < 10 && !/size=33 101/.test(screen.text()); i++) {
      if (i > 0) await sleep(300);
      await run('echo "size=$(stty size)"', 15_000);
    }
    assert.match(screen.text(), /size=33 101/, 'the pod\'s terminal follows the size of the lab\'s');
  });

  test('a lab server with --kubernetes local hosts environment 41 in its workstation: the course\'s setup runs there and starts Origin and Target (their cluster names, the environment\'s login only, bound volumes), the intro\'s Check passes there, and a terminal of the learner\'s page is a shell there', async () => {
    labData = mkdtempSync(join(tmpdir(), 'kube-lab-'));
    const workstations = kubernetesWorkstations(join(projectRoot, 'bin', 'zdm-lab'), { local: true });
    server = await startLab({ courseDir: join(projectRoot, 'steps'), port: 0, dataDir: labData, environmentId: null, workstations });
    const started = Date.now();
    learnerToken = server.classroom.create({ env: ENV, name: 'Kim' }).token;
    const env = server.environments.get(ENV)!;
    assert.equal(env.sandbox, undefined, 'nothing of the learner runs on the lab\'s host, so nothing is isolated there');
    const setup = await env.setupDone();
    const log = readFileSync(join(env.workDir, 'setup.log'), 'utf8');
    assert.equal(setup, 'done', `the setup failed:\n${log.slice(-3000)}`);
    // A new environment's first seeding is nothing undone.
    assert.equal(env.setupNote, 'Ready for Step 1', log.slice(-2000));
    assert.match(log, /environment 41 is ready for its learner/, 'the workstation was made again first, and kept');
    figures.push(`lab server: environment ${ENV} made again and set up to step 1 from its workstation (Origin and Target started, Origin seeded) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    report(figures.at(-1)!);
    for (const name of ['origin', 'target'] as const) {
      const pod = `${name}-0`;
      const own = await cqlshIn(admin, pod, 'SELECT cluster_name FROM system.local', credentialsOf(ENV, name));
      assert.ok(own.ok, `the environment's ${name} login works:\n${own.out}`);
      assert.match(own.out, new RegExp(`^\\s*${name}\\s*$`, 'm'), `${pod} says its cluster is ${name}`);
      const byDefault = await cqlshIn(admin, pod, 'SELECT cluster_name FROM system.local', { username: 'cassandra', password: 'cassandra' });
      assert.equal(byDefault.ok, false, `Cassandra's default login no longer opens ${name}`);
      const claim = await core.readNamespacedPersistentVolumeClaim({ name: `data-${pod}`, namespace: NAMESPACE });
      assert.equal(claim.status?.phase, 'Bound', `${name}'s data is on its volume`);
    }
    const running = await core.listNamespacedPod({ namespace: NAMESPACE });
    assert.ok(!running.items.some((p) => p.metadata?.name?.startsWith(`${PROXY_NAME}-`)), 'no proxy runs in the step-1 state');

    const check = await labFetch(server, `/api/env/${ENV}/check`, { method: 'POST', body: { page: 'intro' }, token: learnerToken });
    assert.equal(check.status, 200);
    assert.equal(check.body.ok, true, check.body.output);
    assert.match(check.body.output, /Origin \(origin-0\.origin\) and Target \(target-0\.target\) are up/);

    const terminal = await connectTerminal(server, { env: ENV, token: learnerToken, terminal: 'host' });
    try {
      terminal.send({ type: Packet.INPUT, args: { data: 'echo "on $(hostname) as $(id -un), environment $LAB_ENV"\r' } });
      await terminal.waitFor(/on workstation-0 as learner, environment 41/, 60_000);
      const onHost = readFileSync(`/proc/${env.terminal('host').pid}/cmdline`, 'utf8').split('\0');
      // `zdm-lab kube env shell 41` has given its place to the bundled exec client: one process per terminal.
      assert.ok(onHost.some((arg) => arg.endsWith('exec-shell.mjs')) && onHost.includes(NAMESPACE), `the lab's side of the terminal is the exec client alone: ${onHost.join(' ')}`);
      assert.deepEqual(childrenOf(env.terminal('host').pid), [], 'and it starts nothing on the lab\'s host');
    } finally {
      await terminal.close();
    }
  });

  test('the course\'s steps 1 to 7, played through the lab in the workstation: every block and Check as a learner has them (the API through the proxies, migrate and validate), and the writer loop has no failed request', async () => {
    assert.ok(server, 'the lab server of the test before runs');
    const env = server.environments.get(ENV)!;
    const started = Date.now();
    let savedIn = 0;
    // The state at step 7's start is saved as a reset with --to saves it (classroom.ts): a later test restores it.
    const atPageStart = async (page: { id: string }) => {
      if (page.id !== 'step7') return;
      const t0 = Date.now();
      await env.saveState('step7', server!.classroom.shelf!);
      savedIn = (Date.now() - t0) / 1000;
    };
    const play = await playCourse(env, { to: 'step8', onProgress: (line) => report(line), atPageStart });
    const seconds = (Date.now() - started) / 1000;
    const pages = play.pages.map((p) => p.id);
    assert.deepEqual(pages, ['intro', 'step1', 'step2', 'step3', 'step4', 'step5', 'step6', 'step7']);
    for (const page of play.pages) assert.equal(page.check?.ok, true, `${page.id}'s Check: ${page.check?.output}`);
    assert.match(play.pages.find((p) => p.id === 'step7')!.check!.output, /^✔/m);
    // The writer loop's own record, in the workstation: one line per request, its phase, number and HTTP status.
    const record = await env.shell('cat "$LAB_ENV_DIR/writer.log"', { timeoutMs: 60_000 });
    assert.ok(record.ok, record.output);
    const writes = record.output.split('\n').filter((l) => /^\w+-\d+ /.test(l));
    const failed = writes.filter((l) => !/ 200$/.test(l));
    assert.deepEqual(failed, [], 'no request of the writer loop failed');
    const phases = [...new Set(writes.map((l) => l.split('-')[0]))];
    assert.deepEqual(phases, ['phase0', 'phase1', 'phase2'], 'the loop wrote straight to Origin, then through the proxies (phases 1 and 2)');
    figures.push(`course steps 1–7 played through the lab in the workstation in ${seconds.toFixed(0)} s, every Check passed; the writer loop: ${writes.length} writes (${phases.join(', ')}), 0 failed; the state at step 7's start saved from the workstation in ${savedIn.toFixed(1)} s`);
    report(figures.at(-1)!);
    const memory = await podMemory();
    figures.push(`memory after step 7 (working set, MiB): ${Object.entries(memory).map(([pod, mib]) => `${pod} ${mib}`).join(', ')}`);
    report(figures.at(-1)!);
  });

  test('the three proxies step 3 deployed are ready at their names, in read mode PRIMARY_ONLY, and a write through them lands on Origin and Target', async () => {
    for (let i = 0; i < 3; i++) {
      const log = await core.readNamespacedPodLog({ name: `${PROXY_NAME}-${i}`, namespace: NAMESPACE });
      assert.match(log, /Proxy connected and ready to accept queries/, `${PROXY_NAME}-${i}'s log`);
      assert.match(log, /Parsed configuration: .*ReadMode\W+PRIMARY_ONLY/, `${PROXY_NAME}-${i} runs in read mode PRIMARY_ONLY`);
    }
    // What a readiness error quotes on this backend: the last lines of the pod's log, through the API server.
    const backend = new KubernetesBackend(admin);
    const topo = topology(ENV, 'cluster');
    const proxyLines = await backend.logLines(topo.proxies[0], 1000);
    assert.match(proxyLines ?? '', /Proxy connected and ready to accept queries/);
    const originLines = (await backend.logLines(topo.origin, 5)) ?? '';
    assert.ok(originLines.split('\n').length <= 5 && /\S/.test(originLines), `Origin's last five log lines:\n${originLines}`);
    await run('zdm-lab proxy status', 30_000);
    assert.match(screen.text(), /proxy-1\s+zdm-proxy-0:9042\s+up[\s\S]*proxy-3\s+zdm-proxy-2:9042\s+up/, 'proxy status shows the three proxies up at their names');
    await run(`zdm-lab cqlsh proxy -e "CREATE KEYSPACE IF NOT EXISTS zdmlab_kube WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}; CREATE TABLE IF NOT EXISTS zdmlab_kube.writes (id int PRIMARY KEY, at timestamp); INSERT INTO zdmlab_kube.writes (id, at) VALUES (0, toTimestamp(now()))"`, 60_000);
    for (const pod of ['origin-0', 'target-0']) {
      const row = await cqlshIn(admin, pod, 'SELECT id FROM zdmlab_kube.writes WHERE id = 0');
      assert.ok(row.ok, row.out);
      assert.match(row.out, /\(1 rows\)/, `the write through the proxies is on ${pod}`);
    }
  });

  test('zdm-lab monitoring up, typed in the workstation as step 5 offers it, runs Prometheus there, which scrapes the three proxies by their names', async () => {
    await run('zdm-lab monitoring up', 90_000);
    // Every target up within 30 s (it scrapes every 2 s); a subshell, so that its exit ends it and not the terminal.
    const targets = 'curl -s "$PROMETHEUS_URL/api/v1/targets?state=active"';
    await run(`( for i in $(seq 30); do [ "$(${targets} | grep -o '"health":"up"' | wc -l)" -ge 3 ] && exit 0; sleep 1; done; exit 1 ) && { ${targets} | grep -o 'zdm-proxy-[0-9]:14001' | sort -u | tr '\\n' ' '; echo; }`, 60_000);
    assert.match(screen.text(), /zdm-proxy-0:14001 zdm-proxy-1:14001 zdm-proxy-2:14001/, 'Prometheus scrapes the proxies at their Service names');
  });

  test('zdm-lab proxy rolling-update while a writer writes through the proxies replaces one at a time, with no failed write and none missing', async () => {
    const apps = admin.makeApiClient(AppsV1Api);
    const addresses = await readProxyAddresses(admin, ENV);
    const podsBefore = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/name=${PROXY_NAME}` })).items.map((p) => p.metadata!.uid!);
    const client = await connectedClient(addresses);
    let writing = true;
    let next = 1;
    const failures: string[] = [];
    const writer = (async () => {
      while (writing) {
        const id = next++;
        try {
          await client.execute('INSERT INTO zdmlab_kube.writes (id, at) VALUES (?, ?)', [id, new Date()]);
        } catch (error) {
          failures.push(`write ${id}: ${(error as Error).message}`);
        }
        await sleep(50);
      }
    })();
    let fewestReady = 3;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const set = await apps.readNamespacedStatefulSet({ name: PROXY_NAME, namespace: NAMESPACE });
        fewestReady = Math.min(fewestReady, set.status?.readyReplicas ?? 0);
        await sleep(250);
      }
    })();
    const pause = defaultPauseMs();
    let seconds: number;
    try {
      await sleep(2000);
      await run('zdm-lab proxy config set read_mode=DUAL_ASYNC_ON_SECONDARY', 30_000);
      seconds = await run(`ZDM_LAB_PROXY_PAUSE=${pause / 1000} zdm-lab proxy rolling-update`, 180_000);
      await sleep(2000);
    } finally {
      writing = false;
      watching = false;
      await writer;
      await watcher;
      await client.shutdown();
    }
    const written = next - 1 - failures.length;
    figures.push(`rolling update in ${seconds.toFixed(1)} s (${pause / 1000} s pauses) with ${written} writes and ${failures.length} failed`);
    assert.deepEqual(failures, [], 'no write failed during the rolling update');
    assert.ok(written > 50, `the writer kept writing (${written} writes)`);
    assert.ok(fewestReady >= 2, `never fewer than two proxies ready (fewest: ${fewestReady})`);
    const podsAfter = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/name=${PROXY_NAME}` })).items;
    assert.equal(podsAfter.length, 3);
    assert.ok(podsAfter.every((p) => !podsBefore.includes(p.metadata!.uid!)), 'each proxy pod was replaced');
    // One at a time, in the learner's order (proxy 1, 2, 3): each new pod created only after the one before it had been ready for the pause.
    const times = podsAfter
      .map((p) => ({
        name: p.metadata!.name!,
        created: Date.parse(String(p.metadata!.creationTimestamp)),
        ready: Date.parse(String(p.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime)),
      }))
      .sort((a, b) => a.created - b.created);
    assert.deepEqual(times.map((t) => t.name), [0, 1, 2].map((i) => `${PROXY_NAME}-${i}`), 'the proxies are replaced in the order the learner numbers them');
    for (let i = 1; i < times.length; i++) {
      const gap = times[i].created - times[i - 1].ready;
      assert.ok(gap >= pause - 1000, `${times[i].name} was created ${gap / 1000}s after ${times[i - 1].name} was ready (the pause is ${pause / 1000}s)`);
    }
    for (const pod of podsAfter) {
      const log = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NAMESPACE });
      assert.match(log, /Parsed configuration: .*ReadMode\W+DUAL_ASYNC_ON_SECONDARY/, `${pod.metadata!.name} runs the new read mode`);
    }
    for (const pod of ['origin-0', 'target-0']) {
      const count = await cqlshIn(admin, pod, 'SELECT count(*) FROM zdmlab_kube.writes');
      assert.ok(count.ok, count.out);
      assert.equal(countOf(count.out), written + 1, `every write is on ${pod}`);
    }
    const memory = await podMemory();
    figures.push(`memory with Prometheus, after the rolling update (working set, MiB): ${Object.entries(memory).map(([pod, mib]) => `${pod} ${mib}`).join(', ')}`);
    report(figures.at(-1)!);
  });

  test('another learner\'s zdm-lab, in environment 42\'s workstation, is refused environment 41, and that workstation finds environment 41\'s nodes and proxies by their names but reaches none of them', async () => {
    const other = workstationTerminal(kubeconfig, OTHER_ENV);
    const otherScreen = watch(other);
    try {
      const podsBefore = (await core.listNamespacedPod({ namespace: NAMESPACE })).items.map((p) => p.metadata!.uid!).sort();
      const status = await exitCode(other, otherScreen, 'zdm-lab infra status --env 41', 60_000);
      assert.notEqual(status, 0, 'infra status of environment 41 fails from environment 42');
      const stop = await exitCode(other, otherScreen, 'zdm-lab infra down --env 41', 60_000);
      assert.notEqual(stop, 0, 'infra down of environment 41 fails from environment 42');
      assert.match(otherScreen.text(), /forbidden[\s\S]*zdmlab-env-41/i, `the API server refuses it, and says where:\n${otherScreen.text().slice(-1500)}`);
      const podsAfter = (await core.listNamespacedPod({ namespace: NAMESPACE })).items.map((p) => p.metadata!.uid!).sort();
      assert.deepEqual(podsAfter, podsBefore, 'environment 41\'s pods are as they were');
      assert.equal(await exitCode(other, otherScreen, 'zdm-lab infra status', 60_000), 0, 'its own environment, 42, it may read');
      // The names resolve (the cluster DNS is open to every environment); the connections are refused by environment 41's policy.
      const { origin, target } = topology(ENV);
      for (const host of [`${origin.name}-0.${origin.name}`, `${target.name}-0.${target.name}`, clusterProxyName(1)].map((name) => `${name}.${NAMESPACE}.svc.cluster.local`)) {
        assert.equal(await exitCode(other, otherScreen, `getent hosts ${host}`, 30_000), 0, `${host} resolves from environment 42:\n${otherScreen.text().slice(-800)}`);
        const reached = await exitCode(other, otherScreen, `timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${CQL_PORT}'`, 30_000);
        assert.notEqual(reached, 0, `environment 42's workstation reached ${host}:${CQL_PORT}`);
      }
    } finally {
      await other.close();
    }
  });

  test('a command the lab stops at its time limit (a slow check, a reset\'s abort) ends in the workstation too, not only the waiting for it', async () => {
    assert.ok(server, 'the lab server of the earlier tests runs');
    const env = server.environments.get(ENV)!;
    const result = await env.shell('echo started; sleep 297; echo slept', { timeoutMs: 4000 });
    assert.equal(result.timedOut, true, `the command outlasted its time limit: ${JSON.stringify(result)}`);
    assert.match(result.output, /started/);
    // No procps in the image: the command lines in /proc, one per line; grep exits 1 when none is `sleep 297`.
    const stillThere = 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -q "^sleep 297 "';
    const started = Date.now();
    let left = await exitCode(shell!, screen, stillThere, 30_000);
    while (left === 0 && Date.now() - started < 20_000) {
      await sleep(1000);
      left = await exitCode(shell!, screen, stillThere, 30_000);
    }
    assert.equal(left, 1, 'no `sleep 297` is left in the workstation');
    figures.push(`a command stopped by the lab at its time limit gone from the workstation ${((Date.now() - started) / 1000).toFixed(1)} s after`);
    report(figures.at(-1)!);
  });

  test('a reset to step 7 restores the state saved at its start, out of the workstation and back in through the exec stream: the loop\'s record, Origin\'s rows, the proxies as step 6 left them, the API through them, the loop writing on, step 6\'s check passing', async () => {
    assert.ok(server, 'the lab server of the earlier tests runs');
    const env = server.environments.get(ENV)!;
    const saved = join(server.classroom.shelf!.dir, 'step7');
    const files = readdirSync(saved).filter((f) => !f.startsWith('.'));
    assert.deepEqual(files.sort(), ['infra.json', 'mode', 'writer.log', 'writer.loop'], 'what state.sh save wrote in the workstation is on the lab\'s shelf');
    const record = readFileSync(join(saved, 'writer.log'), 'utf8').trim().split('\n');
    const lastSaved = Math.max(...record.map((l) => Number(/^phase1-(\d+) /.exec(l)?.[1] ?? 0)));
    assert.ok(lastSaved > 0, 'the saved record holds phase1 writes (the loop of step 6)');
    const originRows = (JSON.parse(readFileSync(join(saved, 'infra.json'), 'utf8')) as { clusters: { origin: { rows: unknown[] } } }).clusters.origin.rows.length;

    const lines: string[] = [];
    const outcome = await server.classroom.reset(ENV, {
      to: 'step7',
      onProgress: (line) => {
        lines.push(line);
        report(line);
      },
    });
    assert.equal(outcome.restored, true, lines.join('\n'));
    assert.ok(lines.some((l) => /^environment 41: step6's check passes: ✔/.test(l)), lines.join('\n'));
    const progress = env.progress();
    assert.equal(progress.current, 'step7');
    const pages = ['intro', 'step1', 'step2', 'step3', 'step4', 'step5', 'step6'];
    assert.deepEqual(pages.map((p) => progress.checks[p]?.ok), pages.map(() => true));

    const inWorkstation = async (command: string) => {
      const result = await env.shell(command, { timeoutMs: 60_000 });
      assert.ok(result.ok, `${command}:\n${result.output}`);
      return result.output;
    };
    const status = await inWorkstation('zdm-lab proxy status');
    assert.equal((status.match(/ORIGIN\/PRIMARY_ONLY/g) ?? []).length, 3, status);
    const count = Number(/^\s*(\d+)\s*$/m.exec(await inWorkstation('zdm-lab cqlsh origin -e "SELECT COUNT(*) FROM zdmapp.user_status"'))?.[1]);
    assert.ok(count >= originRows, `Origin holds the ${originRows} saved rows and the loop's since (${count})`);
    // The loop writes on from the saved record, as phase1, without a gap.
    const log = async () => (await inWorkstation('cat "$LAB_ENV_DIR/writer.log"')).trim().split('\n');
    let now = await log();
    for (let i = 0; now.length <= record.length + 3 && i < 60; i++) {
      await sleep(1000);
      now = await log();
    }
    assert.deepEqual(now.slice(0, record.length), record, 'the restored record is the saved one');
    const after = now.slice(record.length);
    assert.deepEqual(after.filter((l) => /^phase1-\d+ /.test(l)).map((l) => l.replace(/^phase1-(\d+) .*/, '$1')).slice(0, 3), [lastSaved + 1, lastSaved + 2, lastSaved + 3].map(String), 'the loop numbers on');
    assert.deepEqual(after.filter((l) => !/ 200$/.test(l)), [], 'every write after the restore succeeded');
    const bytes = files.reduce((sum, f) => sum + statSync(join(saved, f)).size, 0);
    figures.push(`reset to step 7 from its saved state (${files.length} files, ${(bytes / 1024).toFixed(0)} KiB, into the workstation through the exec stream): restored in ${outcome.resetSeconds.toFixed(1)} s (the course's restore command ${outcome.resetCommandSeconds.toFixed(1)} s), on step 7 with step 6's check passing after ${outcome.playedSeconds!.toFixed(1)} s`);
    report(figures.at(-1)!);
  });

  test('deploy/kubernetes: `kubectl apply -k` runs the lab server in the cluster; through a port-forward its instructor adds a learner, whose environment the lab makes and sets up from there (it may act only in the namespaces it bound itself in: the admission policy refuses a bind, a namespace or a removal elsewhere), and whose page in Chromium runs the intro\'s block in their workstation and passes its Check; the learner is still there after the lab\'s pod is replaced, and removing the learner removes the namespace', async () => {
    // The images an instructor pushes, here imported into the cluster's containerd; the lab server's volume and
    // environment 43's nodes' are made in advance, as on any cluster without a provisioner.
    const images = await ensureLabImages(dockerClient(), report, { proxyBinary: findZdmProxy()!.path, workstation: true, labServer: true });
    report('importing the lab server\'s image into the cluster');
    const imported = await importFromDocker([images.labServer!, images.cassandra, images.proxy!, images.workstation!]);
    report(`imported ${imported.length ? imported.join(', ') : 'nothing: every image was there'}`);
    await provideLocalVolumes(admin, [{ namespace: LAB_NAMESPACE, name: 'state', size: '1Gi' }, ...nodeClaims(DEPLOYED_ENV)]);
    // The overlay an instructor writes for this cluster: its images and StorageClass.
    overlay = mkdtempSync(join(tmpdir(), 'kube-deploy-'));
    const [labImage, labTag] = images.labServer!.split(':');
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${relative(overlay, join(projectRoot, 'deploy', 'kubernetes'))}`,
        'images:',
        '  - name: zdm-lab/lab-server',
        `    newName: ${labImage}`,
        `    newTag: "${labTag}"`,
        'configMapGenerator:',
        '  - name: zdm-lab-settings',
        '    behavior: merge',
        '    literals:',
        `      - ZDM_LAB_WORKSTATION_IMAGE=${images.workstation}`,
        `      - ZDM_LAB_CASSANDRA_IMAGE=${images.cassandra}`,
        `      - ZDM_LAB_PROXY_IMAGE=${images.proxy}`,
        `      - ZDM_LAB_STORAGE_CLASS=${LOCAL_STORAGE_CLASS}`,
        'patches:',
        '  - target: { kind: PersistentVolumeClaim, name: state }',
        `    patch: '[{"op": "add", "path": "/spec/storageClassName", "value": "${LOCAL_STORAGE_CLASS}"}]'`,
        '',
      ].join('\n'),
    );
    const started = Date.now();
    const applied = await kubectl(['apply', '-k', overlay]);
    assert.equal(applied.code, 0, `kubectl apply -k failed:\n${applied.output}`);
    assert.match(applied.output, /deployment\.apps\/zdm-lab created/);
    const rolledOut = await kubectl(['-n', LAB_NAMESPACE, 'rollout', 'status', 'deployment/zdm-lab', '--timeout=240s']);
    assert.equal(rolledOut.code, 0, `the lab server's Deployment did not become ready:\n${rolledOut.output}\n${(await kubectl(['-n', LAB_NAMESPACE, 'describe', 'pods'])).output.slice(-3000)}`);
    figures.push(`kubectl apply -k to the lab server ready in its pod: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    report(figures.at(-1)!);

    let lab = await deployedLab();
    try {
      const created = await lab.fetch('/api/instructor/environments', { method: 'POST', body: { env: DEPLOYED_ENV, name: 'Noor' } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.match(created.body.inviteUrl, new RegExp(`^http://127\\.0\\.0\\.1:4000/\\?token=\\S+&env=${DEPLOYED_ENV}$`), 'the invitation carries the lab\'s public address');
      const setupStarted = Date.now();
      let row: { setup: string; name: string; lastError: string | null } | undefined;
      while (Date.now() - setupStarted < 240_000) {
        const list = await lab.fetch('/api/instructor/environments');
        report(`the deployed lab: environment ${DEPLOYED_ENV}'s setup ${list.body.environments?.[0]?.setup ?? JSON.stringify(list.body)}`);
        row = list.body.environments.find((r: { env: number }) => r.env === DEPLOYED_ENV);
        if (row && row.setup !== 'running' && row.setup !== 'none') break;
        await sleep(4000);
      }
      assert.equal(row?.setup, 'done', `environment ${DEPLOYED_ENV}'s setup, run by the lab in its pod: ${JSON.stringify(row)}\n${(await kubectl(['-n', LAB_NAMESPACE, 'logs', 'deployment/zdm-lab', '--tail=40'])).output}`);
      figures.push(`the deployed lab: learner added to environment ${DEPLOYED_ENV} set up to step 1 in ${((Date.now() - setupStarted) / 1000).toFixed(1)} s`);
      report(figures.at(-1)!);
      const pods = (await core.listNamespacedPod({ namespace: namespaceOf(DEPLOYED_ENV) })).items.map((p) => `${p.metadata!.name} ${p.status?.phase}`).sort();
      assert.deepEqual(pods, ['origin-0 Running', 'target-0 Running', 'workstation-0 Running'], 'Origin, Target and the workstation run in the learner\'s namespace');
      const ownLab = (await core.listNamespacedPod({ namespace: LAB_NAMESPACE })).items;
      assert.equal(ownLab[0]?.spec?.serviceAccountName, 'zdm-lab', 'the lab acts as its own ServiceAccount');

      // What that account may do: in the learner's namespace what an environment needs (it bound itself there);
      // elsewhere nothing of anyone else's. The admission policy refuses what would widen it.
      const asLab = ['--as', `system:serviceaccount:${LAB_NAMESPACE}:zdm-lab`];
      const may = async (...args: string[]) => /^yes$/m.test((await kubectl(['auth', 'can-i', ...args, ...asLab], true)).output);
      const learners = namespaceOf(DEPLOYED_ENV);
      assert.deepEqual(
        [await may('create', 'pods', '--subresource=exec', '-n', learners), await may('get', 'secrets', '-n', learners), await may('patch', 'statefulsets.apps', '-n', learners)],
        [true, true, true],
        'in the learner\'s namespace: shells, the logins, the workloads',
      );
      for (const elsewhere of [['get', 'secrets', '-n', 'kube-system'], ['list', 'secrets', '--all-namespaces'], ['create', 'pods', '--subresource=exec', '-n', LAB_NAMESPACE], ['create', 'pods', '--subresource=exec', '-n', 'kube-system'], ['get', 'secrets', '-n', LAB_NAMESPACE], ['patch', 'deployments.apps', '-n', 'kube-system']]) {
        assert.equal(await may(...elsewhere), false, `the lab may not ${elsewhere.join(' ')}`);
      }
      const widen = await kubectl(['-n', 'kube-system', 'create', 'rolebinding', 'zdm-lab-server', `--clusterrole=${LAB_ENVIRONMENT_ROLE}`, `--serviceaccount=${LAB_NAMESPACE}:zdm-lab`, ...asLab], true);
      assert.notEqual(widen.code, 0, widen.output);
      assert.match(widen.output, /the lab binds roles only in the namespaces of its environments \(zdmlab-env-K\), not in kube-system/);
      const otherNamespace = await kubectl(['create', 'namespace', 'not-a-learners', ...asLab], true);
      assert.notEqual(otherNamespace.code, 0, otherNamespace.output);
      assert.match(otherNamespace.output, /the lab makes and removes only the namespaces of its environments \(zdmlab-env-K\), not not-a-learners/);
      // Its own namespace is no learner's either (a dry run: refused or not, nothing is removed).
      const removeOwn = await kubectl(['delete', 'namespace', LAB_NAMESPACE, '--dry-run=server', ...asLab], true);
      assert.notEqual(removeOwn.code, 0, removeOwn.output);
      assert.match(removeOwn.output, new RegExp(`the lab makes and removes only the namespaces of its environments \\(zdmlab-env-K\\), not ${LAB_NAMESPACE}`));

      const summary = await apiGet(`/api/v1/nodes/${NODE_NAME}/proxy/stats/summary`);
      const labPod = (JSON.parse(summary!.body) as { pods: { podRef: { namespace: string }; memory?: { workingSetBytes?: number } }[] }).pods.find((p) => p.podRef.namespace === LAB_NAMESPACE);
      figures.push(`the deployed lab server's pod after making environment ${DEPLOYED_ENV}: ${Math.round((labPod?.memory?.workingSetBytes ?? 0) / 1024 ** 2)} MiB working set`);
      report(figures.at(-1)!);

      // The learner's terminal, as their page opens it at the lab's public address: a shell in their workstation,
      // opened by the lab in its pod. A page of another origin is refused.
      const learnerToken = new URL(created.body.inviteUrl).searchParams.get('token')!;
      const asServed = { port: lab.port, token: learnerToken } as LabServer;
      const terminal = await connectTerminal(asServed, { env: DEPLOYED_ENV, terminal: 'host', serverPort: 4000, origin: 'http://127.0.0.1:4000' });
      try {
        terminal.send({ type: Packet.INPUT, args: { data: 'echo "on $(hostname) as $(id -un), environment $LAB_ENV"\r' } });
        await terminal.waitFor(new RegExp(`on workstation-0 as learner, environment ${DEPLOYED_ENV}`), 60_000);
      } finally {
        await terminal.close();
      }
      await assert.rejects(connectTerminal(asServed, { env: DEPLOYED_ENV, terminal: 'host', serverPort: 4000, origin: 'http://elsewhere.example' }), /403/, 'a page of another origin gets no terminal');

      // The learner's page in Chromium, from the lab in the cluster: the intro's block clicked runs in their workstation, and its Check passes.
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${lab.port}/?token=${learnerToken}&env=${DEPLOYED_ENV}`);
        await page.waitForFunction(() => (document.querySelector('#page h1')?.textContent ?? '') !== '', null, { timeout: 30_000 });
        await waitForTerminal(page, 'host', /learner@workstation-0/, 60_000);
        const { course } = loadCourse(join(projectRoot, 'steps'));
        const first = blockId(course!, 'intro', 0);
        await page.locator(`[data-block="${first}"] pre`).click();
        await page.locator(`[data-block="${first}"].executed`).waitFor({ timeout: 60_000 });
        await page.locator('#check-button').click();
        await page.waitForFunction(() => document.querySelector('#check-verdict')?.textContent === '✓ Check passed', null, { timeout: 120_000 });
        assert.match(await page.locator('#check-output').innerText(), /Origin \(origin-0\.origin\) and Target \(target-0\.target\) are up/);
      } finally {
        await browser.close();
      }

      // A new pod of the lab: the learner is on the state volume, and the instructor's new token is in its log.
      const replaced = await kubectl(['-n', LAB_NAMESPACE, 'delete', 'pod', '-l', 'app.kubernetes.io/name=zdm-lab', '--wait=true']);
      assert.equal(replaced.code, 0, replaced.output);
      await lab.close();
      const again = await kubectl(['-n', LAB_NAMESPACE, 'rollout', 'status', 'deployment/zdm-lab', '--timeout=240s']);
      assert.equal(again.code, 0, again.output);
      lab = await deployedLab();
      const list = await lab.fetch('/api/instructor/environments');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.environments.map((r: { env: number; name: string }) => `${r.env} ${r.name}`),
        [`${DEPLOYED_ENV} Noor`],
        'the learner outlives the lab\'s pod',
      );

      const removed = await lab.fetch(`/api/instructor/environments/${DEPLOYED_ENV}`, { method: 'DELETE' });
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      await assert.rejects(core.readNamespace({ name: namespaceOf(DEPLOYED_ENV) }), 'the learner\'s namespace is gone with the learner');
    } finally {
      await lab.close();
    }
    const deleted = await kubectl(['delete', '-k', overlay, '--wait=true', '--timeout=120s']);
    assert.equal(deleted.code, 0, deleted.output);
    await releaseLocalVolumes(admin, LAB_NAMESPACE);
    await releaseLocalVolumes(admin, namespaceOf(DEPLOYED_ENV));
  });

  test('down leaves nothing of the cluster on the host', async () => {
    await server?.close();
    server = undefined;
    await shell?.close();
    shell = undefined;
    const result = await kubeCli('down');
    torn = true;
    assertCliOk(result, 'down');
    assertNothingLeft(hostDirsBefore);
    recordFinding('kube-workloads', `kube-workloads: ${figures.join('; ')}`);
  });
});
