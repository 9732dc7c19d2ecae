/**
 * Reset times on the ZDM course, page by page: what the instructor console's
 * "reset to" costs for every page, from the page's saved state, beside the
 * same reset played by the autopilot (the anchor), both measured in this run
 * on one environment (71). First the environment is reset to the clean-up
 * page by playing the whole course, which saves the course's state at the
 * start of each page it reaches, as the console's reset does; the time at
 * which the play reached each page is what a played reset to that page
 * takes. Then it is reset to each page in turn from that page's saved state:
 * the restore, the environment ready again (proxies, API and loop as the page
 * expects them) and the check of the page before passing, which is when the
 * console's reset ends. A reset that cannot restore falls back to playing,
 * and the table says so. Goal: every page in 20 s or less.
 *
 *   npx tsx bench/resets.ts [--isolate]
 *
 * With --isolate (as root) the environment has its own account and budget,
 * as in a hosted class. The environment is destroyed at the end, Ctrl-C
 * included.
 */
import { parseArgs } from 'node:util';
import { zdmProxyUnavailable } from '../test/support/lab.js';
import { requireIsolation, say, startBenchLab } from './course-lab.js';

const ENV = 71;
const GOAL_SECONDS = 20;
/** The page the first, played reset goes to: every page before it gets its state saved on the way. */
const LAST = 'cleanup';

const { values } = parseArgs({ options: { isolate: { type: 'boolean' } } });
const isolate = values.isolate === true;
requireIsolation(isolate);
const { lab, used, cleanUp } = await startBenchLab('resets', isolate);

interface Row {
  page: string;
  /** Seconds from the start of the played reset until the play reached the page. */
  played: number | undefined;
  /** The reset to the page from its saved state, all in; undefined when it played instead. */
  restored: number | undefined;
  restoreSeconds: number | undefined;
  readySeconds: number | undefined;
  /** The reset's own total when it played instead of restoring. */
  fellBack: number | undefined;
}

const seconds = (s: number | undefined) => (s === undefined ? '-' : `${s.toFixed(1)} s`);

try {
  const proxyMissing = await zdmProxyUnavailable();
  if (proxyMissing) throw new Error(`the course deploys the proxies, so the real zdm-proxy is needed: ${proxyMissing}`);
  lab.classroom.create({ env: ENV, name: 'bench resets' });
  used.add(ENV);
  const env = lab.environments.get(ENV)!;
  say(`environment ${ENV}: setting up (two Cassandra nodes)${isolate ? ', isolated' : ''}`);
  if ((await env.setupDone()) !== 'done') throw new Error(`environment ${ENV}'s setup failed: see ${env.workDir}/setup.log`);

  // The played reset: when the play reaches a page, its state is saved ("PAGE: its state saved (S s)").
  const reached = new Map<string, number>();
  const started = performance.now();
  say(`environment ${ENV}: reset to ${LAST} by playing the course, saving the state at the start of each page`);
  const played = await lab.classroom.reset(ENV, {
    to: LAST,
    onProgress: (line) => {
      say(`  ${line}`);
      const saved = /^(\S+): its state (?:saved \(([\d.]+) s\)|was not saved)/.exec(line);
      if (saved) reached.set(saved[1]!, (performance.now() - started) / 1000 - Number(saved[2] ?? 0));
    },
  });
  reached.set(LAST, played.playedSeconds!);
  const shelf = lab.classroom.shelf!;
  const pages = lab.course.pages.map((p) => p.id).filter((id) => shelf.has(id));
  say(`saved states: ${pages.join(', ')}`);

  const rows: Row[] = [];
  for (const page of pages) {
    say(`environment ${ENV}: reset to ${page}`);
    const outcome = await lab.classroom.reset(ENV, { to: page, onProgress: (line) => say(`  ${line}`) });
    rows.push({
      page,
      played: reached.get(page),
      restored: outcome.restored ? outcome.playedSeconds : undefined,
      restoreSeconds: outcome.restored ? outcome.resetSeconds : undefined,
      readySeconds: outcome.restored ? outcome.readySeconds : undefined,
      fellBack: outcome.restored ? undefined : outcome.playedSeconds,
    });
  }

  console.log(`reset to each page of the ZDM course, environment ${ENV}${isolate ? ' (isolated)' : ''}, played and from its saved state, in one run:`);
  const header = ['page', 'played', 'from its state', 'restore', 'ready', 'check of the page before'];
  const widths = [9, 9, 15, 9, 9, 26];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' ');
  console.log(line(header));
  for (const r of rows) {
    const ready = r.restored === undefined ? `played instead: ${seconds(r.fellBack)}` : `passed at ${seconds(r.restored)}`;
    console.log(line([r.page, seconds(r.played), seconds(r.restored), seconds(r.restoreSeconds), seconds(r.readySeconds), ready]));
  }
  console.log(
    'played: from the start of the played reset until the play reached the page (that reset, to that page); from its state: the reset to the page from its saved state, ' +
      'until the check of the page before passed (the end of the console\'s reset); restore: the course\'s restore command and the shells; ready: the setup for the page done.',
  );
  const restored = rows.filter((r) => r.restored !== undefined);
  const slowest = restored.reduce<Row | undefined>((m, r) => (m === undefined || r.restored! > m.restored! ? r : m), undefined);
  const fell = rows.filter((r) => r.restored === undefined).map((r) => r.page);
  console.log(
    slowest
      ? `slowest from a saved state: ${slowest.page} in ${seconds(slowest.restored)} (played: ${seconds(slowest.played)}); goal ${GOAL_SECONDS} s for every page: ` +
          `${fell.length === 0 && slowest.restored! <= GOAL_SECONDS ? 'met' : `not met${fell.length > 0 ? ` (played instead: ${fell.join(', ')})` : ''}`}`
      : 'no page was reset from a saved state',
  );
} finally {
  await cleanUp();
}
