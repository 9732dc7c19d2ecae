/**
 * Pulling a missing image, as the learner sees it. No registry can be
 * reached here, so a stand-in Docker daemon on a unix socket answers the
 * Docker API the way dockerd does while it pulls (a JSON event per line:
 * layers announced, bytes downloaded of each, layers complete, or an error),
 * and the real dockerode client and the lab's pull code talk to it: progress
 * is reported per layer in bytes, an image already there is not pulled, and
 * a pull the registry refuses becomes one sentence naming the image, its
 * role and the variable that picks another one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { DockerUnavailableError, ensureImage } from '../../infra/backends/docker-daemon.js';

const MB = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), 'zdm-lab-fake-dockerd-'));
const socketPath = join(dir, 'docker.sock');
const pulls: string[] = [];
let server: Server;

/** What dockerd streams while pulling cassandra:5.0 (two layers), slowly enough for the once-a-second report. */
const PULL = [
  { status: 'Pulling from library/cassandra', id: '5.0' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'aaaaaaaaaaaa1111' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'bbbbbbbbbbbb2222' },
  { status: 'Downloading', progressDetail: { current: 10 * MB, total: 40 * MB }, id: 'aaaaaaaaaaaa1111' },
  { status: 'Downloading', progressDetail: { current: 1 * MB, total: 2 * MB }, id: 'bbbbbbbbbbbb2222' },
  { status: 'Download complete', progressDetail: {}, id: 'bbbbbbbbbbbb2222' },
  { status: 'Downloading', progressDetail: { current: 30 * MB, total: 40 * MB }, id: 'aaaaaaaaaaaa1111' },
  { status: 'Pull complete', progressDetail: {}, id: 'bbbbbbbbbbbb2222' },
  { status: 'Download complete', progressDetail: {}, id: 'aaaaaaaaaaaa1111' },
  { status: 'Pull complete', progressDetail: {}, id: 'aaaaaaaaaaaa1111' },
  { status: 'Digest: sha256:0123' },
  { status: 'Status: Downloaded newer image for cassandra:5.0' },
];

describe('pulling a missing image through the Docker API', () => {
  before(async () => {
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://docker');
      if (req.method === 'GET' && /\/images\/.+\/json$/.test(url.pathname)) {
        const name = decodeURIComponent(url.pathname.replace(/^.*\/images\//, '').replace(/\/json$/, ''));
        const present = name === 'zdm-lab-local/already-here:1';
        res.writeHead(present ? 200 : 404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(present ? { Id: 'sha256:1' } : { message: `No such image: ${name}` }));
        return;
      }
      if (req.method === 'POST' && url.pathname.endsWith('/images/create')) {
        const image = `${url.searchParams.get('fromImage')}:${url.searchParams.get('tag')}`;
        pulls.push(image);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        if (image.startsWith('private.example/')) {
          res.end(`${JSON.stringify({ errorDetail: { message: 'pull access denied for private.example/cassandra' }, error: 'pull access denied for private.example/cassandra' })}\n`);
          return;
        }
        for (const event of PULL) {
          res.write(`${JSON.stringify(event)}\n`);
          await sleep(event.status === 'Downloading' ? 1100 : 20);
        }
        res.end();
        return;
      }
      res.writeHead(404).end('{"message":"not here"}');
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a missing image is pulled with progress per layer in bytes', async () => {
    const lines: string[] = [];
    await ensureImage(new Docker({ socketPath }), 'cassandra:5.0', { what: 'Origin', variable: 'ZDM_LAB_ORIGIN_IMAGE' }, (m) => lines.push(m));
    assert.deepEqual(pulls, ['cassandra:5.0']);
    assert.equal(lines[0], 'cassandra:5.0: not on this machine, pulling it (Origin)');
    assert.ok(
      lines.some((l) => /^cassandra:5\.0: 0\/2 layers done; aaaaaaaaaaaa 10\.0 MB\/40\.0 MB/.test(l)),
      `no per-layer progress line in:\n${lines.join('\n')}`,
    );
    assert.ok(
      lines.some((l) => /^cassandra:5\.0: 1\/2 layers done; aaaaaaaaaaaa 30\.0 MB\/40\.0 MB$/.test(l)),
      `no line with one layer done in:\n${lines.join('\n')}`,
    );
    assert.equal(lines.at(-1), 'cassandra:5.0: pulled (2 layers, 42.0 MB)');
  });

  test('an image already on the machine is not pulled', async () => {
    pulls.length = 0;
    const lines: string[] = [];
    await ensureImage(new Docker({ socketPath }), 'zdm-lab-local/already-here:1', { what: 'Target', variable: 'ZDM_LAB_TARGET_IMAGE' }, (m) => lines.push(m));
    assert.deepEqual(pulls, []);
    assert.deepEqual(lines, []);
  });

  test('a refused pull is one sentence naming the image, its role and the variable to change', async () => {
    const error = await ensureImage(
      new Docker({ socketPath }),
      'private.example/cassandra:4.1',
      { what: 'Origin', variable: 'ZDM_LAB_ORIGIN_IMAGE' },
      () => {},
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(error instanceof DockerUnavailableError, String(error));
    assert.equal(
      error.message,
      'image private.example/cassandra:4.1 (Origin) is not on this machine and could not be pulled: ' +
        'pull access denied for private.example/cassandra. Check the name and your network, or set ZDM_LAB_ORIGIN_IMAGE to an image you have',
    );
  });
});
