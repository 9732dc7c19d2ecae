/**
 * Picks the backend for a command: `--backend local|docker|kubernetes` names it, and is
 * remembered for the environment, so the course's commands (which never name
 * one) keep using the backend the environment was brought up with. Without a
 * name: $ZDM_LAB_BACKEND, then the remembered one, then Docker when a daemon
 * answers and no local artifacts are configured (no cached Cassandra jars, no
 * ZDM_PROXY_BIN), else the embedded backend. An unknown name is refused.
 * The workstation pod of an environment on Kubernetes sets
 * ZDM_LAB_BACKEND=kubernetes.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../paths.js';
import type { Topology } from '../topology.js';
import type { Backend } from './backend.js';
import { DockerBackend } from './docker.js';
import { daemonProblem, dockerClient } from './docker-daemon.js';
import { KubernetesBackend } from './kubernetes.js';
import { LocalBackend } from './local.js';

export const BACKENDS = ['local', 'docker', 'kubernetes'] as const;
export type BackendName = (typeof BACKENDS)[number];

function checkName(name: string, from: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new Error(`unknown backend "${name}"${from} (available: ${BACKENDS.join(', ')})`);
}

function create(name: BackendName): Backend {
  if (name === 'kubernetes') return new KubernetesBackend();
  return name === 'docker' ? new DockerBackend() : new LocalBackend();
}

export function selectBackend(name: string | undefined): Backend {
  if (name !== undefined) return create(checkName(name, ''));
  const fromEnv = process.env.ZDM_LAB_BACKEND;
  return create(fromEnv ? checkName(fromEnv, ' in ZDM_LAB_BACKEND') : 'local');
}

function markerPath(topo: Topology): string {
  return join(topo.dir, 'backend');
}

/** The backend an earlier `--backend` chose for this environment, if any. */
export function rememberedBackend(topo: Topology): BackendName | undefined {
  const path = markerPath(topo);
  if (!existsSync(path)) return undefined;
  return checkName(readFileSync(path, 'utf8').trim(), ` in ${path}`);
}

function localArtifactsConfigured(): boolean {
  if (process.env.ZDM_PROXY_BIN) return true;
  try {
    return readdirSync(cacheDir).some((d) => d.startsWith('cassandra-') && existsSync(join(cacheDir, d, '.complete')));
  } catch {
    return false;
  }
}

export async function chooseBackend(name: string | undefined, topo: Topology): Promise<Backend> {
  if (name !== undefined) {
    const chosen = checkName(name, '');
    if (rememberedBackend(topo) !== chosen) {
      mkdirSync(topo.dir, { recursive: true });
      writeFileSync(markerPath(topo), `${chosen}\n`);
    }
    return create(chosen);
  }
  const fromEnv = process.env.ZDM_LAB_BACKEND;
  if (fromEnv) return create(checkName(fromEnv, ' in ZDM_LAB_BACKEND'));
  const remembered = rememberedBackend(topo);
  if (remembered) return create(remembered);
  if (!localArtifactsConfigured() && (await daemonProblem(dockerClient(), 1500)) === undefined) return create('docker');
  return create('local');
}
