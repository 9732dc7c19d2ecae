/**
 * Reading a fenced code block into a runnable `Block`. Katapod's syntax: a line
 * starting with `### ` inside the block says how to run it, either as a bare
 * terminal id (`### host`) or as JSON (`### {"terminalId": "host", "execute":
 * false, "maxInvocations": 1, "macrosBefore": ["ctrl_c"], "backgroundColor":
 * "#fee"}`); if several such lines exist the last one counts, as in Katapod.
 * The loader (to report problems) and the renderer (to draw the block) both
 * read blocks here, so they can never disagree about what a block means.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { didYouMean } from './course-json.js';
import { parseJson } from './json.js';
import { MACROS, type Block, type CourseProblem, type Macro } from './schema.js';

const INFO_PREFIX = '### ';
const BACKGROUND = '"backgroundColor" must be a CSS colour such as "#ffeecc" or "lightyellow"';
const MAX_INVOCATIONS = '"maxInvocations" must be a whole number ≥ 0 or "unlimited"';
const WAIT_SECONDS = '"waitForSeconds" must be a number of seconds above 0, at most 3600';

export interface BlockContext {
  pageId: string;
  index: number;
  /** The fence's language word (` ```bash `), '' if none. */
  language: string;
  /** Terminal ids the course declares; the first is the default. */
  terminals: string[];
  /** Course-relative file name and 1-based line of the block's first content line, for problems. */
  file: string;
  firstLine: number;
}

export interface ParsedBlock {
  block: Block;
  problems: CourseProblem[];
}

/**
 * A block's identity on its page: its terminal and a digest of its command,
 * so progress (runs, marks, maxInvocations counts) stays with the block when
 * other blocks of the page are added, moved or removed. Identical blocks on
 * one page are told apart by order: the second gets ".2", and so on
 * (`withOrdinal`).
 */
export function blockBaseId(pageId: string, terminalId: string, command: string): string {
  const digest = createHash('sha256').update(`${terminalId}\0${command}`).digest('hex').slice(0, 8);
  return `${pageId}:${terminalId || 'block'}-${digest}`;
}

/** The id of `block` given the blocks before it on its page. */
export function withOrdinal(block: Block, earlier: readonly Block[]): string {
  const same = earlier.filter((b) => b.id === block.id || b.id.startsWith(`${block.id}.`)).length;
  return same === 0 ? block.id : `${block.id}.${same + 1}`;
}

/** A progress key of the block ids before stable ids (`page:index`). */
export const POSITIONAL_ID = /^(.+):(\d+)$/;

export function parseBlock(content: string, ctx: BlockContext): ParsedBlock {
  const problems: CourseProblem[] = [];
  const lines = content.replace(/\n$/, '').split('\n');
  const commandLines: string[] = [];
  let info: { text: string; line: number } | undefined;
  lines.forEach((line, i) => {
    if (line.startsWith(INFO_PREFIX)) info = { text: line.slice(INFO_PREFIX.length).trim(), line: ctx.firstLine + i };
    else commandLines.push(line);
  });

  const block: Block = {
    id: `${ctx.pageId}:${ctx.index}`,
    pageId: ctx.pageId,
    index: ctx.index,
    terminalId: ctx.terminals[0] ?? '',
    command: commandLines.join('\n'),
    language: ctx.language,
    execute: true,
    maxInvocations: null,
    macrosBefore: [],
  };
  if (!info) {
    block.id = blockBaseId(ctx.pageId, block.terminalId, block.command);
    return { block, problems };
  }

  const at = info.line;
  const problem = (message: string, severity: CourseProblem['severity'] = 'error') => problems.push({ file: ctx.file, line: at, severity, message });

  if (!info.text.startsWith('{')) {
    if (info.text !== '') block.terminalId = info.text;
  } else {
    const json = parseJson(info.text);
    if (!json.ok || typeof json.value !== 'object' || json.value === null || Array.isArray(json.value)) {
      // Katapod reads a line that is no JSON as a terminal id, which it does not have: the block runs in the first terminal.
      problem(
        `${json.ok ? 'the block info line must be a JSON object' : `malformed block info line: ${json.message}`}; expected ### {"terminalId": "…"} or ### termId. As in Katapod, the block runs in the first terminal, "${block.terminalId}"`,
        'warning',
      );
      block.id = blockBaseId(ctx.pageId, block.terminalId, block.command);
      return { block, problems };
    }
    readInfo(json.value as Record<string, unknown>, block, problem, ctx.terminals[0] ?? '');
  }

  if (block.execute && !ctx.terminals.includes(block.terminalId)) {
    const first = ctx.terminals[0] ?? '';
    problem(`unknown terminal id "${block.terminalId}"; the block runs in the first terminal, "${first}", as in Katapod (the course declares: ${ctx.terminals.join(', ') || '(none)'})`, 'warning');
    block.terminalId = first;
  }
  block.id = blockBaseId(ctx.pageId, block.terminalId, block.command);
  if (block.waitForTerminal !== undefined && !ctx.terminals.includes(block.waitForTerminal)) {
    problem(`unknown terminal id "${block.waitForTerminal}" in "waitForTerminal"; the course declares: ${ctx.terminals.join(', ') || '(none)'}`);
  }
  return { block, problems };
}

