/**
 * `zdm-lab course play`: asks the lab server running on this machine to play
 * its course in one environment, and prints the autopilot's progress as it
 * streams in. The server is found through the address file it keeps in its
 * data folder (lab/server/address.ts); no server, a stopped one, or an
 * environment it does not host each get one sentence saying what to do.
 */
import { callLabServer, printStream } from './lab-server.js';
import type { PlayResult } from '../autopilot/play.js';

export interface RemotePlayOptions {
  /** The lab server's data folder (where it keeps server.json). */
  dataDir: string;
  env: number;
  to?: string;
  print: (line: string) => void;
}

/** Returns the exit code: 0 when every page up to the target passed, 1 otherwise; a refusal is thrown as Refused. */
export async function playRemote(opts: RemotePlayOptions): Promise<number> {
  const res = await callLabServer(opts.dataDir, 'POST', `api/env/${opts.env}/play`, opts.to === undefined ? {} : { to: opts.to }, `npm start -- --env ${opts.env}`);
  return printStream<PlayResult>(
    res,
    opts.print,
    (result) => `✔ environment ${opts.env}: ${result.pages.filter((p) => !p.skipped).length} page(s) played in ${result.seconds} s; the learner is on ${result.current}`,
    'play',
  );
}
