/**
 * Katapod's onLoadCommands run on every visit of their page while they have
 * runs left: `maxInvocations` a number or "unlimited", 1 when absent (the
 * first visit only). The fixture's intro runs one command on every visit and
 * one on the first two; step 1 runs its command once. Visits go through the
 * route the learner's page calls; what ran is read in the terminals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectTerminal, labFetch, startTestLab, type TestLab } from './lab-harness.js';

let t: TestLab;

const visit = async (page: string) => assert.equal((await labFetch(t.lab, '/api/env/1/visit', { method: 'POST', body: { page } })).status, 200);

/** How often `line` was printed in terminal `id` (the whole output kept for it). */
async function printed(id: string, line: string, atLeast: number): Promise<number> {
  const shell = await connectTerminal(t.lab, { terminal: id });
  const pattern = new RegExp(`^${line}\\r?$`, 'gm');
  try {
    await shell.waitFor(new RegExp(`(^${line}\\r?$[\\s\\S]*){${atLeast}}`, 'm'));
    await new Promise((r) => setTimeout(r, 300));
    return shell.output.match(pattern)?.length ?? 0;
  } finally {
    await shell.close();
  }
}

describe("Katapod's onLoadCommands and maxInvocations", () => {
  before(async () => {
    t = await startTestLab('katapod-onload');
  });
  after(() => t.dispose());

  test('unlimited runs on every visit, 2 on the first two, and the default on the first visit only', async () => {
    for (let i = 0; i < 3; i++) {
      await visit('intro');
      await visit('step1');
    }
    assert.equal(await printed('shell', 'on-every-visit', 3), 3);
    assert.equal(await printed('cqlsh', 'on-two-visits', 2), 2);
    assert.equal(await printed('shell', 'on-the-first-visit', 1), 1);
  });
});
