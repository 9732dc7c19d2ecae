/**
 * Loading and validating a course directory. `loadCourse(dir)` reads either
 * `course.json` or a Katapod scenario (`.katapod_config.json`, `intro.md`,
 * `stepN….md`, `finish.md`) into a `Course`, then reads every page the way the
 * renderer will, and returns every problem it found with file and line:
 * malformed JSON, unknown terminal ids, malformed `### {json}` info lines,
 * missing pages, links to pages or course files that do not exist, missing
 * local images. Each is an error (the course cannot run as written) or a
 * warning (Katapod tolerates it, and the lab does what Katapod does). It
 * never falls back silently: if something is wrong, the author is told.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseJson } from './json.js';
import { findPageLinks } from './links.js';
import { parsePage } from './page.js';
import { isLocalFile, resolveCourseFile, servableCourseFile } from './files.js';
import { didYouMean, lineAt, maxInvocations, readCourseJsonValue } from './course-json.js';
import { DEFAULT_ENVIRONMENTS, type Course, type CourseProblem, type EnvironmentSpec, type OnLoadCommand, type PageSpec, type PanelSpec, type ResumeCommand, type TerminalSpec } from './schema.js';

export const COURSE_FILE = 'course.json';
export const KATAPOD_CONFIG = '.katapod_config.json';
const DEFAULT_CHECK_TIMEOUT_SECONDS = 60;
/** Routes under /api/env/:k/ that a panel id would shadow. */
const RESERVED_PANEL_IDS = ['progress', 'visit', 'run', 'check', 'reset'];
/** Katapod's defaults when a scenario has no config file. */
const KATAPOD_DEFAULT_TERMINAL: TerminalSpec = { id: 'cqlsh', name: 'cqlsh-editor' };
const KATAPOD_WAIT_SCRIPT = 'wait.sh';

export interface LoadResult {
  /** Undefined only when the course cannot be read at all. */
  course?: Course;
  problems: CourseProblem[];
}

export function loadCourse(dir: string): LoadResult {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    return { problems: [{ file: abs, line: 0, severity: 'error', message: 'no such course directory' }] };
  }
  const problems: CourseProblem[] = [];
  let course: Course | undefined;
  if (existsSync(join(abs, COURSE_FILE))) course = readCourseJson(abs, problems);
  else if (existsSync(join(abs, KATAPOD_CONFIG)) || existsSync(join(abs, 'intro.md'))) course = readKatapod(abs, problems);
  else {
    problems.push({
      file: abs,
      line: 0,
      severity: 'error',
      message: `not a course directory: expected ${COURSE_FILE}, or a Katapod scenario (${KATAPOD_CONFIG} and intro.md)`,
    });
  }
  if (course) checkPages(course, problems);
  return { course, problems };
}

// ---------------------------------------------------------------- course.json

