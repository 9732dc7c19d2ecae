/**
 * The one markdown-it configuration the lab reads pages with: raw HTML allowed
 * (Katapod pages lean on `<div>`, `<details>`, `<a href=…>`), tables, and
 * Katapod's `{.class}` attribute syntax (markdown-it-attrs). The loader parses
 * with it to find blocks; the renderer adds its own rules on a fresh instance.
 */
import markdownIt, { type MarkdownIt } from 'markdown-it';
import markdownItAttrs from 'markdown-it-attrs';

export type { MarkdownIt };

export function createMarkdown(): MarkdownIt {
  return markdownIt({ html: true, linkify: false, typographer: false }).use(markdownItAttrs as unknown as (md: MarkdownIt) => void);
}
