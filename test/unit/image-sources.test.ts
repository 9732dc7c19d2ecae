/**
 * What of the project the lab's images carry (infra/images/build.ts), and are
 * tagged by: the learner's workstation holds the command line, the
 * infrastructure's commands, the course and the sample API, and not the lab
 * server's code, so a change to the lab server alone makes no new
 * workstation image (whose new tag would replace every learner's
 * workstation pod at the lab's next start). Everything the workstation runs
 * finds what it imports there; a lab server's command typed there says
 * where it runs instead.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { imageSources } from '../../infra/images/build.js';
import { projectRoot } from '../../infra/paths.js';

const away = mkdtempSync(join(tmpdir(), 'image-sources-'));
after(() => rmSync(away, { recursive: true, force: true }));

describe('the files of the lab\'s images', () => {
  test('the workstation carries what runs there and none of the lab server\'s code, which the lab server\'s image adds', () => {
    const workstation = imageSources('workstation');
    const server = imageSources('lab-server');
    assert.deepEqual(workstation.filter((f) => f.startsWith('lab/')), []);
    for (const file of ['bin/zdm-lab', 'infra/cli/main.ts', 'infra/kube/cli.ts', 'steps/scripts/state.sh', 'steps/checks/step7.sh', 'sample-api/server.ts', 'package-lock.json']) assert.ok(workstation.includes(file), file);
    assert.ok(server.includes('lab/cli/start.ts'));
    assert.deepEqual(server.filter((f) => !f.startsWith('lab/')).sort(), [...workstation].sort(), 'the lab server\'s image holds the workstation\'s files too');
  });

  test('every module the workstation runs imports only what the workstation holds (type-only imports aside: they are gone at run time)', () => {
    const workstation = new Set(imageSources('workstation'));
    const missing: string[] = [];
    for (const file of workstation) {
      if (!file.endsWith('.ts')) continue;
      const text = readFileSync(join(projectRoot, file), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/gm)) {
        const target = relative(projectRoot, resolve(projectRoot, dirname(file), m[1]!)).replace(/\.js$/, '.ts');
        if (!workstation.has(target)) missing.push(`${file}:${text.slice(0, m.index).split('\n').length}: ${target}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  test('a lab server\'s command typed in a workstation says it runs where the lab runs', () => {
    mkdirSync(join(away, 'bin'));
    copyFileSync(join(projectRoot, 'bin', 'zdm-lab'), join(away, 'bin', 'zdm-lab'));
    const run = spawnSync('bash', [join(away, 'bin', 'zdm-lab'), 'course', 'play', '--env', '3'], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.equal(run.stderr, 'zdm-lab course play: a command of the lab server, which does not run here: run it where the lab runs (an instructor\'s command)\n');
  });
});