function readCourseJson(dir: string, problems: CourseProblem[]): Course | undefined {
  const file = COURSE_FILE;
  const text = readFileSync(join(dir, file), 'utf8');
  const value = parseJsonFile(text, file, problems);
  if (value === undefined) return undefined;
  const checked = readCourseJsonValue(value, text, file);
  problems.push(...checked.problems);
  const json = checked.value;
  if (!json) return undefined;
  const at = (path: (string | number)[], severity: CourseProblem['severity'], message: string) => problems.push({ file, line: lineAt(text, path), severity, message });

  const terminals: TerminalSpec[] = [];
  json.terminals.forEach((t, i) => {
    if (terminals.some((x) => x.id === t.id)) at(['terminals', i, 'id'], 'error', `terminals[${i}]: duplicate terminal id "${t.id}"`);
    else terminals.push({ id: t.id, name: t.name || t.id });
  });
  const first = terminals[0]!.id;

  const pages: PageSpec[] = [];
  json.pages.forEach((p, i) => {
    if (pages.some((x) => x.id === p.id)) at(['pages', i, 'id'], 'error', `pages[${i}]: duplicate page id "${p.id}"`);
    const onLoad: OnLoadCommand[] = (p.onLoad ?? []).map((c, j) => {
      const limit = c.maxInvocations === undefined ? {} : { maxInvocations: c.maxInvocations };
      if (terminals.some((t) => t.id === c.terminal)) return { terminal: c.terminal, command: c.command, ...limit };
      at(['pages', i, 'onLoad', j, 'terminal'], 'warning', `page "${p.id}": onLoad[${j}]: unknown terminal id "${c.terminal}"; it runs in the first terminal, "${first}", as in Katapod (the course declares: ${terminals.map((t) => t.id).join(', ')})`);
      return { terminal: first, command: c.command, ...limit };
    });
    pages.push({
      id: p.id,
      title: p.title || p.id,
      file: p.file ?? `${p.id}.md`,
      onLoad,
      check: p.check !== undefined && p.check.trim() !== '' ? p.check : undefined,
      checkTimeoutSeconds: p.checkTimeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_SECONDS,
      ...(p.confirmsRestore === false ? { confirmsRestore: false } : {}),
    });
  });

  const panels: PanelSpec[] = [];
  (json.panels ?? []).forEach((p, i) => {
    if (RESERVED_PANEL_IDS.includes(p.id)) at(['panels', i, 'id'], 'error', `panel "${p.id}": the id is taken by the lab's own routes (${RESERVED_PANEL_IDS.join(', ')})`);
    if (panels.some((x) => x.id === p.id)) at(['panels', i, 'id'], 'error', `panels[${i}]: duplicate panel id "${p.id}"`);
    let ok = true;
    for (const key of ['module', 'client'] as const) {
      const path = resolveCourseFile(dir, p[key]);
      if (!path) at(['panels', i, key], 'error', `panel "${p.id}": "${key}" ${p[key]} points outside the course directory`);
      else if (!existsSync(path)) at(['panels', i, key], 'error', `panel "${p.id}": "${key}" ${p[key]} does not exist`);
      ok &&= Boolean(path && existsSync(path));
    }
    if (ok) panels.push({ id: p.id, title: p.title || p.id, module: p.module, client: p.client });
  });

  const resume: ResumeCommand[] = [];
  (json.resume ?? []).forEach((r, i) => {
    if (!terminals.some((t) => t.id === r.terminal)) at(['resume', i, 'terminal'], 'error', `resume[${i}]: unknown terminal id "${r.terminal}" (the course declares: ${terminals.map((t) => t.id).join(', ')})`);
    for (const key of ['from', 'until'] as const) {
      const id = r[key];
      if (id !== undefined && !pages.some((p) => p.id === id)) at(['resume', i, key], 'error', `resume[${i}]: "${key}" names page "${id}", which the course does not have.${didYouMean(id, pages.map((p) => p.id))}`);
    }
    const from = pages.findIndex((p) => p.id === r.from);
    const until = r.until === undefined ? pages.length : pages.findIndex((p) => p.id === r.until);
    if (from >= 0 && until >= 0 && until <= from) at(['resume', i, 'until'], 'error', `resume[${i}]: "until" (${r.until}) must come after "from" (${r.from}) in the pages`);
    resume.push({ terminal: r.terminal, command: r.command, from: r.from, ...(r.until === undefined ? {} : { until: r.until }) });
  });

  const e = json.environments ?? {};
  const environments: EnvironmentSpec = {
    first: e.first ?? DEFAULT_ENVIRONMENTS.first,
    last: e.last ?? DEFAULT_ENVIRONMENTS.last,
    memoryBytes: e.memoryGiB === undefined ? DEFAULT_ENVIRONMENTS.memoryBytes : Math.round(e.memoryGiB * 1024 ** 3),
    cpus: e.cpus,
  };
  if (environments.first > environments.last) at(['environments'], 'error', `"environments": "first" (${environments.first}) is after "last" (${environments.last})`);

  return {
    dir,
    format: 'course.json',
    title: json.title,
    terminals,
    layout: json.layout ?? 'stacked',
    prepare: json.prepare,
    setup: json.setup,
    reset: json.reset,
    teardown: json.teardown,
    suspend: json.suspend,
    status: json.status,
    states: json.states,
    resume,
    pages,
    panels,
    environments,
  };
}

// ---------------------------------------------------------------- Katapod

