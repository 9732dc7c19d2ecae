/**
 * The learner's workstation in environment K's namespace, beside the nodes
 * and proxies (workloads.ts): a one-replica StatefulSet `workstation` from
 * the workstation image (infra/images/workstation), the pod the learner's
 * terminals run in, reached through the API server's exec stream
 * (exec-shell.ts), never a shell on the lab's host.
 *
 * - It runs as the image's ordinary user under the namespace's
 *   ServiceAccount `zdm-lab` (environment.ts: a Role in this namespace
 *   only), which the image's `zdm-lab` acts with (ZDM_LAB_BACKEND=kubernetes,
 *   infra/backends/kubernetes.ts).
 * - The environment's two login files are copied from the Secret into the
 *   lab's folder in its home, where every client of the lab reads them
 *   (credentials.ts): `zdm-lab env --shell` gives the environment's names
 *   (the `cluster` address plan) and logins.
 * - It has the variables a terminal of the lab has on a host (LAB_ENV,
 *   LAB_ENV_DIR, LAB_COURSE_DIR), so that the course's commands run as they
 *   are: the sample API and the writer loop run in its terminals, as the
 *   course starts them, on the pod's own loopback addresses; the sample API
 *   finds the clusters and proxies by their names in the namespace, from
 *   its contact-point variables.
 *
 * It meets Pod Security `restricted`, like every pod of the environment.
 */
import type { KubeConfig, KubernetesObject, V1Container, V1StatefulSet, V1Volume } from '@kubernetes/client-node';
import type { Reporter } from '../progress.js';
import { topology } from '../topology.js';
import { applyObjects, namespaceOf, SERVICE_ACCOUNT } from './environment.js';
import { execClient } from './exec-client.js';
import { allReady, CREDENTIALS_SECRET, labelsOf, RESOURCES, restrictedContainer, restrictedPod, waitForStatefulSet } from './workloads.js';

export const WORKSTATION_NAME = 'workstation';
/** The workstation's one pod, which terminals exec into. */
export const WORKSTATION_POD = `${WORKSTATION_NAME}-0`;
export const WORKSTATION_CONTAINER = 'shell';
/** The image's ordinary user, learner. */
const LEARNER_UID = 1000;
const LAB_ROOT = '/opt/zdm-lab';
const CREDENTIALS_DIR = '/zdm-lab/credentials';
/** The learner's working folder (a terminal's LAB_ENV_DIR): where the course keeps the API's connection file and the writer's log. */
const WORK_DIR = '/home/learner/work';

/** What a lab terminal's shell prints to say where it is (LAB_PROMPT_MARK and LAB_COMMAND_MARK in the image's profile.sh). */
export interface ShellMarks {
  prompt: string;
  command: string;
}

/**
 * The command line of a terminal in environment K's workstation: the
 * bundled exec client (exec-client.ts, exec-shell.ts) under this Node.js,
 * for a pty of the lab's (with `announce`, the lab's ready marker, and
 * `marks`, its prompt and command marks, which the login shell then prints)
 * or a person's. KUBECONFIG (or the lab's own ServiceAccount) names the
 * cluster.
 */
export function workstationShell(env: number, announce?: string, marks?: ShellMarks, options: string[] = []): { command: string; args: string[] } {
  const shell = marks === undefined ? [] : ['env', `LAB_PROMPT_MARK=${marks.prompt}`, `LAB_COMMAND_MARK=${marks.command}`, '/bin/bash', '-l'];
  return { command: process.execPath, args: [execClient(), ...(announce === undefined ? [] : ['--announce', announce]), ...options, namespaceOf(env), WORKSTATION_POD, WORKSTATION_CONTAINER, ...shell] };
}

/**
 * The command line that runs `command` in environment K's workstation: a
 * bash in the learner's working folder, with the workstation's variables
 * (LAB_ENV, LAB_ENV_DIR, LAB_COURSE_DIR; the course's scripts read the
 * addresses and logins themselves, steps/scripts/lab.sh), with no TTY unless
 * the caller's standard input is one (exec-shell.ts). With `input`, the
 * command reads the caller's standard input, and ends when it does.
 */
