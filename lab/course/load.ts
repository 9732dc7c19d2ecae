/**
 * Loading and validating a course directory. `loadCourse(dir)` reads either
 * `course.json` or a Katapod scenario (`.katapod_config.json`, `intro.md`,
 * `stepN….md`, `finish.md`) into a `Course`, then reads every page the way the
 * renderer will, and returns every problem it found with file and line:
 * malformed JSON, unknown terminal ids, malformed `### {json}` info lines,
 * missing pages, links to pages that do not exist, missing local images. It
 * never falls back silently: if something is wrong, the author is told.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseBlock } from './blocks.js';
import { parseJson } from './json.js';
import { findPageLinks } from './links.js';
import { createMarkdown } from './markdown.js';
import { resolveCourseFile } from './files.js';
import { DEFAULT_ENVIRONMENTS, type Course, type CourseProblem, type EnvironmentSpec, type Layout, type OnLoadCommand, type PageSpec, type PanelSpec, type TerminalSpec } from './schema.js';

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
    return { problems: [{ file: abs, line: 0, message: 'no such course directory' }] };
  }
  const problems: CourseProblem[] = [];
  let course: Course | undefined;
  if (existsSync(join(abs, COURSE_FILE))) course = readCourseJson(abs, problems);
  else if (existsSync(join(abs, KATAPOD_CONFIG)) || existsSync(join(abs, 'intro.md'))) course = readKatapod(abs, problems);
  else {
    problems.push({
      file: abs,
      line: 0,
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
  const json = parseJsonFile(text, file, problems);
  if (json === undefined) return undefined;
  const problem = (message: string, needle?: string) => problems.push({ file, line: lineOf(text, needle), message });
  if (!isObject(json)) {
    problem('must be a JSON object with "title", "terminals" and "pages"');
    return undefined;
  }

  const title = typeof json.title === 'string' && json.title !== '' ? json.title : undefined;
  if (!title) problem('"title" must be a non-empty string', '"title"');

  const terminals: TerminalSpec[] = [];
  if (!Array.isArray(json.terminals) || json.terminals.length === 0) {
    problem('"terminals" must be a non-empty list of {"id", "name"}', '"terminals"');
  } else {
    json.terminals.forEach((t, i) => {
      if (!isObject(t) || typeof t.id !== 'string' || !/^[\w.-]+$/.test(t.id)) {
        problem(`terminals[${i}]: "id" must be a word (letters, digits, _ . -)`, isObject(t) ? JSON.stringify(t.id) : '"terminals"');
        return;
      }
      if (terminals.some((x) => x.id === t.id)) problem(`terminals[${i}]: duplicate terminal id "${t.id}"`, `"${t.id}"`);
      terminals.push({ id: t.id, name: typeof t.name === 'string' && t.name !== '' ? t.name : t.id });
    });
  }

  let layout: Layout = 'stacked';
  if (json.layout !== undefined) {
    if (json.layout === 'stacked' || json.layout === 'tabbed') layout = json.layout;
    else problem('"layout" must be "stacked" or "tabbed"', '"layout"');
  }
  for (const key of ['setup', 'reset', 'teardown', 'status'] as const) {
    if (json[key] !== undefined && typeof json[key] !== 'string') problem(`"${key}" must be a shell command string`, `"${key}"`);
  }

  const pages: PageSpec[] = [];
  if (!Array.isArray(json.pages) || json.pages.length === 0) {
    problem('"pages" must be a non-empty list of {"id", "file", "title"}', '"pages"');
  } else {
    json.pages.forEach((p, i) => {
      const where = isObject(p) && typeof p.id === 'string' ? `"${p.id}"` : '"pages"';
      if (!isObject(p) || typeof p.id !== 'string' || !/^[\w.-]+$/.test(p.id)) {
        problem(`pages[${i}]: "id" must be a word (letters, digits, _ . -)`, where);
        return;
      }
      if (pages.some((x) => x.id === p.id)) problem(`pages[${i}]: duplicate page id "${p.id}"`, where);
      const pageFile = typeof p.file === 'string' && p.file !== '' ? p.file : `${p.id}.md`;
      if (p.file !== undefined && typeof p.file !== 'string') problem(`page "${p.id}": "file" must be a path string`, where);
      const onLoad: OnLoadCommand[] = [];
      if (p.onLoad !== undefined) {
        if (!Array.isArray(p.onLoad)) problem(`page "${p.id}": "onLoad" must be a list of {"terminal", "command"}`, where);
        else
          p.onLoad.forEach((c, j) => {
            if (!isObject(c) || typeof c.terminal !== 'string' || typeof c.command !== 'string') {
              problem(`page "${p.id}": onLoad[${j}] must be {"terminal": "id", "command": "…"}`, where);
            } else {
              if (!terminals.some((t) => t.id === c.terminal)) {
                problem(`page "${p.id}": onLoad[${j}]: unknown terminal id "${c.terminal}"; the course declares: ${terminals.map((t) => t.id).join(', ')}`, `"${c.terminal}"`);
              }
              onLoad.push({ terminal: c.terminal, command: c.command });
            }
          });
      }
      if (p.check !== undefined && typeof p.check !== 'string') problem(`page "${p.id}": "check" must be a shell command string`, where);
      let timeout = DEFAULT_CHECK_TIMEOUT_SECONDS;
      if (p.checkTimeoutSeconds !== undefined) {
        if (typeof p.checkTimeoutSeconds === 'number' && p.checkTimeoutSeconds > 0) timeout = p.checkTimeoutSeconds;
        else problem(`page "${p.id}": "checkTimeoutSeconds" must be a number > 0`, where);
      }
      pages.push({
        id: p.id,
        title: typeof p.title === 'string' && p.title !== '' ? p.title : p.id,
        file: pageFile,
        onLoad,
        check: typeof p.check === 'string' && p.check.trim() !== '' ? p.check : undefined,
        checkTimeoutSeconds: timeout,
      });
    });
  }

  const panels = readPanels(dir, json.panels, problem);
  const environments = readEnvironments(json.environments, problem);

  return {
    dir,
    format: 'course.json',
    title: title ?? 'Untitled course',
    terminals,
    layout,
    setup: typeof json.setup === 'string' ? json.setup : undefined,
    reset: typeof json.reset === 'string' ? json.reset : undefined,
    teardown: typeof json.teardown === 'string' ? json.teardown : undefined,
    status: typeof json.status === 'string' ? json.status : undefined,
    pages,
    panels,
    environments,
  };
}

function readEnvironments(raw: unknown, problem: (message: string, needle?: string) => void): EnvironmentSpec {
  if (raw === undefined) return DEFAULT_ENVIRONMENTS;
  const shape = '"environments" must be {"first": 1, "last": 254, "memoryGiB": 2.1, "cpus": 2} (each optional)';
  if (!isObject(raw)) {
    problem(shape, '"environments"');
    return DEFAULT_ENVIRONMENTS;
  }
  const spec = { ...DEFAULT_ENVIRONMENTS };
  for (const key of Object.keys(raw)) if (!['first', 'last', 'memoryGiB', 'cpus'].includes(key)) problem(`"environments": unknown key "${key}"; ${shape}`, `"${key}"`);
  for (const key of ['first', 'last'] as const) {
    if (raw[key] === undefined) continue;
    if (Number.isInteger(raw[key]) && (raw[key] as number) >= 1) spec[key] = raw[key] as number;
    else problem(`"environments": "${key}" must be a whole number from 1`, `"${key}"`);
  }
  if (spec.first > spec.last) problem(`"environments": "first" (${spec.first}) is after "last" (${spec.last})`, '"environments"');
  if (raw.memoryGiB !== undefined) {
    if (typeof raw.memoryGiB === 'number' && raw.memoryGiB > 0) spec.memoryBytes = Math.round(raw.memoryGiB * 1024 ** 3);
    else problem('"environments": "memoryGiB" must be a number > 0 (the memory one environment needs)', '"memoryGiB"');
  }
  if (raw.cpus !== undefined) {
    if (typeof raw.cpus === 'number' && raw.cpus > 0) spec.cpus = raw.cpus;
    else problem('"environments": "cpus" must be a number > 0 (the CPUs one isolated environment may use)', '"cpus"');
  }
  return spec;
}

function readPanels(dir: string, raw: unknown, problem: (message: string, needle?: string) => void): PanelSpec[] {
  const panels: PanelSpec[] = [];
  if (raw === undefined) return panels;
  if (!Array.isArray(raw)) {
    problem('"panels" must be a list of {"id", "title", "module", "client"}', '"panels"');
    return panels;
  }
  raw.forEach((p, i) => {
    if (!isObject(p) || typeof p.id !== 'string' || !/^[\w.-]+$/.test(p.id)) {
      problem(`panels[${i}]: "id" must be a word (letters, digits, _ . -)`, '"panels"');
      return;
    }
    const where = `"${p.id}"`;
    if (RESERVED_PANEL_IDS.includes(p.id)) problem(`panel "${p.id}": the id is taken by the lab's own routes (${RESERVED_PANEL_IDS.join(', ')})`, where);
    if (panels.some((x) => x.id === p.id)) problem(`panels[${i}]: duplicate panel id "${p.id}"`, where);
    let ok = true;
    for (const key of ['module', 'client'] as const) {
      const file = p[key];
      if (typeof file !== 'string' || file === '') {
        problem(`panel "${p.id}": "${key}" must be a path in the course directory`, where);
        ok = false;
        continue;
      }
      const path = resolveCourseFile(dir, file);
      if (!path) problem(`panel "${p.id}": "${key}" ${file} points outside the course directory`, `"${file}"`);
      else if (!existsSync(path)) problem(`panel "${p.id}": "${key}" ${file} does not exist`, `"${file}"`);
      ok &&= Boolean(path && existsSync(path));
    }
    if (ok) {
      panels.push({ id: p.id, title: typeof p.title === 'string' && p.title !== '' ? p.title : p.id, module: p.module as string, client: p.client as string });
    }
  });
  return panels;
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
    const problem = (message: string, needle?: string) => problems.push({ file, line: lineOf(text, needle), message });
    const layoutTerminals = isObject(json) && isObject(json.layout) ? json.layout.terminals : undefined;
    if (!Array.isArray(layoutTerminals) || layoutTerminals.length === 0) {
      problem('"layout.terminals" must be a non-empty list of {"id", "name"}', '"layout"');
    } else {
      terminals = [];
      layoutTerminals.forEach((t, i) => {
        if (!isObject(t) || typeof t.id !== 'string' || t.id === '') problem(`layout.terminals[${i}]: "id" must be a non-empty string`, '"terminals"');
        else terminals.push({ id: t.id, name: typeof t.name === 'string' && t.name !== '' ? t.name : t.id });
      });
    }
    const nav = isObject(json) && isObject(json.navigation) ? json.navigation.onLoadCommands : undefined;
    if (nav !== undefined && !isObject(nav)) problem('"navigation.onLoadCommands" must be an object {step: {terminalId: [{"command"}]}}', '"onLoadCommands"');
    if (isObject(nav)) {
      for (const [step, perTerminal] of Object.entries(nav)) {
        const commands: OnLoadCommand[] = [];
        if (!isObject(perTerminal)) {
          problem(`onLoadCommands.${step} must be an object {terminalId: [{"command"}]}`, `"${step}"`);
          continue;
        }
        for (const [terminal, list] of Object.entries(perTerminal)) {
          if (!terminals.some((t) => t.id === terminal)) {
            problem(`onLoadCommands.${step}: unknown terminal id "${terminal}"; the scenario declares: ${terminals.map((t) => t.id).join(', ')}`, `"${terminal}"`);
          }
          if (!Array.isArray(list)) {
            problem(`onLoadCommands.${step}.${terminal} must be a list of {"command": "…"}`, `"${terminal}"`);
            continue;
          }
          for (const c of list) {
            if (isObject(c) && typeof c.command === 'string') {
              if (c.execute !== false) commands.push({ terminal, command: c.command });
            } else problem(`onLoadCommands.${step}.${terminal}: each entry must be {"command": "…"}`, `"${terminal}"`);
          }
        }
        onLoadByStep.set(step, commands);
      }
    }
  }

  // Katapod's own default without a config file: a scenario's wait.sh runs on the intro page.
  if (!text && existsSync(join(dir, KATAPOD_WAIT_SCRIPT))) {
    onLoadByStep.set('intro', [{ terminal: KATAPOD_DEFAULT_TERMINAL.id, command: `./${KATAPOD_WAIT_SCRIPT};` }]);
  }
  const ids = katapodPageIds(dir);
  if (!ids.includes('intro')) problems.push({ file: 'intro.md', line: 0, message: 'missing page: a Katapod scenario starts at intro.md' });
  const pages: PageSpec[] = ids.map((id) => ({
    id,
    title: firstHeading(join(dir, `${id}.md`)) ?? id,
    file: `${id}.md`,
    onLoad: onLoadByStep.get(id) ?? [],
    checkTimeoutSeconds: DEFAULT_CHECK_TIMEOUT_SECONDS,
  }));
  for (const step of onLoadByStep.keys()) {
    if (!ids.includes(step)) problems.push({ file, line: lineOf(text, `"${step}"`), message: `onLoadCommands names step "${step}", but ${step}.md does not exist` });
  }
  return { dir, format: 'katapod', title: pages[0]?.title ?? 'Katapod scenario', terminals, layout: 'stacked', pages, panels: [], environments: DEFAULT_ENVIRONMENTS };
}

/** intro, then step pages in natural order (step2 before step10), then finish, then any other page a link reaches. */
function katapodPageIds(dir: string): string[] {
  const md = readdirSync(dir).filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -3));
  const steps = md.filter((id) => /^step\d/.test(id)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const ordered = [...(md.includes('intro') ? ['intro'] : []), ...steps, ...(md.includes('finish') ? ['finish'] : [])];
  // Pages outside the intro/step/finish pattern count only if some page links to them.
  const queue = [...ordered];
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const link of findPageLinks(readFileSync(join(dir, `${id}.md`), 'utf8'))) {
      if (link.target && !ordered.includes(link.target) && md.includes(link.target)) {
        ordered.push(link.target);
        queue.push(link.target);
      }
    }
  }
  return ordered;
}

