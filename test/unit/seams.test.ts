/**
 * The seams of ../shared/DESIGN.md, read off the import statements of every
 * TypeScript file: the engine (lab/) imports nothing of the infrastructure
 * or of the course, the infrastructure (infra/) nothing of the engine or the
 * course, both may use common/ (process supervision), which imports neither;
 * the course (steps/) uses nothing of the engine but its public face
 * (lab/index.ts), and the sample API only itself. A forbidden import fails
 * with the file, the line and the rule it breaks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

const root = resolve(new URL('../..', import.meta.url).pathname);

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && !f.includes('node_modules'))
    .map((f) => join(dir, f));
}

/** Every relative import of a file (static, re-export, dynamic, type-only), as a path from the root with its line. */
export function importsOf(file: string, text = readFileSync(join(root, file), 'utf8')): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const m of text.matchAll(pattern)) {
    const target = relative(root, resolve(root, dirname(file), m[1]!));
    found.push({ target, line: text.slice(0, m.index).split('\n').length });
  }
  return found;
}

const rules: { room: string; may: (target: string) => boolean; rule: string }[] = [
  { room: 'lab/', may: (t) => t.startsWith('lab/') || t.startsWith('common/'), rule: 'the engine imports only itself and common/' },
  { room: 'infra/', may: (t) => t.startsWith('infra/') || t.startsWith('common/'), rule: 'the infrastructure imports only itself and common/' },
  { room: 'common/', may: (t) => t.startsWith('common/'), rule: 'common/ imports no room' },
  { room: 'steps/', may: (t) => t.startsWith('steps/') || t.startsWith('infra/') || t === 'lab/index.js', rule: 'the course imports the engine only through lab/index.ts' },
  { room: 'sample-api/', may: (t) => t.startsWith('sample-api/'), rule: 'the sample API imports only itself' },
];

describe('the seams between the rooms', () => {
  test('the import reader sees every kind of import', () => {
    const text = "import a from './x.js';\nexport { b } from '../y.js';\nconst c = await import('../../infra/z.js');\nimport type { D } from '../../lab/index.js';\nimport './side.js';\n";
    assert.deepEqual(importsOf('steps/panels/p.ts', text), [
      { target: 'steps/panels/x.js', line: 1 },
      { target: 'steps/y.js', line: 2 },
      { target: 'infra/z.js', line: 3 },
      { target: 'lab/index.js', line: 4 },
      { target: 'steps/panels/side.js', line: 5 },
    ]);
  });

  for (const { room, may, rule } of rules) {
    test(`${room}: ${rule}`, () => {
      const files = sources(room);
      assert.ok(files.length > 0, `${room} has TypeScript files`);
      const broken = files.flatMap((file) => importsOf(file).filter(({ target }) => !may(target)).map(({ target, line }) => `${file}:${line}: imports ${target}`));
      assert.deepEqual(broken, []);
    });
  }
});
