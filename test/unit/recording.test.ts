/**
 * The asciicast recorder: a header then events in order, a marker when a new
 * shell starts in the same terminal, resizes as "r" events, and past its cap
 * the file is set aside as `.1.cast` and a new one (with its own header)
 * continues, so what is on disk stays bounded and the latest output is kept.
 * A flood is recorded up to 256 KiB a second, with a line saying what was left out.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Recorder } from '../../lab/terminals/recording.js';

const dir = mkdtempSync(join(tmpdir(), 'recording-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const read = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);

describe('the asciicast recorder', () => {
  it('writes a header, output, resizes and a marker for each new shell', async () => {
    const path = join(dir, 'shell.cast');
    const r = new Recorder(path, { cols: 100, rows: 30 });
    r.shellStarted(100, 30);
    r.output('hello\r\n');
    r.resize(120, 40);
    r.resize(120, 40);
    r.shellStarted(120, 40);
    r.output('again\r\n');
    await r.close();
    const [header, ...events] = read(path) as [Record<string, unknown>, ...[number, string, string][]];
    assert.equal(header.version, 2);
    assert.equal(header.width, 100);
    assert.equal(header.height, 30);
    assert.deepEqual(events.map((e) => [e[1], e[2]]), [['o', 'hello\r\n'], ['r', '120x40'], ['m', 'new shell'], ['o', 'again\r\n']]);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('past its cap, sets the file aside and goes on in a new one', async () => {
    const path = join(dir, 'flood.cast');
    const r = new Recorder(path, { cols: 80, rows: 24 }, 10_000);
    r.shellStarted(80, 24);
    for (let i = 0; i < 300; i++) r.output(`line ${i} ${'x'.repeat(60)}\r\n`);
    await r.close();
    const earlier = join(dir, 'flood.1.cast');
    assert.equal(r.info.earlierPart, earlier);
    assert.ok(statSync(path).size < 12_000 && statSync(earlier).size < 12_000, 'each part stays near the cap');
    const [header, marker, ...rest] = read(path) as [Record<string, unknown>, [number, string, string], ...[number, string, string][]];
    assert.equal(header.version, 2);
    assert.deepEqual([marker[1], marker[2]], ['m', 'continued: the earlier part is in the .1.cast file']);
    assert.match(rest.at(-1)![2], /^line 299 /, 'the latest output is in the current part');
  });

  it('records a flood up to its rate and says how much it left out', async () => {
    const path = join(dir, 'yes.cast');
    const r = new Recorder(path, { cols: 80, rows: 24 });
    r.shellStarted(80, 24);
    const chunk = 'y\r\n'.repeat(1024);
    for (let i = 0; i < 256; i++) r.output(chunk); // 768 KiB at once
    await r.close();
    const events = read(path).slice(1) as [number, string, string][];
    const recorded = events.filter((e) => e[1] === 'o').map((e) => e[2]);
    assert.equal(recorded.filter((t) => t === chunk).length, 85, 'a quarter of the flood (256 KiB in 3 KiB chunks) is recorded');
    assert.match(recorded.at(-1)!, /\[recording: 513 KiB of output in a flood left out\]/);
  });
});
