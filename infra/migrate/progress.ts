/**
 * The progress line of migrate and validate: rows so far, rows per second
 * and the time left. How much is done is measured on the token ring (each
 * range reports the token of its latest row), so the estimate needs no row
 * count up front. On a terminal the line redraws in place; in a log it is
 * printed every few seconds.
 */
import { rangeFraction, type TokenRange } from './ranges.js';
import type cassandra from 'cassandra-driver';

export type ProgressSink = (line: string, final: boolean) => void;

export const silentProgress: ProgressSink = () => {};

export function streamProgress(stream: NodeJS.WriteStream = process.stderr, logEveryMs = 5000): ProgressSink {
  let lastLogged = 0;
  return (line, final) => {
    if (stream.isTTY) {
      stream.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    } else if (final || Date.now() - lastLogged >= logEveryMs) {
      lastLogged = Date.now();
      stream.write(`${line}\n`);
    }
  };
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '--:--';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export const count = (n: number) => Math.round(n).toLocaleString('en-US');

export class ProgressMeter {
  rows = 0;
  private readonly fractions: number[];
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly label: string,
    private readonly ranges: TokenRange[],
    private readonly sink: ProgressSink,
    private readonly drawEveryMs = 250,
  ) {
    this.fractions = ranges.map(() => 0);
  }

  row(range: number, token: cassandra.types.Long): void {
    this.rows++;
    this.fractions[range] = rangeFraction(this.ranges[range], token);
    const now = Date.now();
    if (now - this.lastDraw >= this.drawEveryMs) {
      this.lastDraw = now;
      this.sink(this.line(), false);
    }
  }

  rangeDone(range: number): void {
    this.fractions[range] = 1;
  }

  get elapsedMs(): number {
    return Date.now() - this.started;
  }

  get rate(): number {
    return this.rows / Math.max(this.elapsedMs / 1000, 0.001);
  }

  finish(): void {
    this.sink(this.line(true), true);
  }

  line(final = false): string {
    const done = this.fractions.reduce((a, b) => a + b, 0) / this.fractions.length;
    const width = 20;
    const filled = final ? width : Math.min(width, Math.floor(done * width));
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    const percent = `${Math.floor((final ? 1 : done) * 100)}%`.padStart(4);
    const eta = final ? `in ${formatDuration(this.elapsedMs)}` : `ETA ${done >= 0.01 ? formatDuration((this.elapsedMs * (1 - done)) / done) : '--:--'}`;
    return `${this.label} ${bar} ${percent}  ${count(this.rows)} rows  ${count(this.rate)} rows/s  ${eta}`;
  }
}
