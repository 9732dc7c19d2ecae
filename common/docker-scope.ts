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

/** The images the Docker backend runs, by name (each configurable), shared by the backend and the lab's gateway. */
export function labImageNames(): { origin: string; target: string; proxy: string } {
  const cassandra = process.env.ZDM_LAB_CASSANDRA_IMAGE ?? 'cassandra:5.0';
  return {
    origin: process.env.ZDM_LAB_ORIGIN_IMAGE ?? cassandra,
    target: process.env.ZDM_LAB_TARGET_IMAGE ?? cassandra,
    proxy: process.env.ZDM_LAB_PROXY_IMAGE ?? 'datastax/zdm-proxy:2.4.2',
  };
}

/**
 * The Cassandra image starts as root, as the official one does: its
 * entrypoint hands the data and configuration folders to the `cassandra`
 * user and runs the node as that user. The gateway lets an environment start
 * it so only with the image's own command, only these variables (all read
 * after the switch to `cassandra`; CASSANDRA_CONF, PATH or BASH_ENV would
 * change what runs as root), and only plain files copied into its
 * configuration folder.
 */
/** The image's `cassandra` user, by number (uid and gid 999 in the official image and the lab's): the gateway takes numbers only, since a name could be root in some image's /etc/passwd. */
export const NODE_IMAGE_USER = '999:999';
export const NODE_IMAGE_VARIABLES: readonly string[] = [
  'MAX_HEAP_SIZE',
  'HEAP_NEWSIZE',
  'JVM_OPTS',
  'JVM_EXTRA_OPTS',
  'CASSANDRA_CLUSTER_NAME',
  'CASSANDRA_SEEDS',
  'CASSANDRA_LISTEN_ADDRESS',
  'CASSANDRA_BROADCAST_ADDRESS',
  'CASSANDRA_RPC_ADDRESS',
  'CASSANDRA_BROADCAST_RPC_ADDRESS',
  'CASSANDRA_ENDPOINT_SNITCH',
  'CASSANDRA_NUM_TOKENS',
  'CASSANDRA_DC',
  'CASSANDRA_RACK',
];
export const NODE_CONFIG_DIR = '/etc/cassandra';
export const NODE_DATA_DIR = '/var/lib/cassandra';

/** The most containers one environment may have at once (the course runs five: two nodes, three proxies). */
export const CONTAINERS_PER_ENVIRONMENT = 8;