function readKatapod(dir: string, problems: CourseProblem[]): Course | undefined {
  const file = KATAPOD_CONFIG;
  let terminals: TerminalSpec[] = [KATAPOD_DEFAULT_TERMINAL];
  const onLoadByStep = new Map<string, OnLoadCommand[]>();
  let text = '';
  if (existsSync(join(dir, file))) {
    text = readFileSync(join(dir, file), 'utf8');
    const json = parseJsonFile(text, file, problems);
    if (json === undefined) return undefined;
    // Each problem at the line of the value it is about (a JSON path), not at the first text that looks like it.
    const problem = (message: string, path: (string | number)[], severity: CourseProblem['severity'] = 'error') => problems.push({ file, line: lineAt(text, path), severity, message });
    const layoutTerminals = isObject(json) && isObject(json.layout) ? json.layout.terminals : undefined;
    if (!Array.isArray(layoutTerminals) || layoutTerminals.length === 0) {
      problem('"layout.terminals" must be a non-empty list of {"id", "name"}', ['layout', 'terminals']);
    } else {
      terminals = [];
      layoutTerminals.forEach((t, i) => {
        if (!isObject(t) || typeof t.id !== 'string' || t.id === '') problem(`layout.terminals[${i}]: "id" must be a non-empty string`, ['layout', 'terminals', i, 'id']);
        else terminals.push({ id: t.id, name: typeof t.name === 'string' && t.name !== '' ? t.name : t.id });
      });
    }
    const NAV = ['navigation', 'onLoadCommands'];
    const nav = isObject(json) && isObject(json.navigation) ? json.navigation.onLoadCommands : undefined;
    if (nav !== undefined && !isObject(nav)) problem('"navigation.onLoadCommands" must be an object {step: {terminalId: [{"command"}]}}', NAV);
    if (isObject(nav)) {
      for (const [step, perTerminal] of Object.entries(nav)) {
        const commands: OnLoadCommand[] = [];
        if (!isObject(perTerminal)) {
          problem(`onLoadCommands.${step} must be an object {terminalId: [{"command"}]}`, [...NAV, step]);
          continue;
        }
        for (const [named, list] of Object.entries(perTerminal)) {
          let terminal = named;
          if (!terminals.some((t) => t.id === terminal)) {
            terminal = terminals[0]!.id;
            problem(
              `onLoadCommands.${step}: unknown terminal id "${named}"; its commands run in the first terminal, "${terminal}", as in Katapod (the scenario declares: ${terminals.map((t) => t.id).join(', ')})`,
              [...NAV, step, named],
              'warning',
            );
          }
          if (!Array.isArray(list)) {
            problem(`onLoadCommands.${step}.${named} must be a list of {"command": "…"}`, [...NAV, step, named]);
            continue;
          }
          list.forEach((c: unknown, k) => {
            if (!isObject(c) || typeof c.command !== 'string') {
              problem(`onLoadCommands.${step}.${named}: each entry must be {"command": "…"}`, [...NAV, step, named, k]);
              return;
            }
            const limit = maxInvocations.optional().safeParse(c.maxInvocations);
            if (!limit.success) problem(`onLoadCommands.${step}.${named}: "maxInvocations" ${limit.error.issues[0]!.message}`, [...NAV, step, named, k, 'maxInvocations']);
            if (c.execute !== false) {
              commands.push({ terminal, command: c.command, ...(limit.success && limit.data !== undefined ? { maxInvocations: limit.data } : {}), ...(terminal === named ? {} : { writtenTerminal: named }) });
            }
          });
        }
        onLoadByStep.set(step, commands);
      }
    }
  }

  // Katapod's own default without a config file: a scenario's wait.sh runs on the intro page.
  if (!text && existsSync(join(dir, KATAPOD_WAIT_SCRIPT))) {
    onLoadByStep.set('intro', [{ terminal: KATAPOD_DEFAULT_TERMINAL.id, command: `./${KATAPOD_WAIT_SCRIPT};` }]);
  }
  const { ids, branchOf } = katapodPageIds(dir);
  if (!ids.includes('intro')) problems.push({ file: 'intro.md', line: 0, severity: 'error', message: 'missing page: a Katapod scenario starts at intro.md' });
  const pages: PageSpec[] = ids.map((id) => ({
    id,
    title: id,
    file: `${id}.md`,
    onLoad: onLoadByStep.get(id) ?? [],
    checkTimeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS,
    ...(branchOf.has(id) ? { branchOf: branchOf.get(id) } : {}),
  }));
  for (const step of onLoadByStep.keys()) {
    if (!ids.includes(step)) {
      problems.push({ file, line: lineAt(text, ['navigation', 'onLoadCommands', step]), severity: 'warning', message: `onLoadCommands names step "${step}", but ${step}.md does not exist: they are ignored, as in Katapod` });
    }
  }
  const course: Course = { dir, format: 'katapod', title: 'Katapod scenario', terminals, layout: 'stacked', resume: [], pages, panels: [], environments: DEFAULT_ENVIRONMENTS };
  // A page's title is its first heading, read from the page's one parse (a "# comment" in a fenced block is no heading).
  for (const page of pages) {
    const path = resolveCourseFile(dir, page.file);
    if (path && existsSync(path)) page.title = parsePage(course, page).title ?? page.id;
  }
  course.title = pages[0]?.title ?? course.title;
  return course;
}

/**
 * intro, then step pages in natural order (step2 before step10), then
 * finish: the main path. Then every other page a link reaches, each with the
 * main page it branches from (through other such pages, if need be).
 */
