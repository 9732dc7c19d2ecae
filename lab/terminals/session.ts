/**
 * One terminal of an environment: a bash in node-pty that outlives any browser
 * connection. Output is kept in sequence-numbered chunks, so a client that
 * reconnects (page reload, dropped socket) says the last chunk it saw and gets
 * exactly what it has not seen. Past a cap, the oldest chunks are dropped
 * whole, never cut, so an escape sequence is never split in half. Input that
 * arrives before the shell has printed anything is queued, not lost. The
 * shell's whole session (its jobs included) is killed on `close()`, so a
 * reset or a server stop leaves no orphan processes.
 *
 * Several connections may view one terminal, each in a role: the learner (and
 * an instructor who opened the learner's page) type while the keyboard is
 * theirs; an instructor watching reads only, until they take the keyboard
 * over, which holds the others' keys back until they hand it back or the
 * learner takes it back; the class (when the instructor shows the terminal
 * to everyone) only reads. Every viewer is told, on each change, how many
 * instructors watch, who has the keyboard, whether its own keys count, and
 * the shell's size. Only typing viewers hold the pty back by flow control: a
 * slow watcher must not stall the learner's shell.
 */
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import * as pty from 'node-pty';
import { sessionMembers, signal, sleep } from '../../common/processes.js';
import { FlowControl } from './flowcontrol.js';
import { encode, Packet } from './protocol.js';
import type { Recorder } from './recording.js';

/** Output kept for replay, in characters. */
export const OUTPUT_CAP = 4 * 1024 * 1024;
/** During a stream of output, how long output is gathered into one packet. */
const BATCH_MS = 5;
/** A packet this big means a stream is flowing (a pty read is at most 4 KiB). */
const STREAM_CHARS = 4000;
/**
 * The lab's shell startup file prints this (an OSC sequence terminals
 * ignore) as its last act, right before the first prompt: input that arrives
 * earlier is queued until then, so no program of the user's startup files
 * (pyenv init, say) can swallow a command meant for the prompt.
 */
export const READY_MARKER = '\x1b]697;lab-ready\x07';
/**
 * What a shell that runs elsewhere (a workstation's, behind its exec client)
 * prints to say where it is, since the foreground process of the lab's pty
 * is then always the client: PROMPT_MARK with every prompt, COMMAND_MARK
 * once it has read a command line and is about to run it (bash's PS0). OSC
 * sequences, which terminals ignore.
 */
export const PROMPT_MARK = '\x1b]697;lab-prompt\x07';
export const COMMAND_MARK = '\x1b]697;lab-command\x07';
const MARK_TAIL = Math.max(PROMPT_MARK.length, COMMAND_MARK.length) - 1;
/** How long queued input waits for the ready marker before it is sent anyway. */
const READY_TIMEOUT_MS = 30_000;
/** How long a ctrl_c macro waits for the running program to give the prompt back. */
const INTERRUPT_WAIT_MS = 3000;

export interface SessionOptions {
  cwd: string;
  env: Record<string, string>;
  shell?: string;
  args?: string[];
  cols?: number;
  rows?: number;
  outputCap?: number;
  /** false: the shell prints no READY_MARKER, input goes to it at once. */
  readyMarker?: boolean;
  /** The command line that starts the shell (an isolated environment's wrapper around shell and args); `shell` still names the shell. */
  launcher?: { command: string; args: string[] };
  /** Where the terminal's output is recorded (recording.ts). */
  recorder?: Recorder;
  /** The shell prints PROMPT_MARK and COMMAND_MARK: whether it is at its prompt is read from them, not from the pty's foreground process. */
  marksPrompt?: boolean;
}

/**
 * How a connection takes part: `learner` (the environment's own), `instructor`
 * (the instructor on the learner's page: types beside the learner, seen as
 * watching), `watcher` (an instructor watching: reads, types only once they
 * took the keyboard) or `audience` (a learner of the class shown this terminal:
 * reads only).
 */
export type ViewerRole = 'learner' | 'instructor' | 'watcher' | 'audience';

/** A connected client as the session sees it. */
export interface Viewer {
  send(frame: string): void;
  /** The last chunk this viewer has been sent. */
  seq: number;
  /** Default: learner. */
  role?: ViewerRole;
}

