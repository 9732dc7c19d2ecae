/**
 * Where the lab keeps things on disk: the project root, the artifact cache
 * (Cassandra jars, the zdm-proxy binary, the cqlsh virtualenv) and the
 * per-environment folders (node data, logs, proxy YAML). Both folders are
 * git-ignored and can be moved with ZDM_LAB_CACHE / ZDM_LAB_HOME. An
 * isolated learner environment keeps its folders in its own private home
 * (LAB_ENV_HOME, given by the lab server), which no other learner can read.
 */
import { join, resolve } from 'node:path';

export const projectRoot = resolve(new URL('..', import.meta.url).pathname);

export const cacheDir = resolve(process.env.ZDM_LAB_CACHE ?? join(projectRoot, '.lab-cache'));

export const envsDir = resolve(process.env.LAB_ENV_HOME ?? process.env.ZDM_LAB_HOME ?? join(projectRoot, '.lab-envs'));

export function envDir(env: number): string {
  return join(envsDir, `env-${env}`);
}

/** The variable that tags every process the lab starts with the folder of its component (common/processes.ts). */
export const COMPONENT_TAG = 'ZDM_LAB_COMPONENT';