export function workstationCommand(env: number, command: string[], input = false): { command: string; args: string[] } {
  const shell = workstationShell(env, undefined, undefined, input ? ['--input'] : []);
  return { command: shell.command, args: [...shell.args, '/bin/bash', '-lc', 'cd "$LAB_ENV_DIR" && exec "$@"', 'zdm-lab-exec', ...command] };
}

export interface WorkstationOptions {
  /** The workstation image (infra/images/workstation). */
  image: string;
}

/**
 * The workstation's command: the environment's login files into the lab's
 * folder in the learner's home (the image's LAB_ENV_HOME; mode 0600, as credentials.ts writes them:
 * a Secret's mounted files are links, which the lab's clients refuse), then
 * it waits until stopped; the terminals are other processes, exec'ed in.
 */
const WORKSTATION_START = `set -eu
dir="$LAB_ENV_HOME/env-$LAB_ENV"
mkdir -p "$dir" "$LAB_ENV_DIR"
umask 077
for cluster in origin target; do cat "${CREDENTIALS_DIR}/$cluster-credentials" > "$dir/$cluster-credentials"; done
trap 'exit 0' TERM
sleep infinity & wait`;

/** The workstation's StatefulSet. */
export function workstationObjects(env: number, options: WorkstationOptions): KubernetesObject[] {
  const topo = topology(env, 'cluster');
  const container: V1Container = {
    name: WORKSTATION_CONTAINER,
    image: options.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/bash', '-c', WORKSTATION_START],
    env: [
      { name: 'LAB_ENV', value: String(env) },
      { name: 'LAB_ENV_DIR', value: WORK_DIR },
      { name: 'LAB_COURSE_DIR', value: `${LAB_ROOT}/steps` },
      { name: 'TERM', value: 'xterm-256color' },
      { name: 'COLORTERM', value: 'truecolor' },
      // The sample API knows no address plan (it is the learner's application, not the lab's): its contact points, as an application gets them.
      { name: 'ORIGIN_CONTACT_POINTS', value: topo.origin.address },
      { name: 'TARGET_CONTACT_POINTS', value: topo.target.address },
      { name: 'ZDM_PROXY_CONTACT_POINTS', value: topo.proxies.map((p) => p.address).join(',') },
    ],
    resources: RESOURCES.workstation,
    securityContext: restrictedContainer,
    volumeMounts: [{ name: 'credentials', mountPath: CREDENTIALS_DIR, readOnly: true }],
  };
  const volumes: V1Volume[] = [{ name: 'credentials', secret: { secretName: CREDENTIALS_SECRET, items: ['origin', 'target'].map((c) => ({ key: `${c}-credentials`, path: `${c}-credentials` })) } }];
  const labels = labelsOf(env, WORKSTATION_NAME);
  const set: V1StatefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: WORKSTATION_NAME, namespace: namespaceOf(env), labels },
    spec: {
      serviceName: WORKSTATION_NAME,
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': WORKSTATION_NAME } },
      template: {
        metadata: { labels },
        spec: {
          securityContext: restrictedPod(LEARNER_UID),
          // The ServiceAccount's token is what the workstation's zdm-lab acts with.
          serviceAccountName: SERVICE_ACCOUNT,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 5,
          containers: [container],
          volumes,
        },
      },
    },
  };
  return [set];
}

/**
 * Starts environment K's workstation (or brings it back to shape) and waits
 * until it runs; the seconds it took. It reads the environment's Secret
 * (workloads.ts credentialsSecret), which must be there first.
 */
export async function deployWorkstation(config: KubeConfig, env: number, options: WorkstationOptions, report: Reporter, timeoutMs = 180_000): Promise<number> {
  const started = Date.now();
  await applyObjects(config, workstationObjects(env, options), `environment ${env}'s workstation`);
  await waitForStatefulSet(config, namespaceOf(env), WORKSTATION_NAME, 'the workstation to be ready', allReady, report, timeoutMs);
  const seconds = (Date.now() - started) / 1000;
  report(`the workstation (${WORKSTATION_POD}) ready in ${seconds.toFixed(1)}s`);
  return seconds;
}