const roleOf = (v: Viewer): ViewerRole => v.role ?? 'learner';
/** Viewers that only read are left out of flow control. */
const typesAlong = (v: Viewer) => roleOf(v) === 'learner' || roleOf(v) === 'instructor';

interface Chunk {
  seq: number;
  data: string;
}

export class TerminalSession {
  readonly id = randomBytes(6).toString('hex');
  readonly pid: number;
  private readonly pty: pty.IPty;
  private readonly shellName: string;
  private readonly chunks: Chunk[] = [];
  private chunkChars = 0;
  private lastSeq = 0;
  private readonly viewers = new Set<Viewer>();
  private readonly flow: FlowControl<Viewer>;
  private flushScheduled = false;
  private lastFlushAt = 0;
  private lastFlushChars = 0;
  private ready = false;
  /** When the pty last wrote anything (epoch ms). */
  private lastOutputAt = 0;
  private startupTail = '';
  /** With marksPrompt: the end of the output so far, where a mark may have begun; and whether the last mark was a prompt's. */
  private markTail = '';
  private promptMarked = false;
  readonly marksPrompt: boolean;
  private readonly pending: string[] = [];
  private exitInfo: { code: number; signal?: number } | undefined;
  private readonly exitListeners: (() => void)[] = [];
  private readonly outputCap: number;
  private readonly recorder: Recorder | undefined;
  /** The instructor who took the keyboard over (none: it is the learner's). */
  private controller: Viewer | undefined;
  private shownToClass = false;

  constructor(opts: SessionOptions) {
    const shell = opts.shell ?? 'bash';
    this.shellName = basename(shell);
    this.outputCap = opts.outputCap ?? OUTPUT_CAP;
    this.marksPrompt = opts.marksPrompt === true;
    this.pty = pty.spawn(opts.launcher?.command ?? shell, opts.launcher?.args ?? opts.args ?? [], {
      name: 'xterm-256color',
      cols: opts.cols ?? 100,
      rows: opts.rows ?? 30,
      cwd: opts.cwd,
      env: opts.env,
    });
    this.pid = this.pty.pid;
    this.recorder = opts.recorder;
    this.recorder?.shellStarted(this.pty.cols, this.pty.rows);
    this.flow = new FlowControl<Viewer>(() => this.pty.pause(), () => this.pty.resume());
    this.pty.onData((data) => this.output(data));
    this.pty.onExit(({ exitCode, signal }) => {
      this.exitInfo = { code: exitCode, signal };
      this.flush();
      for (const v of this.viewers) v.send(encode({ type: Packet.EXIT, args: this.exitInfo }));
      for (const l of this.exitListeners) l();
    });
    if (opts.readyMarker === false) this.markReady();
    else setTimeout(() => this.markReady(), READY_TIMEOUT_MS).unref();
  }

  get exited(): boolean {
    return this.exitInfo !== undefined;
  }

  onExit(listener: () => void): void {
    this.exitListeners.push(listener);
  }

  /** The name of the program in the foreground, e.g. "bash" or "sleep". */
  get foreground(): string {
    try {
      return this.pty.process;
    } catch {
      return '';
    }
  }

  /** The shell itself is in the foreground: nothing the learner started runs in this terminal. */
  get atPrompt(): boolean {
    if (this.marksPrompt) return !this.exited && this.promptMarked;
    return !this.exited && this.foreground === this.shellName;
  }

  /**
   * Attach a viewer that has seen output up to chunk `since` of shell `session`.
   * A viewer of another (older) shell, or one that fell behind the cap, is
   * told to start afresh and gets everything still kept.
   */
  attach(viewer: Viewer, session: string | undefined, since: number): void {
    const first = this.chunks[0]?.seq ?? this.lastSeq + 1;
    const sameShell = session === this.id;
    let start = sameShell ? since : 0;
    const truncated = start < first - 1 && first > 1;
    if (start < first - 1 || start > this.lastSeq) start = first - 1;
    viewer.seq = start;
    viewer.send(encode({ type: Packet.HELLO, args: { session: this.id, fresh: !sameShell || truncated, truncated } }));
    this.viewers.add(viewer);
    if (typesAlong(viewer)) this.flow.add(viewer);
    this.sendPending(viewer);
    if (this.exitInfo) viewer.send(encode({ type: Packet.EXIT, args: this.exitInfo }));
    this.announce();
  }

