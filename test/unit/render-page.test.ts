/**
 * Rendering pages: what a learner sees of headings, tables, images,
 * `<details>`, Katapod's inline HTML and links, highlighted code, and the
 * runnable-block markup the client wires up (terminal label, copy button,
 * display-only blocks, background colour).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadCourse } from '../../lab/course/load.js';
import { pageBlocks } from '../../lab/course/page.js';
import { renderMarkdown, renderPage } from '../../lab/course/render.js';
import type { Course } from '../../lab/course/schema.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const basic = loadCourse(join(fixtures, 'course-basic')).course!;
const katapod = loadCourse(join(fixtures, 'katapod-basic')).course!;
const render = (md: string, course: Course = basic) => renderMarkdown(course, course.pages[0]!, md);

describe('rendering markdown', () => {
  it('renders headings and tables', () => {
    const { html } = render('# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n');
    assert.match(html, /<h1>Title<\/h1>/);
    assert.match(html, /<table class="lab-table">[\s\S]*<th>a<\/th>[\s\S]*<td>2<\/td>/);
  });

  it('a Katapod page titled in inline HTML, with images from the folder\'s root: the title is the heading\'s text, the images are the course\'s', () => {
    const { course, problems } = loadCourse(join(fixtures, 'katapod-html'));
    assert.deepEqual(problems, []);
    assert.equal(course!.pages[0]!.title, 'Welcome to the scenario');
    const { html } = renderPage(course!, course!.pages[0]!);
    assert.match(html, /<img src="\/course\/files\/images\/dot\.svg" width="40">/);
    assert.match(html, /<img src="\/course\/files\/images\/dot\.svg" alt="dot">/);
  });

  it('points local images at the course-file route and leaves remote ones alone', () => {
    const { html } = render('![d](images/diagram.svg) ![r](https://example.org/x.png) <img src="./images/diagram.svg">');
    assert.match(html, /<img src="\/course\/files\/images\/diagram\.svg" alt="d">/);
    assert.match(html, /<img src="https:\/\/example\.org\/x\.png" alt="r">/);
    assert.match(html, /<img src="\/course\/files\/images\/diagram\.svg">/);
  });

  it('keeps <details> with markdown inside', () => {
    const { html } = render('<details>\n<summary>More</summary>\n\nHidden **text**.\n\n</details>\n');
    assert.match(html, /<details>\n<summary>More<\/summary>/);
    assert.match(html, /<strong>text<\/strong>/);
  });

  it('applies Katapod {.class} attributes', () => {
    assert.match(render('### [◂](command:katapod.loadPage?intro){.steps} Step 1\n').html, /<a href="#intro" class="steps" data-page="intro">◂<\/a>/);
  });

  it('turns loadPage links into in-page navigation, in both forms and in inline HTML', () => {
    const { html } = render(
      '[a](command:katapod.loadPage?step1) [b](command:katapod.loadPage?[{"step":"finish"}])\n\n<a href=\'command:katapod.loadPage?[{"step":"step1"}]\' class="btn">c</a>\n',
    );
    assert.match(html, /<a href="#step1" data-page="step1">a<\/a>/);
    assert.match(html, /<a href="#finish" data-page="finish">b<\/a>/);
    assert.match(html, /<a href="#step1" data-page="step1" class="btn">c<\/a>/);
  });

  it('marks a link to a page that does not exist as broken', () => {
    assert.match(render('[x](command:katapod.loadPage?step99)').html, /<a href="#" class="lab-broken-link" title="no page &quot;step99&quot; in this course">x<\/a>/);
  });

  it('opens web links in a new tab', () => {
    assert.match(render('[w](https://cassandra.apache.org)').html, /href="https:\/\/cassandra\.apache\.org" target="_blank" rel="noopener noreferrer"/);
  });
});

describe('rendering fenced blocks', () => {
  it('a runnable block names its terminal, has a copy button and keeps its command out of the info line', () => {
    const { html, blocks } = render('```bash\n### logs\ntail -f api.log\n```\n');
    const id = blocks[0]!.id;
    assert.match(id, /^intro:logs-[0-9a-f]{8}$/);
    assert.ok(html.includes(`<div class="lab-block runnable" id="block-${id}" data-block="${id}" data-terminal="logs">`), html);
    assert.match(html, /▶ logs/);
    assert.match(html, /<button type="button" class="lab-copy"/);
    assert.doesNotMatch(html, /###/);
    assert.deepEqual(blocks.map((b) => [b.terminalId, b.command]), [['logs', 'tail -f api.log']]);
  });

  it('execute: false renders a display-only block', () => {
    const { html, blocks } = render('```yaml\n### {"execute": false}\nread_mode: PRIMARY_ONLY\n```\n');
    assert.match(html, /class="lab-block display"/);
    assert.match(html, /display only/);
    assert.equal(blocks[0]!.execute, false);
  });

  it('honours backgroundColor on the block', () => {
    assert.match(render('```\n### {"backgroundColor": "#ffeecc"}\nls\n```\n').html, /<pre style="background-color: #ffeecc">/);
  });

  it('shows a maxInvocations limit', () => {
    assert.match(render('```\n### {"maxInvocations": 1}\nls\n```\n').html, /runs at most 1×/);
  });

  it('highlights bash, cql (as sql), yaml and json', () => {
    assert.match(render('```bash\necho "hi"\n```').html, /<code class="hljs language-bash"><span class="hljs-built_in">echo<\/span> <span class="hljs-string">&quot;hi&quot;<\/span>/);
    assert.match(render('```cql\nSELECT * FROM ks.t;\n```').html, /<code class="hljs language-cql"><span class="hljs-keyword">SELECT<\/span>/);
    assert.match(render('```yaml\nread_mode: PRIMARY_ONLY\n```').html, /<span class="hljs-attr">read_mode:<\/span>/);
    assert.match(render('```json\n{"a": 1}\n```').html, /<span class="hljs-attr">&quot;a&quot;<\/span>/);
  });

  it('escapes code in an unknown language', () => {
    assert.match(render('```weird\n<script>alert(1)</script>\n```').html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  it('gives every block of a page its own id, the one the server runs it by', () => {
    const { blocks } = renderPage(basic, basic.pages[0]!);
    assert.deepEqual(blocks.map((b) => b.index), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(new Set(blocks.map((b) => b.id)).size, 7);
    for (const b of blocks) assert.match(b.id, /^intro:[\w.-]+-[0-9a-f]{8}(\.\d+)?$/);
    assert.deepEqual(blocks[3]!.macrosBefore, ['ctrl_c']);
  });

  it('a block keeps its id when a block is added above it; identical blocks are told apart by order', () => {
    const ids = (md: string) => render(md).blocks.map((b) => b.id);
    const before = ids('```bash\n### logs\necho a\n```\n\n```bash\n### logs\necho b\n```\n');
    const after = ids('```bash\n### logs\necho new\n```\n\n```bash\n### logs\necho a\n```\n\n```bash\n### logs\necho b\n```\n');
    assert.deepEqual(after.slice(1), before);
    const twins = ids('```bash\n### logs\nls\n```\n\n```bash\n### logs\nls\n```\n');
    assert.equal(twins[1], `${twins[0]}.2`);
  });

  it('a Katapod block without an info line runs in the scenario\'s first terminal', () => {
    const { blocks, html } = renderPage(katapod, katapod.pages[0]!);
    assert.equal(blocks[0]!.terminalId, 'cqlsh');
    assert.match(html, /▶ cqlsh-editor/);
    assert.match(html, /<a href="#step1" data-page="step1"\n\s*class="btn btn-dark navigation-bottom-right">/);
  });
});

describe('re-rendering', () => {
  it('reuses a rendered page until its file changes, then shows the change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'render-cache-'));
    try {
      writeFileSync(join(dir, 'course.json'), JSON.stringify({ title: 't', terminals: [{ id: 'a' }], pages: [{ id: 'intro', file: 'intro.md' }] }));
      writeFileSync(join(dir, 'intro.md'), '# First\n');
      const c = loadCourse(dir).course!;
      const first = renderPage(c, c.pages[0]!);
      assert.equal(renderPage(c, c.pages[0]!), first);
      writeFileSync(join(dir, 'intro.md'), '# Second version\n');
      assert.match(renderPage(c, c.pages[0]!).html, /<h1>Second version<\/h1>/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('walks a page once: the blocks drawn are the very blocks a click runs, and an edit is read again by both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'render-once-'));
    try {
      writeFileSync(join(dir, 'course.json'), JSON.stringify({ title: 't', terminals: [{ id: 'a' }], pages: [{ id: 'intro', file: 'intro.md' }] }));
      writeFileSync(join(dir, 'intro.md'), '# One\n\n```\necho one\n```\n');
      const c = loadCourse(dir).course!;
      const page = c.pages[0]!;
      assert.equal(pageBlocks(c, page), renderPage(c, page).blocks);
      assert.deepEqual(pageBlocks(c, page).map((b) => b.command), ['echo one']);
      writeFileSync(join(dir, 'intro.md'), '# Two\n\n```\necho zero\n```\n\n```\necho one\n```\n');
      const blocks = pageBlocks(c, page);
      assert.deepEqual(blocks.map((b) => b.command), ['echo zero', 'echo one']);
      assert.equal(renderPage(c, page).blocks, blocks);
      for (const b of blocks) assert.match(renderPage(c, page).html, new RegExp(`data-block="${b.id.replace(/\./g, '\\.')}"`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
