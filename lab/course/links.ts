/**
 * Katapod's page links. A course navigates with links of the form
 * `command:katapod.loadPage?step2` or `command:katapod.loadPage?[{"step":"step2"}]`
 * (the JSON form may arrive percent-encoded, as markdown-it writes link URLs),
 * in markdown links and in inline HTML alike. The loader finds them to check
 * their targets; the renderer rewrites them into in-page navigation.
 */

export const LOAD_PAGE = 'command:katapod.loadPage?';

/** The page id a link's query names, or undefined if it names none. */
export function pageLinkTarget(query: string): string | undefined {
  let text = query.trim();
  try {
    text = decodeURIComponent(text);
  } catch {
    // not percent-encoded: read as it is
  }
  text = text.replace(/&quot;/g, '"');
  if (text.startsWith('[') || text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      const first = Array.isArray(parsed) ? parsed[0] : parsed;
      const step = (first as { step?: unknown } | undefined)?.step;
      return typeof step === 'string' && step !== '' ? step : undefined;
    } catch {
      return undefined;
    }
  }
  return /^[\w.-]+$/.test(text) ? text : undefined;
}

export interface PageLink {
  /** The page id, or undefined when the link's query cannot be read. */
  target: string | undefined;
  raw: string;
  /** 1-based line in the markdown source. */
  line: number;
}

/** Every loadPage link in a markdown source, with its line. */
export function findPageLinks(markdown: string): PageLink[] {
  const links: PageLink[] = [];
  markdown.split('\n').forEach((text, i) => {
    let from = 0;
    for (;;) {
      const at = text.indexOf(LOAD_PAGE, from);
      if (at < 0) break;
      const raw = linkQueryAt(text, at + LOAD_PAGE.length);
      links.push({ target: pageLinkTarget(raw), raw, line: i + 1 });
      from = at + LOAD_PAGE.length + raw.length;
    }
  });
  return links;
}

/** The query text starting at `start`: a JSON list up to its `]`, or a bare word. */
function linkQueryAt(text: string, start: number): string {
  const rest = text.slice(start);
  if (rest.startsWith('[') || rest.startsWith('%5B')) {
    const close = rest.startsWith('[') ? rest.indexOf(']') : rest.indexOf('%5D');
    if (close >= 0) return rest.slice(0, close + (rest.startsWith('[') ? 1 : 3));
    return rest.split(/[\s'")]/)[0] ?? '';
  }
  return /^[^\s'")<>]*/.exec(rest)?.[0] ?? '';
}
