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
import { topology } from '../../infra/topology.js';
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