  detach(viewer: Viewer): void {
    if (!this.viewers.delete(viewer)) return;
    this.flow.remove(viewer);
    // an instructor who leaves while typing gives the keyboard back
    if (this.controller === viewer) this.controller = undefined;
    this.announce();
  }

  /** Whether `viewer`'s keys reach the shell now. */
  mayType(viewer: Viewer): boolean {
    const role = roleOf(viewer);
    if (role === 'audience') return false;
    if (role === 'watcher') return this.controller === viewer;
    return this.controller === undefined;
  }

  /**
   * A viewer takes the keyboard (`take`) or hands it back. A watching
   * instructor takes it over; the learner (or an instructor on their page)
   * taking it gets it back from the instructor. Returns why not, when it may not.
   */
  control(viewer: Viewer, take: boolean): string | undefined {
    const role = roleOf(viewer);
    if (role === 'audience') return 'a terminal shown to the class is read-only';
    if (role === 'watcher') {
      if (take) this.controller = viewer;
      else if (this.controller === viewer) this.controller = undefined;
    } else if (take) {
      this.controller = undefined;
    }
    this.announce();
    return undefined;
  }

  /** Keys from a viewer: written (or queued) when the keyboard is theirs, dropped otherwise. */
  input(viewer: Viewer, data: string): boolean {
    if (!this.mayType(viewer)) return false;
    this.write(data);
    return true;
  }

  /** Whether the instructor shows this terminal to the whole class (its viewers are told). */
  set shown(shown: boolean) {
    if (this.shownToClass === shown) return;
    this.shownToClass = shown;
    this.announce();
  }

  /** Tell every viewer who watches, who types, whether it may type, and the shell's size. */
  private announce(): void {
    let watching = 0;
    for (const v of this.viewers) if (roleOf(v) === 'watcher' || roleOf(v) === 'instructor') watching++;
    const control = this.controller ? 'instructor' : 'learner';
    for (const v of this.viewers) {
      const args = { watching, control, mayType: this.mayType(v), shown: this.shownToClass, cols: this.pty.cols, rows: this.pty.rows } as const;
      v.send(encode({ type: Packet.PRESENCE, args }));
    }
  }

  /** False when `chars` is more than was sent to the viewer and not yet acknowledged (see FlowControl.acked). */
  acked(viewer: Viewer, chars: number): boolean {
    return this.flow.acked(viewer, chars);
  }

  /** Keystrokes: written at once if the shell is ready, else queued. */
  write(data: string): void {
    if (this.exitInfo) return;
    if (this.ready) this.pty.write(data);
    else this.pending.push(data);
  }

  /**
   * Type a command as a learner would, after its macros. `ctrl_c` sends ^C and
   * waits (up to 3 s) for the shell to be back in the foreground, so the
   * command is not swallowed by the program being stopped.
   */
  async type(command: string, macros: readonly string[] = []): Promise<void> {
    for (const macro of macros) {
      if (macro === 'ctrl_c') {
        // A shell that has not shown its first prompt runs nothing to stop, and a
        // ^C flushed together with the command would make bash drop its first keys.
        if (!this.ready && this.pending.length === 0) continue;
        this.write('\x03');
        await this.waitForShell();
      }
    }
    const lines = command.replace(/\r?\n$/, '').split('\n');
    this.write(lines.join('\r') + '\r');
  }

