/**
 * Who gets in: every HTTP route and every terminal WebSocket needs this
 * start's token; the token URL becomes an HttpOnly cookie; a WebSocket or a
 * POST from another origin is refused; course files cannot be read outside
 * the course directory. Behind a proxy (a port-forward, an Ingress with
 * TLS) the lab's public address is what its links carry, and pages from
 * that origin are its own.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { connectTerminal, labFetch, startTestLab, type TestLab } from './lab-harness.js';

let t: TestLab;
before(async () => {
  t = await startTestLab();
});
after(() => t.dispose());

describe('lab access', () => {
  it('refuses every route without the token, and says how to get in', async () => {
    for (const path of ['/', '/app.js', '/api/course', '/api/pages/intro', '/course/files/images/diagram.svg', '/api/env/1/progress']) {
      const res = await labFetch(t.lab, path, { auth: false });
      assert.equal(res.status, 403, path);
      assert.match(String(res.body), /open the URL that `npm start` printed/);
    }
  });

  it('refuses a wrong token in the URL', async () => {
    const res = await labFetch(t.lab, '/?token=' + 'f'.repeat(48), { auth: false });
    assert.equal(res.status, 403);
  });

  it('turns the token URL into an HttpOnly SameSite=Strict cookie and a clean URL', async () => {
    const res = await fetch(t.lab.openUrl, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/');
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, new RegExp(`^lab_${t.lab.port}=${t.lab.token};`));
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const page = await fetch(t.lab.url, { headers: { cookie: cookie.split(';')[0]! } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Fixture course<\/title>/);
  });

  it('refuses a WebSocket upgrade without the cookie', async () => {
    await assert.rejects(connectTerminal(t.lab, { auth: false }), /upgrade refused: 403/);
  });

  it('refuses a WebSocket upgrade from a foreign Origin even with the cookie', async () => {
    await assert.rejects(connectTerminal(t.lab, { origin: 'http://evil.example' }), /upgrade refused: 403/);
    await assert.rejects(connectTerminal(t.lab, { origin: 'http://localhost:1' }), /upgrade refused: 403/);
  });

  it('accepts a WebSocket from the lab\'s own origin', async () => {
    const c = await connectTerminal(t.lab);
    assert.ok(c.session);
    await c.close();
  });

  it('refuses a POST from a foreign Origin', async () => {
    const res = await labFetch(t.lab, '/api/env/1/run', { method: 'POST', body: { block: 'intro:0' }, origin: 'http://evil.example' });
    assert.equal(res.status, 403);
  });

  it('serves course images but nothing outside the course directory', async () => {
    assert.equal((await labFetch(t.lab, '/course/files/images/diagram.svg')).status, 200);
    for (const path of ['/course/files/..%2fcourse-broken%2fcourse.json', '/course/files/%2e%2e/%2e%2e/package.json', '/course/files/.hidden']) {
      assert.equal((await labFetch(t.lab, path)).status, 404, path);
    }
  });
});

describe('a lab behind a proxy, with its public address', () => {
  let lab: LabServer;
  let dataDir: string;
  const publicUrl = 'https://lab.example.com/';
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'lab-e2e-'));
    lab = await startLab({ courseDir: resolve(import.meta.dirname, '../fixtures/course-basic'), port: 0, dataDir, publicUrl });
  });
  after(async () => {
    await lab.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints links, and hands out invitations, at the public address', async () => {
    assert.match(lab.openUrl, /^https:\/\/lab\.example\.com\/\?token=/);
    assert.match(lab.instructorUrl, /^https:\/\/lab\.example\.com\/instructor\?token=/);
    const created = await labFetch(lab, '/api/instructor/environments', { method: 'POST', body: { name: 'Ada' }, token: lab.instructorToken });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.inviteUrl, /^https:\/\/lab\.example\.com\/\?token=\w+&env=\d+$/);
    await labFetch(lab, `/api/instructor/environments/${created.body.env}`, { method: 'DELETE', token: lab.instructorToken });
  });

  it('marks the access cookie Secure when the token URL came to its https address through the proxy, and only then', async () => {
    const cookieFor = (host?: string) =>
      new Promise<string>((done, fail) => {
        const req = request(`${lab.url}?token=${lab.token}`, { headers: host ? { host } : {} }, (res) => {
          res.resume();
          done(String(res.headers['set-cookie'] ?? ''));
        });
        req.on('error', fail);
        req.end();
      });
    assert.match(await cookieFor('lab.example.com'), /; Secure/);
    assert.doesNotMatch(await cookieFor(), /Secure/, 'a port-forward to the lab itself is plain http');
  });

  it('takes pages of the public origin as its own, and still no other', async () => {
    const c = await connectTerminal(lab, { origin: 'https://lab.example.com' });
    assert.ok(c.session);
    await c.close();
    await assert.rejects(connectTerminal(lab, { origin: 'http://lab.example.com' }), /upgrade refused: 403/, 'the scheme is part of the origin');
    await assert.rejects(connectTerminal(lab, { origin: 'https://lab.example.com.evil.example' }), /upgrade refused: 403/);
    const own = await labFetch(lab, '/api/env/1/run', { method: 'POST', body: { block: 'intro:0' }, origin: 'https://lab.example.com' });
    assert.notEqual(own.status, 403, JSON.stringify(own.body));
    const foreign = await labFetch(lab, '/api/env/1/run', { method: 'POST', body: { block: 'intro:0' }, origin: 'https://evil.example' });
    assert.equal(foreign.status, 403);
  });
});
