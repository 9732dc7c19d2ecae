/**
 * Waiting for components to become usable: a Cassandra node is ready when a
 * CQL login with the environment's own credentials succeeds (the default
 * superuser appears a little after the node starts listening, and is then
 * given the environment's password: credentials.ts), a proxy when /health/readiness answers
 * 200. Each wait reports progress and fails early, with the log's tail, when
 * the process dies.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend } from './backends/backend.js';
import { loginOrAdopt } from './cql/client.js';
import type { Reporter } from './progress.js';
import type { ComponentSpec, NodeSpec, ProxySpec } from './topology.js';

export function logTail(path: string | undefined, lines = 20): string {
  if (!path) return '(no log yet)';
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(log unreadable)';
  }
}

/** The component's last log lines for an error message, wherever its backend keeps them. */
async function lastLogLines(backend: Backend, component: ComponentSpec, lines = 20): Promise<string> {
  if (!backend.logLines) return logTail(backend.logFile(component), lines);
  try {
    return (await backend.logLines(component, lines)) ?? '(no log yet)';
  } catch (error) {
    return `(log unreadable: ${(error as Error).message})`;
  }
}

async function waitFor(
  component: ComponentSpec,
  backend: Backend,
  report: Reporter,
  what: string,
  timeoutMs: number,
  probe: () => Promise<string | undefined>,
): Promise<number> {
  const started = Date.now();
  let lastReport = 0;
  let lastProblem = '';
  while (Date.now() - started < timeoutMs) {
    const problem = await probe();
    if (problem === undefined) return Date.now() - started;
    lastProblem = problem;
    const status = await backend.status(component);
    if (status.state === 'down') {
      throw new Error(`${component.name} stopped while starting (${status.detail ?? 'exited'}); last log lines:\n${await lastLogLines(backend, component)}`);
    }
    if (Date.now() - lastReport > 3000) {
      lastReport = Date.now();
      report(`${component.name}: waiting for ${what} (${Math.round((Date.now() - started) / 1000)}s)`);
    }
    await sleep(500);
  }
  throw new Error(`${component.name}: no ${what} after ${timeoutMs / 1000}s (${lastProblem}); last log lines:\n${await lastLogLines(backend, component)}`);
}

/** Resolves with the milliseconds waited. */
export function waitForNode(node: NodeSpec, backend: Backend, report: Reporter, timeoutMs = 180_000): Promise<number> {
  return waitFor(node, backend, report, `CQL login on ${node.address}:${node.port}`, timeoutMs, () => loginOrAdopt(node));
}

export async function proxyReadiness(proxy: ProxySpec): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(`http://${proxy.address}:${proxy.metricsPort}/health/readiness`, {
      signal: AbortSignal.timeout(2000),
    });
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

export function waitForProxy(proxy: ProxySpec, backend: Backend, report: Reporter, timeoutMs = 60_000): Promise<number> {
  return waitFor(proxy, backend, report, `readiness 200 on ${proxy.address}:${proxy.metricsPort}`, timeoutMs, async () => {
    const health = await proxyReadiness(proxy);
    if (!health) return 'health endpoint not answering';
    return health.status === 200 ? undefined : `readiness ${health.status}`;
  });
}

/** Whether something accepts a TCP connection on address:port within a second. */
export function portOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 1000 });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
