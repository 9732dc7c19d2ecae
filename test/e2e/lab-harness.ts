/**
 * What the lab's end-to-end tests share: a lab server on a free port over a
 * fixture course with its own throwaway data folder, and headless Chromium.
 * Not a test file itself (no `.test.ts`): the lab-*.test.ts files import it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startLab, type LabServer } from '../../lab/server/app.js';

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
  const lab = await startLab({ courseDir: join(fixtures, course), port: 0, dataDir: dir });
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

/** The terminal's visible rows, as drawn on screen. */
export function visibleRows(page: Page, id: string): Promise<string> {
  return page.locator(`.terminal[data-terminal="${id}"] .xterm-rows`).innerText();
}
