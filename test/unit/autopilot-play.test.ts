/**
 * The autopilot on small courses of its own, in real bash terminals: it runs
 * each block in its terminal and waits for the block's declared output or for
 * its command to end, runs each page's check, stops at the page it is asked
 * to reach, skips pages already passed, and stops with a message naming the
 * page and the block when output does not come, a command never ends, or a
 * check fails. The keys that say what to wait for are checked where the
 * course is read.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PlayError, playCourse } from '../../lab/autopilot/play.js';
import { parseBlock } from '../../lab/course/blocks.js';
import { loadCourse } from '../../lab/course/load.js';
import { Environment } from '../../lab/environments/environment.js';
import { ProgressStore } from '../../lab/progress/store.js';
import { blockId } from '../support/blocks.js';

const root = mkdtempSync(join(tmpdir(), 'autopilot-'));
const environments: Environment[] = [];

after(async () => {
  await Promise.all(environments.map((e) => e.close()));
  rmSync(root, { recursive: true, force: true });
});

interface PageFixture {
  id: string;
  check?: string;
  checkTimeoutSeconds?: number;
  onLoad?: { terminal: string; command: string }[];
  markdown: string;
}

/** A course.json course in its own folder, with the terminals shell and app, and a fresh environment for it. */
function courseEnvironment(name: string, pages: PageFixture[]): Environment {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'course.json'),
    JSON.stringify({
      title: `Autopilot fixture ${name}`,
      terminals: [{ id: 'shell', name: 'shell' }, { id: 'app', name: 'app' }],
      pages: pages.map((p) => ({ id: p.id, file: `${p.id}.md`, title: `Page ${p.id}`, check: p.check, checkTimeoutSeconds: p.checkTimeoutSeconds, onLoad: p.onLoad })),
    }),
  );
  for (const p of pages) writeFileSync(join(dir, `${p.id}.md`), p.markdown);
  const { course, problems } = loadCourse(dir);
  assert.deepEqual(problems, []);
  const env = new Environment({ id: 9, course: course!, store: new ProgressStore(':memory:'), envRoot: join(dir, 'envs'), runSetup: false });
  environments.push(env);
  return env;
}

const fence = (info: string, command: string) => '```bash\n### ' + info + '\n' + command + '\n```\n\n';

describe('playing a course', () => {
  const env = courseEnvironment('basic', [
    {
      id: 'one',
      onLoad: [{ terminal: 'app', command: 'echo one-was-shown' }],
      check: "test -f made.txt && echo 'made.txt is there' || { echo 'made.txt is missing'; exit 1; }",
      markdown: '# One\n\n' + fence('shell', 'sleep 1.5; touch made.txt') + fence('{"terminalId": "shell", "execute": false}', 'rm made.txt'),
    },
    {
      id: 'two',
      check: "grep -q '^request served' requests.txt && echo served",
      markdown:
        '# Two\n\n' +
        fence('{"terminalId": "app", "macrosBefore": ["ctrl_c"], "waitFor": "^serving on port \\\\d+"}', 'touch requests.txt; sleep 1; echo "serving on port $((4000 + 2))"; tail -f requests.txt') +
        fence('{"terminalId": "shell", "waitFor": "^request served", "waitForTerminal": "app"}', 'echo "request served" >> requests.txt'),
    },
    { id: 'three', markdown: '# Three\n\n' + fence('shell', 'echo three-ran') },
  ]);

  test('to a page: the pages before it are played and checked, it becomes the current page, nothing of it runs', async () => {
    const lines: string[] = [];
    const result = await playCourse(env, { to: 'two', onProgress: (l) => lines.push(l) });
    const id = (page: string, index: number) => blockId(env.course, page, index);
    assert.deepEqual(result.pages.map((p) => [p.id, p.blocks, p.check?.ok]), [['one', [id('one', 0)], true]]);
    assert.equal(result.current, 'two');
    const progress = env.progress();
    assert.equal(progress.current, 'two');
    assert.deepEqual(progress.runs, { [id('one', 0)]: 1 });
    assert.equal(progress.checks.one?.output.trim(), 'made.txt is there', 'the check passed at once: the block was waited for until it ended');
    assert.deepEqual(lines, ['one: Page one', '  ▶ one:0 [shell] sleep 1.5; touch made.txt', '  ✔ check: made.txt is there', "two: reached, the learner's current page"]);
    assert.deepEqual(progress.visited, ['one', 'two']);
  });

  test('to the end: passed pages are skipped, a block waits for the output it declares in the terminal it names', async () => {
    const lines: string[] = [];
    const result = await playCourse(env, { onProgress: (l) => lines.push(l) });
    const id = (page: string, index: number) => blockId(env.course, page, index);
    assert.deepEqual(result.pages.map((p) => [p.id, p.skipped, p.blocks]), [
      ['one', true, []],
      ['two', false, [id('two', 0), id('two', 1)]],
      ['three', false, [id('three', 0)]],
    ]);
    assert.equal(lines[0], 'one: already done (its check passed), skipped');
    assert.ok(lines.includes('  ✔ check: served'), lines.join('\n'));
    const progress = env.progress();
    assert.equal(progress.current, 'three');
    assert.deepEqual(progress.runs, { [id('one', 0)]: 1, [id('two', 0)]: 1, [id('two', 1)]: 1, [id('three', 0)]: 1 });
    assert.equal(env.terminal('app').foreground, 'tail', 'the app keeps running in its terminal');
  });
});

