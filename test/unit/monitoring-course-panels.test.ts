/**
 * How a course declares its panels and how the engine takes them: the ZDM
 * course's Monitoring panel loads and bundles (its browser code with uPlot
 * and its styles); a wrong declaration is reported with course.json's line;
 * a server module without createPanel, or browser code that does not
 * compile, stops the lab with a message naming the panel and the file.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadCourse } from '../../lab/course/load.js';
import { formatProblem } from '../../lab/course/schema.js';
import { loadPanels } from '../../lab/server/panels.js';

const root = new URL('../..', import.meta.url).pathname;
const made: string[] = [];
after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

function course(panels: unknown, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'course-panels-'));
  made.push(dir);
  const json = { title: 'Panels', terminals: [{ id: 'shell', name: 'shell' }], pages: [{ id: 'intro', file: 'intro.md', title: 'Intro' }], panels };
  writeFileSync(join(dir, 'course.json'), JSON.stringify(json, null, 2));
  writeFileSync(join(dir, 'intro.md'), '# Intro\n');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('course panels', () => {
  test('the ZDM course declares its Monitoring panel, which loads and bundles with uPlot and its styles', async () => {
    const { course: zdm, problems } = loadCourse(join(root, 'steps'));
    assert.deepEqual(problems, []);
    assert.deepEqual(zdm!.panels, [{ id: 'monitoring', title: 'Monitoring', module: 'panels/monitoring.ts', client: 'panels/monitoring-view.ts' }]);
    const [panel] = await loadPanels(zdm!);
    assert.equal(typeof panel!.create, 'function');
    assert.match(panel!.js, /export\s*\{[^}]*\bmount\b/);
    assert.match(panel!.css, /\.uplot/);
    assert.match(panel!.css, /\.zdm-monitoring/);
  });

  test('a wrong declaration is reported with course.json\'s line', () => {
    const dir = course(
      [
        { id: 'progress', title: 'Taken', module: 'p.ts', client: 'p.ts' },
        { id: 'outside', module: '../elsewhere.ts', client: 'p.ts' },
        { id: 'nofile', module: 'p.ts', client: 'missing-view.ts' },
      ],
      { 'p.ts': 'export function createPanel() { return { data: () => 1 }; }\n' },
    );
    const { course: c, problems } = loadCourse(dir);
    assert.deepEqual(problems.map(formatProblem), [
      'course.json:18: error: panel "progress": the id is taken by the lab\'s own routes (progress, visit, run, check, reset)',
      'course.json:25: error: panel "outside": "module" ../elsewhere.ts points outside the course directory',
      'course.json:31: error: panel "nofile": "client" missing-view.ts does not exist',
    ]);
    assert.deepEqual(c!.panels.map((p) => p.id), ['progress']);
    const [badId] = loadCourse(course([{ id: 'has space', module: 'p.ts', client: 'p.ts' }], { 'p.ts': 'x' })).problems.map(formatProblem);
    assert.equal(badId, 'course.json:18: error: "panels[0].id" must be a word (letters, digits, _ . -)');
  });

  test('a module without createPanel, or browser code that does not compile, stops the lab with the panel named', async () => {
    const noFactory = loadCourse(course([{ id: 'x', module: 'x.ts', client: 'x-view.ts' }], { 'x.ts': 'export const nothing = 1;\n', 'x-view.ts': 'export function mount() {}\n' })).course!;
    await assert.rejects(loadPanels(noFactory), /course\.json panel "x": x\.ts must export a function createPanel\(\{ id, vars \}\)/);
    const broken = loadCourse(course([{ id: 'y', module: 'y.ts', client: 'y-view.ts' }], { 'y.ts': 'export function createPanel() { return { data: () => 1 }; }\n', 'y-view.ts': 'export function mount( {\n' })).course!;
    await assert.rejects(loadPanels(broken), /course\.json panel "y": y-view\.ts could not be bundled for the browser: y-view\.ts:2: Expected identifier but found end of file/);
  });
});
