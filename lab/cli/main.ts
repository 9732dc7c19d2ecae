/**
 * The lab engine's command line (`zdm-lab course …` and `zdm-lab env
 * list|create|reset|destroy`, dispatched here by bin/zdm-lab): checking a
 * course, and acting on the lab server running on this machine through its
 * token-protected JSON API (the server is found through the address file in
 * its data folder). It knows no infrastructure: what happens inside an
 * environment is the course's business.
 */
import { resolve } from 'node:path';
import { playRemote } from './course-play.js';
import { courseCheck } from '../course/check.js';
import { ENV_USAGE, envCommand } from './env-commands.js';
import { Refused } from './lab-server.js';
import { defaultDataDir } from '../server/address.js';
import { parseCommandLine, runCommand } from '../../common/cli.js';

/** The project's own course, checked when no folder is named. */
const defaultCourseDir = resolve(new URL('../..', import.meta.url).pathname, 'steps');

const USAGE = `usage: zdm-lab course check [--strict] [DIR]
                                        validate a course (default: steps/), problems as file:line;
                                        fails on errors, and with --strict on warnings too
       zdm-lab course play [--env K] [--to PAGE] [--data DIR]
                                        have the running lab server play its course in environment
                                        K's terminals, up to PAGE (default: all)
${ENV_USAGE.replace(/^usage: /, '       ')}

options:
  --env K          environment number (default: $LAB_ENV or 1)
  --data DIR       the lab server's data folder (default: .lab-envs)`;

function environmentNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const k = Number(value);
  if (!Number.isInteger(k) || k < 1) throw new Error(`--env must be an environment number (1, 2, …), not ${value}`);
  return k;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals, command, sub, rest } = parseCommandLine(argv, {
    env: { type: 'string' },
    to: { type: 'string' },
    data: { type: 'string' },
    name: { type: 'string' },
    strict: { type: 'boolean' },
  });
  const print = (line: string) => console.log(line);
  const dataDir = resolve(values.data ?? defaultDataDir);
  if (values.help) {
    print(USAGE);
    return 0;
  }
  try {
    switch (`${command} ${sub ?? ''}`.trim()) {
      case 'course check':
        return courseCheck(rest[0] ?? defaultCourseDir, undefined, { strict: values.strict === true });
      case 'course play':
        return await playRemote({ dataDir, env: environmentNumber(values.env ?? process.env.LAB_ENV) ?? 1, to: values.to, print });
      default:
        if (command === 'env') return await envCommand({ dataDir, action: sub, env: environmentNumber(values.env), name: values.name, to: values.to, print });
        console.error(`unknown command: zdm-lab ${positionals.join(' ')}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    // no server, a stopped one, or a refusal: one sentence saying what to do
    if (!(err instanceof Refused)) throw err;
    print(err.message);
    return 1;
  }
}

runCommand(() => main(process.argv.slice(2)));
