/**
 * An environment whose learner's processes run in a workstation off the
 * lab's host (lab/environments/workstation.ts), with the workstation played
 * here by a folder and commands the test names, as an operator names
 * `zdm-lab kube env …` (kube-workloads.test.ts runs the real ones, on a real
 * cluster): the workstation is made before the course's setup runs, once
 * per start of the lab; the setup, checks and resets run through `exec`,
 * there, with the lab's per-call variables (LAB_PAGE), and a reset empties
 * the learner's folder there; a workstation that
 * cannot be made fails the setup with the reason; a saved state comes out
 * of one workstation and goes into another as a tar stream through `exec`
 * and `input`, plain files only, within the size limit; and destroying the
 * environment destroys its workstation.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadCourse } from '../../lab/course/load.js';
import { Environment } from '../../lab/environments/environment.js';
import { kubernetesWorkstations, Workstation, type WorkstationCommands } from '../../lab/environments/workstation.js';
import { StateShelf } from '../../lab/environments/states.js';
import { ProgressStore } from '../../lab/progress/store.js';
import { COMMAND_MARK, PROMPT_MARK, READY_MARKER } from '../../lab/terminals/session.js';

const root = mkdtempSync(join(tmpdir(), 'workstation-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A course whose setup and check say where they ran; its saved state is what the learner left in state-files/. */
function course(name: string) {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'course.json'),
    JSON.stringify({
      title: 'Workstation fixture',
      terminals: [{ id: 'shell', name: 'shell' }],
      setup: 'echo "setup at page [$LAB_PAGE] in $PWD, workstation=$WORKSTATION"',
      pages: [
        { id: 'intro', file: 'intro.md', title: 'Intro', check: 'test "$WORKSTATION" = yes && echo "checked in $PWD"' },
        { id: 'second', file: 'intro.md', title: 'Second' },
      ],
      states: {
        save: 'test "$WORKSTATION" = yes && cp -P "$LAB_ENV_DIR"/state-files/* "$LAB_STATE_DIR"/',
        restore: 'test "$WORKSTATION" = yes && cp "$LAB_STATE_DIR"/* "$LAB_ENV_DIR"/ && echo "restored from $LAB_STATE_DIR"',
      },
    }),
  );
  writeFileSync(join(dir, 'intro.md'), '# Intro\n');
  const { course: loaded, problems } = loadCourse(dir);
  assert.deepEqual(problems, []);
  return loaded!;
}

/** Commands that keep environment K's "workstation" in <root>/<name>/ws-K, and log what they did. */
function commands(name: string, create = 'mkdir -p "$0/ws-{env}" && echo "made {env}" >> "$0/log"'): WorkstationCommands {
  const dir = join(root, name);
  return {
    create: ['bash', '-c', create, dir],
    destroy: ['bash', '-c', 'rm -rf "$0/ws-{env}" && echo "destroyed {env}" >> "$0/log"', dir],
    shell: ['bash', '-c', 'printf %s "$1"; cd "$0/ws-{env}" && exec env -i PATH="$PATH" LAB_ENV_DIR="$PWD" WORKSTATION=yes bash --norc -i', dir, '{ready}'],
    exec: ['bash', '-c', 'cd "$0/ws-{env}" && exec env -i PATH="$PATH" LAB_ENV_DIR="$PWD" WORKSTATION=yes "$@"', dir],
    input: ['bash', '-c', 'cd "$0/ws-{env}" && exec env -i PATH="$PATH" LAB_ENV_DIR="$PWD" WORKSTATION=yes "$@"', dir],
  };
}

const log = (name: string) => (existsSync(join(root, name, 'log')) ? readFileSync(join(root, name, 'log'), 'utf8') : '');

