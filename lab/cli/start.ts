/**
 * `npm start`: serve the lab. Prints the first environment's URL (it carries
 * that learner's token) and the instructor console's (it carries this
 * start's instructor token). `--env none` starts without an environment: the
 * instructor creates one per learner in the console or with zdm-lab env create.
 *
 *   npm start -- [--course DIR] [--host 127.0.0.1] [--port 4000] [--data DIR] [--env K|none]
 *                [--memory-per-env GIB] [--no-setup] [--tls-cert FILE --tls-key FILE]
 *
 * The lab hands out shells: on an address beyond loopback it says so, and
 * without TLS it says that the tokens travel in clear text.
 */
import { parseArgs } from 'node:util';
import { GIB } from '../instructor/capacity.js';
import { startLab } from '../server/app.js';
import { CourseError, formatProblem } from '../course/schema.js';

const { values } = parseArgs({
  options: {
    course: { type: 'string', default: 'steps' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '4000' },
    data: { type: 'string' },
    env: { type: 'string', default: '1' },
    'memory-per-env': { type: 'string' },
    'no-setup': { type: 'boolean', default: false },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  },
});

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

try {
  const lab = await startLab({ courseDir: values.course, host: values.host, tls, port, dataDir: values.data, runSetup: !values['no-setup'], environmentId: env, bytesPerEnvironment: perEnv === undefined ? undefined : Math.round(perEnv * GIB) });
  for (const p of lab.problems) console.warn(`warning: ${formatProblem(p)}`);
  console.log(`ZDM Lab: ${lab.course.title} (${lab.course.pages.length} pages)`);
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
