/**
 * A fuzz suite against a real running lab server: 10,000 generated malformed
 * inputs from a fixed seed (so a failure replays), in batches of HTTP
 * requests (methods, paths, queries, headers, cookies, bodies), raw request
 * bytes, WebSocket upgrade requests and WebSocket frames of every packet
 * type. After every batch the server answers a normal request; no answer
 * ever carries a stack trace or a path of the server's; and the process's
 * memory stays within a fixed bound. Inputs use a learner's token or none,
 * never the instructor's, and leave out the reset and play routes, whose
 * real work would only slow the run; what a fuzzed terminal receives is
 * typed after a `#`, so the shell reads it as a comment.
 */
import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { cookieName } from '../../lab/server/access.js';
import { labFetch, startTestLab, type TestLab } from './lab-harness.js';

const SEED = 20261129;
const BATCH = 500;
/** How much the test process (which is the server) may grow over the whole run. */
const RSS_BOUND = 200 * 1024 * 1024;

let t: TestLab;
before(async () => {
  t = await startTestLab();
});
after(() => t.dispose());

/** mulberry32: a small seeded generator, so the same inputs come every run. */
function generator(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const SEGMENTS = ['api', 'env', '1', '2', '999', '-1', 'NaN', 'pages', 'intro', 'course', 'files', 'images', 'diagram.svg', 'progress', 'run', 'check', 'visit', 'monitoring', 'instructor', 'environments', 'ws', 'terminal', 'app.js', '..', '.', '%2e%2e', '%', '%zz', '%00', '%E0%A4%A', '\u00e9', '\u{1F600}', 'a'.repeat(300), '', ';', '?', '#', '\\', '//'] as const;
const STRINGS = ['', 'x', 'null', '{}', '[]', '"', '\\', '%', '%E0%A4%A', '\u0000', '\uFFFF', '\u{1F600}', 'a'.repeat(5000), '${x}', '<script>', "' OR 1=1", '../../etc/passwd'] as const;

function path(): string {
  const parts = Array.from({ length: 1 + int(5) }, () => pick(SEGMENTS));
  let p = `/${parts.join('/')}`;
  if (random() < 0.2) p = `/${p}`;
  if (random() < 0.4) p += `?${pick(['env', 'token', 'terminal', 'seq', 'x'])}=${encodeURIComponent(pick(STRINGS)).slice(0, 200)}`;
  return p;
}

function jsonish(depth = 0): unknown {
  switch (int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return pick([0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, NaN]);
    case 2:
      return pick(STRINGS);
    case 3:
      return random() < 0.5;
    case 4:
      return undefined;
    case 5:
      return Array.from({ length: int(4) }, () => jsonish(depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['block', 'page', 'to', 'name', 'env', 'cols', 'rows', 'chars', '__proto__', 'constructor']), jsonish(depth + 1)]));
  }
}

function body(): string | undefined {
  switch (int(4)) {
    case 0:
      return undefined;
    case 1:
      return JSON.stringify(jsonish()) ?? 'undefined';
    case 2:
      return pick(STRINGS);
    default:
      return (JSON.stringify(jsonish()) ?? "{").slice(0, int(20));
  }
}

function leaks(text: string): boolean {
  return /\n\s+at \S|\/work\/|node_modules|\.ts:\d+/.test(text);
}

/** The server is alive and answers a normal request. */
async function alive(): Promise<void> {
  const res = await labFetch(t.lab, '/api/course');
  assert.equal(res.status, 200, 'the server answers a normal request');
}

async function httpInput(found: string[]): Promise<void> {
  const headers: Record<string, string> = {};
  const who = int(3);
  if (who === 0) headers.cookie = `${cookieName(t.lab.port)}=${t.lab.token}`;
  if (who === 1) headers.cookie = `${cookieName(t.lab.port)}=${pick(STRINGS).replace(/[^\x21-\x7e]/g, '%')}`;
  if (random() < 0.3) headers.authorization = `Bearer ${random() < 0.5 ? t.lab.token : 'x'}`;
  if (random() < 0.5) headers.origin = pick([`http://127.0.0.1:${t.lab.port}`, 'http://evil.example', 'null', '']);
  if (random() < 0.6) headers['content-type'] = pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-7']);
  const method = pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
  const p = path();
  if (/\/(reset|play)(\/|\?|$)/.test(p)) return;
  const res = await fetch(`http://127.0.0.1:${t.lab.port}${p}`, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' ? undefined : body(),
    redirect: 'manual',
  }).catch((err: Error) => {
    // the client refused to send it (an invalid header, say): nothing reached the server
    if (err instanceof TypeError) return undefined;
    throw err;
  });
  if (!res) return;
  const text = await res.text();
  if (res.status >= 500 || leaks(text)) found.push(`${method} ${p} → ${res.status}: ${text.slice(0, 200)}`);
  const location = res.headers.get('location');
  if (location && !location.startsWith('/')) found.push(`${method} ${p} redirects to ${location}`);
  if (location?.startsWith('//')) found.push(`${method} ${p} redirects to ${location}`);
}

