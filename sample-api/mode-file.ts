/**
 * The mode file: a mode (ORIGIN, ZDM_PROXY or TARGET) on its first line, and
 * optionally the login to give that database (`username=…`, `password=…`
 * lines), that moves the running API to another database without a restart,
 * the way a real application would pick up a changed setting during a
 * rolling restart. The
 * file is polled (stat every 300 ms) rather than watched with inotify, so it
 * works the same whether it is written in place, replaced by an editor, or
 * created after the API started.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { parseConnection, type ConnectionRequest } from './settings.js';

const POLL_MS = 300;

export function readModeFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Calls onRequest with each new valid connection written to `path`; reports invalid content. Returns a stop function. */
export function watchModeFile(path: string, onRequest: (request: ConnectionRequest) => void, onProblem: (message: string) => void): () => void {
  const listener = () => {
    let text: string | undefined;
    try {
      text = readModeFile(path)?.trim();
    } catch (error) {
      onProblem(`cannot read ${path}: ${(error as Error).message}`);
      return;
    }
    // Missing, or caught between truncation and write (`echo X > file`): nothing to do yet.
    if (text === undefined || text === '') return;
    // The same text written again is answered too (the API says it is already there), so that whoever wrote it sees an answer.
    const request = parseConnection(text);
    if (typeof request !== 'string') onRequest(request);
    else onProblem(`${path}: ${request}; the API keeps its current connection`);
  };
  watchFile(path, { interval: POLL_MS }, listener);
  return () => unwatchFile(path, listener);
}
