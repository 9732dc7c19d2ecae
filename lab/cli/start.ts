/**
 * `npm start`: serve the lab. Prints a URL carrying this start's access token.
 *
 *   npm start -- [--course DIR] [--host 127.0.0.1] [--port 4000] [--data DIR] [--env K] [--no-setup]
 */
import { parseArgs } from 'node:util';
import { startLab } from '../server/app.js';
import { CourseError, formatProblem } from '../course/schema.js';

const { values } = parseArgs({
  options: {
    course: { type: 'string', default: 'steps' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '4000' },
    data: { type: 'string' },
    env: { type: 'string', default: '1' },
    'no-setup': { type: 'boolean', default: false },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number, not ${JSON.stringify(values.port)}`);
  process.exit(2);
}

const env = Number(values.env);
if (!Number.isInteger(env) || env < 1 || env > 254) {
  console.error(`--env must be an environment number from 1 to 254, not ${JSON.stringify(values.env)}`);
  process.exit(2);
}

try {
  const lab = await startLab({ courseDir: values.course, host: values.host, port, dataDir: values.data, runSetup: !values['no-setup'], environmentId: env });
  for (const p of lab.problems) console.warn(`warning: ${formatProblem(p)}`);
  console.log(`ZDM Lab: ${lab.course.title} (${lab.course.pages.length} pages)`);
  console.log(`Open this URL in your browser (it carries this start's access token):\n\n    ${lab.openUrl}\n`);
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
