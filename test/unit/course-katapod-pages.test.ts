/**
 * Katapod pages as learners see them in Katapod, on the katapod-html fixture:
 * a page's title is its first heading (in markdown or inline HTML), never a
 * "# comment" inside a block of code; links to the course's own files, from
 * the folder's root (`/images/x.svg`) or relative, open that file as images
 * do; and `course check` finds the links that lead to nothing.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCourse } from '../../lab/course/load.js';
import { renderPage } from '../../lab/course/render.js';
import { formatProblem } from '../../lab/course/schema.js';

const fixture = new URL('../fixtures/katapod-html/', import.meta.url).pathname;
const temp = mkdtempSync(join(tmpdir(), 'course-katapod-pages-'));
after(() => rmSync(temp, { recursive: true, force: true }));

describe('a Katapod page title', () => {
  const { course, problems } = loadCourse(fixture);

  it('the fixture loads without problems', () => assert.deepEqual(problems.map(formatProblem), []));

  it('is the first heading, also in inline HTML, and not a "# comment" in a block of code before it', () => {
    assert.deepEqual(
      course!.pages.map((p) => [p.id, p.title]),
      [
        ['intro', 'Welcome to the scenario'],
        ['step1', 'Step one & only'],
      ],
    );
    assert.equal(course!.title, 'Welcome to the scenario');
  });

  it('a heading inside inline code is not the title, and a page without a heading is titled by its id', () => {
    const dir = join(temp, 'no-heading');
    mkdirSync(dir);
    writeFileSync(join(dir, 'intro.md'), '# Intro {.title}\n');
    writeFileSync(join(dir, 'step1.md'), 'Write `<h1>x</h1>` for a title.\n\n```\n## not this either\nls\n```\n\n### A third-level heading\n');
    const c = loadCourse(dir).course!;
    assert.deepEqual(c.pages.map((p) => p.title), ['Intro', 'step1']);
  });
});

describe("links to the course's files", () => {
  const { course } = loadCourse(fixture);

  it('from the folder\'s root, in markdown and in inline HTML, open the course\'s file in a tab of its own', () => {
    const { html } = renderPage(course!, course!.pages[0]!);
    assert.match(html, /<a href="\/course\/files\/images\/dot\.svg" target="_blank" rel="noopener noreferrer">dot\.svg<\/a>/);
    assert.match(html, /<a href="\/course\/files\/images\/dot\.svg">in HTML<\/a>/);
    // Page links and web links stay what they were.
    assert.match(renderPage(course!, course!.pages[1]!).html, /<a href="#intro" data-page="intro">the start<\/a>/);
  });

  it('that lead to nothing are errors, and to a file the lab does not serve a warning, each at its line', () => {
    const dir = join(temp, 'links');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'rows.csv'), 'a,b\n');
    writeFileSync(join(dir, 'notes.txt'), 'notes\n');
    writeFileSync(
      join(dir, 'intro.md'),
      [
        '# Links',
        '[rows](/data/rows.csv) [rows again](data/rows.csv) [web](https://example.org/x.csv) [mail](mailto:a@b.c) [top](#links)',
        '[gone](/data/gone.csv)',
        '<a href="../../etc/passwd">out</a>',
        '[notes](notes.txt)',
        '[![a picture that links](/data/rows.csv)](/data/rows.csv)',
      ].join('\n'),
    );
    const { problems } = loadCourse(dir);
    assert.deepEqual(problems.map(formatProblem), [
      'intro.md:3: error: link to a file that does not exist: "/data/gone.csv"',
      'intro.md:4: error: link "../../etc/passwd" points outside the course directory: it leads to nothing',
      'intro.md:5: warning: link "notes.txt": the lab serves pictures, media, PDF, CSV and ZIP files of the course, not this one',
    ]);
  });
});
