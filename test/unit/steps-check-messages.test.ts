/**
 * What the course's checks say when they fail: each message names a fix that
 * works for what the check found. The checks run as the lab runs them, with a
 * stand-in `zdm-lab` on the PATH (its cqlsh, proxy status and validate answer
 * from files) and a stand-in for the API and the proxies' HTTP endpoints.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

const checks = new URL('../../steps/checks/', import.meta.url).pathname;
const courseDir = new URL('../../steps', import.meta.url).pathname;
let dir: string;
let server: Server;
let url: string;

/** What the stand-in answers: the API's health, its answers to writes and reads, the proxies' metrics. */
const api = { health: '', write: 200, read: 200, metrics: '', last: '' };

function file(name: string, text: string): void {
  writeFileSync(join(dir, name), text);
}

/** A cluster's statuses of a user, as the stand-in's cqlsh returns them. */
function rows(cluster: string, user: string, statuses: string[]): void {
  file(`${cluster}.${user}`, statuses.join('\n'));
}

const readyProxies = (mode: string) => `NAME ADDRESS STATE PID UPTIME MODE\n${[1, 2, 3].map((i) => `proxy${i} 127.0.0.1:9042 up 1 1s ${mode}`).join('\n')}\n`;
const health = (mode: string, connected = true, error = '') => JSON.stringify({ mode, connected, contactPoints: [], ...(error ? { error } : {}) });
const metrics = (failedOnTarget: number, asyncFailed: number, readsOrigin = 5) =>
  [
    `zdm_proxy_request_duration_seconds_count{type="reads_origin"} ${readsOrigin}`,
    'zdm_proxy_request_duration_seconds_count{type="reads_target"} 0',
    'zdm_proxy_request_duration_seconds_count{type="writes"} 9',
    `zdm_proxy_failed_writes_total{failed_on="target"} ${failedOnTarget}`,
    `zdm_async_requests_failed_total{node="x"} ${asyncFailed}`,
  ].join('\n');

function check(page: string): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(checks, `${page}.sh`)], {
      cwd: dir,
      env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, FAKE_DIR: dir, FAKE_API: url, LAB_ENV: '7', LAB_ENV_DIR: dir, LAB_COURSE_DIR: courseDir },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.on('exit', (code) => resolve({ ok: code === 0, out: out.trim() }));
  });
}

async function fails(page: string, message: RegExp): Promise<void> {
  const { ok, out } = await check(page);
  assert.equal(ok, false, `${page} should fail, it said: ${out}`);
  assert.equal(out.split('\n').length, 1, `one line: ${out}`);
  assert.match(out, message);
}

describe('the checks say how to fix what they found', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zdm-messages-'));
    server = createServer((req, res) => {
      const send = (code: number, body: string) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (req.url === '/health') return send(200, api.health);
      if (req.url === '/health/readiness') return send(200, '{"OriginStatus":{},"TargetStatus":{},"Status":"UP"}');
      if (req.url === '/metrics') return send(200, api.metrics);
      if (req.url === '/last') return send(200, api.last);
      if (req.method === 'POST') {
        api.last = decodeURIComponent(req.url!.split('/').pop()!);
        return send(api.write, '{}');
      }
      send(api.read, '[]');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    const port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}`;
    mkdirSync(join(dir, 'bin'));
    // cqlsh's table: a header, a dashed line, one value a line, a blank line and the row count. A fresh
    // write of a check (user lab-check) is on the clusters listed in fresh-to.
    writeFileSync(
      join(dir, 'bin', 'zdm-lab'),
      `#!/usr/bin/env bash
F="$FAKE_DIR"
table() { echo; echo " status"; echo "--------"; [ -n "$1" ] && sed 's/^/ /' <<<"$1"; echo; echo "($(grep -c . <<<"$1") rows)"; }
case "$1" in
  env) printf "%s\\n" "ORIGIN_HOST='127.0.7.1'" "TARGET_HOST='127.0.7.2'" "CQL_PORT='9042'" "PROXY_HOSTS='127.0.0.1 127.0.0.1 127.0.0.1'" "METRICS_PORT='${port}'" "API_URL='$FAKE_API'" ;;
  proxy) cat "$F/proxy-status" ;;
  validate) cat "$F/validate"; exit 2 ;;
  cqlsh)
    case "$*" in
      "cqlsh proxy"*) exit 0 ;;
      *DESCRIBE*) cat "$F/describe" ;;
      *drill.notes*) table "$(cat "$F/drill-notes" 2>/dev/null)" ;;
      *"SELECT status"*)
        user=$(sed -E "s/.*user = '([^']*)'.*/\\1/" <<<"$*")
        found=$(cat "$F/$2.$user" 2>/dev/null)
        [ "$user" = lab-check ] && grep -qx "$2" "$F/fresh-to" 2>/dev/null && found=$(curl -s "$FAKE_API/last")
        table "$found" ;;
    esac ;;
