/**
 * JSON parsing that says where. `JSON.parse` in Node 20 often names no
 * position ("Unexpected token '}', … is not valid JSON"), and an author needs
 * a line number: JSON.parse decides whether the text is valid, and on
 * failure jsonc-parser (strict: no comments, no trailing commas) finds the
 * first offending character and its 1-based line.
 */
import jsonc from 'jsonc-parser';

export type JsonResult = { ok: true; value: unknown } | { ok: false; line: number; column: number; message: string };

export function parseJson(text: string): JsonResult {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    const at = firstErrorOffset(text);
    const before = text.slice(0, at).split('\n');
    const line = before.length;
    const column = before.at(-1)!.length + 1;
    const what = at >= text.length ? 'unexpected end of text' : `unexpected ${JSON.stringify(text[at])} at column ${column}`;
    return { ok: false, line, column, message: what };
  }
}

/** Offset of the first character a strict JSON reader cannot accept. */
function firstErrorOffset(text: string): number {
  const errors: jsonc.ParseError[] = [];
  jsonc.parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  // JSON.parse refused the text, so jsonc-parser finds a fault too; its offset is the first one's
  return errors.length > 0 ? Math.min(...errors.map((e) => e.offset)) : text.length;
}
