/**
 * How a zdm-lab command ends (common/cli.ts): with its own exit code even
 * when what it waits on holds no reference in the event loop (an
 * unreferenced timer here; a fetch on a reset connection in real life),
 * and with one line and code 1 on an error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';

const cli = new URL('../../common/cli.ts', import.meta.url).pathname;

function run(body: string): { status: number | null; stderr: string } {
  const script = `import { runCommand } from ${JSON.stringify(cli)};\n${body}`;
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: out.status, stderr: out.stderr };
}

describe('runCommand', () => {
  test('waits for a command whose only pending work holds no reference', () => {
    const out = run('runCommand(() => new Promise((r) => setTimeout(() => r(7), 300).unref()));');
    assert.equal(out.status, 7, out.stderr);
  });

  test('an error is one line and exit code 1', () => {
    const out = run("runCommand(async () => { throw new Error('Origin does not answer'); });");
    assert.equal(out.status, 1);
    assert.equal(out.stderr, 'zdm-lab: Origin does not answer\n');
  });
});
