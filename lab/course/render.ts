/**
 * Markdown page → HTML the browser client shows, plus the page's runnable
 * blocks. Fenced blocks become runnable: a bar naming their terminal, a copy
 * button, highlighted code (bash, cql as sql, yaml, json …), the author's
 * background colour; `execute: false` blocks are display-only. Katapod's
 * `command:katapod.loadPage?…` links, in markdown or inline HTML, become
 * in-page navigation (`data-page`). Local images point at the course-file
 * route, which serves the course directory only. The server keeps the blocks:
 * a click names a block id, never the text to run. The page is drawn from the
 * tokens page.ts parsed, once per version of its file, so an author's edit
 * shows on reload and the blocks shown are the blocks that run.
 */
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import json from 'highlight.js/lib/languages/json';
import sql from 'highlight.js/lib/languages/sql';
import yaml from 'highlight.js/lib/languages/yaml';
import javascript from 'highlight.js/lib/languages/javascript';
import python from 'highlight.js/lib/languages/python';
import xml from 'highlight.js/lib/languages/xml';
import { isLocalFile } from './files.js';
import { LOAD_PAGE, pageLinkTarget } from './links.js';
import { createMarkdown, type MarkdownIt } from './markdown.js';
import { parsePage, parseSource, type ParsedPage } from './page.js';
import type { Block, Course, PageSpec } from './schema.js';

hljs.registerLanguage('bash', bash);
hljs.registerLanguage('json', json);
hljs.registerLanguage('sql', sql);
hljs.registerLanguage('yaml', yaml);
hljs.registerLanguage('javascript', javascript);
hljs.registerLanguage('python', python);
hljs.registerLanguage('xml', xml);

/** Fence languages authors write, mapped to the grammar that draws them. */
const LANGUAGE_ALIASES: Record<string, string> = {
  cql: 'sql', cqlsh: 'sql', sh: 'bash', shell: 'bash', console: 'bash', zsh: 'bash',
  yml: 'yaml', js: 'javascript', ts: 'javascript', py: 'python', html: 'xml',
};

/** Where the server serves course files (images): see lab/server/course.ts. */
export const COURSE_FILES_ROUTE = '/course/files/';

export interface RenderedPage {
  id: string;
  title: string;
  html: string;
  blocks: Block[];
}

/** The page as the browser shows it, drawn from its parsed tokens (page.ts) once per version of its file. */
export function renderPage(course: Course, page: PageSpec): RenderedPage {
  const parsed = parsePage(course, page);
  let rendered = drawn.get(parsed);
  if (!rendered) {
    rendered = { id: page.id, title: page.title, html: drawTokens(course, page, parsed), blocks: parsed.blocks };
    drawn.set(parsed, rendered);
  }
  return rendered;
}

/** Each parse drawn once: a new version of the file is a new parse. */
const drawn = new WeakMap<ParsedPage, RenderedPage>();

/** A page from markdown text that is not (or not yet) its file (tests, previews). */
export function renderMarkdown(course: Course, page: PageSpec, source: string): RenderedPage {
  const parsed = parseSource(course, page, source);
  return { id: page.id, title: page.title, html: drawTokens(course, page, parsed), blocks: parsed.blocks };
}

