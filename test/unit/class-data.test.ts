/**
 * Which class data archive a node is started with, without a real node: an
 * archive the cache holds and only its owner can change is used; one that
 * other accounts could write is not (it would let one learner put classes
 * into another's node); and an account that does not own the cache (a
 * learner's, when the lab isolates) never builds one, but starts its nodes
 * without it and says so once. Building the archive with a real training
 * node is exercised by `zdm-lab setup` before the integration suites.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';

const cache = mkdtempSync(join(tmpdir(), 'zdm-class-data-'));
process.env.ZDM_LAB_CACHE = cache;
delete process.env.ZDM_LAB_NODE_PROFILE;
const { archivePath, classDataOptions } = await import('../../infra/artifacts/class-data.js');

const artifact = { version: '5.0.9', libDir: join(cache, 'lib'), classpath: join(cache, 'lib', 'a.jar'), jammJar: join(cache, 'lib', 'jamm.jar') };

after(() => rmSync(cache, { recursive: true, force: true }));

function archive(mode: number): string {
  const path = archivePath(artifact);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileSync(path, 'archive');
  chmodSync(path, mode);
  return path;
}

describe('the class data archive of the nodes', () => {
  test('an archive only its owner can change is mapped by every node', async () => {
    const path = archive(0o644);
    const said: string[] = [];
    assert.deepEqual(await classDataOptions(artifact, (m) => said.push(m)), [`-XX:SharedArchiveFile=${path}`, '-Xshare:auto']);
    assert.deepEqual(said, []);
  });

  test('an archive other accounts could write is not used, and the learner is told what to do', async () => {
    const path = archive(0o666);
    const said: string[] = [];
    assert.deepEqual(await classDataOptions(artifact, (m) => said.push(m)), []);
    assert.equal(said.length, 1);
    assert.match(said[0]!, /writable by other accounts, so it is not used \(nodes start without it\); delete it and run zdm-lab setup/);
    rmSync(path);
  });

  test('an account that does not own the cache builds nothing: its nodes start without an archive, said once', { skip: process.getuid?.() !== 0 && 'needs root to give the cache to another account' }, async () => {
    chownSync(cache, 65534, 65534);
    try {
      const said: string[] = [];
      assert.deepEqual(await classDataOptions(artifact, (m) => said.push(m)), []);
      assert.deepEqual(said, [`no class data archive in ${join(cache, 'cds')} yet (zdm-lab setup, run by the cache's owner, builds it): nodes start without it`]);
    } finally {
      chownSync(cache, 0, 0);
    }
  });
});
