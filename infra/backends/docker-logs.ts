/**
 * Container logs for the Docker backend, printed the way the embedded
 * backend's `tail` prints log files: the whole log, or with follow the last
 * 40 lines and then new ones, with a "==> proxy-2 <==" header whenever the
 * output switches between components. Following survives a rolling update:
 * when a container is replaced, its successor (same name) is followed from
 * its first line, as `tail -F` follows a log file across restarts.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';

export interface LogSource {
  name: string;
  container: string;
  /** The last lines kept on the host when the container was removed. */
  savedLog?: string;
}

/** Splits Docker's multiplexed log stream (8-byte frame headers) back into text. */
export function demux(buffer: Buffer): { text: string; rest: Buffer } {
  let offset = 0;
  const parts: Buffer[] = [];
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    if (offset + 8 + size > buffer.length) break;
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return { text: Buffer.concat(parts).toString('utf8'), rest: buffer.subarray(offset) };
}

export async function readLogs(container: Docker.Container, tail: number | 'all' = 'all'): Promise<string> {
  const raw = (await container.logs({ stdout: true, stderr: true, follow: false, tail: tail === 'all' ? undefined : tail })) as unknown as Buffer;
  return demux(Buffer.from(raw)).text;
}

/** A container that exists (running, created or restarting), with the time it last started. */
async function containerState(docker: Docker, name: string): Promise<{ id: string; running: boolean; startedAt: string } | undefined> {
  try {
    const info = await docker.getContainer(name).inspect();
    if (!['running', 'created', 'restarting'].includes(info.State.Status)) return undefined;
    return { id: info.Id, running: info.State.Running, startedAt: info.State.StartedAt };
  } catch {
    return undefined;
  }
}

async function containerId(docker: Docker, name: string): Promise<string | undefined> {
  return (await containerState(docker, name))?.id;
}

export async function followLogs(docker: Docker, sources: LogSource[], follow: boolean): Promise<number> {
  let last: string | undefined;
  const write = (source: LogSource, text: string) => {
    if (!text) return;
    if (sources.length > 1 && last !== source.name) process.stdout.write(`${last ? '\n' : ''}==> ${source.name} <==\n`);
    last = source.name;
    process.stdout.write(text);
  };

  if (!follow) {
    let printed = 0;
    for (const source of sources) {
      const id = await containerId(docker, source.container);
      if (id) {
        write(source, await readLogs(docker.getContainer(id)));
        printed++;
      } else if (source.savedLog) {
        write(source, readFileSync(source.savedLog, 'utf8'));
        printed++;
      }
    }
    if (printed === 0) throw new Error('no proxy log yet: run zdm-lab proxy deploy first');
    return 0;
  }

  // A rolling update replaces a container in a moment between removal and creation: look again for a
  // few seconds before saying that nothing runs.
  let present = false;
  for (let tries = 0; tries < 5 && !present; tries++) {
    if (tries) await sleep(1000);
    present = (await Promise.all(sources.map((s) => containerState(docker, s.container)))).some(Boolean);
  }
  if (!present) throw new Error('no proxy is running: run zdm-lab proxy deploy first');

  const followOne = async (source: LogSource) => {
    // a container is followed once per start: a new container (same name) from its first line, the same
    // container started again from the moment it started, and the first one from its last 40 lines
    let followedId: string | undefined;
    let followedStart: string | undefined;
    for (;;) {
      const state = await containerState(docker, source.container);
      if (!state?.running || (state.id === followedId && state.startedAt === followedStart)) {
        await sleep(500);
        continue;
      }
      const firstTime = followedId === undefined;
      const restarted = state.id === followedId;
      followedId = state.id;
      followedStart = state.startedAt;
      let stream: NodeJS.ReadableStream;
      try {
        stream = (await docker.getContainer(state.id).logs({
          stdout: true,
          stderr: true,
          follow: true,
          tail: firstTime ? 40 : undefined,
          since: restarted ? Math.floor(Date.parse(state.startedAt) / 1000) : undefined,
        })) as unknown as NodeJS.ReadableStream;
      } catch {
        continue; // removed between the look and the request: look again
      }
      let pending: Buffer = Buffer.alloc(0);
      let partial = '';
      await new Promise<void>((resolve) => {
        stream.on('data', (chunk: Buffer) => {
          const { text, rest } = demux(Buffer.concat([pending, chunk]));
          pending = rest;
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          if (lines.length) write(source, `${lines.join('\n')}\n`);
        });
        stream.on('end', () => resolve());
        stream.on('error', () => resolve());
      });
      if (partial) write(source, `${partial}\n`);
    }
  };
  await Promise.all(sources.map(followOne));
  return 0;
}