function firstHeading(path: string): string | undefined {
  const m = /^#{1,2}\s+(.+?)\s*#*\s*$/m.exec(readFileSync(path, 'utf8'));
  return m?.[1]?.replace(/\{[.#][^}]*\}\s*$/, '').replace(/<[^>]+>/g, '').trim() || undefined;
}

// ---------------------------------------------------------------- pages

/** Read every page as the renderer will and report what would break. */
function checkPages(course: Course, problems: CourseProblem[]): void {
  const terminalIds = course.terminals.map((t) => t.id);
  const pageIds = new Set(course.pages.map((p) => p.id));
  const md = createMarkdown();
  for (const page of course.pages) {
    const path = resolveCourseFile(course.dir, page.file);
    if (!path || !existsSync(path)) {
      const where = course.format === 'course.json' ? { file: COURSE_FILE, line: lineOf(readFileSync(join(course.dir, COURSE_FILE), 'utf8'), `"${page.file}"`) } : { file: page.file, line: 0 };
      problems.push({ ...where, message: `missing page: ${page.file} (page "${page.id}") does not exist in the course directory` });
      continue;
    }
    const source = readFileSync(path, 'utf8');
    let index = 0;
    for (const token of md.parse(source, {})) {
      if (token.type === 'fence' && token.map) {
        const { problems: found } = parseBlock(token.content, {
          pageId: page.id,
          index: index++,
          language: token.info.trim().split(/\s+/)[0] ?? '',
          terminals: terminalIds,
          file: page.file,
          firstLine: token.map[0] + 2,
        });
        problems.push(...found);
      }
    }
    for (const link of findPageLinks(source)) {
      if (link.target === undefined) problems.push({ file: page.file, line: link.line, message: `unreadable page link "${link.raw}": expected loadPage?stepN or loadPage?[{"step":"stepN"}]` });
      else if (!pageIds.has(link.target)) problems.push({ file: page.file, line: link.line, message: `link to a step that does not exist: "${link.target}"` });
    }
    source.split('\n').forEach((text, i) => {
      for (const m of text.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*\bsrc=["']([^"']+)["']/g)) {
        const src = m[1] ?? m[2] ?? '';
        if (/^([a-z]+:|\/\/|#)/i.test(src)) continue;
        const file = resolveCourseFile(course.dir, decodeURIComponentSafe(src.split(/[?#]/)[0] ?? ''));
        if (!file) problems.push({ file: page.file, line: i + 1, message: `image "${src}" points outside the course directory` });
        else if (!existsSync(file)) problems.push({ file: page.file, line: i + 1, message: `image "${src}" does not exist` });
      }
    });
  }
}

// ---------------------------------------------------------------- JSON helpers

function parseJsonFile(text: string, file: string, problems: CourseProblem[]): unknown {
  const result = parseJson(text);
  if (result.ok) return result.value;
  problems.push({ file, line: result.line, message: `malformed JSON: ${result.message}` });
  return undefined;
}

/** 1-based line of the first occurrence of `needle`, 0 when absent. */
function lineOf(text: string, needle?: string): number {
  if (!needle) return 0;
  const at = text.indexOf(needle);
  return at < 0 ? 0 : text.slice(0, at).split('\n').length;
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