describe('playing stops with the page and the block', () => {
  test('when a block’s declared output does not come in time', async () => {
    const env = courseEnvironment('silent', [
      { id: 'start', markdown: fence('{"terminalId": "app", "waitFor": "^ready$", "waitForSeconds": 5}', 'echo "not yet"; sleep 1000') },
    ]);
    await assert.rejects(playCourse(env), (err: PlayError) => {
      assert.ok(err instanceof PlayError);
      assert.equal(err.pageId, 'start');
      assert.equal(err.blockId, blockId(env.course, 'start', 0));
      assert.match(err.message, /^page "start" \(Page start\), block start:0 \(terminal "app": echo "not yet"; sleep 1000\): terminal "app" did not show \/\^ready\$\/m within 5 s; its last lines:\n[^]*^not yet$/m);
      return true;
    });
  });

  test('when a block without waitFor keeps running', async () => {
    const env = courseEnvironment('endless', [{ id: 'start', markdown: fence('{"terminalId": "shell", "waitForSeconds": 2}', 'sleep 1000') }]);
    await assert.rejects(playCourse(env), /block start:0 \(terminal "shell": sleep 1000\): the command in terminal "shell" did not end within 2 s \(a block that keeps running needs "waitFor"\)/);
  });

  test('when a page’s check fails', async () => {
    const env = courseEnvironment('failing', [{ id: 'start', check: 'echo "the file is not there"; sleep 10', checkTimeoutSeconds: 1, markdown: fence('shell', 'true') }]);
    await assert.rejects(playCourse(env), (err: PlayError) => {
      assert.equal(err.pageId, 'start');
      assert.equal(err.blockId, undefined);
      assert.match(err.message, /^page "start" \(Page start\): its check timed out after every block ran: the file is not there\ntimed out after 1 s$/);
      return true;
    });
    assert.equal(env.progress().checks.start?.ok, false, 'the failed check is recorded as a learner’s would be');
  });

  test('when asked for a page the course does not have, or when cancelled', async () => {
    const env = courseEnvironment('cancel', [
      { id: 'start', markdown: fence('{"terminalId": "shell", "waitFor": "never", "waitForSeconds": 60}', 'sleep 1000') },
      { id: 'end', markdown: 'nothing' },
    ]);
    await assert.rejects(playCourse(env, { to: 'step9' }), /no page "step9" in this course; its pages are: start, end/);
    const controller = new AbortController();
    const playing = playCourse(env, { signal: controller.signal });
    setTimeout(() => controller.abort(), 500);
    const t0 = Date.now();
    await assert.rejects(playing, /block start:0 .*: the play was cancelled/);
    assert.ok(Date.now() - t0 < 5000);
  });
});

describe('the keys that say what to wait for', () => {
  const parse = (info: string) =>
    parseBlock(`### ${info}\nnpm start\n`, { pageId: 'p', index: 0, language: 'bash', terminals: ['shell', 'app'], file: 'p.md', firstLine: 3 });

  test('are read from the block’s info line', () => {
    const { block, problems } = parse('{"terminalId": "shell", "waitFor": "^listening", "waitForTerminal": "app", "waitForSeconds": 90}');
    assert.deepEqual(problems, []);
    assert.deepEqual([block.waitFor, block.waitForTerminal, block.waitForSeconds], ['^listening', 'app', 90]);
  });

  test('are refused with the file and line when wrong', () => {
    const { problems } = parse('{"waitFor": "(", "waitForTerminal": "nowhere", "waitForSeconds": -1}');
    assert.deepEqual(
      problems.map((p) => `${p.file}:${p.line}: ${p.message.replace(/ \(.*\)$/, '')}`),
      [
        'p.md:3: "waitFor" must be a regular expression string',
        'p.md:3: "waitForSeconds" must be a number of seconds above 0, at most 3600',
        'p.md:3: unknown terminal id "nowhere" in "waitForTerminal"; the course declares: shell, app',
      ],
    );
  });
});
