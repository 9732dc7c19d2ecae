/**
 * Shared set-up for tests of the Docker backend: a Docker daemon (the one
 * that answers, or Debian's dockerd started here and stopped at the end),
 * the lab's locally built images standing in for cassandra:5.0 and
 * datastax/zdm-proxy:2.4.2 (no registry can be reached here), named in the
 * ZDM_LAB_*_IMAGE variables that the zdm-lab command line reads, and what the
 * lab labelled. When dockerd cannot be started the tests are skipped with
 * the reason (under CI=true they fail with it).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findZdmProxy } from '../../infra/artifacts/zdm-proxy.js';
import { DockerBackend } from '../../infra/backends/docker.js';
import { daemonProblem, dockerClient } from '../../infra/backends/docker-daemon.js';
import { ensureLabImages, type LabImages } from '../../infra/images/build.js';
import { required } from './requirement.js';

const SOCKET = 'unix:///var/run/docker.sock';

export interface DockerSetup {
  images: LabImages;
  /** Stops the daemon if this set-up started it. */
  stop(): Promise<void>;
}

function log(message: string): void {
  process.stderr.write(`  [docker] ${message}\n`);
}

async function waitForDaemon(seconds: number): Promise<string | undefined> {
  let problem: string | undefined = 'not started';
  for (let i = 0; i < seconds * 2; i++) {
    problem = await daemonProblem(dockerClient(), 1000);
    if (problem === undefined) return undefined;
    await sleep(500);
  }
  return problem;
}

/**
 * Starts dockerd in the background. First without touching the host's
 * firewall or forwarding (no iptables rules, no default bridge): the lab
 * needs neither, since published ports on loopback go through Docker's
 * userland proxy and containers talk on their own bridge. Then as it comes.
 */
async function startDockerd(): Promise<{ pid: number } | string> {
  if (!existsSync('/usr/sbin/dockerd')) return 'dockerd is not installed (apt-get install docker.io)';
  const attempts = [['--iptables=false', '--ip6tables=false', '--ip-forward=false', '--bridge=none'], []];
  let last = '';
  for (const extra of attempts) {
    const logPath = join(tmpdir(), `zdm-lab-dockerd-${Date.now()}.log`);
    const out = openSync(logPath, 'a');
    const child = spawn('/usr/sbin/dockerd', ['--host', SOCKET, ...extra], { detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    child.unref();
    const problem = await waitForDaemon(30);
    if (problem === undefined && child.exitCode === null) {
      log(`${['dockerd', ...extra].join(' ')} started (pid ${child.pid}, log ${logPath})`);
      return { pid: child.pid! };
    }
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    last = `${['dockerd', ...extra].join(' ')} did not answer (${problem}); its log ${logPath} ends:\n${readFileSync(logPath, 'utf8').trim().split('\n').slice(-5).join('\n')}`;
  }
  return last;
}

let setup: Promise<DockerSetup | string> | undefined;

/**
 * A daemon and the lab's images, or why not (for `skip`). Building the
 * images the first time takes a few minutes (debootstrap); later runs find
 * them by their content hash.
 */
export function dockerLab(): Promise<DockerSetup | string> {
  setup ??= (async () => {
    let started: { pid: number } | undefined;
    if ((await daemonProblem(dockerClient(), 2000)) !== undefined) {
      const result = await startDockerd();
      if (typeof result === 'string') {
        return required('Docker backend', `no Docker daemon could be started here: ${result}`)!;
      }
      started = result;
    }
    /** Idempotent; a daemon already gone is said so, not thrown: the suite's results are its tests'. */
    const stop = async () => {
      if (!started) return;
      const { pid } = started;
      started = undefined;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        log(`dockerd (pid ${pid}) had already exited; its log is in ${tmpdir()}/zdm-lab-dockerd-*.log`);
        return;
      }
      // Up to 30 s: the next suite must not find this daemon still answering, or its pid file still held.
      for (let i = 0; i < 300; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await sleep(100);
      }
      log(`dockerd (pid ${pid}) still runs 30 s after SIGTERM`);
    };
    let images: LabImages;
    try {
      images = await ensureLabImages(dockerClient(), (m) => log(m), { proxyBinary: proxyBinary() });
    } catch (error) {
      await stop();
      throw error;
    }
    process.env.ZDM_LAB_CASSANDRA_IMAGE = images.cassandra;
    if (images.proxy) process.env.ZDM_LAB_PROXY_IMAGE = images.proxy;
    return { images, stop };
  })();
  return setup;
}

function proxyBinary(): string | undefined {
  try {
    return findZdmProxy()?.path;
  } catch {
    return undefined;
  }
}

/** Names of every container, network and volume labelled for the environment. */
export async function labelled(env: number): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
  return new DockerBackend(dockerClient()).labelled(env);
}

/**
 * A daemon and the lab's images including the proxy's, or why not (for
 * `skip`). A daemon started for a suite that then skips is stopped here: a
 * skipped suite runs no `after`.
 */
export async function dockerLabWithProxy(): Promise<{ setup: DockerSetup; skip?: undefined } | { setup?: undefined; skip: string }> {
  const lab = await dockerLab();
  if (typeof lab === 'string') return { skip: lab };
  const missing = required('zdm-proxy', lab.images.proxy === undefined ? 'no zdm-proxy binary to build the proxy image from (run zdm-lab setup, with ZDM_PROXY_SRC or ZDM_PROXY_BIN)' : undefined);
  if (missing === undefined) return { setup: lab };
  await lab.stop();
  return { skip: missing };
}
