/**
 * The cluster DNS's CoreDNS is built with only the plugins its Corefile uses
 * (infra/kube/build.ts): a directive of the Corefile that the build leaves
 * out would stop CoreDNS at start ("unknown directive"), on a cluster whose
 * pods then resolve nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COREDNS_PLUGINS, corefile } from '../../infra/kube/dns.js';

/** The directives of a Corefile: the first word of each line at the server block's own depth. */
function directives(text: string): string[] {
  const found: string[] = [];
  let depth = 0;
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    if (depth === 1 && line !== '}') found.push(line.split(/\s+/)[0]!);
    depth += (line.match(/{/g) ?? []).length - (line.match(/}/g) ?? []).length;
  }
  return found;
}

test('the cluster DNS\'s Corefile uses exactly the plugins the build links', () => {
  assert.deepEqual(directives(corefile('10.213.0.1')).sort(), [...COREDNS_PLUGINS].sort());
});
