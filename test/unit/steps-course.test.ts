/**
 * The ZDM course in steps/ as the lab engine reads it: no problem at all for
 * the loader, the learner's path in order, a check script behind every page,
 * lifecycle scripts that exist, the writer loop restarted with a new prefix at
 * each phase (Ctrl-C first), and phase changes done the way the lab does them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadCourse } from '../../lab/course/load.js';
import { renderPage } from '../../lab/course/render.js';
import { formatProblem, type Block, type Course } from '../../lab/course/schema.js';

const stepsDir = new URL('../../steps/', import.meta.url).pathname;
const { course, problems } = loadCourse(stepsDir);

function loaded(): Course {
  assert.ok(course, 'the course loads');
  return course;
}

function blocks(pageId: string): Block[] {
  const c = loaded();
  return renderPage(c, c.pages.find((p) => p.id === pageId)!).blocks;
}

/** The script a `bash "$LAB_COURSE_DIR/…"` command names, as a path inside steps/. */
function scriptOf(command: string): string {
  const m = /^bash "\$LAB_COURSE_DIR\/([\w/.-]+\.sh)"$/.exec(command);
  assert.ok(m, `"${command}" runs one of the course's scripts`);
  return join(stepsDir, m[1]);
}

describe('the ZDM course', () => {
  test('loads with the engine’s loader without a single problem', () => {
    assert.deepEqual(problems.map(formatProblem), []);
    assert.equal(loaded().format, 'course.json');
  });

  test('follows the learner’s path: intro, the steps with the failure drill in Phase 3, the rollback and the way forward between Phase 4 and Phase 5, cleanup, finish', () => {
    const ids = loaded().pages.map((p) => p.id);
    assert.deepEqual(ids, ['intro', ...Array.from({ length: 8 }, (_, i) => `step${i + 1}`), 'drill', 'step9', 'rollback', 'forward', 'step10', 'cleanup', 'finish']);
    assert.deepEqual(loaded().terminals.map((t) => t.id), ['host', 'api', 'client', 'logs']);
  });

  test('every page opens with its title, states its goal, and says why it matters in a production migration', () => {
    for (const page of loaded().pages) {
      const text = readFileSync(join(stepsDir, page.file), 'utf8');
      assert.match(text, new RegExp(`^# ${page.title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`), `${page.file} opens with its title`);
      assert.match(text, /^_Goal: [^_]+_$/m, `${page.file} states its goal`);
      assert.match(text, /^## (Why .+|In production)$/m, `${page.file} explains why it matters`);
    }
  });

  test('every page has a check, and every check is a script of the course', () => {
    for (const page of loaded().pages) {
      assert.ok(page.check, `page ${page.id} has a check`);
      const script = scriptOf(page.check);
      assert.ok(existsSync(script), `${script} exists`);
      assert.match(readFileSync(script, 'utf8'), /^#!\/usr\/bin\/env bash\n# /, `${script} starts by saying what it checks`);
    }
  });

  test('prepare fetches the shared artifacts once per server start, through zdm-lab setup', () => {
    assert.match(readFileSync(scriptOf(loaded().prepare ?? ''), 'utf8'), /bin\/zdm-lab" setup$/m);
  });

  test('setup brings the environment up and reset puts it back, through zdm-lab', () => {
    const c = loaded();
    const setup = readFileSync(scriptOf(c.setup ?? ''), 'utf8');
    assert.match(setup, /infra reset/);
    assert.match(setup, /infra up/);
    assert.match(setup, /Ready for Step 1/);
    assert.match(readFileSync(scriptOf(c.reset ?? ''), 'utf8'), /infra reset/);
    assert.deepEqual(c.pages[0].onLoad[0], { terminal: 'host', command: 'bash "$LAB_COURSE_DIR/scripts/follow-setup.sh"' });
  });

  test("after a restart the API starts again as step 1 starts it, the loop resumes, and the scripts know the pages' order", () => {
    const c = loaded();
    const api = blocks('step1').find((b) => b.terminalId === 'api' && /server\.ts"$/.test(b.command))!;
    assert.deepEqual(c.resume.map((r) => [r.terminal, r.from, r.until]), [['api', 'step2', 'finish'], ['client', 'step2', 'finish'], ['logs', 'step6', 'finish']]);
    assert.equal(c.resume[0]!.command, api.command.split('\n').at(-1), "the API block's start line, without the line that sets ORIGIN: the mode file keeps the mode it had");
    const order = execFileSync('bash', ['-c', `source "${join(stepsDir, 'scripts', 'lab.sh')}"; echo "\${PAGES[@]}"`], { env: { ...process.env, LAB_ENV: '9' }, encoding: 'utf8' });
    assert.deepEqual(order.trim().split(' '), c.pages.map((p) => p.id));
  });

  test('the writer loop is restarted with Ctrl-C and a new prefix at each phase; Phase 5’s waits for the API on Target', () => {
    const prefixes: Record<string, string> = { step1: 'phase0', step6: 'phase1', step7: 'phase2', step8: 'phase3', step9: 'phase4', rollback: 'rollback', forward: 'phase4', step10: 'phase5 --mode TARGET' };
    for (const [page, prefix] of Object.entries(prefixes)) {
      const writer = blocks(page).filter((b) => b.terminalId === 'client').slice(page === 'step7' ? 1 : 0);
      assert.equal(writer.length, 1, `${page} has one block for the client terminal (step 7 one more, first)`);
      assert.deepEqual(writer[0].macrosBefore, ['ctrl_c'], `${page}: the running loop is interrupted first`);
      assert.equal(writer[0].command, `bash "$LAB_COURSE_DIR/scripts/writer.sh" ${prefix}`);
    }
    const drill = blocks('drill').filter((b) => b.terminalId === 'client');
    assert.deepEqual(drill.map((b) => [b.macrosBefore, b.command]), [
      [['ctrl_c'], 'echo "the loop is paused for the drill"'],
      [[], 'bash "$LAB_COURSE_DIR/scripts/writer.sh" phase3'],
    ], 'the drill pauses the loop first and starts it again, numbering on, last');
    const drillHost = blocks('drill').filter((b) => b.terminalId === 'host').map((b) => b.command);
    assert.ok(drillHost.indexOf('zdm-lab node stop target') < drillHost.indexOf('zdm-lab node start target'), 'the drill stops Target, then starts it again');
    const step7 = blocks('step7').map((b) => b.command);
    assert.equal(step7[0], 'bash "$LAB_COURSE_DIR/scripts/writer.sh" phase2 --also-update lena', 'while migrate runs the loop also updates one fixed row');
    assert.ok(step7.indexOf('zdm-lab migrate --keyspace zdmapp') < step7.findIndex((c) => /user = 'lena'/.test(c)), 'the writetimes of that row are shown after the copy');
    const step10 = blocks('step10').map((b) => b.command);
    assert.ok(step10.findIndex((c) => /writer\.sh" phase5/.test(c)) < step10.findIndex((c) => /^printf .* TARGET /.test(c)), 'the phase 5 loop waits before the switch, so no phase4 write goes to Target alone');
  });

  test('the API starts in the api terminal in ORIGIN mode and is switched through its mode file', () => {
    const [start] = blocks('step1').filter((b) => b.terminalId === 'api');
    assert.deepEqual(start.macrosBefore, ['ctrl_c']);
    const write = (mode: string, login: string) => `printf '%s\\n' ${mode} "username=$${login}_USERNAME" "password=$${login}_PASSWORD" > "$LAB_ENV_DIR/client-connection-mode"`;
    assert.ok(start.command.startsWith(`${write('ORIGIN', 'ORIGIN')}\n`), start.command);
    assert.match(start.command, /CLIENT_CONNECTION_MODE_FILE="\$LAB_ENV_DIR\/client-connection-mode" tsx "\$LAB_COURSE_DIR\/\.\.\/sample-api\/server\.ts"$/);
    const switches = (page: string) => blocks(page).filter((b) => /client-connection-mode"$/.test(b.command)).map((b) => b.command);
    // Straight to Origin the API gives Origin's login; through the proxies and straight to Target, Target's.
    assert.deepEqual(switches('step6'), [write('ZDM_PROXY', 'TARGET')]);
    assert.deepEqual(switches('rollback'), [write('ORIGIN', 'ORIGIN')]);
    assert.deepEqual(switches('forward'), [write('ZDM_PROXY', 'TARGET')]);
    assert.deepEqual(switches('step10'), [write('TARGET', 'TARGET')]);
  });

  test('proxies are deployed, changed with proxy config set and a rolling update, and the data copied with migrate and validate', () => {
    const commands = (page: string) => blocks(page).map((b) => b.command).join('\n');
    assert.match(commands('step3'), /^zdm-lab proxy deploy$/m);
    assert.match(commands('step8'), /zdm-lab proxy config set read_mode=DUAL_ASYNC_ON_SECONDARY/);
    assert.match(commands('step8'), /^zdm-lab proxy rolling-update$/m);
    assert.match(commands('step9'), /^zdm-lab proxy config set primary_cluster=TARGET read_mode=PRIMARY_ONLY && zdm-lab proxy rolling-update$/m);
    assert.match(commands('rollback'), /^zdm-lab proxy config set primary_cluster=ORIGIN && zdm-lab proxy rolling-update$/m);
    assert.match(commands('forward'), /^zdm-lab proxy config set primary_cluster=TARGET && zdm-lab proxy rolling-update$/m);
    const forward = commands('forward');
    const dualWrites = forward.indexOf("printf '%s\\n' ZDM_PROXY");
    assert.ok(dualWrites >= 0 && dualWrites < forward.indexOf('zdm-lab migrate --keyspace zdmapp'), 'on the way forward the copy runs once dual writes are back');
    assert.match(commands('step7'), /^zdm-lab migrate --keyspace zdmapp$/m);
    assert.match(commands('step7'), /^zdm-lab validate --keyspace zdmapp$/m);
  });

  test('no block runs a zdm-lab command inside $(…): the shell keeps the terminal meanwhile, and a click that waits for the end would stop waiting', () => {
    for (const page of loaded().pages) {
      for (const b of blocks(page.id)) assert.doesNotMatch(b.command, /\$\([^)]*zdm-lab/, `${page.id}: ${b.command}`);
    }
  });

  test('each phase page shows its own diagram, and every diagram is an SVG with a title', () => {
    const expected: Record<string, string> = { step1: 'phase0', step6: 'phase1', step7: 'phase2', step8: 'phase3', step9: 'phase4', rollback: 'rollback', forward: 'phase4', step10: 'phase5' };
    for (const [page, image] of Object.entries(expected)) {
      assert.match(readFileSync(join(stepsDir, `${page}.md`), 'utf8'), new RegExp(`\\]\\(images/${image}\\.svg\\)`), `${page} shows ${image}.svg`);
    }
    for (const name of ['phase0', 'phase1', 'phase2', 'phase3', 'phase4', 'phase5', 'rollback', 'proxies-deployed']) {
      const svg = readFileSync(join(stepsDir, 'images', `${name}.svg`), 'utf8');
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>\n  <title>[^<]+<\/title>/, `${name}.svg opens with a title`);
      assert.match(svg, /<\/svg>\n$/);
    }
  });

  test('step 6 shows, in a box left open, what the proxy cannot make safe', () => {
    const c = loaded();
    const html = renderPage(c, c.pages.find((p) => p.id === 'step6')!).html;
    const box = /<details open>\s*<summary><strong>Caveat: what the proxy cannot make safe<\/strong><\/summary>([\s\S]*?)<\/details>/.exec(html);
    assert.ok(box, 'step 6 has the caveat box, open');
    const text = box[1]!.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ');
    assert.match(text, /lightweight transactions .* the \[applied\] result of the primary only/);
    assert.match(text, /counters and list appends .* not idempotent.* Never mark them idempotent/);
    assert.match(text, /now\(\), uuid\(\) .* replace_cql_functions/);
  });
});
