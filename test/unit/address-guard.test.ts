/**
 * The address guard reads the kernel's socket tables as /proc/net prints
 * them and tells a learner's server on their own addresses from one on
 * another environment's, or on every address.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AddressGuard, boundSockets, decodeAddress, trespass } from '../../lab/environments/address-guard.js';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (local: string, state: string, uid: number, inode: number) => `   0: ${local} 00000000:0000 ${state} 00000000:00000000 00:00000000 00000000 ${uid} 0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

const procNet = mkdtempSync(join(tmpdir(), 'proc-net-'));
writeFileSync(
  join(procNet, 'tcp'),
  HEADER +
    row('3207007F:1F90', '0A', 2001, 11) + // 127.0.7.50:8080, listening, environment 7's account
    row('3208007F:1F90', '0A', 2001, 12) + // 127.0.8.50:8080: environment 8's block
    row('00000000:1F91', '0A', 2001, 13) + // 0.0.0.0:8081: every address
    row('3208007F:D431', '01', 2001, 14) + // an established connection from 127.0.8.50: not a bound server
    row('3208007F:1F90', '0A', 0, 15), // root's (the lab's): not judged
);
writeFileSync(join(procNet, 'udp6'), HEADER + row('00000000000000000000000000000000:1F92', '07', 2001, 16));

describe('the address guard', () => {
  after(() => rmSync(procNet, { recursive: true, force: true }));

  test('decodes addresses as /proc/net prints them', () => {
    assert.equal(decodeAddress('0100007F'), '127.0.0.1');
    assert.equal(decodeAddress('3207007F'), '127.0.7.50');
    assert.equal(decodeAddress('00000000000000000000000000000000'), '::');
    assert.equal(decodeAddress('0000000000000000FFFF00000100007F'), '127.0.0.1');
    assert.equal(decodeAddress('00000000000000000000000001000000'), '0:0:0:0:0:0:0:1');
  });

  test('finds listening TCP and bound UDP sockets with their owner', () => {
    assert.deepEqual(
      boundSockets(procNet).map((s) => `${s.proto} ${s.address}:${s.port} uid ${s.uid}`),
      ['tcp 127.0.7.50:8080 uid 2001', 'tcp 127.0.8.50:8080 uid 2001', 'tcp 0.0.0.0:8081 uid 2001', 'tcp 127.0.8.50:8080 uid 0', 'udp :::8082 uid 2001'],
    );
  });

  test("a server on the learner's own block or on 127.0.0.1 is theirs; another block's address or every address is not", () => {
    const at = (address: string, port = 8080) => trespass({ proto: 'tcp', address, port, uid: 2001, inode: 1 }, 7);
    assert.equal(at('127.0.7.50'), undefined);
    assert.equal(at('127.0.0.1'), undefined);
    assert.equal(at('127.0.8.50'), 'listens on 127.0.8.50:8080, an address of environment 8: bind 127.0.7.x instead');
    assert.equal(at('0.0.0.0', 8081), 'listens on every address (tcp port 8081), which takes that port from every environment: bind 127.0.7.x instead');
    assert.match(at('::', 8082)!, /listens on every address/);
  });

  test("a sweep names each trespassing socket of an environment's account, and leaves the lab's own", () => {
    const lines: string[] = [];
    const guard = new AddressGuard(() => new Map([[2001, 7]]), (line) => lines.push(line));
    const evicted = guard.sweep(procNet);
    assert.deepEqual(evicted.map((e) => e.why.split(',')[0]), ['listens on 127.0.8.50:8080', 'listens on every address (tcp port 8081)', 'listens on every address (udp port 8082)']);
    assert.ok(lines.every((l) => l.startsWith('environment 7: stopped process')), lines.join('\n'));
  });
});
