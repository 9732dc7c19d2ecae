/**
 * The bundled exec client (infra/kube/exec-client.ts): one file that
 * Node.js runs alone, without tsx or the project's packages beside it, which
 * answers as exec-shell.ts does; kept with the list of what it was made
 * from, and handed out again without being made again while that holds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { execClient } from '../../infra/kube/exec-client.js';

const away = mkdtempSync(join(tmpdir(), 'exec-client-'));
after(() => rmSync(away, { recursive: true, force: true }));

describe('the bundled exec client', () => {
  test('runs under Node.js alone, far from the project, and says how it is used', () => {
    // A copy in a folder with no node_modules anywhere above it: everything it needs is in the file.
    const copy = join(away, 'exec-shell.mjs');
    copyFileSync(execClient(), copy);
    const run = spawnSync(process.execPath, [copy], { cwd: away, encoding: 'utf8' });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /usage: exec-shell\.ts \[--announce TEXT \| --input\] NAMESPACE POD CONTAINER/);
    // --input takes the command's input from this one's: it needs a command to read it.
    const noCommand = spawnSync(process.execPath, [copy, '--input', 'ns', 'pod', 'container'], { cwd: away, encoding: 'utf8' });
    assert.equal(noCommand.status, 2, noCommand.stderr);
    assert.match(noCommand.stderr, /\(a COMMAND with --input\)/);
  });

  test('a connection that fails says where and why, and exits 1', () => {
    const kubeconfig = join(away, 'kubeconfig');
    const config = 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n';
    writeFileSync(kubeconfig, config);
    const run = spawnSync(process.execPath, [execClient(), 'zdmlab-env-3', 'workstation-0', 'shell', 'true'], { cwd: away, encoding: 'utf8', env: { ...process.env, KUBECONFIG: kubeconfig } });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /no command in zdmlab-env-3\/workstation-0: .*(ECONNREFUSED|connect)/);
  });

  test('is made once, from the files it lists, and handed out again while they are unchanged', () => {
    const path = execClient();
    const made = statSync(path).mtimeMs;
    const inputs = JSON.parse(readFileSync(join(dirname(path), 'inputs.json'), 'utf8')) as Record<string, string>;
    assert.ok('infra/kube/exec-shell.ts' in inputs, Object.keys(inputs).slice(0, 5).join(', '));
    assert.ok(Object.keys(inputs).some((input) => input.includes('@kubernetes/client-node')), 'the client library is in it');
    assert.equal(execClient(), path);
    assert.equal(statSync(path).mtimeMs, made, 'not made again');
  });
});
