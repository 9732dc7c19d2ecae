/**
 * Reading a fenced code block into a runnable `Block`. Katapod's syntax: a line
 * starting with `### ` inside the block says how to run it, either as a bare
 * terminal id (`### host`) or as JSON (`### {"terminalId": "host", "execute":
 * false, "maxInvocations": 1, "macrosBefore": ["ctrl_c"], "backgroundColor":
 * "#fee"}`); if several such lines exist the last one counts, as in Katapod.
 * The loader (to report problems) and the renderer (to draw the block) both
 * read blocks here, so they can never disagree about what a block means.
 */
import { parseJson } from './json.js';
import { MACROS, type Block, type CourseProblem, type Macro } from './schema.js';

const INFO_PREFIX = '### ';

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
  if (!info) return { block, problems };

  const at = info.line;
  const problem = (message: string) => problems.push({ file: ctx.file, line: at, message });

  if (!info.text.startsWith('{')) {
    if (info.text !== '') block.terminalId = info.text;
  } else {
    const json = parseJson(info.text);
    if (!json.ok) {
      problem(`malformed block info line: ${json.message}; expected ### {"terminalId": "…"} or ### termId`);
      return { block, problems };
    }
    readInfo(json.value as Record<string, unknown>, block, problem);
  }

  if (block.execute && !ctx.terminals.includes(block.terminalId)) {
    problem(`unknown terminal id "${block.terminalId}"; the course declares: ${ctx.terminals.join(', ') || '(none)'}`);
  }
  if (block.waitForTerminal !== undefined && !ctx.terminals.includes(block.waitForTerminal)) {
    problem(`unknown terminal id "${block.waitForTerminal}" in "waitForTerminal"; the course declares: ${ctx.terminals.join(', ') || '(none)'}`);
  }
  return { block, problems };
}

function readInfo(info: Record<string, unknown>, block: Block, problem: (m: string) => void): void {
  const { terminalId, execute, maxInvocations, macrosBefore, backgroundColor, waitFor, waitForTerminal, waitForSeconds } = info;
  if (terminalId !== undefined) {
    if (typeof terminalId === 'string' && terminalId !== '') block.terminalId = terminalId;
    else problem('"terminalId" must be a non-empty string');
  }
  if (execute !== undefined) {
    if (typeof execute === 'boolean') block.execute = execute;
    else problem('"execute" must be true or false');
  }
  if (maxInvocations !== undefined && maxInvocations !== 'unlimited') {
    if (typeof maxInvocations === 'number' && Number.isInteger(maxInvocations) && maxInvocations >= 0) {
      block.maxInvocations = maxInvocations;
    } else {
      problem('"maxInvocations" must be a whole number ≥ 0 or "unlimited"');
    }
  }
  if (macrosBefore !== undefined) {
    if (Array.isArray(macrosBefore)) {
      for (const macro of macrosBefore) {
        if (MACROS.includes(macro as Macro)) block.macrosBefore.push(macro as Macro);
        else problem(`unknown macro ${JSON.stringify(macro)} in "macrosBefore"; known: ${MACROS.join(', ')}`);
      }
    } else {
      problem('"macrosBefore" must be a list, e.g. ["ctrl_c"]');
    }
  }
  if (backgroundColor !== undefined) {
    // Only plain colour values: the value lands in a style attribute.
    if (typeof backgroundColor === 'string' && /^[#a-zA-Z0-9(),.%\s-]+$/.test(backgroundColor)) {
      block.backgroundColor = backgroundColor;
    } else {
      problem('"backgroundColor" must be a CSS colour such as "#ffeecc" or "lightyellow"');
    }
  }
  if (waitFor !== undefined) {
    try {
      if (typeof waitFor !== 'string') throw new Error('not a string');
      new RegExp(waitFor);
      block.waitFor = waitFor;
    } catch (err) {
      problem(`"waitFor" must be a regular expression string (${(err as Error).message})`);
    }
  }
  if (waitForTerminal !== undefined) {
    if (typeof waitForTerminal === 'string' && waitForTerminal !== '') block.waitForTerminal = waitForTerminal;
    else problem('"waitForTerminal" must be the id of a terminal of the course');
  }
  if (waitForSeconds !== undefined) {
    if (typeof waitForSeconds === 'number' && waitForSeconds > 0 && waitForSeconds <= 3600) block.waitForSeconds = waitForSeconds;
    else problem('"waitForSeconds" must be a number of seconds above 0, at most 3600');
  }
}