esac
`,
    );
    chmodSync(join(dir, 'bin', 'zdm-lab'), 0o755);
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    Object.assign(api, { health: health('ZDM_PROXY'), write: 200, read: 200, metrics: metrics(0, 0), last: '' });
    for (const f of ['writer.log', 'drill.log', 'fresh-to', 'proxy-status', 'drill-notes', 'client-connection-mode']) rmSync(join(dir, f), { force: true });
  });

  test('step 2: a table that differs on Target gets the commands that make it again', async () => {
    file('describe', 'CREATE TABLE zdmapp.user_status (\n  user text, when timestamp, status text, PRIMARY KEY (user, when)\n);\n');
    await fails('step2', /does not match Origin's .*: drop it and create it again, with zdm-lab cqlsh target -e 'DROP TABLE zdmapp\.user_status' && zdm-lab cqlsh target -f "\$LAB_COURSE_DIR\/\.\.\/infra\/schema\/zdmapp\.cql"$/);
  });

  test("step 6: a switch that waits because the proxies refuse the API's login names the login to write; one that waits for the proxies says what to start", async () => {
    const waiting = (extra: object) => JSON.stringify({ mode: 'ORIGIN', connected: true, contactPoints: [], switchingTo: 'ZDM_PROXY', ...extra });
    api.health = waiting({ switchError: 'Provided username cassandra and/or password are incorrect', loginRefused: true });
    await fails('step6', /^✘ ZDM_PROXY refuses the API's login \(Provided username cassandra .*\): write the mode file again with the login ZDM_PROXY takes \(.*ZDM_PROXY and TARGET: \$TARGET_USERNAME and \$TARGET_PASSWORD\), as on this page$/);
    api.health = waiting({ switchError: 'connect ECONNREFUSED 127.0.7.11:9042' });
    await fails('step6', /^✘ the API is still connecting to ZDM_PROXY and serves requests from ORIGIN meanwhile \(connect ECONNREFUSED .*\): .*zdm-lab proxy deploy/);
  });

  test('step 4: proxies in another configuration get the config set and the rolling update', async () => {
    file('proxy-status', readyProxies('TARGET/PRIMARY_ONLY'));
    await fails('step4', /they run: TARGET\/PRIMARY_ONLY .*- set it back and restart them one at a time: zdm-lab proxy config set primary_cluster=ORIGIN read_mode=PRIMARY_ONLY && zdm-lab proxy rolling-update$/);
  });

  test('step 5: a proxy without metrics gets the command that starts or restarts it', async () => {
    api.metrics = '';
    await fails('step5', /does not answer on :\d+\/metrics: start the proxies that are down with zdm-lab proxy deploy/);
    api.metrics = 'go_goroutines 12';
    await fails('step5', /without the zdm_ request metrics: restart the proxies one at a time with zdm-lab proxy rolling-update$/);
  });

  test('step 7: validate that cannot run names what it needs and the command that brings it', async () => {
    file('validate', 'zdm-lab: Target does not answer on 127.0.7.2:9042\n');
    await fails('step7', /^✘ validate could not run \(zdm-lab: Target does not answer on 127\.0\.7\.2:9042\): it needs Origin and Target up \(zdm-lab infra status: zdm-lab infra up\)/);
  });

  test('the API: not answering, refusing a write, or not connected, each with what brings it back', async () => {
    api.health = health('TARGET');
    api.write = 503;
    await fails('step10', /^✘ the API refused a write \(HTTP 503\): its database is out of reach; start what is down \(zdm-lab infra status: zdm-lab infra up; zdm-lab proxy status: zdm-lab proxy deploy\), then check again$/);
    api.health = health('TARGET', false, 'All host(s) tried for query failed');
    await fails('step10', /^✘ the API is in TARGET mode but not connected \(All host\(s\) tried for query failed\): it connects by itself once TARGET answers; start what is down \(zdm-lab infra status: zdm-lab infra up\), then check again$/);
    api.health = '';
    await fails('step1', /^✘ the API does not answer on http:\/\/127\.0\.0\.1:\d+: start it in the api terminal with the api block of step 1 \(it writes the mode file first\)$/);
    file('client-connection-mode', 'TARGET\nusername=target_admin\npassword=x\n');
    await fails('step10', /^✘ the API does not answer on http:\/\/127\.0\.0\.1:\d+: start it in the api terminal with: CLIENT_CONNECTION_MODE_FILE="\$LAB_ENV_DIR\/client-connection-mode" tsx "\$LAB_COURSE_DIR\/\.\.\/sample-api\/server\.ts"$/);
  });

  test('step 10: a fresh write that still reaches Origin gets the mode file to write', async () => {
    api.health = health('TARGET');
    file('fresh-to', 'target\norigin\n');
    await fails('step10', /still reached Origin, so the API still goes through the proxies: write TARGET and Target's login into the mode file as on this page, and wait for 'now using TARGET' in the api terminal$/);
  });

  test('the drill: counters the restart of the proxies cleared get the way to fail the write again', async () => {
    file('drill.log', 'drill-1 200\ndrill-2 000\n');
    file('drill-notes', '1');
    await fails('drill', /is 0\): take the keyspace away from Target \(zdm-lab cqlsh target -e 'DROP KEYSPACE IF EXISTS drill'\), then run this page's blocks again from the one that creates it on Origin only$/);
  });

  test("a failed request in the loop's record: only a Reset cures it, and the message says how", async () => {
    file('drill.log', 'drill-1 200\ndrill-2 000\n');
    file('drill-notes', '1');
    api.metrics = metrics(1, 1);
    file('writer.log', 'phase3-1 200\nphase3-2 503\nphase3-3 200\n');
    await fails('drill', /^✘ 1 of the loop's requests failed, first: phase3-2 503 \(the client terminal shows when\)\. A failed request stays in the loop's record: only a Reset starts a clean record: the Reset button at the top of the page \(an instructor: zdm-lab env reset --env 7\) takes you back to the intro$/);
  });

  test('the rollback: writes missing on Origin cannot be copied back, only a Reset to the intro starts a clean proof', async () => {
    api.health = health('ORIGIN');
    file('proxy-status', readyProxies('ORIGIN/PRIMARY_ONLY'));
    file('fresh-to', 'origin\n');
    file('writer.log', 'phase4-1 200\nphase4-2 200\nrollback-1 200\n');
    rows('origin', 'eva', ['phase4-1', 'rollback-1']);
    api.metrics = metrics(0, 0, 3);
    await fails('rollback', /^✘ 1 of the loop's writes are not on Origin, e\.g\. phase4-2 - a rollback that loses writes is no rollback, and nothing copies them back to Origin: only a Reset to the intro starts a clean proof \(the Reset button at the top of the page\)$/);
  });
});
