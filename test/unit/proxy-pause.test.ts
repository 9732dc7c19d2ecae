/**
 * The pause between proxies of a rolling update when none is given: the
 * automation's 10 s, or ZDM_LAB_PROXY_PAUSE seconds; a value that is not a
 * number of seconds is refused with the variable named.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { defaultPauseMs } from '../../infra/commands/proxy.js';

test('the default pause is 10 s, ZDM_LAB_PROXY_PAUSE changes it, and a bad value is named', () => {
  assert.equal(defaultPauseMs({}), 10_000);
  assert.equal(defaultPauseMs({ ZDM_LAB_PROXY_PAUSE: '' }), 10_000);
  assert.equal(defaultPauseMs({ ZDM_LAB_PROXY_PAUSE: '5' }), 5_000);
  assert.equal(defaultPauseMs({ ZDM_LAB_PROXY_PAUSE: '0.5' }), 500);
  assert.throws(() => defaultPauseMs({ ZDM_LAB_PROXY_PAUSE: 'ten' }), /^Error: ZDM_LAB_PROXY_PAUSE=ten is not a number of seconds \(0 or more\)$/);
  assert.throws(() => defaultPauseMs({ ZDM_LAB_PROXY_PAUSE: '-1' }), /ZDM_LAB_PROXY_PAUSE=-1/);
});
