/**
 * Requests that used to stop the lab server or slip past it, each sent to a
 * real running server: an upgrade whose path the URL parser rejects, an
 * upgrade with a cookie that is not valid percent-encoding, terminal packets
 * with null or mistyped arguments, an acknowledgement of more output than was
 * sent, a `//host` path, a malformed JSON body, a state-changing request
 * without Origin. After each the server still answers a normal request, and
 * no answer carries a stack trace or a path of the server's. Every page
 * carries the security headers.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { cookieName } from '../../lab/server/access.js';
import { startLab } from '../../lab/server/app.js';
import { decode, encode, Packet, type AnyPacket } from '../../lab/terminals/protocol.js';
import { fixtures, labFetch, startTestLab, type TestLab } from './lab-harness.js';

const root = new URL('../..', import.meta.url).pathname;
let t: TestLab;
before(async () => {
  t = await startTestLab();
});
after(() => t.dispose());

/** The server is alive and serves a normal request. */
async function alive(): Promise<void> {
  const res = await labFetch(t.lab, '/api/course');
  assert.equal(res.status, 200, 'the server still answers');
}

/** Sends raw bytes and returns what the server answered before closing (or after a second). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(t.lab.port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    setTimeout(() => socket.destroy(), 1000);
  });
}

function upgrade(path: string, cookie: string): Promise<string> {
  return raw(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${t.lab.port}\r\nOrigin: http://127.0.0.1:${t.lab.port}\r\nCookie: ${cookie}\r\n` +
      'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
}

/** A terminal socket that keeps every packet the server sends. */
async function terminal(): Promise<{ ws: WebSocket; packets: AnyPacket[]; closed: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${t.lab.port}/ws/terminal?env=1&terminal=shell&seq=0`, {
    headers: { cookie: `${cookieName(t.lab.port)}=${t.lab.token}` },
    origin: `http://127.0.0.1:${t.lab.port}`,
  });
  const packets: AnyPacket[] = [];
  ws.on('message', (data) => packets.push(decode(data.toString())));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  return { ws, packets, closed };
}

async function errorPacket(packets: AnyPacket[], from: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const e = packets.slice(from).find((p) => p.type === Packet.ERROR);
    if (e) return (e.args as { message: string }).message;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no error packet came');
}

function noLeak(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |\/work\/|node_modules|\.ts:\d+/, `no stack trace or server path in: ${text.slice(0, 300)}`);
}

