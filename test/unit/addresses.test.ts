/**
 * The one address plan as the course's scripts read it: `zdm-lab env
 * --shell` prints variables that bash can eval, for the environment asked
 * for, and an environment outside the plan is refused in one line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { projectRoot } from '../../infra/paths.js';
import { addressVariables, topology } from '../../infra/topology.js';
import { zdmLab } from '../support/cli.js';

describe('zdm-lab env', () => {
  test('--shell gives bash every address of the environment', () => {
    const script = `eval "$(${join(projectRoot, 'bin', 'zdm-lab')} env --shell --env 7)"; echo "$ORIGIN_HOST|$TARGET_HOST|$PROXY_HOSTS|$METRICS_PORT|$API_URL|$PROMETHEUS_URL"`;
    const out = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout.trim(), '127.0.7.1|127.0.7.2|127.0.7.11 127.0.7.12 127.0.7.13|14001|http://127.0.7.20:8000|http://127.0.7.30:9090');
  });

  test('the variables are the topology the TypeScript side uses', () => {
    const topo = topology(3);
    const vars = addressVariables(topo);
    assert.equal(vars.ORIGIN_HOST, topo.origin.address);
    assert.deepEqual(vars.PROXY_HOSTS!.split(' '), topo.proxies.map((p) => p.address));
    assert.equal(vars.API_URL, `http://${topo.api.address}:${topo.api.port}`);
  });

  test('an environment outside the plan is refused in one line', async () => {
    const out = await zdmLab(['env', '--shell', '--env', '255']);
    assert.equal(out.code, 1);
    assert.equal(out.stderr.trim(), 'zdm-lab: environment must be a number from 1 to 254 (it owns 127.0.K.0/24), got 255');
    assert.equal(out.stdout, '');
  });
});
