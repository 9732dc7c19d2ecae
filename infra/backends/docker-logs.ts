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

async function containerId(docker: Docker, name: string): Promise<string | undefined> {
  try {
    const info = await docker.getContainer(name).inspect();
    return info.State.Running || info.State.Status === 'created' ? info.Id : undefined;
  } catch {
    return undefined;
  }
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

  const present = await Promise.all(sources.map((s) => containerId(docker, s.container)));
  if (!present.some(Boolean)) throw new Error('no proxy is running: run zdm-lab proxy deploy first');

  const followOne = async (source: LogSource) => {
    let followed: string | undefined;
    for (;;) {
      const id = await containerId(docker, source.container);
      if (!id || id === followed) {
        await sleep(1000);
        continue;
      }
      const firstTime = followed === undefined;
      followed = id;
      const stream = (await docker.getContainer(id).logs({
        stdout: true,
        stderr: true,
        follow: true,
        tail: firstTime ? 40 : undefined,
      })) as unknown as NodeJS.ReadableStream;
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
