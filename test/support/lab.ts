/**
 * Shared set-up for tests that need real infrastructure: brings up the real
 * Cassandra nodes of a test environment through the same functions the
 * zdm-lab CLI uses, and tells whether the real zdm-proxy binary can be had
 * (tests of the proxy are skipped with the reason when it cannot, and fail
 * under CI=true).
 */
import { ArtifactUnavailableError, ensureZdmProxy } from '../../infra/artifacts/zdm-proxy.js';
import { selectBackend } from '../../infra/backends/select.js';
import { infraDown, infraReset, infraUp, type LabContext } from '../../infra/commands/environment.js';
import { createServer } from 'node:net';
import { topology, type ClusterName } from '../../infra/topology.js';
import type { Endpoint } from '../../infra/cql/client.js';
import { credentialsFile, readCredentials } from '../../infra/credentials.js';
import { required } from './requirement.js';

export function testContext(env: number, log: string[] = []): LabContext {
  return {
    topo: topology(env),
    backend: selectBackend('local'),
    report: (message) => {
      log.push(message);
      if (process.env.LAB_TEST_VERBOSE) process.stderr.write(`  [env ${env}] ${message}\n`);
    },
    print: (line) => log.push(line),
  };
}

/** Origin (seeded) and Target (empty) up and in the step-1 state. */
export async function freshEnvironment(env: number): Promise<LabContext> {
  const ctx = testContext(env);
  await infraUp(ctx);
  // `infra up` keeps the data of a stopped environment (an earlier run's rows),
  // and the proxy YAML outlives `infra down`: reset restores both
  await infraReset(ctx);
  return ctx;
}

export async function stopEnvironment(ctx: LabContext): Promise<void> {
  await infraDown(ctx);
}

/** Whether a listener can take address:port now (nothing else holds it). */
function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * Waits until the nodes' CQL ports of environment `env` are
 * free (a node of an earlier suite may still be shutting down), and names
 * the port still held after a minute, rather than let a node fail on it.
 */
export async function waitForFreePorts(env: number): Promise<void> {
  const topo = topology(env);
  const ports = [topo.origin, topo.target].map((n) => ({ host: n.address, port: n.port }));
  const deadline = Date.now() + 60_000;
  for (const { host, port } of ports) {
    while (!(await canBind(host, port))) {
      if (Date.now() > deadline) throw new Error(`${host}:${port} of environment ${env} is still in use after a minute (ss -ltnp names the holder)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

let proxyProblem: Promise<string | undefined> | undefined;

/**
 * undefined when the real zdm-proxy is available (obtained the first time,
 * as `zdm-lab setup` would), else why not (for `skip`); throws under CI=true.
 */
export async function zdmProxyUnavailable(): Promise<string | undefined> {
  proxyProblem ??= ensureZdmProxy(() => {}).then(
    () => undefined,
    (error) => {
      if (!(error instanceof ArtifactUnavailableError)) throw error;
      return `the real zdm-proxy is not available here: ${error.message}`;
    },
  );
  return required('zdm-proxy', await proxyProblem);
}

/**
 * Environment K's Origin or Target as the test process reaches it, with K's
 * own credentials: from the folder this process knows, or from the private
 * home of an isolated environment (whose LAB_ENV_HOME it is).
 */
export function nodeOf(env: number, cluster: ClusterName, isolatedHome?: string): Endpoint {
  const node = topology(env)[cluster];
  return isolatedHome === undefined ? node : { ...node, credentials: readCredentials(credentialsFile(env, cluster, isolatedHome)) };
}
