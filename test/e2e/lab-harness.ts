/**
 * What the lab's end-to-end tests share: a lab server on a free port over a
 * fixture course with its own throwaway data folder, and headless Chromium.
 * Not a test file itself (no `.test.ts`): the lab-*.test.ts files import it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { cookieName } from '../../lab/server/access.js';
import { startLab, type LabServer } from '../../lab/server/app.js';
import { decode, encode, Packet, type ClientPacket, type PresenceArgs } from '../../lab/terminals/protocol.js';

export const fixtures = new URL('../fixtures/', import.meta.url).pathname;

export interface TestLab {
  lab: LabServer;
  dataDir: string;
  /** Stop the server; the data folder is kept until `dispose` (restart tests reuse it). */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startTestLab(course = 'course-basic', dataDir?: string): Promise<TestLab> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'lab-e2e-'));
  const lab = await startLab({ courseDir: resolve(fixtures, course), port: 0, dataDir: dir });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await lab.close();
  };
  return {
    lab,
    dataDir: dir,
    stop,
    async dispose() {
      await stop();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** The text a learner sees in terminal `id` (the whole buffer, scrollback included). */
export function terminalText(page: Page, id: string): Promise<string> {
  return page.evaluate((t) => (window as unknown as { lab: { terminalText(id: string): string } }).lab.terminalText(t), id);
}

/** Wait until terminal `id` shows a line matching `pattern`. */
export async function waitForTerminal(page: Page, id: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await terminalText(page, id);
    if (pattern.test(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`terminal "${id}" never showed ${pattern}; it shows:\n${text.slice(-1500)}`);
}

/** Waits until the terminal's visible rows, as drawn on screen (a frame after the buffer has the text), show `pattern`; returns them. */
export async function visibleRows(page: Page, id: string, pattern: RegExp): Promise<string> {
  const rows = page.locator(`.lab-terminal[data-terminal="${id}"] .xterm-rows`);
  await rows.filter({ hasText: pattern }).waitFor({ timeout: 10_000 }).catch(() => {});
  return rows.innerText();
}

/** A script's view of one terminal WebSocket: collects output, can ack, type and close. */
export interface TerminalClient {
  ws: WebSocket;
  session: string;
  seq: number;
  output: string;
  exited: boolean;
  /** The last PRESENCE packet: who watches, who has the keyboard. */
  presence?: PresenceArgs;
  /** The messages of ERROR packets received. */
  errors: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  send(packet: ClientPacket): void;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** The environment (default 1) and the token that opens it (default the lab's first). */
  env?: number;
  token?: string;
  terminal?: string;
  session?: string;
  seq?: number;
  origin?: string;
  /** false = send no access cookie. */
  auth?: boolean;
  /** Acknowledge rendered output like a browser (default true). */
  ack?: boolean;
  /** More query parameters: watch=1, broadcast=1. */
  params?: Record<string, string>;
  /** The port the lab listens on, when it is reached through another (a port-forward): its cookies are named by it. */
  serverPort?: number;
}

/** Open a terminal socket as the browser would; rejects with the HTTP status if the upgrade is refused. */
export function connectTerminal(lab: LabServer, opts: ConnectOptions = {}): Promise<TerminalClient> {
  const q = new URLSearchParams({ env: String(opts.env ?? 1), terminal: opts.terminal ?? 'shell', seq: String(opts.seq ?? 0) });
  if (opts.session) q.set('session', opts.session);
  for (const [k, v] of Object.entries(opts.params ?? {})) q.set(k, v);
  const headers: Record<string, string> = {};
  if (opts.auth !== false) headers.cookie = `${cookieName(opts.serverPort ?? lab.port)}=${opts.token ?? lab.token}`;
  const ws = new WebSocket(`ws://127.0.0.1:${lab.port}/ws/terminal?${q}`, { headers, origin: opts.origin ?? `http://127.0.0.1:${lab.port}` });
  const client: TerminalClient = {
    ws,
    session: '',
    seq: 0,
    output: '',
    exited: false,
    errors: [],
    async waitFor(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(client.output)) {
        if (Date.now() > deadline) throw new Error(`terminal never showed ${pattern}; it shows:\n${client.output.slice(-1000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return client.output;
    },
    send(packet) {
      ws.send(encode(packet));
    },
    close() {
      return new Promise((r) => {
        if (ws.readyState === WebSocket.CLOSED) return r();
        ws.once('close', () => r());
        ws.close();
      });
    },
  };
  ws.on('message', (raw) => {
    const p = decode(raw.toString());
    if (p.type === Packet.HELLO) {
      client.session = p.args.session;
      if (p.args.fresh) client.output = '';
    } else if (p.type === Packet.OUTPUT) {
      client.seq = p.args.seq;
      client.output += p.args.data;
      if (opts.ack !== false) client.send({ type: Packet.ACK, args: { chars: p.args.data.length } });
    } else if (p.type === Packet.EXIT) client.exited = true;
    else if (p.type === Packet.PRESENCE) client.presence = p.args;
    else if (p.type === Packet.ERROR) client.errors.push(p.args.message);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (req, res) => {
      req.destroy();
      reject(new Error(`upgrade refused: ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
}

/**
 * An HTTP call to the lab as a script sends it: with the lab's own token
 * (or `token`), as a bearer header or, with `cookie`, as the browser's cookie.
 */
export async function labFetch(
  lab: LabServer,
  path: string,
  init: { method?: string; body?: unknown; auth?: boolean; origin?: string; token?: string; cookie?: boolean } = {},
): Promise<{ status: number; body: any; location: string | null }> {
  const headers: Record<string, string> = {};
  const token = init.token ?? lab.token;
  if (init.auth !== false) {
    if (init.cookie) headers.cookie = `${cookieName(lab.port)}=${token}`;
    else headers.authorization = `Bearer ${token}`;
  }
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.origin) headers.origin = init.origin;
  const res = await fetch(`http://127.0.0.1:${lab.port}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), redirect: 'manual' });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text
  }
  return { status: res.status, body, location: res.headers.get('location') };
}

/**
 * A command line typed into a connected terminal as a learner types it; the
 * returned function resolves with what the command printed, up to the
 * prompt after it.
 */
export function commandRunner(shell: () => TerminalClient, defaultTimeoutMs = 20_000): (command: string, timeoutMs?: number) => Promise<string> {
  let marker = 0;
  return async (command, timeoutMs = defaultTimeoutMs) => {
    const client = shell();
    const done = `end-of-${++marker}`;
    const start = client.output.length;
    // The marker is split in the command line, so the echo of the command never matches it.
    client.send({ type: Packet.INPUT, args: { data: `${command}; printf '\\n%s\\n' "end-of""-${marker}"\r` } });
    const end = new RegExp(`^${done}\r?$`, 'm');
    await client.waitFor(end, timeoutMs);
    const text = client.output.slice(start);
    return text.slice(0, text.search(end));
  };
}
