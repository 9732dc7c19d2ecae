/**
 * The capacity figures of the instructor console (lab/instructor/capacity.ts):
 * memory per environment from the highest measured peak when there is one,
 * else as declared; CPU room from the cores not busy (keeping a fifth of the
 * host) over what one environment uses on average; which runs out first;
 * the one line the console shows; and /proc/stat read as busy and total.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { capacity, describeCapacity, readHostCpu } from '../../lab/instructor/capacity.js';

const GIB = 1024 ** 3;
const host = { totalBytes: 24 * GIB, availableBytes: 20 * GIB };

describe('capacity by memory and by CPU', () => {
  test('nothing measured: the declared memory, CPU not measured yet', () => {
    const c = capacity(2 * GIB, 1, host, undefined, 2);
    assert.equal(c.room, 9, '20 GiB / 2 GiB, less the one still starting');
    assert.equal(c.memoryFrom, 'declared');
    assert.equal(c.cpu.room, null);
    assert.equal(c.binding, 'memory');
    assert.equal(describeCapacity(c), 'room for 9 more by memory (20.0 GiB of 24.0 GiB free, about 2.0 GiB each, as the course declares); CPU not measured yet (2 cores)');
  });

  test('measured: the highest peak is the memory of one, the mean CPU its share, and CPU runs out first', () => {
    const c = capacity(2 * GIB, 0, host, { peaks: [0.8 * GIB, 1 * GIB], cpus: [0.1, 0.3], busyCores: 0.6 }, 2);
    assert.equal(c.bytesPerEnvironment, GIB);
    assert.equal(c.room, 20);
    // (2 cores × 0.8 − 0.6 busy) / 0.2 each = 5
    assert.equal(c.cpu.room, 5);
    assert.equal(c.binding, 'cpu');
    assert.equal(
      describeCapacity(c),
      'room for 20 more by memory (20.0 GiB of 24.0 GiB free, 1.0 GiB each at most, measured over 2); 5 more by CPU (0.6 of 2 cores busy, 0.20 cores each on average over 2): CPU runs out first',
    );
  });

  test('a host already busier than its share has no CPU room, and an idle environment does not make the room endless in a way that hides memory', () => {
    assert.equal(capacity(GIB, 0, host, { peaks: [], cpus: [0.5], busyCores: 1.9 }, 2).cpu.room, 0);
    const idle = capacity(GIB, 0, host, { peaks: [], cpus: [0], busyCores: 0.1 }, 2);
    assert.equal(idle.binding, 'memory');
    assert.equal(idle.room, 20);
  });

  test('/proc/stat: busy is every tick but idle and iowait', () => {
    const dir = mkdtempSync(join(tmpdir(), 'proc-stat-'));
    try {
      writeFileSync(join(dir, 'stat'), 'cpu  100 5 50 800 40 0 5 0 0 0\ncpu0 50 2 25 400 20 0 2 0 0 0\n');
      assert.deepEqual(readHostCpu(join(dir, 'stat')), { busy: 160, total: 1000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
