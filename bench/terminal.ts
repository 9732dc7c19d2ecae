/**
 * Terminal benchmark: `npx tsx bench/terminal.ts [--mb 100] [--course DIR] [--no-wetty]`.
 *
 * Prints, for the lab started as `npm start` would (its own process):
 *   - keystroke echo round-trip over the WebSocket, p50/p99
 *   - throughput streaming N MB (default 100) into a real xterm in headless Chromium
 *   - the server's peak RSS during that stream
 *   - time to render a step page (on the server, and shown in the browser)
 * and, in the same run, the same throughput figure for wetty (installed from
 * npm into a temporary folder outside the repository) as the anchor. If wetty
 * cannot be installed or run here, it says why and carries on.
 * Goal: throughput ≥ wetty's, server RSS under 150 MB.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { loadCourse } from '../lab/course/load.js';
import { renderMarkdown } from '../lab/course/render.js';
import { cookieName } from '../lab/server/access.js';
import { decode, encode, Packet } from '../lab/terminals/protocol.js';

const root = resolve(new URL('..', import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '100' },
    course: { type: 'string' },
    'no-wetty': { type: 'boolean', default: false },
    'wetty-dir': { type: 'string', default: join(tmpdir(), 'zdm-lab-bench-wetty') },
  },
});
const MB = Number(values.mb);
const WETTY_VERSION = '3.2.0';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- processes

interface Server {
  proc: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Start a server process and wait for a line of its output matching `ready`. */
function startProcess(cmd: string, args: string[], opts: { cwd: string; ready: RegExp; env?: NodeJS.ProcessEnv }): Promise<Server> {
  return new Promise((ok, fail) => {
    const proc = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${cmd} did not start in 60 s:\n${out.slice(-2000)}`)), 60_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = opts.ready.exec(out);
      if (m) {
        clearTimeout(timer);
        ok({
          proc,
          url: m[1] ?? '',
          stop: async () => {
            try {
              process.kill(-proc.pid!, 'SIGTERM');
            } catch {
              return;
            }
            for (let i = 0; i < 50 && proc.exitCode === null && proc.signalCode === null; i++) await sleep(100);
            try {
              process.kill(-proc.pid!, 'SIGKILL');
            } catch {
              // gone
            }
          },
        });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${cmd} exited with ${code} before it was ready:\n${out.slice(-2000)}`));
    });
  });
}

