/**
 * How the lab gets the zdm-proxy binary when no variable points at one: the
 * release archive route against a release folder served on loopback (an
 * archive laid out as the project's release workflow lays it out, with its
 * -sha256.txt beside it), a damaged download refused, and what the learner
 * reads when no route works. Go is kept off PATH so that the go install
 * route fails at once with its one-line reason. The ZDM_PROXY_SRC route on
 * the real source tree is tested in test/integration/zdm-proxy-source.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { pack } from 'tar-stream';

const cache = mkdtempSync(join(tmpdir(), 'zdm-proxy-routes-'));
process.env.ZDM_LAB_CACHE = cache;
delete process.env.ZDM_PROXY_BIN;
delete process.env.ZDM_PROXY_SRC;
process.env.PATH = '/nonexistent';
const { ArtifactUnavailableError, ensureZdmProxy, findZdmProxy } = await import('../../infra/artifacts/zdm-proxy.js');
const { releaseAsset } = await import('../../infra/artifacts/zdm-proxy-release.js');

const BINARY = '#!/bin/sh\necho "ZDM proxy version 2.4.1"\n';

async function tgz(entries: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, body] of Object.entries(entries)) p.entry({ name, mode: 0o755 }, body);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

let server: Server;
let files: Record<string, Buffer | string> = {};
const served: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    served.push(req.url!);
    const body = files[req.url!];
    if (body === undefined) return void res.writeHead(404).end('Not Found');
    res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.env.ZDM_PROXY_RELEASE_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2.4.2`;
});
after(() => {
  server.close();
  rmSync(cache, { recursive: true, force: true });
});

describe('zdm-proxy from the release archive', () => {
  const asset = () => releaseAsset('2.4.2', 'linux', 'x64');

  test('the asset names follow the release workflow', () => {
    assert.match(asset().archiveUrl, /\/v2\.4\.2\/zdm-proxy-linux-amd64-v2\.4\.2\.tgz$/);
    assert.match(asset().checksumUrl, /\/v2\.4\.2\/zdm-proxy-linux-amd64-v2\.4\.2-sha256\.txt$/);
    assert.equal(releaseAsset('2.4.2', 'darwin', 'arm64').member, 'zdm-proxy-v2.4.2');
    assert.throws(() => releaseAsset('2.4.2', 'win32', 'x64'), /no zdm-proxy release archive is published for win32\/x64/);
  });

  test('a download whose SHA-256 differs from the published one is refused, nothing is cached, and every route is named', async () => {
    const mine = releaseAsset('2.4.2');
    const archive = await tgz({ 'zdm-proxy-v2.4.2': BINARY, LICENSE: 'Apache-2.0' });
    files = {
      [new URL(mine.archiveUrl).pathname]: archive,
      [new URL(mine.checksumUrl).pathname]: `${'0'.repeat(64)}\n`,
    };
    const lines: string[] = [];
    const error = await ensureZdmProxy((m) => lines.push(m)).then(
      () => assert.fail('a damaged archive was accepted'),
      (e: Error) => e,
    );
    assert.ok(error instanceof ArtifactUnavailableError);
    const [first, ...rest] = error.message.split('\n');
    assert.match(first!, /^zdm-proxy v2\.4\.2 could not be had: set ZDM_PROXY_SRC to a zdm-proxy v2\.4\.2 source tree \(git clone --branch v2\.4\.2 https:\/\/github\.com\/datastax\/zdm-proxy\) or ZDM_PROXY_BIN/);
    const tried = rest.join('\n');
    assert.match(tried, /1\. ZDM_PROXY_BIN: not set/);
    assert.match(tried, /3\. ZDM_PROXY_SRC: not set/);
    assert.match(tried, /4\. the release archive: .*zdm-proxy-linux-amd64-v2\.4\.2\.tgz has SHA-256 [0-9a-f]{64}, but .*-sha256\.txt says 0{64}/);
    assert.match(tried, /5\. go install: go is not installed/);
    assert.equal(findZdmProxy(), undefined, 'nothing was left in the cache');
    assert.ok(lines.some((l) => /downloading .*\.tgz/.test(l)), `progress was shown: ${lines.join(' | ')}`);
  });

  test('a release folder without the archive names the address that failed', async () => {
    files = {};
    const error = await ensureZdmProxy(() => {}).catch((e: Error) => e);
    assert.match(String((error as Error).message), /4\. the release archive: http:\/\/127\.0\.0\.1:\d+\/v2\.4\.2\/zdm-proxy-\w+-\w+-v2\.4\.2-sha256\.txt: HTTP 404/);
  });

  test('the published archive is unpacked into the cache, and the cache is used from then on', async () => {
    const mine = releaseAsset('2.4.2');
    const archive = await tgz({ LICENSE: 'Apache-2.0', 'zdm-proxy-v2.4.2': BINARY });
    files = {
      [new URL(mine.archiveUrl).pathname]: archive,
      [new URL(mine.checksumUrl).pathname]: `${createHash('sha256').update(archive).digest('hex')}\n`,
    };
    const got = await ensureZdmProxy(() => {});
    assert.match(got.route, /^the release archive http:.*zdm-proxy-\w+-\w+-v2\.4\.2\.tgz \(SHA-256 checked\)$/);
    assert.equal(readFileSync(got.path, 'utf8'), BINARY);
    assert.equal(statSync(got.path).mode & 0o777, 0o755);
    assert.ok(!existsSync(`${got.path}.partial.tgz`), 'the archive was removed');

    served.length = 0;
    const again = await ensureZdmProxy(() => {});
    assert.equal(again.path, got.path);
    assert.match(again.route, /^the cache \(the release archive .*\(SHA-256 checked\)\)$/);
    assert.deepEqual(served, [], 'nothing was downloaded the second time');
  });
});

describe('zdm-proxy from a variable the user set', () => {
  test('ZDM_PROXY_BIN that is not a file is refused with what to do, before the cache is looked at', () => {
    process.env.ZDM_PROXY_BIN = join(cache, 'no-such-proxy');
    try {
      assert.throws(() => findZdmProxy(), /^Error: ZDM_PROXY_BIN=.*no-such-proxy is not a file: point it at a zdm-proxy v2\.4\.2 binary, or unset it$/);
      writeFileSync(join(cache, 'my-proxy'), BINARY, { mode: 0o755 });
      process.env.ZDM_PROXY_BIN = join(cache, 'my-proxy');
      assert.deepEqual(findZdmProxy(), { path: join(cache, 'my-proxy'), route: `ZDM_PROXY_BIN=${join(cache, 'my-proxy')}` });
    } finally {
      delete process.env.ZDM_PROXY_BIN;
    }
  });

  test('ZDM_PROXY_SRC that is not a zdm-proxy source tree is refused at once, naming the folder', async () => {
    rmSync(join(cache, 'zdm-proxy-2.4.2'), { recursive: true, force: true });
    const notSource = mkdtempSync(join(tmpdir(), 'not-zdm-proxy-'));
    writeFileSync(join(notSource, 'go.mod'), 'module example.com/other\n\ngo 1.26\n');
    process.env.ZDM_PROXY_SRC = notSource;
    served.length = 0;
    try {
      await assert.rejects(ensureZdmProxy(() => {}), new RegExp(`^Error: ZDM_PROXY_SRC=${notSource}: its go.mod is not the module github.com/datastax/zdm-proxy; set ZDM_PROXY_SRC`));
      rmSync(join(notSource, 'go.mod'));
      await assert.rejects(ensureZdmProxy(() => {}), /ZDM_PROXY_SRC=.*: no go.mod there, so it is not a zdm-proxy source tree/);
      assert.deepEqual(served, [], 'no other route was tried behind the user’s back');
    } finally {
      delete process.env.ZDM_PROXY_SRC;
      rmSync(notSource, { recursive: true, force: true });
    }
  });
});