function rawInput(found: string[]): Promise<void> {
  const line = pick([
    `${pick(['GET', 'POST', 'XYZ', ''])} ${path()} HTTP/1.1`,
    `GET ${pick(SEGMENTS)} HTTP/1.1`,
    `GET / HTTP/${pick(['0.9', '2.0', 'x'])}`,
    pick(STRINGS),
  ]);
  const upgrade = random() < 0.5;
  const headers = [
    `Host: ${pick([`127.0.0.1:${t.lab.port}`, '', 'evil.example', '\u00e9'])}`,
    random() < 0.7 ? `Cookie: ${cookieName(t.lab.port)}=${random() < 0.5 ? t.lab.token : pick(STRINGS)}` : '',
    random() < 0.5 ? `Origin: http://127.0.0.1:${t.lab.port}` : '',
    upgrade ? 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' : '',
    random() < 0.3 ? `Content-Length: ${pick(['5', '-1', 'x', '99999999999'])}` : '',
  ].filter(Boolean);
  const request = `${line}\r\n${headers.join('\r\n')}\r\n\r\n${random() < 0.3 ? pick(STRINGS) : ''}`;
  return new Promise((resolve) => {
    // written and half-closed: the server answers and closes, as it would for a client that is done
    const socket = connect(t.lab.port, '127.0.0.1', () => socket.end(request));
    let answer = '';
    socket.on('data', (d) => {
      answer += d;
      // a WebSocket that opened: close it again
      if (answer.startsWith('HTTP/1.1 101')) socket.destroy();
    });
    const done = () => {
      if (leaks(answer) || /^HTTP\/1\.1 5\d\d/.test(answer)) found.push(`raw ${JSON.stringify(request.slice(0, 120))} → ${answer.slice(0, 200)}`);
      resolve();
    };
    socket.on('close', done);
    socket.on('error', () => socket.destroy());
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

function frame(): string | Buffer {
  const type = pick(['i', 'r', 'a', 'h', 'o', 'x', 'e', '?', '']);
  if (type === 'i') return `i# ${pick(STRINGS).replace(/[\x00-\x1f\x7f]/g, '')}`;
  if (random() < 0.1) return Buffer.from(Array.from({ length: int(32) }, () => int(256)));
  const args = random() < 0.8 ? JSON.stringify(jsonish()) ?? '' : pick(STRINGS);
  return type + args;
}

async function socketBatch(n: number, found: string[]): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${t.lab.port}/ws/terminal?env=1&terminal=shell&seq=0`, {
    headers: { cookie: `${cookieName(t.lab.port)}=${t.lab.token}` },
    origin: `http://127.0.0.1:${t.lab.port}`,
  });
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('e') && leaks(text)) found.push(`error packet leaks: ${text.slice(0, 200)}`);
  });
  await new Promise((ok, fail) => {
    ws.once('open', ok);
    ws.once('error', fail);
  });
  let sent = 0;
  while (sent < n) {
    if (ws.readyState !== WebSocket.OPEN) {
      // an ACK the server refused closes the connection: that is its answer, and a new one is opened
      return socketBatch(n - sent, found);
    }
    const f = frame();
    ws.send(f, { binary: typeof f !== 'string' });
    sent++;
    if (sent % 50 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  ws.close();
}

describe('the lab server under 10,000 malformed inputs', () => {
  it('answers every batch, leaks no stack trace, and keeps its memory bounded', { timeout: 600_000 }, async () => {
    const found: string[] = [];
    const rssAtStart = process.memoryUsage().rss;
    let peak = rssAtStart;
    const kinds = { http: 0, raw: 0, frames: 0 };
    for (let batch = 0; batch < 20; batch++) {
      const kind = (['http', 'raw', 'frames'] as const)[batch % 3]!;
      if (kind === 'http') for (let i = 0; i < BATCH; i += 10) await Promise.all(Array.from({ length: 10 }, () => httpInput(found)));
      if (kind === 'raw') for (let i = 0; i < BATCH; i += 10) await Promise.all(Array.from({ length: 10 }, () => rawInput(found)));
      if (kind === 'frames') await socketBatch(BATCH, found);
      kinds[kind] += BATCH;
      await alive();
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    console.log(`# fuzz: ${kinds.http} HTTP requests, ${kinds.raw} raw requests and upgrades, ${kinds.frames} WebSocket frames; RSS ${(rssAtStart / 1048576).toFixed(0)} MiB at start, ${(peak / 1048576).toFixed(0)} MiB at most`);
    assert.deepEqual(found.slice(0, 20), [], `${found.length} answers were errors or leaked`);
    assert.ok(peak - rssAtStart < RSS_BOUND, `RSS grew by ${((peak - rssAtStart) / 1048576).toFixed(0)} MiB`);
    assert.equal(kinds.http + kinds.raw + kinds.frames, 10_000);
  });
});
