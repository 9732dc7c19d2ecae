/**
 * The Docker gateway's own rules, before any daemon is asked: who may talk to
 * it (a token of one environment, from a program, to its loopback address),
 * and what malformed or hostile requests get — a clear refusal, after which
 * the gateway still answers. Here the daemon's socket is a path where nothing
 * listens, so whatever would be forwarded answers 502; the forwarding itself
 * is proved against a real daemon in test/e2e/docker-gateway.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { DockerGateway } from '../../lab/environments/docker-gateway.js';

const folder = mkdtempSync(join(tmpdir(), 'docker-gateway-'));
const gateway = new DockerGateway({ key: randomBytes(32), socketPath: join(folder, 'no-daemon.sock') });

/** One request as a Docker client (or anything else) could send it, every header under the caller's control. */
function ask(path: string, init: { method?: string; body?: string; headers?: Record<string, string>; token?: string | null } = {}): Promise<{ status: number; message: string }> {
  const { token = gateway.tokenOf(5), method = 'GET', body, headers = {} } = init;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: gateway.listeningPort,
        method,
        path,
        headers: { ...(token === null ? {} : { Authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let message = text;
          try {
            message = (JSON.parse(text) as { message: string }).message;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, message });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe("the Docker gateway's rules", () => {
  before(async () => {
    await gateway.listen();
  });
  after(async () => {
    await gateway.close();
    rmSync(folder, { recursive: true, force: true });
  });

  test('an environment gets its own variables: the gateway as DOCKER_HOST and a token naming it', () => {
    const vars = gateway.variables(5);
    assert.equal(vars.DOCKER_HOST, `tcp://127.0.0.1:${gateway.listeningPort}`);
    assert.match(vars.ZDM_LAB_DOCKER_TOKEN!, /^5\.[A-Za-z0-9_-]{43}$/);
    assert.notEqual(gateway.tokenOf(6).split('.')[1], vars.ZDM_LAB_DOCKER_TOKEN!.split('.')[1]);
  });

  test('no token, a forged one, another token relabelled, a web page or another host name are turned away', async () => {
    assert.equal((await ask('/_ping', { token: null })).status, 401);
    assert.equal((await ask('/_ping', { token: '5.' + 'A'.repeat(43) })).status, 401);
    assert.equal((await ask('/_ping', { token: `6.${gateway.tokenOf(5).split('.')[1]}` })).status, 401);
    const page = await ask('/_ping', { headers: { Origin: 'http://evil.example' } });
    assert.deepEqual(page, { status: 403, message: "the lab's Docker gateway does not answer web pages" });
    const rebound = await ask('/_ping', { headers: { Host: `evil.example:${gateway.listeningPort}` } });
    assert.equal(rebound.status, 403);
  });

  test('malformed and oversized requests get a clear refusal, and the gateway goes on answering', async () => {
    const create = (body: string) => ask('/v1.41/containers/create?name=zdm-lab-5-origin', { method: 'POST', body });
    assert.deepEqual(await create('{not json'), { status: 400, message: 'container: the body is not JSON' });
    assert.deepEqual(await create('[1,2]'), { status: 400, message: 'container: the body must be a JSON object' });
    assert.deepEqual(await create(JSON.stringify({ Image: 'x', HostConfig: 'privileged' })), { status: 400, message: 'HostConfig must be an object' });
    assert.deepEqual(await create(JSON.stringify({ Image: 'x'.repeat(2 * 1024 * 1024) })), { status: 413, message: 'the body is larger than 1 MiB' });
    assert.deepEqual(await ask('/containers/json?filters=%7Bnope'), { status: 400, message: 'filters is not JSON' });
    assert.equal((await ask('/exec/not-an-id/start', { method: 'POST' })).status, 403);
    assert.equal((await ask('/containers/..%2F..%2Fetc/json')).status, 403);
    const ping = await ask('/_ping');
    assert.equal(ping.status, 502);
    assert.match(ping.message, /the Docker daemon did not answer/);
  });

  test('a container with anything of the host is refused before the daemon is asked', async () => {
    const create = (name: string, spec: unknown) => ask(`/containers/create?name=${name}`, { method: 'POST', body: JSON.stringify(spec) });
    assert.deepEqual(await create('zdm-lab-5-x', { Image: 'i', HostConfig: { CapAdd: ['SYS_ADMIN'] } }), {
      status: 403,
      message: 'HostConfig.CapAdd is not allowed to an environment of the lab (allowed: NetworkMode, PortBindings, Mounts, Memory, NanoCpus, PidsLimit)',
    });
    assert.equal((await create('zdm-lab-5-x', { Image: 'i', HostConfig: { Devices: [{ PathOnHost: '/dev/sda' }] } })).status, 403);
    assert.equal((await create('zdm-lab-5-x', { Image: 'i', User: 'root', Entrypoint: ['sh'] })).status, 403);
    assert.equal((await create('zdm-lab-50-x', { Image: 'i' })).status, 403, 'environment 50 is not environment 5, though its name starts alike');
    assert.equal((await create('zdm-lab-5-x', { Image: 'i', NetworkingConfig: { EndpointsConfig: { bridge: {} } } })).status, 403);
    assert.equal((await ask('/networks/create', { method: 'POST', body: JSON.stringify({ Name: 'zdm-lab-5', Options: { 'com.docker.network.bridge.name': 'eth0' } }) })).status, 403);
  });
});
