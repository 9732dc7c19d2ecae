/**
 * What of a Docker daemon belongs to environment K, agreed between the
 * Docker backend (which names and labels what it creates so) and the lab
 * server's Docker gateway (which lets an isolated environment touch only
 * that): every container, network and volume of K carries the labels
 * `zdm-lab.managed=true` and `zdm-lab.env=K`, and its name is `zdm-lab-K`
 * or starts with `zdm-lab-K-`.
 */
export const LABEL_MANAGED = 'zdm-lab.managed';
export const LABEL_ENV = 'zdm-lab.env';

/** The labels that mark an object as environment K's. */
export function scopeLabels(env: number): Record<string, string> {
  return { [LABEL_MANAGED]: 'true', [LABEL_ENV]: String(env) };
}

/** The name of K's network, and the start of every other name of K's. */
export function scopeName(env: number): string {
  return `zdm-lab-${env}`;
}

export function nameInScope(name: string, env: number): boolean {
  const own = scopeName(env);
  return name === own || name.startsWith(`${own}-`);
}

/** The variables that point an isolated environment's Docker clients at the lab's gateway instead of the daemon. */
export const GATEWAY_TOKEN_VARIABLE = 'ZDM_LAB_DOCKER_TOKEN';
