/**
 * Loading courses: a course.json course, a Katapod scenario directory, and
 * every validation problem reported with file and line, plus the
 * `course check` command's output and exit code.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { courseCheck } from '../../lab/course/check.js';
import { resolveCourseFile } from '../../lab/course/files.js';
import { loadCourse } from '../../lab/course/load.js';
import { formatProblem } from '../../lab/course/schema.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const temp = mkdtempSync(join(tmpdir(), 'course-load-'));
after(() => rmSync(temp, { recursive: true, force: true }));

/** A throwaway course directory from a map of file name → content. */
function course(name: string, files: Record<string, string>): string {
  const dir = join(temp, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

function problemLines(dir: string): string[] {
  return loadCourse(dir).problems.map(formatProblem);
}

describe('loading a course.json course', () => {
  const { course: c, problems } = loadCourse(join(fixtures, 'course-basic'));

  it('has no problems', () => assert.deepEqual(problems, []));

  it('reads title, terminals, layout and pages in order', () => {
    assert.equal(c!.title, 'Fixture course');
    assert.equal(c!.format, 'course.json');
    assert.deepEqual(c!.terminals, [{ id: 'shell', name: 'shell' }, { id: 'logs', name: 'logs' }]);
    assert.equal(c!.layout, 'stacked');
    assert.deepEqual(c!.pages.map((p) => [p.id, p.title, p.file]), [
      ['intro', 'Introduction', 'intro.md'],
      ['step1', 'Make a file', 'step1.md'],
      ['finish', 'Done', 'finish.md'],
    ]);
  });

  it('reads onLoad commands, the check and its timeout', () => {
    const step1 = c!.pages[1]!;
    assert.deepEqual(step1.onLoad, [{ terminal: 'logs', command: 'echo onload-$LAB_ENV-step1' }]);
    assert.match(step1.check!, /test -f done.txt/);
    assert.equal(step1.checkTimeoutSeconds, 10);
    assert.equal(c!.pages[0]!.checkTimeoutSeconds, 60);
    assert.equal(c!.pages[0]!.check, undefined);
  });
});

describe("a Katapod scenario's branches", () => {
  it('pages off intro, stepN and finish branch from the main page that links to them, through other branches too', () => {
    const { course: c, problems } = loadCourse(join(fixtures, 'katapod-branches'));
    assert.deepEqual(problems, []);
    assert.deepEqual(c!.pages.map((p) => [p.id, p.branchOf]), [
      ['intro', undefined],
      ['step1', undefined],
      ['step2', undefined],
      ['finish', undefined],
      ['step1-short', 'step1'],
      ['step1-long', 'step1'],
    ]);
  });
});

describe("a course.json's resume commands", () => {
  it('are read in order, with their range of pages', () => {
    const { course: c, problems } = loadCourse(join(fixtures, 'course-resume'));
    assert.deepEqual(problems, []);
    assert.deepEqual(c!.resume, [
      { terminal: 'server', command: 'echo resumed-server-$LAB_ENV', from: 'step1', until: 'finish' },
      { terminal: 'shell', command: 'echo resumed-shell-$LAB_ENV', from: 'finish' },
    ]);
  });

  it('naming a terminal or page the course lacks, or a range that ends before it starts, is an error at its line', () => {
    const resume = [
      { terminal: 'nope', command: 'x', from: 'intro' },
      { terminal: 'shell', command: 'x', from: 'stepp1' },
      { terminal: 'shell', command: 'x', from: 'step1', until: 'intro' },
    ];
    const json = JSON.stringify({ title: 'T', terminals: [{ id: 'shell' }], resume, pages: [{ id: 'intro' }, { id: 'step1' }] }, null, 2);
    const dir = course('resume-broken', { 'course.json': json, 'intro.md': '# Intro\n', 'step1.md': '# One\n' });
    const lineOf = (text: string) => json.split('\n').findIndex((l) => l.includes(text)) + 1;
    assert.deepEqual(problemLines(dir), [
      `course.json:${lineOf('"terminal": "nope"')}: error: resume[0]: unknown terminal id "nope" (the course declares: shell)`,
      `course.json:${lineOf('"from": "stepp1"')}: error: resume[1]: "from" names page "stepp1", which the course does not have. Did you mean "step1"?`,
      `course.json:${lineOf('"until": "intro"')}: error: resume[2]: "until" (intro) must come after "from" (step1) in the pages`,
    ]);
  });
});

describe('loading a Katapod scenario directory', () => {
  const { course: c, problems } = loadCourse(join(fixtures, 'katapod-basic'));

  it('has no problems', () => assert.deepEqual(problems, []));

  it('takes the terminals from .katapod_config.json', () => {
    assert.equal(c!.format, 'katapod');
    assert.deepEqual(c!.terminals.map((t) => [t.id, t.name]), [['cqlsh', 'cqlsh-editor'], ['shell', 'shell']]);
  });

  it('orders pages intro, step1, step2, step10, finish, then pages reached only by a link', () => {
    assert.deepEqual(c!.pages.map((p) => p.id), ['intro', 'step1', 'step2', 'step10', 'finish', 'aside']);
    assert.deepEqual(c!.pages.filter((p) => p.branchOf).map((p) => p.id), ['aside'], 'only the page reached by a link is off the main path');
  });

  it('titles pages by their first heading and maps onLoadCommands per step and terminal', () => {
    assert.equal(c!.pages[0]!.title, 'Katapod fixture');
    assert.equal(c!.pages[1]!.title, 'Step one');
    assert.deepEqual(c!.pages[0]!.onLoad, [{ terminal: 'shell', command: 'echo katapod-intro-onload' }]);
  });

  it('a scenario with no config file gets Katapod\'s default terminal', () => {
    const dir = course('katapod-noconfig', { 'intro.md': '# Hi\n\n```\nls\n```\n' });
    const r = loadCourse(dir);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.course!.terminals, [{ id: 'cqlsh', name: 'cqlsh-editor' }]);
    assert.deepEqual(r.course!.pages[0]!.onLoad, []);
  });

  it('without a config file, a scenario\'s wait.sh runs on the intro page, as in Katapod', () => {
    const dir = course('katapod-wait', { 'intro.md': '# Hi\n', 'wait.sh': 'echo ready\n' });
    assert.deepEqual(loadCourse(dir).course!.pages[0]!.onLoad, [{ terminal: 'cqlsh', command: './wait.sh;' }]);
  });
});

describe('validation reports every problem with file:line', () => {
  it('finds each problem of the broken fixture, in one pass', () => {
    assert.deepEqual(problemLines(join(fixtures, 'course-broken')).sort(), [
      'course.json:6: warning: page "intro": onLoad[0]: unknown terminal id "nowhere"; it runs in the first terminal, "shell", as in Katapod (the course declares: shell)',
      'course.json:7: error: missing page: gone.md (page "gone") does not exist in the course directory',
      'intro.md:14: warning: "maxInvocations" must be a whole number ≥ 0 or "unlimited"; as in Katapod, the block runs while it has run fewer times than -1: 0 time(s)',
      'intro.md:14: warning: unknown macro "ctrl_z" in "macrosBefore", skipped as Katapod does; known: ctrl_c, no_op',
      'intro.md:18: error: link to a step that does not exist: "step99"',
      'intro.md:20: warning: image "images/none.png" does not exist',
      'intro.md:4: warning: unknown terminal id "nosuchterm"; the block runs in the first terminal, "shell", as in Katapod (the course declares: shell)',
      'intro.md:9: warning: malformed block info line: unexpected end of text; expected ### {"terminalId": "…"} or ### termId. As in Katapod, the block runs in the first terminal, "shell"',
    ]);
  });

  it('a page of course.json whose file is missing is reported at its entry, also when the file name is its id\'s default', () => {
    const json = JSON.stringify({ title: 't', terminals: [{ id: 'a' }], pages: [{ id: 'intro' }, { id: 'gone' }, { id: 'away', file: 'far/away.md' }] }, null, 2);
    const dir = course('missing-pages', { 'course.json': json, 'intro.md': '# i\n' });
    const lineOf = (text: string) => json.split('\n').findIndex((l) => l.includes(text)) + 1;
    assert.deepEqual(problemLines(dir), [
      `course.json:${lineOf('"id": "gone"')}: error: missing page: gone.md (page "gone") does not exist in the course directory`,
      `course.json:${lineOf('"file": "far/away.md"')}: error: missing page: far/away.md (page "away") does not exist in the course directory`,
    ]);
  });

  it('each problem of .katapod_config.json is at the line of the value it is about, not at the first line that names the same key', () => {
    const config = {
      layout: { terminals: [{ id: 'cqlsh', name: 'c' }] },
      navigation: {
        onLoadCommands: {
          intro: { cqlsh: [{ command: 'ls', maxInvocations: 2 }], other: [{ command: 'ls' }] },
          step1: { other: [{ command: 'pwd', maxInvocations: -1 }], cqlsh: 'pwd' },
          step9: { cqlsh: [{ command: 'ls' }] },
        },
      },
    };
    const json = JSON.stringify(config, null, 2);
    const dir = course('kp-lines', { '.katapod_config.json': json, 'intro.md': '# i\n', 'step1.md': '# s\n' });
    const lines = json.split('\n');
    /** The line of `text`, the n-th time (from 1) it appears. */
    const lineOf = (text: string, n = 1) => lines.findIndex((l, i) => l.includes(text) && lines.slice(0, i + 1).filter((x) => x.includes(text)).length === n) + 1;
    assert.deepEqual(problemLines(dir), [
      `.katapod_config.json:${lineOf('"other"', 1)}: warning: onLoadCommands.intro: unknown terminal id "other"; its commands run in the first terminal, "cqlsh", as in Katapod (the scenario declares: cqlsh)`,
      `.katapod_config.json:${lineOf('"other"', 2)}: warning: onLoadCommands.step1: unknown terminal id "other"; its commands run in the first terminal, "cqlsh", as in Katapod (the scenario declares: cqlsh)`,
      `.katapod_config.json:${lineOf('"maxInvocations": -1')}: error: onLoadCommands.step1.other: "maxInvocations" must be a whole number ≥ 0 or "unlimited"`,
      `.katapod_config.json:${lineOf('"cqlsh": "pwd"')}: error: onLoadCommands.step1.cqlsh must be a list of {"command": "…"}`,
      `.katapod_config.json:${lineOf('"step9"')}: warning: onLoadCommands names step "step9", but step9.md does not exist: they are ignored, as in Katapod`,
    ]);
  });

  it('malformed course.json names the line', () => {
    const dir = course('badjson', { 'course.json': '{\n  "title": "x",\n  "pages": [\n}\n' });
    const [p] = loadCourse(dir).problems;
    assert.equal(p!.file, 'course.json');
    assert.equal(p!.line, 4);
    assert.match(p!.message, /malformed JSON/);
    assert.equal(loadCourse(dir).course, undefined);
  });

  it('missing title, terminals and pages are each reported', () => {
    const lines = problemLines(course('empty', { 'course.json': '{}' }));
    assert.equal(lines.length, 3);
    assert.match(lines.join('\n'), /"title"/);
    assert.match(lines.join('\n'), /"terminals"/);
    assert.match(lines.join('\n'), /"pages"/);
  });

  it('course.json is checked against its schema: wrong values and unknown keys, each at its line, with the key meant', () => {
    const dir = course('schema', {
      'course.json': JSON.stringify(
        { title: 't', layout: 'grid', terminals: [{ id: 'a' }], pages: [{ id: 'p', file: 'p.md', chek: 'true', checkTimeoutSeconds: -1 }], environment: {} },
        null,
        2,
      ),
      'p.md': '# p\n',
    });
    assert.deepEqual(problemLines(dir), [
      'course.json:3: error: "layout" must be "stacked" or "tabbed"',
      'course.json:14: error: "pages[0].checkTimeoutSeconds" must be a number > 0',
      'course.json:13: error: unknown key "pages[0].chek". Did you mean "check"? Known here: id, file, title, onLoad, check, checkTimeoutSeconds, confirmsRestore',
      'course.json:17: error: unknown key "environment". Did you mean "environments"? Known here: $schema, title, terminals, layout, prepare, setup, reset, teardown, suspend, status, states, resume, pages, panels, environments',
    ]);
    // A course.json that does not fit its schema cannot run: the lab refuses it.
    assert.equal(loadCourse(dir).course, undefined);
  });

  it('duplicate terminal and page ids are reported', () => {
    const lines = problemLines(
      course('dups', {
        'course.json': JSON.stringify({ title: 't', terminals: [{ id: 'a' }, { id: 'a' }], pages: [{ id: 'p', file: 'p.md' }, { id: 'p', file: 'p.md' }] }, null, 2),
        'p.md': '# p\n',
      }),
    ).join('\n');
    assert.match(lines, /course\.json:\d+: error: terminals\[1\]: duplicate terminal id "a"/);
    assert.match(lines, /course\.json:\d+: error: pages\[1\]: duplicate page id "p"/);
  });

  it('links in both Katapod forms and in inline HTML are checked', () => {
    const dir = course('links', {
      'course.json': JSON.stringify({ title: 't', terminals: [{ id: 'a' }], pages: [{ id: 'intro', file: 'intro.md' }] }),
      'intro.md': [
        '[ok](command:katapod.loadPage?intro)',
        '[bad](command:katapod.loadPage?[{"step":"step9"}])',
        '<a href=\'command:katapod.loadPage?[{"step":"step8"}]\'>x</a>',
        '[odd](command:katapod.loadPage?[{"nostep":1}])',
      ].join('\n'),
    });
    assert.deepEqual(problemLines(dir), [
      'intro.md:2: error: link to a step that does not exist: "step9"',
      'intro.md:3: error: link to a step that does not exist: "step8"',
      'intro.md:4: error: unreadable page link "[{"nostep":1}]": expected loadPage?stepN or loadPage?[{"step":"stepN"}]',
    ]);
  });

  it('an image outside the course directory is a warning: it is not served', () => {
    const dir = course('escape', {
      'course.json': JSON.stringify({ title: 't', terminals: [{ id: 'a' }], pages: [{ id: 'intro', file: 'intro.md' }] }),
      'intro.md': '# x\n\n![p](../../etc/passwd)\n',
    });
    assert.deepEqual(problemLines(dir), ['intro.md:3: warning: image "../../etc/passwd" points outside the course directory; it is not served']);
  });

  it('Katapod config problems: malformed JSON, unknown terminal, step without a page, missing intro.md', () => {
    assert.match(problemLines(course('kp-bad', { '.katapod_config.json': '{ "layout": ', 'intro.md': '# i\n' }))[0]!, /^\.katapod_config\.json:1: error: malformed JSON/);
    const lines = problemLines(
      course('kp-nav', {
        '.katapod_config.json': JSON.stringify({ layout: { terminals: [{ id: 'cqlsh', name: 'c' }] }, navigation: { onLoadCommands: { step7: { other: [{ command: 'ls' }] } } } }, null, 2),
        'step1.md': '# s\n',
      }),
    );
    assert.ok(lines.some((l) => /^\.katapod_config\.json:\d+: warning: onLoadCommands\.step7: unknown terminal id "other"; its commands run in the first terminal, "cqlsh"/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /warning: onLoadCommands names step "step7", but step7\.md does not exist: they are ignored, as in Katapod/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('intro.md: error: missing page: a Katapod scenario starts at intro.md'), lines.join('\n'));
  });

  it('a directory that is no course says what it expected', () => {
    const lines = problemLines(course('nothing', { 'README.md': 'hi' }));
    assert.match(lines[0]!, /not a course directory: expected course\.json, or a Katapod scenario/);
  });
});

describe('zdm-lab course check', () => {
  it('prints file:line problems and returns 1 for a course with errors', () => {
    const out: string[] = [];
    assert.equal(courseCheck(join(fixtures, 'course-broken'), (l) => out.push(l)), 1);
    assert.ok(out.some((l) => /course-broken\/intro\.md:4: warning: unknown terminal id "nosuchterm"/.test(l)), out.join('\n'));
    assert.match(out.at(-1)!, /2 error\(s\), 6 warning\(s\)$/);
  });

  it('returns 0 for a course with warnings only, and 1 with --strict', () => {
    const dir = course('warnings-only', {
      '.katapod_config.json': JSON.stringify({ layout: { terminals: [{ id: 'cqlsh', name: 'c' }] }, navigation: { onLoadCommands: { intro: { cqsh: [{ command: 'ls' }] } } } }),
      'intro.md': '# Hi\n\n```bash\n### cqlshh\nls\n```\n',
    });
    const out: string[] = [];
    assert.equal(courseCheck(dir, (l) => out.push(l)), 0);
    assert.match(out.at(-1)!, /ok \(katapod: 1 pages, 1 terminal\(s\)\), 2 warning\(s\)$/);
    assert.equal(courseCheck(dir, () => undefined, { strict: true }), 1);
    // What the learner gets is what Katapod does: the commands go to the first terminal.
    assert.deepEqual(loadCourse(dir).course!.pages[0]!.onLoad, [{ terminal: 'cqlsh', command: 'ls', writtenTerminal: 'cqsh' }], 'it runs in the first terminal and is counted under the name written, as Katapod counts it');
  });

  it('returns 0 and says ok for a clean course', () => {
    const out: string[] = [];
    assert.equal(courseCheck(join(fixtures, 'katapod-basic'), (l) => out.push(l)), 0);
    assert.match(out.join('\n'), /ok \(katapod: 6 pages, 2 terminal\(s\)\)/);
  });
});

describe('course files stay inside the course directory', () => {
  const dir = join(fixtures, 'course-basic');
  it('resolves a relative file inside', () => assert.equal(resolveCourseFile(dir, 'images/diagram.svg'), join(dir, 'images/diagram.svg')));
  for (const bad of ['../course-broken/intro.md', '/etc/passwd', 'images/../../x', '.katapod_config.json', 'a/.hidden', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.equal(resolveCourseFile(dir, bad), undefined));
  }
});
