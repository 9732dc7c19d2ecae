/**
 * The command line's way to the lab server running on this machine: found
 * through the address file in its data folder (lab/server/address.ts), called
 * with the instructor token that file holds. No server, a stopped one, or a
 * refusal each become one sentence (a Refused error) saying what to do; a
 * streamed answer (play, reset) is printed as its events arrive.
 */
import { readServerAddress, serverFile } from '../server/address.js';
import { jsonLines } from '../server/json-lines.js';

export class Refused extends Error {}

/**
 * Sends one request to the lab server. `start` is the command that would
 * start one, for the message when none runs.
 */
export async function callLabServer(dataDir: string, method: string, path: string, body: unknown, start = 'npm start'): Promise<Response> {
  const address = readServerAddress(dataDir);
  if (!address) throw new Refused(`no lab server is running here (${serverFile(dataDir)} does not exist): start one with ${start}`);
  let res: Response;
  try {
    res = await fetch(new URL(path, address.url), {
      method,
      headers: { authorization: `Bearer ${address.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Refused(`the lab server recorded in ${serverFile(dataDir)} (${address.url}, pid ${address.pid}) does not answer (${why}): it has stopped; start it again with npm start`);
  }
  if (!res.ok || !res.body) {
    const err = (await res.json().catch(() => ({}))) as { error?: string };
    throw new Refused(`the lab server refused: ${err.error ?? `${res.status} ${res.statusText}`}`);
  }
  return res;
}

/** The events of a streamed answer: progress lines, then the result or the error that stopped the work. */
export type StreamEvent<R> = { type: 'progress'; line: string } | { type: 'done'; result: R } | { type: 'error'; message: string };

/**
 * Prints a streamed answer as it comes; `done` words the result. Returns the
 * exit code: 0 for a result, 1 for an error or a stream that ended without
 * either (`what` names the work in that message).
 */
export async function printStream<R>(res: Response, print: (line: string) => void, done: (result: R) => string, what: string): Promise<number> {
  for await (const event of jsonLines<StreamEvent<R>>(res.body!)) {
    if (event.type === 'progress') print(event.line);
    else if (event.type === 'done') {
      print(done(event.result));
      return 0;
    } else {
      print(`✘ ${event.message}`);
      return 1;
    }
  }
  print(`✘ the lab server ended the ${what} without a result (did it stop?)`);
  return 1;
}
