/**
 * One page's markdown, walked once per version of its file: its tokens and
 * its blocks (with what is wrong in them). Everything that reads a page asks
 * here: the loader's checks, the renderer (which draws the same tokens, so
 * the blocks on screen are the blocks that run), and the engine and the
 * autopilot looking up a block to run. A page is read again when its file's
 * size or time changes, so an author's edit shows on reload.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseBlock, withOrdinal } from './blocks.js';
import { resolveCourseFile } from './files.js';
import { createMarkdown, type Token } from './markdown.js';
import type { Block, Course, CourseProblem, PageSpec } from './schema.js';

export interface ParsedPage {
  source: string;
  /** Drawn once by the renderer, which rewrites link and image attributes in them. */
  tokens: Token[];
  /** The page's fenced blocks in order; blocks[i] is the i-th fence token. */
  blocks: Block[];
  /** What parseBlock found wrong in the blocks (file:line). */
  problems: CourseProblem[];
  /** The text of the page's first level-1 or level-2 heading, in markdown or inline HTML, if it has one. */
  title?: string;
}

const parsed = new Map<string, { course: Course; stamp: string; page: ParsedPage }>();
const md = createMarkdown();

/** The page as parsed from its file now; throws when the file is missing or outside the course. */
export function parsePage(course: Course, page: PageSpec): ParsedPage {
  const path = resolveCourseFile(course.dir, page.file);
  if (!path) throw new Error(`page "${page.id}": ${page.file} is outside the course directory`);
  const stat = statSync(path);
  const stamp = `${page.id}:${stat.size}:${stat.mtimeMs}`;
  const hit = parsed.get(path);
  if (hit && hit.course === course && hit.stamp === stamp) return hit.page;
  const result = parseSource(course, page, readFileSync(path, 'utf8'));
  parsed.set(path, { course, stamp, page: result });
  return result;
}

/** The page's blocks, as a click or the autopilot runs them. */
export function pageBlocks(course: Course, page: PageSpec): Block[] {
  return parsePage(course, page).blocks;
}

export function parseSource(course: Course, page: PageSpec, source: string): ParsedPage {
  const terminals = course.terminals.map((t) => t.id);
  const tokens = md.parse(source, {});
  const blocks: Block[] = [];
  const problems: CourseProblem[] = [];
  for (const token of tokens) {
    if (token.type !== 'fence') continue;
    const found = parseBlock(token.content, {
      pageId: page.id,
      index: blocks.length,
      language: token.info.trim().split(/\s+/)[0] ?? '',
      terminals,
      file: page.file,
      firstLine: (token.map?.[0] ?? 0) + 2,
    });
    found.block.id = withOrdinal(found.block, blocks);
    blocks.push(found.block);
    problems.push(...found.problems);
  }
  return { source, tokens, blocks, problems, title: firstHeading(tokens) };
}

const HTML_HEADING = /<h([12])\b[^>]*>([\s\S]*?)<\/h\1\s*>/i;

/**
 * The first level-1 or level-2 heading among the tokens, whichever way it is
 * written: `# Title` or `## Title` (its text, without a `{.class}` markdown-it-attrs
 * took away) or inline HTML, `<h1 align="center">Title</h1>` (many Katapod pages).
 * A `# comment` inside a fenced block is code, not a heading.
 */
function firstHeading(tokens: Token[]): string | undefined {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    let text: string | undefined;
    if (token.type === 'heading_open' && (token.tag === 'h1' || token.tag === 'h2')) {
      text = (tokens[i + 1]?.children ?? []).map((c) => (c.type === 'text' || c.type === 'code_inline' ? c.content : c.type === 'softbreak' || c.type === 'hardbreak' ? ' ' : '')).join('');
    } else if (token.type === 'html_block' || token.type === 'inline') {
      // In a paragraph, only its HTML and text: `<h1>` in a code span is code.
      const content = token.type === 'inline' ? (token.children ?? []).map((c) => (c.type === 'code_inline' ? '' : c.content)).join('') : token.content;
      const html = HTML_HEADING.exec(content)?.[2];
      if (html !== undefined) text = md.utils.unescapeAll(html.replace(/<[^>]+>/g, ''));
    }
    const title = text?.replace(/\s+/g, ' ').trim();
    if (title) return title;
  }
  return undefined;
}