describe('the lab server survives malformed input', () => {
  it('an upgrade to a path the URL parser rejects is refused, and the server lives', async () => {
    const answer = await upgrade('//[', `${cookieName(t.lab.port)}=${t.lab.token}`);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    noLeak(answer);
    await alive();
  });

  it('an upgrade with a cookie that is not valid percent-encoding is refused, and the server lives', async () => {
    const answer = await upgrade('/ws/terminal?env=1&terminal=shell', `${cookieName(t.lab.port)}=%E0%A4%A`);
    assert.match(answer, /^HTTP\/1\.1 403 /);
    await alive();
  });

  it('terminal packets with null, missing or mistyped arguments get an error packet naming the problem', async () => {
    const term = await terminal();
    for (const [frame, problem] of [
      ['rnull', /packet "r": its arguments: /],
      ['r{"cols":"wide","rows":10}', /packet "r": cols: /],
      ['a{}', /packet "a": chars: /],
      ['a{"chars":-5}', /packet "a": chars: /],
      ['r{not json', /packet "r" does not hold JSON arguments/],
      ['h{"session":"x"}', /a client may not send packet "h"/],
      ['?', /unknown packet type/],
    ] as const) {
      const from = term.packets.length;
      term.ws.send(frame);
      assert.match(await errorPacket(term.packets, from), problem, frame);
    }
    term.ws.send(Buffer.from([0, 1, 2]), { binary: true });
    assert.equal(term.ws.readyState, WebSocket.OPEN, 'the connection stays open after refused packets');
    term.ws.send(encode({ type: Packet.INPUT, args: { data: 'echo still-here\r' } }));
    for (let i = 0; i < 200 && !term.packets.some((p) => p.type === Packet.OUTPUT && /still-here\r?\n/.test(p.args.data)); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(term.packets.some((p) => p.type === Packet.OUTPUT && /still-here/.test(p.args.data)), 'the shell still answers');
    term.ws.close();
    await alive();
  });

  it('a client acknowledging more output than it was sent is disconnected', async () => {
    const term = await terminal();
    term.ws.send(encode({ type: Packet.ACK, args: { chars: 1e12 } }));
    assert.equal(await term.closed, 1008);
    await alive();
  });

  it('a //host path with a valid token is refused instead of redirected to another site', async () => {
    const res = await labFetch(t.lab, `//evil.example/?token=${t.lab.token}`, { auth: false });
    assert.equal(res.status, 400);
    assert.equal(res.location, null);
    const backslash = await labFetch(t.lab, `/\\evil.example/?token=${t.lab.token}`, { auth: false });
    assert.equal(backslash.status, 400);
  });

  it('a malformed JSON body gets a JSON error without a stack trace', async () => {
    const res = await fetch(`http://127.0.0.1:${t.lab.port}/api/env/1/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.lab.token}`, 'content-type': 'application/json' },
      body: '{"block": ',
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const text = await res.text();
    noLeak(text);
    assert.deepEqual(JSON.parse(text), { error: 'the request body is not valid JSON' });
    await alive();
  });

  it('an unknown path gets a JSON 404', async () => {
    const res = await labFetch(t.lab, '/no/such/thing');
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { error: 'nothing here: GET /no/such/thing' });
  });

  it('a state-changing request with the cookie but without Origin is refused; with the page’s Origin it passes', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${t.lab.port}/api/env/1/visit`, {
        method: 'POST',
        headers: { cookie: `${cookieName(t.lab.port)}=${t.lab.token}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ page: 'intro' }),
      });
    const bare = await post({});
    assert.equal(bare.status, 403);
    assert.match((await bare.json()).error, /needs the Origin header a browser sends/);
    assert.equal((await post({ origin: `http://127.0.0.1:${t.lab.port}` })).status, 200);
    assert.equal((await post({ origin: 'http://evil.example' })).status, 403);
  });

  it('course files: images are served; course.json, pages and scripts are not, nor a symbolic link out of the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-hardening-course-'));
    cpSync(join(fixtures, 'course-basic'), dir, { recursive: true });
    writeFileSync(join(dir, 'check.sh'), 'echo secret\n');
    symlinkSync('/etc/hostname', join(dir, 'images', 'outside.svg'));
    const other = await startTestLab(dir);
    try {
      const get = (path: string) => labFetch(other.lab, `/course/files/${path}`);
      assert.equal((await get('images/diagram.svg')).status, 200);
      for (const path of ['course.json', 'intro.md', 'check.sh', 'images/outside.svg']) assert.equal((await get(path)).status, 404, path);
    } finally {
      await other.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('over TLS the access cookie is Secure and the lab’s own Origin is https', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-tls-'));
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const lab = await startLab({ courseDir: join(fixtures, 'course-basic'), port: 0, dataDir: dir, tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
    const ca = readFileSync(join(dir, 'cert.pem'));
    const call = (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
        const req = httpsRequest(`https://127.0.0.1:${lab.port}${path}`, { method: init.method ?? 'GET', headers: init.headers, ca }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end(init.body);
      });
    try {
      assert.match(lab.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      const opened = await call(`/?token=${lab.token}`);
      assert.equal(opened.status, 302);
      assert.match(String(opened.headers['set-cookie']), /; Secure/);
      const post = (origin: string) =>
        call('/api/env/1/visit', {
          method: 'POST',
          headers: { cookie: `${cookieName(lab.port)}=${lab.token}`, origin, 'content-type': 'application/json' },
          body: JSON.stringify({ page: 'intro' }),
        });
      assert.equal((await post(`https://127.0.0.1:${lab.port}`)).status, 200);
      assert.equal((await post(`http://127.0.0.1:${lab.port}`)).status, 403);
    } finally {
      await lab.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm start on an address beyond loopback warns that it hands out shells, and that tokens travel in clear text', () => {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: the warning comes first, then the bind fails
    const data = mkdtempSync(join(tmpdir(), 'lab-host-'));
    const out = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'lab/cli/start.ts'), '--host', '192.0.2.1', '--port', '0', '--env', 'none', '--course', join(fixtures, 'course-basic'), '--data', data], { encoding: 'utf8', timeout: 60_000 });
    rmSync(data, { recursive: true, force: true });
    assert.match(out.stderr, /^warning: --host 192\.0\.2\.1 lets every machine that reaches this one ask for the lab's shells; only a token stands in the way, and without --tls-cert\/--tls-key that token travels in clear text/m);
    assert.notEqual(out.status, 0);
  });

  it('every page carries the security headers', async () => {
    for (const path of ['/', '/app.js', '/api/course']) {
      const res = await fetch(`http://127.0.0.1:${t.lab.port}${path}`, { headers: { cookie: `${cookieName(t.lab.port)}=${t.lab.token}` } });
      assert.equal(res.status, 200, path);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
    }
  });
});
