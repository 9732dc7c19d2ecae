/**
 * A terminal's output recorded as an asciicast v2 file, asciinema's format:
 * a JSON header line (size, start time, `idle_time_limit` so a player skips
 * long pauses), then one JSON array per event: `[seconds, "o", text]` for
 * output, `[seconds, "r", "COLSxROWS"]` for a resize and `[seconds, "m",
 * label]` for a marker (a new shell). One file per terminal of an
 * environment, kept across its shells. Bounded: once the file passes its cap,
 * it becomes `<name>.1.cast` (replacing the part before) and a new file
 * starts, so the latest of a long session is always kept and at most twice
 * the cap is on disk. Events are gathered and written in 64 KiB batches (and
 * at least every quarter second), so a flood of output costs a few writes to
 * the page cache and no growing queue in memory. A flood (more than 256 KiB
 * of output in a second: a `cat` of a big file, `yes`) is recorded up to that
 * rate, with a line saying how much was left out, since a playback could not
 * show it anyway and it would only push older, readable output past the cap.
 *
 * The format is a header and JSON lines, so it is written here rather than
 * through a library; asciinema-player (in the instructor console) plays it.
 */
import { closeSync, existsSync, openSync, renameSync, writeSync } from 'node:fs';

/** Bytes of one recording file before it is set aside and a new one starts. */
export const RECORDING_CAP = 8 * 1024 * 1024;
/** Gathered events are written once they reach this size, or after FLUSH_MS. */
const BATCH_BYTES = 64 * 1024;
const FLUSH_MS = 250;
/** Output recorded per second at most. */
const RATE_BYTES = 256 * 1024;

export interface RecordingInfo {
  /** The file, and the one set aside before it (older output), if any. */
  path: string;
  earlierPart: string | undefined;
  bytes: number;
}

export class Recorder {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private bytes = 0;
  private startedAt = 0;
  private windowStart = 0;
  private windowBytes = 0;
  private skipped = 0;
  private cols: number;
  private rows: number;

  constructor(
    readonly path: string,
    size: { cols: number; rows: number },
    private readonly cap = RECORDING_CAP,
  ) {
    this.cols = size.cols;
    this.rows = size.rows;
  }

  /** A shell (re)starts in this terminal: the first one opens the file, a later one leaves a marker. */
  shellStarted(cols: number, rows: number): void {
    if (this.fd === undefined) this.open(cols, rows);
    else {
      this.marker('new shell');
      this.resize(cols, rows);
    }
  }

  output(data: string): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.noteSkipped();
      this.windowStart = now;
      this.windowBytes = 0;
    }
    if (this.windowBytes + data.length > RATE_BYTES) {
      this.skipped += data.length;
      return;
    }
    this.windowBytes += data.length;
    this.event('o', data);
  }

  private noteSkipped(): void {
    if (this.skipped === 0) return;
    this.event('o', `\r\n\x1b[2m[recording: ${Math.ceil(this.skipped / 1024)} KiB of output in a flood left out]\x1b[0m\r\n`);
    this.skipped = 0;
  }

  resize(cols: number, rows: number): void {
    if (cols === this.cols && rows === this.rows) return;
    this.cols = cols;
    this.rows = rows;
    this.event('r', `${cols}x${rows}`);
  }

  marker(label: string): void {
    this.event('m', label);
  }

  get info(): RecordingInfo {
    const earlier = this.path.replace(/\.cast$/, '.1.cast');
    return { path: this.path, earlierPart: existsSync(earlier) ? earlier : undefined, bytes: this.bytes };
  }

  /** Write out what is gathered and close the file. */
  async close(): Promise<void> {
    this.noteSkipped();
    this.closeFile();
  }

  private closeFile(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(cols: number, rows: number, continued = false): void {
    this.cols = cols;
    this.rows = rows;
    this.startedAt = Date.now();
    try {
      this.fd = openSync(this.path, 'w', 0o600);
    } catch {
      this.fd = undefined;
      return;
    }
    this.bytes = 0;
    this.line(JSON.stringify({ version: 2, width: cols, height: rows, timestamp: Math.floor(this.startedAt / 1000), idle_time_limit: 2, env: { TERM: 'xterm-256color' } }));
    if (continued) this.marker('continued: the earlier part is in the .1.cast file');
  }

  private event(kind: 'o' | 'r' | 'm', data: string): void {
    if (this.fd === undefined) return;
    if (this.bytes > this.cap) this.rotate();
    this.line(JSON.stringify([Number(((Date.now() - this.startedAt) / 1000).toFixed(3)), kind, data]));
  }

  private rotate(): void {
    this.closeFile();
    try {
      renameSync(this.path, this.path.replace(/\.cast$/, '.1.cast'));
    } catch {
      // the file is gone (the environment's recordings were removed): start afresh all the same
    }
    this.open(this.cols, this.rows, true);
  }

  private line(text: string): void {
    const n = Buffer.byteLength(text) + 1;
    this.bytes += n;
    this.pending.push(text + '\n');
    this.pendingBytes += n;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (this.fd === undefined || text === '') return;
    try {
      writeSync(this.fd, text);
    } catch {
      // a write that fails (disk full, folder removed) ends the recording, never the terminal
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