describe('an environment in a workstation off the lab\'s host', () => {
  test('the command lines: {env} and {ready} filled in, the command and its variables after exec\'s', () => {
    const workstation = new Workstation(7, commands('lines'));
    assert.deepEqual(workstation.terminal().args.slice(-1), [READY_MARKER]);
    const line = workstation.wrap('bash', ['-c', 'true'], { LAB_PAGE: 'step2' });
    assert.equal(line.command, 'bash');
    assert.deepEqual(line.args.slice(2), [join(root, 'lines'), 'env', 'LAB_PAGE=step2', 'bash', '-c', 'true']);
    assert.match(line.args[1]!, /ws-7/);
  });

  test('the environment\'s budget fills {memory-gib} and {cpus}; without a CPU budget the workstation is not made, and says why', async () => {
    const dir = join(root, 'budget');
    mkdirSync(dir, { recursive: true });
    const create = ['bash', '-c', 'echo "memory $1 cpus $2" >> "$0/log"', dir, '{memory-gib}', '{cpus}'];
    const made = await new Workstation(3, { ...commands('budget'), create }, { memoryGiB: 1.3, cpus: 2 }).create();
    assert.equal(made.ok, true, made.output);
    assert.equal(log('budget'), 'memory 1.3 cpus 2\n');
    const refused = await new Workstation(3, { ...commands('budget'), create }, { memoryGiB: 1.3 }).create();
    assert.equal(refused.ok, false);
    assert.match(refused.output, /declares no "cpus" per environment.*--cpus-per-env/);
    assert.equal(log('budget'), 'memory 1.3 cpus 2\n', 'nothing was run');
  });

  test('the Kubernetes workstations\' terminals print the lab\'s prompt marks, so the lab knows when a command there has ended', () => {
    const kube = new Workstation(4, kubernetesWorkstations('/opt/zdm-lab/bin/zdm-lab', { local: false }), { memoryGiB: 1.3, cpus: 2 });
    assert.equal(kube.marksPrompt, true);
    const args = kube.terminal().args;
    assert.deepEqual(args.slice(args.indexOf('--prompt-mark'), args.indexOf('--prompt-mark') + 4), ['--prompt-mark', PROMPT_MARK, '--command-mark', COMMAND_MARK]);
    assert.equal(new Workstation(4, commands('lines')).marksPrompt, false);
  });

  test('the workstation is made before the setup, which runs there with LAB_PAGE; checks and resets run there; it is made once per start', async () => {
    const env = new Environment({ id: 5, course: course('made'), store: new ProgressStore(':memory:'), envRoot: join(root, 'made', 'envs'), workstation: new Workstation(5, commands('made')) });
    try {
      assert.equal(await env.setupDone(), 'done', readFileSync(join(env.workDir, 'setup.log'), 'utf8'));
      assert.equal(env.setupNote, `setup at page [] in ${join(root, 'made', 'ws-5')}, workstation=yes`);
      const check = await env.check('intro');
      assert.equal(check.ok, true, check.output);
      assert.match(check.output, /checked in .*ws-5$/m);
      assert.equal((await env.shell('touch left-by-the-learner', { timeoutMs: 10_000 })).ok, true);
      await env.reset();
      assert.equal(await env.setupDone(), 'done');
      assert.equal(existsSync(join(root, 'made', 'ws-5', 'left-by-the-learner')), false, 'the reset emptied the learner\'s folder in the workstation');
      assert.equal(log('made'), 'made 5\n', 'made once, not again for the setup after the reset');
      await env.destroy();
      assert.equal(log('made'), 'made 5\ndestroyed 5\n');
      assert.equal(existsSync(join(root, 'made', 'ws-5')), false);
    } finally {
      await env.close();
    }
  });

  test('a saved state comes out of one workstation and goes into another, plain files only and within the size limit; nothing of it stays on the way', async () => {
    const states = course('states');
    const store = new ProgressStore(':memory:');
    const shelf = new StateShelf(join(root, 'states', 'data'), states);
    const envRoot = join(root, 'states', 'envs');
    const from = new Environment({ id: 7, course: states, store, envRoot, workstation: new Workstation(7, commands('states')) });
    const to = new Environment({ id: 8, course: states, store, envRoot, workstation: new Workstation(8, commands('states')) });
    const ws = (env: number, ...path: string[]) => join(root, 'states', `ws-${env}`, ...path);
    try {
      assert.equal(await from.setupDone(), 'done');
      assert.equal(await to.setupDone(), 'done');
      const rows = Buffer.from([0, 1, 2, 255, 10, 13]);
      mkdirSync(ws(7, 'state-files'));
      writeFileSync(ws(7, 'state-files', 'rows.bin'), rows);
      writeFileSync(ws(7, 'state-files', 'writer.log'), 'phase1-1 200\nphase1-2 200\n');
      assert.equal((await from.check('intro')).ok, true);
      await from.saveState('intro', shelf);
      assert.deepEqual(shelf.pages(), ['intro']);
      assert.deepEqual(readdirSync(join(shelf.dir, 'intro')).sort(), ['.progress.json', 'rows.bin', 'writer.log']);
      assert.deepEqual(readFileSync(join(shelf.dir, 'intro', 'rows.bin')), rows);
      assert.equal(shelf.progress('intro').checks.intro?.ok, true, 'the state keeps the progress at that point');

      const restored = await to.restoreTo('intro', shelf);
      assert.equal(restored.ok, true, restored.output);
      assert.match(restored.output, /^restored from .*ws-8\/\.lab-state-in$/m, 'the restore ran in the other workstation, on the files put there');
      assert.deepEqual(readFileSync(ws(8, 'rows.bin')), rows);
      assert.equal(readFileSync(ws(8, 'writer.log'), 'utf8'), 'phase1-1 200\nphase1-2 200\n');
      assert.equal(to.progress().checks.intro?.ok, true);
      assert.equal(await to.setupDone(), 'done');

      // A link in the state would make the lab copy what it points at: refused, and no state kept.
      symlinkSync('/etc/passwd', ws(7, 'state-files', 'passwd'));
      await assert.rejects(from.saveState('second', shelf), /^Error: symlink "\.\/passwd": a state holds plain files only$/);
      rmSync(ws(7, 'state-files', 'passwd'));
      writeFileSync(ws(7, 'state-files', 'big'), Buffer.alloc(65 * 1024 ** 2));
      await assert.rejects(from.saveState('second', shelf), /more than 64 MiB|over 64 MiB/);
      assert.deepEqual(shelf.pages(), ['intro'], 'no state of the second page was kept');
      for (const env of [7, 8]) assert.deepEqual(readdirSync(ws(env)).filter((f) => f.startsWith('.lab-state')), [], `nothing of a state is left in workstation ${env}`);
      for (const env of [from, to]) assert.deepEqual(readdirSync(env.workDir).filter((f) => f.startsWith('.lab-state')), [], `nothing of a state is left in the lab's folder of environment ${env.id}`);
    } finally {
      await from.close();
      await to.close();
    }
  });

  test('a workstation that cannot be made fails the setup, which says why; nothing of the course ran', async () => {
    const failing = commands('refused', 'echo "quota exceeded for namespace zdmlab-env-{env}" >&2; exit 3');
    const env = new Environment({ id: 6, course: course('refused'), store: new ProgressStore(':memory:'), envRoot: join(root, 'refused', 'envs'), workstation: new Workstation(6, failing) });
    try {
      assert.equal(await env.setupDone(), 'failed');
      assert.equal(env.setupNote, 'Setup failed: quota exceeded for namespace zdmlab-env-6');
      assert.match(readFileSync(join(env.workDir, 'setup.log'), 'utf8'), /quota exceeded/);
      assert.doesNotMatch(readFileSync(join(env.workDir, 'setup.log'), 'utf8'), /setup at page/);
    } finally {
      await env.close();
    }
  });
});
