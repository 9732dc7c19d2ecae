/**
 * `zdm-lab env list|create|reset|destroy`: the instructor's actions from a
 * shell, sent to the lab server running on this machine over its JSON API
 * with the instructor token the server keeps in its private address file
 * (lab/server/address.ts). No server, a stopped one, or a refusal each get
 * one sentence saying what to do; a reset prints its progress as it streams
 * in.
 */
import type { ResetOutcome } from '../instructor/classroom.js';
import type { EnvironmentCreated, EnvironmentList } from '../server/instructor.js';
import { callLabServer, printStream, Refused } from './lab-server.js';

export interface EnvCommandOptions {
  /** The lab server's data folder (where it keeps server.json). */
  dataDir: string;
  action: string | undefined;
  /** The environment acted on (create: optional, the next free one otherwise). */
  env?: number;
  name?: string;
  to?: string;
  print: (line: string) => void;
}

export const ENV_USAGE = `usage: zdm-lab env list
       zdm-lab env create [--env K] [--name "Learner Name"]
       zdm-lab env reset --env K [--to PAGE]
       zdm-lab env destroy --env K`;

/** Returns the exit code; a refusal is thrown as Refused. */
export async function envCommand(opts: EnvCommandOptions): Promise<number> {
  const { print } = opts;
  const call = (method: string, path: string, body?: unknown) => callLabServer(opts.dataDir, method, path, body);
  const needEnv = (): number => {
    if (opts.env === undefined) throw new Refused(`this command needs --env K\n${ENV_USAGE}`);
    return opts.env;
  };

  switch (opts.action) {
    case 'list':
    case undefined: {
      const list = (await (await call('GET', 'api/instructor/environments')).json()) as EnvironmentList;
      print(formatList(list));
      return 0;
    }
    case 'create': {
      const body = { ...(opts.env === undefined ? {} : { env: opts.env }), ...(opts.name === undefined ? {} : { name: opts.name }) };
      const created = (await (await call('POST', 'api/instructor/environments', body)).json()) as EnvironmentCreated;
      print(`environment ${created.env} created for ${created.name}; its invite link:`);
      print(`    ${created.inviteUrl}`);
      return 0;
    }
    case 'reset':
      return await streamReset(await call('POST', `api/instructor/environments/${needEnv()}/reset`, opts.to === undefined ? {} : { to: opts.to }), print);
    case 'destroy': {
      const env = needEnv();
      const result = (await (await call('DELETE', `api/instructor/environments/${env}`)).json()) as { ok: boolean; output: string };
      if (!result.ok) print(`the course's teardown reported a problem:\n${result.output.trim()}`);
      print(`environment ${env} destroyed: its terminals, infrastructure, progress and invite link are gone`);
      return result.ok ? 0 : 1;
    }
    default:
      print(`unknown env command "${opts.action}"\n${ENV_USAGE}`);
      return 2;
  }
}

function streamReset(res: Response, print: (line: string) => void): Promise<number> {
  return printStream<ResetOutcome>(
    res,
    print,
    (r) => {
      const played = r.playedSeconds === undefined ? '' : `, on ${r.current} after ${r.playedSeconds.toFixed(1)} s`;
      return `✔ environment ${r.env}: reset in ${r.resetSeconds.toFixed(1)} s, ready after ${r.readySeconds.toFixed(1)} s${played}`;
    },
    'reset',
  );
}

export function formatList(list: EnvironmentList): string {
  const header = ['ENV', 'LEARNER', 'STEP', 'BLOCKS', 'CHECKS', 'HEALTH', 'LAST ACTIVITY', 'NOW'];
  const rows = list.environments.map((e) => [
    String(e.env),
    e.name,
    e.step === null ? '-' : `${e.step}/${e.pages} ${e.current}`,
    String(e.blocksRun),
    `${e.checksPassed}/${e.checksTotal}`,
    e.setup === 'running' ? 'setting up' : e.health?.error ? 'unknown' : (e.health?.components.map((c) => `${c.name}:${c.state}`).join(' ') ?? '-'),
    `${Math.round((Date.now() - e.lastActivity) / 1000)} s ago`,
    e.activity ? `${e.activity.kind}: ${e.activity.line}` : (e.lastError ?? ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const lines = [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const c = list.capacity;
  lines.push(`room for ${c.room} more environment(s): ${(c.availableBytes / 1024 ** 3).toFixed(1)} GiB available, about ${(c.bytesPerEnvironment / 1024 ** 3).toFixed(1)} GiB each`);
  return lines.join('\n');
}
