/**
 * The phase and the arrows of the live diagram, from what runs: the API's
 * mode and each running proxy's effective primary_cluster and read_mode.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deriveRouting, type ApiState, type ProxyState } from '../../infra/monitoring/phase.js';

const api = (mode: ApiState['mode'], running = true): ApiState => ({ mode, running, source: running ? 'api' : 'mode-file' });
const proxies = (...configs: (Pick<ProxyState, 'primaryCluster' | 'readMode'> | 'down')[]): ProxyState[] =>
  configs.map((c, i) => ({ name: `proxy-${i + 1}`, address: `127.0.7.${11 + i}`, ...(c === 'down' ? { up: false } : { up: true, ...c }) }));
const phase1 = { primaryCluster: 'ORIGIN', readMode: 'PRIMARY_ONLY' } as const;
const phase3 = { primaryCluster: 'ORIGIN', readMode: 'DUAL_ASYNC_ON_SECONDARY' } as const;
const phase4 = { primaryCluster: 'TARGET', readMode: 'PRIMARY_ONLY' } as const;

describe('the phase from the API mode and the proxies', () => {
  test('API on Origin is phase 0 even with proxies running', () => {
    const r = deriveRouting(api('ORIGIN'), proxies(phase1, phase1, phase1));
    assert.equal(r.phase, 0);
    assert.equal(r.apiTarget, 'origin');
    assert.equal(r.title, 'Phase 0: the API on Origin');
  });

  test('through proxies with ORIGIN / PRIMARY_ONLY: writes to both, reads from Origin, no async reads', () => {
    const r = deriveRouting(api('ZDM_PROXY'), proxies(phase1, phase1, phase1));
    assert.equal(r.phase, 1);
    assert.equal(r.apiTarget, 'proxies');
    for (const p of r.proxies) assert.deepEqual([p.writes, p.reads, p.asyncReads], [['origin', 'target'], 'origin', null]);
  });

  test('DUAL_ASYNC_ON_SECONDARY is phase 3: async reads go to Target', () => {
    const r = deriveRouting(api('ZDM_PROXY'), proxies(phase3, phase3, phase3));
    assert.equal(r.phase, 3);
    assert.deepEqual(r.proxies.map((p) => p.asyncReads), ['target', 'target', 'target']);
  });

  test('primary TARGET is phase 4: reads from Target, async reads (if kept) to Origin', () => {
    const r = deriveRouting(api('ZDM_PROXY'), proxies(phase4, { primaryCluster: 'TARGET', readMode: 'DUAL_ASYNC_ON_SECONDARY' }, phase4));
    assert.equal(r.phase, 4);
    assert.equal(r.mixed, true);
    assert.deepEqual(r.proxies.map((p) => [p.reads, p.asyncReads]), [['target', null], ['target', 'origin'], ['target', null]]);
  });

  test('API on Target is phase 5, also when only its mode file says so', () => {
    const r = deriveRouting(api('TARGET', false), proxies('down', 'down', 'down'));
    assert.equal(r.phase, 5);
    assert.equal(r.apiTarget, 'target');
  });

  test('a rolling update half done shows both phases and routes each proxy by its own configuration', () => {
    const r = deriveRouting(api('ZDM_PROXY'), proxies(phase4, phase3, phase3));
    assert.equal(r.phase, 3);
    assert.equal(r.title, 'Rolling update: phase 3 → 4');
    assert.match(r.detail, /^1 of 3 running proxies have the new configuration/);
    assert.deepEqual(r.proxies.map((p) => p.reads), ['target', 'origin', 'origin']);
  });

  test('a down proxy routes nothing; all down behind a proxied API is no phase', () => {
    const some = deriveRouting(api('ZDM_PROXY'), proxies(phase1, 'down', phase1));
    assert.equal(some.phase, 1);
    assert.deepEqual(some.proxies[1], { name: 'proxy-2', address: '127.0.7.12', up: false, primaryCluster: null, readMode: null, writes: [], reads: null, asyncReads: null });
    assert.match(some.detail, /1 of 3 proxies are down/);
    const none = deriveRouting(api('ZDM_PROXY'), proxies('down', 'down', 'down'));
    assert.equal(none.phase, null);
    assert.equal(none.title, 'The API points at the proxies, but none is up');
  });

  test('no API and no mode file: no phase yet', () => {
    assert.equal(deriveRouting({ running: false, source: 'unknown' }, proxies(phase1)).phase, null);
  });
});