function rssMB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Sum of RSS of a process and its descendants, excluding the shells it runs (their memory is not the server's). */
function serverRss(pid: number): number {
  return rssMB(pid);
}

// ---------------------------------------------------------------- measurements

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Type one character at a time into the lab's shell over the WebSocket and time each echo. */
async function echoRoundTrip(url: string, n = 300): Promise<{ p50: number; p99: number }> {
  const u = new URL(url);
  const token = u.searchParams.get('token')!;
  const ws = new WebSocket(`ws://${u.host}/ws/terminal?env=1&terminal=bench&seq=0`, {
    headers: { cookie: `${cookieName(Number(u.port))}=${token}` },
    origin: `http://${u.host}`,
  });
  let waiting: ((data: string) => void) | undefined;
  ws.on('message', (raw) => {
    const p = decode(raw.toString());
    if (p.type === Packet.OUTPUT) waiting?.(p.args.data);
  });
  await new Promise((ok, fail) => {
    ws.once('open', ok);
    ws.once('error', fail);
  });
  await sleep(1500); // the shell's prompt
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const ch = 'abcdefghij'[i % 10]!;
    const t0 = process.hrtime.bigint();
    await new Promise<void>((ok) => {
      waiting = (data) => {
        if (data.includes(ch)) ok();
      };
      ws.send(encode({ type: Packet.INPUT, args: { data: ch } }));
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (i % 50 === 49) ws.send(encode({ type: Packet.INPUT, args: { data: '\x15' } }));
  }
  ws.close();
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/**
 * Stream `mb` MB of text lines through a terminal on the page (`getTerm`: a
 * lab terminal id, or "wetty"), from typing the command to the end marker
 * drawn in xterm.
 */
async function throughput(page: Page, getTerm: string, focus: string, pid: number): Promise<{ mbps: number; seconds: number; peakRss: number }> {
  const marker = `BENCH-END-${Date.now() % 100000}`;
  await page.locator(focus).first().click();
  await sleep(300);
  let peakRss = serverRss(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, serverRss(pid))), 100);
  const cmd = `yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq | head -c ${MB * 1_000_000}; echo; echo ${marker.slice(0, 6)}''${marker.slice(6)}\n`;
  const t0 = Date.now();
  await page.keyboard.type(cmd, { delay: 0 });
  const deadline = t0 + 600_000;
  for (;;) {
    const done = await page.evaluate(
      ([get, m]) => {
        type Term = { buffer: { active: { length: number; getLine(i: number): { translateToString(t: boolean): string } | undefined } } };
        const w = window as unknown as { lab?: { xterm(id: string): Term | undefined }; wetty_term?: Term };
        const term = get === 'wetty' ? w.wetty_term : w.lab?.xterm(get);
        if (!term) return false;
        const buf = term.buffer.active;
        for (let i = Math.max(0, buf.length - 60); i < buf.length; i++) if (buf.getLine(i)?.translateToString(true) === m) return true;
        return false;
      },
      [getTerm, marker] as const,
    );
    if (done) break;
    if (Date.now() > deadline) throw new Error('the stream did not finish in 10 minutes');
    await sleep(200);
  }
  clearInterval(sampler);
  const seconds = (Date.now() - t0) / 1000;
  return { mbps: MB / seconds, seconds, peakRss };
}

function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

// ---------------------------------------------------------------- the lab

async function benchLab(browser: Browser, courseDir: string): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), 'lab-bench-'));
  // A course of its own: one page, a terminal for echo and one for the stream.
  const course = join(data, 'course');
  mkdirSync(course);
  writeFileSync(join(course, 'course.json'), JSON.stringify({ title: 'bench', terminals: [{ id: 'stream', name: 'stream' }, { id: 'bench', name: 'bench' }], layout: 'tabbed', pages: [{ id: 'intro', file: 'intro.md' }] }));
  writeFileSync(join(course, 'intro.md'), '# Bench\n');
  const server = await startProcess(process.execPath, ['--import', 'tsx', 'lab/cli/start.ts', '--course', course, '--port', '0', '--data', data, '--no-setup'], {
    cwd: root,
    ready: /(http:\/\/\S+\?token=[0-9a-f]+)/,
  });
  try {
    const pid = server.proc.pid!;
    console.log(`lab server: started, RSS ${serverRss(pid).toFixed(0)} MB`);
    const echo = await echoRoundTrip(server.url);
    console.log(`lab keystroke echo round-trip over the WebSocket: p50 ${echo.p50.toFixed(2)} ms, p99 ${echo.p99.toFixed(2)} ms`);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('crash', () => console.log('lab page: crashed'));
    page.on('pageerror', (e) => console.log(`lab page: ${e.message}`));
    await page.goto(server.url);
    await page.locator('#page h1').waitFor();
    await sleep(1000);
    const t = await throughput(page, 'stream', '.lab-terminal[data-terminal="stream"] .xterm-host', pid);
    console.log(`lab throughput, ${MB} MB into xterm in headless Chromium: ${t.mbps.toFixed(1)} MB/s (${t.seconds.toFixed(1)} s)`);
    console.log(`lab server RSS during the stream: peak ${t.peakRss.toFixed(0)} MB${t.peakRss < 150 ? ' (under 150 MB)' : ' (OVER the 150 MB goal)'}`);
    await page.close();
  } finally {
    await server.stop();
    rmSync(data, { recursive: true, force: true });
  }

  // Step page rendering, on the course given (the ZDM course if it is there).
  const { course: loaded } = loadCourse(courseDir);
  if (!loaded) {
    console.log(`page render: the course in ${courseDir} does not load; skipped`);
    return;
  }
  let worst = { id: '', ms: 0 };
  for (const p of loaded.pages) {
    const runs = 20;
    const t0 = process.hrtime.bigint();
    // renderMarkdown, not renderPage: the page cache would measure a lookup, not a render.
    const source = readFileSync(join(loaded.dir, p.file), 'utf8');
    for (let i = 0; i < runs; i++) renderMarkdown(loaded, p, source);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / runs;
    if (ms > worst.ms) worst = { id: p.id, ms };
  }
  console.log(`time to render a step page (server, markdown → HTML), slowest page of ${courseDir} ("${worst.id}"): ${worst.ms.toFixed(2)} ms`);

  const data2 = mkdtempSync(join(tmpdir(), 'lab-bench-'));
  const shown = await startProcess(process.execPath, ['--import', 'tsx', 'lab/cli/start.ts', '--course', courseDir, '--port', '0', '--data', data2, '--no-setup'], {
    cwd: root,
    ready: /(http:\/\/\S+\?token=[0-9a-f]+)/,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(shown.url);
    await page.locator('#page h1').first().waitFor();
    const times: number[] = [];
    for (const p of loaded.pages.slice(1)) {
      const t0 = Date.now();
      await page.evaluate((id) => (location.hash = encodeURIComponent(id)), p.id);
      await page.waitForFunction((id) => document.querySelector('#position')?.textContent?.startsWith(String(id)), loaded.pages.indexOf(p) + 1);
      times.push(Date.now() - t0);
    }
    if (times.length > 0) console.log(`time to show a step page in the browser (fetch + render + insert), ${times.length} pages: p50 ${percentile(times, 50)} ms, max ${Math.max(...times)} ms`);
    await page.close();
  } finally {
    await shown.stop();
    rmSync(data2, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- wetty

function installWetty(dir: string): string | undefined {
  const main = join(dir, 'node_modules', 'wetty', 'build', 'main.js');
  if (existsSync(main) && existsSync(join(dir, 'node_modules', 'node-pty', 'build', 'Release', 'pty.node'))) return undefined;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'wetty-bench', private: true }));
  console.log(`wetty: installing wetty@${WETTY_VERSION} into ${dir} …`);
  const npm = (args: string[]) => spawnSync('npm', args, { cwd: dir, encoding: 'utf8', timeout: 600_000 });
  let r = npm(['install', '--no-audit', '--no-fund', `wetty@${WETTY_VERSION}`]);
  if (r.status !== 0) return `npm install wetty failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`;
  if (!existsSync(join(dir, 'node_modules', 'node-pty', 'build', 'Release', 'pty.node'))) {
    // npm 11 runs install scripts only once approved; node-pty must be built.
    npm(['install-scripts', 'approve', 'node-pty']);
    r = npm(['rebuild', 'node-pty']);
    if (!existsSync(join(dir, 'node_modules', 'node-pty', 'build', 'Release', 'pty.node'))) return `wetty's node-pty could not be built: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  }
  return existsSync(main) ? undefined : `wetty installed but ${main} is missing`;
}

async function benchWetty(browser: Browser): Promise<void> {
  if (values['no-wetty']) return console.log('wetty: skipped (--no-wetty)');
  const dir = values['wetty-dir']!;
  const why = installWetty(dir);
  if (why) return console.log(`wetty: not measured: ${why}`);
  const port = 30000 + Math.floor(Math.random() * 20000);
  let server: Server;
  try {
    server = await startProcess(process.execPath, [join(dir, 'node_modules', 'wetty', 'build', 'main.js'), '--host', '127.0.0.1', '--port', String(port), '--command', 'bash', '--base', '/wetty/'], {
      cwd: dir,
      ready: /(Server started|listening|http:\/\/\S+)/i,
    });
  } catch (err) {
    return console.log(`wetty: not measured: it did not start: ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`);
  }
  try {
    await sleep(500);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${port}/wetty/`);
    await page.waitForFunction(() => (window as unknown as { wetty_term?: unknown }).wetty_term !== undefined, undefined, { timeout: 30_000 });
    await sleep(1500);
    const t = await throughput(page, 'wetty', '.xterm', server.proc.pid!);
    console.log(`wetty ${WETTY_VERSION} throughput, ${MB} MB into xterm in headless Chromium: ${t.mbps.toFixed(1)} MB/s (${t.seconds.toFixed(1)} s), server RSS peak ${t.peakRss.toFixed(0)} MB`);
    await page.close();
  } catch (err) {
    console.log(`wetty: not measured: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------- main

const courseDir = values.course ?? (existsSync(join(root, 'steps', 'course.json')) ? join(root, 'steps') : join(root, 'test', 'fixtures', 'course-basic'));
const browser = await launch();
try {
  await benchLab(browser, courseDir);
  await benchWetty(browser);
} finally {
  await browser.close();
}
