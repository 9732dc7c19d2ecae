/**
 * `npm start`: serve the lab. Prints the first environment's URL (it carries
 * that learner's token) and the instructor console's (it carries this
 * start's instructor token). `--env none` starts without an environment: the
 * instructor creates one per learner in the console or with zdm-lab env create.
 *
 *   npm start -- [--course DIR] [--host 127.0.0.1] [--port 4000] [--data DIR] [--env K|none]
 *                [--memory-per-env GIB] [--cpus-per-env N] [--no-isolation] [--no-setup]
 *                [--tls-cert FILE --tls-key FILE] [--kubernetes cluster|local] [--public-url URL]
 *
 * `--public-url` is the address people open the lab at when it is not the
 * one it listens on (a port-forward, a proxy, an Ingress: deploy/kubernetes):
 * the printed links and the learners' invitations carry it, and pages from
 * its origin are the lab's own.
 *
 * Run as root, the lab isolates every environment (its own account, memory
 * and CPU budget, packet filter rules: environments/isolation.ts). Run as an
 * ordinary user it cannot, and hosts one environment, as a learner on their
 * own machine needs; `--no-isolation` hosts several anyway (trusted
 * learners only). The banner says which of the two it is.
 *
 * With --kubernetes every environment runs on a Kubernetes cluster instead:
 * its namespace, with the course's per-environment budget as its quota, is
 * made when its learner is added, and its terminals and the course's
 * commands run in its workstation pod (environments/workstation.ts, through
 * `zdm-lab kube env …`). `cluster` is the cluster of KUBECONFIG, or the one
 * the lab runs in; `local` is this machine's local cluster (`zdm-lab kube
 * up`, as root), whose images the lab builds and imports.
 *
 * The lab hands out shells: on an address beyond loopback it says so, and
 * without TLS it says that the tokens travel in clear text.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GIB } from '../instructor/capacity.js';
import { startLab } from '../server/app.js';
import { isolationProblem } from '../environments/isolation.js';
import { CourseError, formatProblem } from '../course/schema.js';
import { kubernetesWorkstations, type WorkstationCommands } from '../environments/workstation.js';

const { values } = parseArgs({
  options: {
    course: { type: 'string', default: 'steps' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '4000' },
    data: { type: 'string' },
    env: { type: 'string', default: '1' },
    'memory-per-env': { type: 'string' },
    'cpus-per-env': { type: 'string' },
    'no-isolation': { type: 'boolean', default: false },
    'no-setup': { type: 'boolean', default: false },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    kubernetes: { type: 'string' },
    'public-url': { type: 'string' },
  },
});

function publicUrlOf(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
    console.error(`--public-url must be the http(s) address people open the lab at, served from its root, e.g. https://lab.example.com/ (no path, no query), not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return url.href;
}
const publicUrl = publicUrlOf(values['public-url']);

if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
  console.error('--tls-cert and --tls-key go together: the certificate and its private key, as PEM files');
  process.exit(2);
}
const tls = values['tls-cert'] && values['tls-key'] ? { cert: values['tls-cert'], key: values['tls-key'] } : undefined;

/** 127.0.0.0/8, ::1 and localhost reach this machine only. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
if (!isLoopback(values.host)) {
  console.warn(
    `warning: --host ${values.host} lets every machine that reaches this one ask for the lab's shells; only a token stands in the way` +
      (tls ? '.' : `, and without --tls-cert/--tls-key that token travels in clear text. Keep the lab on 127.0.0.1 unless you mean it.`),
  );
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number, not ${JSON.stringify(values.port)}`);
  process.exit(2);
}

const env = values.env === 'none' ? null : Number(values.env);
if (env !== null && (!Number.isInteger(env) || env < 1)) {
  console.error(`--env must be an environment number (1, 2, …) or "none", not ${JSON.stringify(values.env)}`);
  process.exit(2);
}

const perEnv = values['memory-per-env'] === undefined ? undefined : Number(values['memory-per-env']);
if (perEnv !== undefined && !(perEnv > 0)) {
  console.error(`--memory-per-env must be the GiB one environment needs (e.g. 1.5), not ${JSON.stringify(values['memory-per-env'])}`);
  process.exit(2);
}

const cpus = values['cpus-per-env'] === undefined ? undefined : Number(values['cpus-per-env']);
if (cpus !== undefined && !(cpus > 0)) {
  console.error(`--cpus-per-env must be the CPUs one isolated environment may use (e.g. 1.5), not ${JSON.stringify(values['cpus-per-env'])}`);
  process.exit(2);
}

const zdmLab = fileURLToPath(new URL('../../bin/zdm-lab', import.meta.url));
let workstations: WorkstationCommands | undefined;
if (values.kubernetes !== undefined) {
  if (values.kubernetes !== 'cluster' && values.kubernetes !== 'local') {
    console.error(`--kubernetes must be "cluster" (the cluster of KUBECONFIG, or the one the lab runs in) or "local" (this machine's, zdm-lab kube up), not ${JSON.stringify(values.kubernetes)}`);
    process.exit(2);
  }
  // Each namespace's quota is the environment's budget: the course's, or --memory-per-env and --cpus-per-env.
  workstations = kubernetesWorkstations(zdmLab, { local: values.kubernetes === 'local' });
}

const cannotIsolate = isolationProblem([resolve(values.course), zdmLab]);
// Nothing of a learner runs here when environments run on a cluster.
const isolate = !workstations && !values['no-isolation'] && cannotIsolate === undefined;
// The Docker backend's commands need the daemon, whose socket is root on the host: isolated accounts reach it through the lab's gateway, scoped each to its own.
const dockerGateway = isolate && process.env.ZDM_LAB_BACKEND === 'docker';

try {
  const lab = await startLab({
    courseDir: values.course,
    host: values.host,
    tls,
    port,
    dataDir: values.data,
    runSetup: !values['no-setup'],
    // On a cluster of its own the environments' images carry everything: nothing to fill the lab's cache with.
    runPrepare: values.kubernetes !== 'cluster',
    environmentId: env,
    bytesPerEnvironment: perEnv === undefined ? undefined : Math.round(perEnv * GIB),
    cpusPerEnvironment: cpus,
    isolate,
    dockerGateway,
    singleLearner: !values['no-isolation'],
    workstations,
    publicUrl,
    onPrepareOutput: (text) => process.stdout.write(text),
  });
  for (const p of lab.problems) console.warn(formatProblem(p));
  console.log(`ZDM Lab: ${lab.course.title} (${lab.course.pages.length} pages)`);
  const cpuBudget = cpus ?? lab.course.environments.cpus;
  const budget = `${(perEnv ?? lab.course.environments.memoryBytes / GIB).toFixed(1)} GiB of memory and ${cpuBudget === undefined ? 'a fair share of the CPUs' : `${cpuBudget} CPU(s)`}`;
  if (workstations) console.log(`Environments run on ${values.kubernetes === 'local' ? "this machine's local Kubernetes cluster" : 'a Kubernetes cluster (KUBECONFIG, or the one this lab runs in)'}: environment K is namespace zdmlab-env-K within ${budget}, and its terminals are shells in its workstation pod.`);
  else if (isolate) console.log(`Environments are isolated: environment K runs as account zdmlab-K, within ${budget}, and reaches only its own 127.0.K.0/24 and this lab${dockerGateway ? ', and Docker only through this lab, for its own containers' : ''}.`);
  else if (values['no-isolation']) console.log(`Environments are NOT isolated (--no-isolation): every learner's shell runs as ${process.env.USER ?? `uid ${process.getuid?.()}`} and can reach every other environment. Host trusted learners only.`);
  else console.log(`Environments are not isolated (${cannotIsolate}): this lab hosts one environment. ${process.getuid?.() === 0 ? 'Fix that' : 'Start it as root'} to host a class, or start it with --no-isolation for trusted learners.`);
  if (env !== null) console.log(`Open this URL in your browser (it carries environment ${env}'s access token):\n\n    ${lab.openUrl}\n`);
  console.log(`Instructor console (create learner environments, follow and reset them; keep this link to yourself):\n\n    ${lab.instructorUrl}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping: ending every terminal…');
    await lab.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (err) {
  if (err instanceof CourseError) {
    console.error(`cannot serve the course in ${values.course}:`);
    for (const p of err.problems) console.error(`  ${formatProblem(p)}`);
  } else {
    console.error(`cannot start the lab: ${(err as Error).message}`);
  }
  process.exit(1);
}