function drawTokens(course: Course, page: PageSpec, parsed: ParsedPage): string {
  const md = createMarkdown();
  const pageIds = new Set(course.pages.map((p) => p.id));
  const terminalName = (id: string) => course.terminals.find((t) => t.id === id)?.name ?? id;
  // The i-th fence drawn is the page's i-th block: the same parse the engine runs blocks from.
  let fence = 0;

  md.renderer.rules.fence = (tokens, idx) => {
    const token = tokens[idx]!;
    const language = token.info.trim().split(/\s+/)[0] ?? '';
    const block = parsed.blocks[fence++]!;
    const code = highlight(block.command, language, md);
    const style = block.backgroundColor ? ` style="background-color: ${md.utils.escapeHtml(block.backgroundColor)}"` : '';
    const langClass = language ? ` language-${md.utils.escapeHtml(language)}` : '';
    const attrs = `class="lab-block ${block.execute ? 'runnable' : 'display'}" id="block-${esc(md, block.id)}" data-block="${esc(md, block.id)}"`;
    const label = block.execute
      ? `<span class="lab-block-terminal" title="Click the block to run it in this terminal">▶ ${esc(md, terminalName(block.terminalId))}</span>`
      : '<span class="lab-block-terminal">display only</span>';
    const limit = block.maxInvocations !== null ? ` <span class="lab-block-limit">runs at most ${block.maxInvocations}×</span>` : '';
    return (
      `<div ${attrs} data-terminal="${esc(md, block.terminalId)}">` +
      `<div class="lab-block-bar">${label}${limit}<span class="lab-block-state"></span><button type="button" class="lab-copy" title="Copy to clipboard">Copy</button></div>` +
      `<pre${style}><code class="hljs${langClass}">${code}</code></pre></div>\n`
    );
  };

  const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const token = tokens[idx]!;
    const href = String(token.attrGet('href') ?? '');
    if (href.startsWith(LOAD_PAGE)) {
      const target = pageLinkTarget(href.slice(LOAD_PAGE.length));
      setPageLink(token, target, pageIds);
    } else if (/^https?:\/\//i.test(href)) {
      token.attrSet('target', '_blank');
      token.attrSet('rel', 'noopener noreferrer');
    } else if (isLocalFile(href)) {
      // A file of the course (`/data/x.csv`, `data/x.csv`): served from its folder, as images are, in a tab of its own so the lab stays open.
      token.attrSet('href', courseFileUrl(href));
      token.attrSet('target', '_blank');
      token.attrSet('rel', 'noopener noreferrer');
    }
    return defaultLinkOpen(tokens, idx, options, env, self);
  };

  const defaultImage = md.renderer.rules.image!;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const token = tokens[idx]!;
    token.attrSet('src', courseFileUrl(String(token.attrGet('src') ?? '')));
    return defaultImage(tokens, idx, options, env, self);
  };

  md.renderer.rules.table_open = () => '<table class="lab-table">\n';
  md.renderer.rules.html_block = (tokens, idx) => rewriteHtml(tokens[idx]!.content, pageIds);
  md.renderer.rules.html_inline = (tokens, idx) => rewriteHtml(tokens[idx]!.content, pageIds);

  // Rules rewrite link and image attributes in place: each parse is drawn once (renderPage keeps the result), and nothing reads its tokens after.
  return md.renderer.render(parsed.tokens, md.options, {});
}

function highlight(code: string, language: string, md: MarkdownIt): string {
  const grammar = LANGUAGE_ALIASES[language.toLowerCase()] ?? language.toLowerCase();
  if (grammar && hljs.getLanguage(grammar)) return hljs.highlight(code, { language: grammar, ignoreIllegals: true }).value;
  return md.utils.escapeHtml(code);
}

function setPageLink(token: { attrSet(name: string, value: string): void }, target: string | undefined, pageIds: Set<string>): void {
  if (target && pageIds.has(target)) {
    token.attrSet('href', `#${encodeURIComponent(target)}`);
    token.attrSet('data-page', target);
  } else {
    token.attrSet('href', '#');
    token.attrSet('class', 'lab-broken-link');
    token.attrSet('title', `no page "${target ?? '?'}" in this course`);
  }
}

/** Local image sources and links to course files in raw HTML, and Katapod page links in raw HTML. */
function rewriteHtml(html: string, pageIds: Set<string>): string {
  return html
    .replace(/\bsrc=(["'])(.*?)\1/gi, (_m, q: string, src: string) => `src=${q}${courseFileUrl(src)}${q}`)
    .replace(/\bhref=(["'])command:katapod\.loadPage\?(.*?)\1/g, (_m, _q: string, query: string) => {
      const target = pageLinkTarget(query);
      if (target && pageIds.has(target)) return `href="#${encodeURIComponent(target)}" data-page="${target}"`;
      return `href="#" class="lab-broken-link" title="no page ${JSON.stringify(target ?? '?').replace(/"/g, '&quot;')} in this course"`;
    })
    .replace(/\bhref=(["'])(.*?)\1/gi, (m, q: string, href: string) => (isLocalFile(href) ? `href=${q}${courseFileUrl(href)}${q}` : m));
}

/** A page's local file reference as the lab serves it: `x.png`, `./x.png` and, as in Katapod, `/x.png` all mean the course folder's x.png. */
function courseFileUrl(src: string): string {
  if (!isLocalFile(src)) return src;
  return COURSE_FILES_ROUTE + src.replace(/^\.?\//, '');
}

function esc(md: MarkdownIt, s: string): string {
  return md.utils.escapeHtml(s);
}
