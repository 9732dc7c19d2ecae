/**
 * The one markdown-it configuration the lab reads pages with: raw HTML allowed
 * (Katapod pages lean on `<div>`, `<details>`, `<a href=…>`), tables, and
 * Katapod's `{.class}` attribute syntax (markdown-it-attrs). A page is parsed
 * with it once (page.ts); the renderer draws those tokens with its own rules
 * on a fresh instance.
 */
import markdownIt, { type MarkdownIt, type Token } from 'markdown-it';
import markdownItAttrs from 'markdown-it-attrs';

export type { MarkdownIt, Token };

export function createMarkdown(): MarkdownIt {
  return markdownIt({ html: true, linkify: false, typographer: false }).use(markdownItAttrs as unknown as (md: MarkdownIt) => void);
}