/**
 * The info line's keys: Katapod's (terminalId, execute, maxInvocations,
 * macrosBefore, backgroundColor) and the lab's own (waitFor,
 * waitForTerminal, waitForSeconds), in one schema. A key it does not know is
 * a warning (Katapod ignores it), with the known key it is closest to. A
 * wrong value of one of Katapod's keys is a warning too, and the block does
 * what Katapod does with it (KATAPOD_READS); a wrong value of our own keys is
 * an error.
 */
const infoLine = z.object({
  terminalId: z.string({ error: '"terminalId" must be a non-empty string' }).min(1, '"terminalId" must be a non-empty string'),
  execute: z.boolean({ error: '"execute" must be true or false' }),
  maxInvocations: z.union([z.int({ error: MAX_INVOCATIONS }).min(0, MAX_INVOCATIONS), z.literal('unlimited', { error: MAX_INVOCATIONS })], { error: MAX_INVOCATIONS }),
  macrosBefore: z.array(z.unknown(), { error: '"macrosBefore" must be a list, e.g. ["ctrl_c"]' }),
  // Only plain colour values: the value lands in a style attribute.
  backgroundColor: z.string({ error: BACKGROUND }).regex(/^[#a-zA-Z0-9(),.%\s-]+$/, BACKGROUND),
  waitFor: z.string({ error: '"waitFor" must be a regular expression string (not a string)' }).superRefine((value, ctx) => {
    try {
      new RegExp(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `"waitFor" must be a regular expression string (${(err as Error).message})` });
    }
  }),
  waitForTerminal: z.string({ error: '"waitForTerminal" must be the id of a terminal of the course' }).min(1, '"waitForTerminal" must be the id of a terminal of the course'),
  waitForSeconds: z.number({ error: WAIT_SECONDS }).gt(0, WAIT_SECONDS).max(3600, WAIT_SECONDS),
}).partial();

type InfoKey = keyof typeof infoLine.shape;

/**
 * What Katapod does at run time with a wrong value of one of its keys, which
 * the block then does too; the sentence is added to the warning.
 */
const KATAPOD_READS: Partial<Record<InfoKey, (value: unknown, block: Block, first: string) => string>> = {
  // Katapod looks the value up among its terminals and falls back to the first.
  terminalId: (_value, block, first) => ((block.terminalId = first), `as in Katapod, the block runs in the first terminal, "${first}"`),
  // Katapod runs a block unless "execute" is exactly false.
  execute: (_value, block) => ((block.execute = true), 'as in Katapod, the block runs (only false keeps it from running)'),
  // Katapod runs a block while its count is below the value, compared as JavaScript compares a number with it.
  maxInvocations: (value, block) => {
    const limit = Number(value);
    block.maxInvocations = Number.isNaN(limit) || limit <= 0 ? 0 : limit === Infinity ? null : Math.ceil(limit);
    return `as in Katapod, the block runs while it has run fewer times than ${JSON.stringify(value)}: ${block.maxInvocations === null ? 'without a limit' : `${block.maxInvocations} time(s)`}`;
  },
  macrosBefore: () => 'it is ignored: the block runs without macros',
  // Not Katapod's: any other text would land in a style attribute.
  backgroundColor: () => 'it is ignored: the block keeps its usual colour',
};

function readInfo(info: Record<string, unknown>, block: Block, problem: (m: string, severity?: CourseProblem['severity']) => void, first: string): void {
  const known = Object.keys(infoLine.shape) as InfoKey[];
  for (const key of Object.keys(info)) {
    if (!known.includes(key as InfoKey)) problem(`unknown key "${key}" in the info line, ignored as Katapod does.${didYouMean(key, known)}`, 'warning');
  }
  // Each key on its own: one wrong key does not hide what the others say.
  const values: Record<string, unknown> = {};
  for (const key of known) {
    if (info[key] === undefined) continue;
    const checked = infoLine.shape[key].safeParse(info[key]);
    if (checked.success) values[key] = checked.data;
    else {
      const katapod = KATAPOD_READS[key];
      const message = checked.error.issues[0]!.message;
      if (katapod) problem(`${message}; ${katapod(info[key], block, first)}`, 'warning');
      else problem(message);
    }
  }
  const v = values as z.infer<typeof infoLine>;
  if (v.terminalId !== undefined) block.terminalId = v.terminalId;
  if (v.execute !== undefined) block.execute = v.execute;
  if (typeof v.maxInvocations === 'number') block.maxInvocations = v.maxInvocations;
  for (const macro of v.macrosBefore ?? []) {
    // Katapod passes over a macro it does not know.
    if (MACROS.includes(macro as Macro)) block.macrosBefore.push(macro as Macro);
    else problem(`unknown macro ${JSON.stringify(macro)} in "macrosBefore", skipped as Katapod does; known: ${MACROS.join(', ')}`, 'warning');
  }
  if (v.backgroundColor !== undefined) block.backgroundColor = v.backgroundColor;
  if (v.waitFor !== undefined) block.waitFor = v.waitFor;
  if (v.waitForTerminal !== undefined) block.waitForTerminal = v.waitForTerminal;
  if (v.waitForSeconds !== undefined) block.waitForSeconds = v.waitForSeconds;
}
