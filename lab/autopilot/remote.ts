/**
 * `zdm-lab course play`: asks the lab server running on this machine to play
 * its course in one environment, and prints the autopilot's progress as it
 * streams in. The server is found through the address file it keeps in its
 * data folder (lab/server/address.ts); no server, a stopped one, or an
 * environment it does not host each get one sentence saying what to do.
 */
import { readServerAddress, serverFile } from '../server/address.js';
import { jsonLines } from '../server/json-lines.js';
import type { PlayEvent } from '../server/play.js';

export interface RemotePlayOptions {
  /** The lab server's data folder (where it keeps server.json). */
  dataDir: string;
  env: number;
  to?: string;
  print: (line: string) => void;
}

/** Returns the exit code: 0 when every page up to the target passed, 1 otherwise. */
export async function playRemote(opts: RemotePlayOptions): Promise<number> {
  const { print } = opts;
  const address = readServerAddress(opts.dataDir);
  if (!address) {
    print(`no lab server is running here (${serverFile(opts.dataDir)} does not exist): start one with npm start -- --env ${opts.env}`);
    return 1;
  }
  let response: Response;
  try {
    response = await fetch(new URL(`api/env/${opts.env}/play`, address.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${address.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(opts.to === undefined ? {} : { to: opts.to }),
    });
  } catch (err) {
    const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    print(`the lab server recorded in ${serverFile(opts.dataDir)} (${address.url}, pid ${address.pid}) does not answer (${why}): it has stopped; start it again with npm start`);
    return 1;
  }
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    print(`the lab server refused: ${body.error ?? `${response.status} ${response.statusText}`}`);
    return 1;
  }

  for await (const event of jsonLines<PlayEvent>(response.body)) {
    if (event.type === 'progress') print(event.line);
    else if (event.type === 'done') {
      const played = event.result.pages.filter((p) => !p.skipped).length;
      print(`✔ environment ${opts.env}: ${played} page(s) played in ${event.result.seconds} s; the learner is on ${event.result.current}`);
      return 0;
    } else {
      print(`✘ ${event.message}`);
      return 1;
    }
  }
  print('✘ the lab server ended the play without a result (did it stop?)');
  return 1;
}