  /**
   * Set the terminal size. A same-size resize (a client reconnecting) is done
   * as one row more and back, because a full-screen program (top, vim, less)
   * redraws only on a real change, and the new view needs that redraw.
   */
  resize(cols: number, rows: number, viewer?: Viewer): void {
    if (this.exitInfo) return;
    // only the one at the keyboard sizes the shell: a watcher's window must not reflow the learner's
    if (viewer && !this.mayType(viewer)) return;
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 2 || rows < 1 || cols > 1000 || rows > 500) return;
    const changed = cols !== this.pty.cols || rows !== this.pty.rows;
    if (!changed) this.pty.resize(cols, rows + 1);
    this.pty.resize(cols, rows);
    this.recorder?.resize(cols, rows);
    if (changed) this.announce();
  }

  /** Kill the shell and everything it started (same session id), HUP first, KILL after. */
  async close(): Promise<void> {
    const sid = this.pid;
    const members = () => sessionMembers(sid);
    signal(members(), 'SIGHUP');
    for (let i = 0; i < 20 && (!this.exitInfo || members().length > 0); i++) await sleep(25);
    signal(members(), 'SIGKILL');
    for (let i = 0; i < 40 && !this.exitInfo; i++) await sleep(25);
    for (const v of this.viewers) this.detach(v);
  }

  /** How many characters of output are kept for replay (bounded by the cap). */
  get bufferedChars(): number {
    return this.chunkChars;
  }

  get isPaused(): boolean {
    return this.flow.isPaused;
  }

  private output(data: string): void {
    this.lastOutputAt = Date.now();
    this.recorder?.output(data);
    if (!this.ready) {
      // The marker may arrive split across two reads: keep the end of the last one.
      const seen = this.startupTail + data;
      if (seen.includes(READY_MARKER)) this.markReady();
      else this.startupTail = seen.slice(-READY_MARKER.length);
    }
    if (this.marksPrompt) {
      // A mark may arrive split across two reads too; the last whole one says where the shell is.
      const seen = this.markTail + data;
      const prompt = seen.lastIndexOf(PROMPT_MARK);
      const command = seen.lastIndexOf(COMMAND_MARK);
      if (prompt >= 0 || command >= 0) this.promptMarked = prompt > command;
      this.markTail = seen.slice(-MARK_TAIL);
    }
    this.lastSeq += 1;
    this.chunks.push({ seq: this.lastSeq, data });
    this.chunkChars += data.length;
    while (this.chunkChars > this.outputCap && this.chunks.length > 1) {
      this.chunkChars -= this.chunks.shift()!.data.length;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Interactive output (an echoed keystroke) goes out at once. During a
    // stream (the last packet was at least a full pty read) output is gathered
    // for a few ms per packet, so a flood costs the browser a few big messages
    // instead of thousands of 4 KiB ones.
    const since = Date.now() - this.lastFlushAt;
    if (this.lastFlushChars < STREAM_CHARS || since >= BATCH_MS) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), BATCH_MS - since);
  }

  /** Send every viewer what it has not had yet, as one packet per viewer. */
  private flush(): void {
    this.flushScheduled = false;
    this.lastFlushAt = Date.now();
    this.lastFlushChars = 0;
    for (const v of this.viewers) this.lastFlushChars = Math.max(this.lastFlushChars, this.sendPending(v));
  }

  /** Send a viewer the chunks it has not had; returns how many characters that was. */
  private sendPending(viewer: Viewer): number {
    if (viewer.seq >= this.lastSeq || this.chunks.length === 0) return 0;
    const first = this.chunks[0]!.seq;
    const from = Math.max(0, viewer.seq + 1 - first);
    let data = '';
    for (let i = from; i < this.chunks.length; i++) data += this.chunks[i]!.data;
    viewer.seq = this.lastSeq;
    if (data === '') return 0;
    viewer.send(encode({ type: Packet.OUTPUT, args: { seq: this.lastSeq, data } }));
    if (typesAlong(viewer)) this.flow.sent(viewer, data.length);
    return data.length;
  }

  private markReady(): void {
    if (this.ready) return;
    this.ready = true;
    for (const data of this.pending.splice(0)) if (!this.exitInfo) this.pty.write(data);
  }

  /**
   * After a ^C: wait until the shell is in the foreground again and has
   * redrawn its prompt (output came after the ^C and then went quiet), since
   * keys typed while bash is still handling the interrupt are discarded.
   */
  private async waitForShell(): Promise<void> {
    const sentAt = Date.now();
    const deadline = sentAt + INTERRUPT_WAIT_MS;
    await sleep(50);
    while (Date.now() < deadline) {
      const redrawn = this.lastOutputAt > sentAt && Date.now() - this.lastOutputAt >= 100;
      if (this.foreground === this.shellName && redrawn) return;
      await sleep(25);
    }
  }
}