function katapodPageIds(dir: string): { ids: string[]; branchOf: Map<string, string> } {
  const md = readdirSync(dir).filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -3));
  const steps = md.filter((id) => /^step\d+$/.test(id)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const ordered = [...(md.includes('intro') ? ['intro'] : []), ...steps, ...(md.includes('finish') ? ['finish'] : [])];
  const branchOf = new Map<string, string>();
  // Pages off the main path count only if some page links to them.
  const queue = [...ordered];
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const link of findPageLinks(readFileSync(join(dir, `${id}.md`), 'utf8'))) {
      if (link.target && !ordered.includes(link.target) && md.includes(link.target)) {
        ordered.push(link.target);
        queue.push(link.target);
        branchOf.set(link.target, branchOf.get(id) ?? id);
      }
    }
  }
  return { ids: ordered, branchOf };
}

// ---------------------------------------------------------------- pages

/** Read every page as the renderer will and report what would break. */
function checkPages(course: Course, problems: CourseProblem[]): void {
  const pageIds = new Set(course.pages.map((p) => p.id));
  course.pages.forEach((page, index) => {
    const path = resolveCourseFile(course.dir, page.file);
    if (!path || !existsSync(path)) {
      const where = course.format === 'course.json' ? { file: COURSE_FILE, line: pageEntryLine(readFileSync(join(course.dir, COURSE_FILE), 'utf8'), index) } : { file: page.file, line: 0 };
      problems.push({ ...where, severity: 'error', message: `missing page: ${page.file} (page "${page.id}") does not exist in the course directory` });
      return;
    }
    // The same parse the renderer draws and the engine runs blocks from.
    const { source, problems: found } = parsePage(course, page);
    problems.push(...found);
    for (const link of findPageLinks(source)) {
      if (link.target === undefined) {
        problems.push({ file: page.file, line: link.line, severity: 'error', message: `unreadable page link "${link.raw}": expected loadPage?stepN or loadPage?[{"step":"stepN"}]` });
      } else if (!pageIds.has(link.target)) problems.push({ file: page.file, line: link.line, severity: 'error', message: `link to a step that does not exist: "${link.target}"` });
    }
    source.split('\n').forEach((text, i) => {
      for (const m of text.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*\bsrc=["']([^"']+)["']/g)) {
        const src = m[1] ?? m[2] ?? '';
        if (/^([a-z]+:|\/\/|#)/i.test(src)) continue;
        // A leading "/" means the course folder, as in Katapod.
        const file = resolveCourseFile(course.dir, decodeURIComponentSafe(src.split(/[?#]/)[0] ?? '').replace(/^\//, ''));
        // The page still runs without the image (the learner sees its alt text): a warning.
        if (!file) problems.push({ file: page.file, line: i + 1, severity: 'warning', message: `image "${src}" points outside the course directory; it is not served` });
        else if (!existsSync(file)) problems.push({ file: page.file, line: i + 1, severity: 'warning', message: `image "${src}" does not exist` });
      }
      // Links to the course's files (`[data](/data/x.csv)`, `<a href="notes.pdf">`), which the lab serves as it serves images.
      for (const m of text.matchAll(/(?<!!)\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)|<a\b[^>]*\bhref=["']([^"']+)["']/g)) {
        const href = m[1] ?? m[2] ?? '';
        if (!isLocalFile(href)) continue;
        const rel = decodeURIComponentSafe(href.split(/[?#]/)[0] ?? '').replace(/^\.?\//, '');
        const file = resolveCourseFile(course.dir, rel);
        if (!file) problems.push({ file: page.file, line: i + 1, severity: 'error', message: `link "${href}" points outside the course directory: it leads to nothing` });
        else if (!existsSync(file)) problems.push({ file: page.file, line: i + 1, severity: 'error', message: `link to a file that does not exist: "${href}"` });
        else if (!servableCourseFile(course.dir, rel)) problems.push({ file: page.file, line: i + 1, severity: 'warning', message: `link "${href}": the lab serves pictures, media, PDF, CSV and ZIP files of the course, not this one` });
      }
    });
  });
}

// ---------------------------------------------------------------- JSON helpers

/** course.json's pages are its "pages" in order: the line of page `index`'s "file", or of its "id" when the file name is the id's default. */
function pageEntryLine(text: string, index: number): number {
  const file = lineAt(text, ['pages', index, 'file']);
  return file !== lineAt(text, ['pages', index]) ? file : lineAt(text, ['pages', index, 'id']);
}

function parseJsonFile(text: string, file: string, problems: CourseProblem[]): unknown {
  const result = parseJson(text);
  if (result.ok) return result.value;
  problems.push({ file, line: result.line, severity: 'error', message: `malformed JSON: ${result.message}` });
  return undefined;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
