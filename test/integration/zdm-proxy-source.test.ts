/**
 * The ZDM_PROXY_SRC route on a real zdm-proxy source tree (the one CI points
 * at): `zdm-lab setup`'s build puts a working v2.4.2 proxy into a fresh
 * cache, says so, and leaves the source tree exactly as it was, since it may
 * be read-only and is not the lab's to change. `zdm-lab proxy version` then
 * tells which binary is in use and where it came from.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { ensureZdmProxy } from '../../infra/artifacts/zdm-proxy.js';
import { zdmLab } from '../support/cli.js';
import { required } from '../support/requirement.js';

const src = process.env.ZDM_PROXY_SRC;
const skip = required('ZDM_PROXY_SRC', src ? undefined : 'ZDM_PROXY_SRC is not set (CI sets it to ../shared/vendor/zdm-proxy-2.4.2)');
const cache = mkdtempSync(join(tmpdir(), 'zdm-proxy-source-'));

/** Every path of the tree with its size and modification time. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: false })
    .map(String)
    .sort()
    .map((p) => {
      const st = statSync(join(dir, p));
      return `${p} ${st.size} ${st.mtimeMs}`;
    });
}

describe('zdm-proxy built from ZDM_PROXY_SRC', { skip, timeout: 600_000 }, () => {
  after(() => rmSync(cache, { recursive: true, force: true }));

  test('go build ./proxy into the cache gives a working proxy and leaves the source tree untouched', async () => {
    const before = snapshot(resolve(src!));
    const env = { ZDM_LAB_CACHE: cache, ZDM_PROXY_BIN: '' };
    const lines: string[] = [];
    // the function zdm-lab setup calls, in a process of its own with the fresh cache
    const built = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
      const { ensureZdmProxy } = await import(${JSON.stringify(new URL('../../infra/artifacts/zdm-proxy.ts', import.meta.url).pathname)});
      const bin = await ensureZdmProxy((m) => console.error(m));
      console.log(JSON.stringify(bin));`], { env: { ...process.env, ...env }, encoding: 'utf8' });
    lines.push(...built.stderr.trim().split('\n'));
    assert.equal(built.status, 0, built.stderr);
    const bin = JSON.parse(built.stdout) as Awaited<ReturnType<typeof ensureZdmProxy>>;
    assert.equal(bin.path, join(cache, 'zdm-proxy-2.4.2', 'bin', 'proxy'));
    assert.equal(bin.route, `built with go build from ZDM_PROXY_SRC=${resolve(src!)}`);
    assert.ok(lines.some((l) => /building zdm-proxy v2\.4\.2 from .* with go build/.test(l)), lines.join('\n'));
    assert.deepEqual(snapshot(resolve(src!)), before, 'nothing in the source tree was written');

    const version = spawnSync(bin.path, ['-version'], { encoding: 'utf8' });
    assert.equal(version.stdout.trim(), 'ZDM proxy version 2.4.1', 'the v2.4.2 tag reports itself as 2.4.1');

    const shown = await zdmLab(['proxy', 'version'], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^zdm-proxy v2\.4\.2: .*\/zdm-proxy-2\.4\.2\/bin\/proxy$/m);
    assert.match(shown.stdout, /^ {2}from: {4}the cache \(built with go build from ZDM_PROXY_SRC=.*\)$/m);
    assert.match(shown.stdout, /^ {2}sha256: {2}[0-9a-f]{64}$/m);
    assert.match(shown.stdout, /^ {2}reports: ZDM proxy version 2\.4\.1 \(the v2\.4\.2 tag still carries 2\.4\.1 as its version string\)$/m);
  });
});
