/**
 * The course.json format as one zod schema, and its findings as problems an
 * author can act on: every unknown key (with "did you mean …?" when a known
 * key is close), wrong type and missing field, at the file:line where it is
 * (jsonc-parser maps the JSON path to its place in the text). Our own format
 * is strict: a typo in "check" must not silently drop a page's check.
 */
import { closest, distance } from 'fastest-levenshtein';
import jsonc from 'jsonc-parser';
import { z } from 'zod';
import type { CourseProblem } from './schema.js';

const word = z.string({ error: 'must be a word (letters, digits, _ . -)' }).regex(/^[\w.-]+$/, 'must be a word (letters, digits, _ . -)');
const shellCommand = z.string({ error: 'must be a shell command string' });
const text = z.string({ error: 'must be a string' });
const path = z.string({ error: 'must be a path in the course directory' }).min(1, 'must be a path in the course directory');

const terminal = z.strictObject({ id: word, name: text.optional() });
const MAX_INVOCATIONS = 'must be a whole number ≥ 0 or "unlimited"';
export const maxInvocations = z.union([z.int({ error: MAX_INVOCATIONS }).min(0, MAX_INVOCATIONS), z.literal('unlimited', { error: MAX_INVOCATIONS })], { error: MAX_INVOCATIONS });
const onLoad = z.strictObject({ terminal: z.string({ error: 'must be the id of a terminal of the course' }).min(1), command: shellCommand, maxInvocations: maxInvocations.optional() });
const page = z.strictObject({
  id: word,
  file: path.optional(),
  title: text.optional(),
  onLoad: z.array(onLoad, { error: 'must be a list of {"terminal", "command"}' }).optional(),
  check: shellCommand.optional(),
  checkTimeoutSeconds: z.number({ error: 'must be a number > 0' }).positive('must be a number > 0').optional(),
  confirmsRestore: z.boolean({ error: 'must be true or false' }).optional(),
});
const panel = z.strictObject({ id: word, title: text.optional(), module: path, client: path });
const pageId = z.string({ error: 'must be the id of a page of the course' }).min(1, 'must be the id of a page of the course');
const resume = z.strictObject({ terminal: z.string({ error: 'must be the id of a terminal of the course' }).min(1), command: shellCommand, from: pageId, until: pageId.optional() });
const whole = z.int({ error: 'must be a whole number from 1' }).min(1, 'must be a whole number from 1');
const environments = z.strictObject({
  first: whole.optional(),
  last: whole.optional(),
  memoryGiB: z.number({ error: 'must be a number > 0 (the memory one environment needs)' }).positive('must be a number > 0 (the memory one environment needs)').optional(),
  cpus: z.number({ error: 'must be a number > 0 (the CPUs one isolated environment may use)' }).positive('must be a number > 0 (the CPUs one isolated environment may use)').optional(),
});

export const courseJsonSchema = z.strictObject({
  /** Editors' schema reference; the lab ignores it. */
  $schema: text.optional(),
  title: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string'),
  terminals: z.array(terminal, { error: 'must be a non-empty list of {"id", "name"}' }).min(1, 'must be a non-empty list of {"id", "name"}'),
  layout: z.enum(['stacked', 'tabbed'], { error: 'must be "stacked" or "tabbed"' }).optional(),
  prepare: shellCommand.optional(),
  setup: shellCommand.optional(),
  reset: shellCommand.optional(),
  teardown: shellCommand.optional(),
  suspend: shellCommand.optional(),
  status: shellCommand.optional(),
  states: z.strictObject({ save: shellCommand, restore: shellCommand }, { error: 'must be {"save", "restore"}: two shell commands' }).optional(),
  resume: z.array(resume, { error: 'must be a list of {"terminal", "command", "from", "until"}' }).optional(),
  pages: z.array(page, { error: 'must be a non-empty list of {"id", "file", "title"}' }).min(1, 'must be a non-empty list of {"id", "file", "title"}'),
  panels: z.array(panel, { error: 'must be a list of {"id", "title", "module", "client"}' }).optional(),
  environments: environments.optional(),
});

export type CourseJson = z.infer<typeof courseJsonSchema>;

/** "pages[2].check" */
export function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** The 1-based line of the value at `path` (of its key, for an object member), or of the nearest enclosing value that exists. */
export function lineAt(source: string, path: readonly PropertyKey[]): number {
  const root = jsonc.parseTree(source);
  if (!root) return 0;
  for (let n = path.length; n >= 0; n--) {
    const node = jsonc.findNodeAtLocation(root, path.slice(0, n) as (string | number)[]);
    if (!node) continue;
    const at = node.parent?.type === 'property' ? node.parent.offset : node.offset;
    return source.slice(0, at).split('\n').length;
  }
  return 0;
}

/** The keys the schema knows for the object at `path`. */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = courseJsonSchema;
  for (const step of path) {
    while (schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
    if (schema instanceof z.ZodArray && typeof step === 'number') schema = schema.element as z.ZodType;
    else if (schema instanceof z.ZodObject && typeof step === 'string') schema = schema.shape[step] as z.ZodType;
    else return [];
    if (!schema) return [];
  }
  while (schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** ` Did you mean "check"?` when a known key is a small edit away. */
export function didYouMean(key: string, known: string[]): string {
  if (known.length === 0) return '';
  const near = closest(key, known);
  return distance(key.toLowerCase(), near.toLowerCase()) <= Math.max(2, Math.floor(key.length / 3)) ? ` Did you mean "${near}"?` : '';
}

/** Reads course.json's value: the checked value, or the problems that keep it from being one. */
export function readCourseJsonValue(value: unknown, source: string, file: string): { value?: CourseJson; problems: CourseProblem[] } {
  const result = courseJsonSchema.safeParse(value);
  if (result.success) return { value: result.data, problems: [] };
  const problems: CourseProblem[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(issue.path);
      for (const key of issue.keys) {
        const where = pathText([...issue.path, key]);
        problems.push({ file, line: lineAt(source, [...issue.path, key]), severity: 'error', message: `unknown key "${where}".${didYouMean(key, known)} Known here: ${known.join(', ')}` });
      }
      continue;
    }
    const where = issue.path.length ? `"${pathText(issue.path)}"` : 'the file';
    const missing = issue.code === 'invalid_type' && valueAt(value, issue.path) === undefined;
    problems.push({ file, line: lineAt(source, issue.path), severity: 'error', message: missing ? `${where} is missing: it ${issue.message}` : `${where} ${issue.message}` });
  }
  return { problems };
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const step of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[step];
  }
  return v;
}
