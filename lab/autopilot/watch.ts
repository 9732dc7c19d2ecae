/**
 * Watching a terminal the way the autopilot needs to: what it printed since a
 * given moment, as plain text (escape sequences and carriage returns taken
 * out), and whether its shell is back in the foreground. A watch is one more
 * viewer of the terminal session, like a browser tab: it sees the live output,
 * skips what was printed before it attached, and acknowledges everything at
 * once so it never holds the terminal back under flow control. Whether a
 * command has ended is read from the kernel: the terminal's foreground process
 * group (`tpgid` in /proc) is the shell's own while the shell waits at its
 * prompt, and a command's while one runs; a shell that runs elsewhere (a
 * workstation's) says it with the marks it prints.
 */
import stripAnsi from 'strip-ansi';
import { procStat } from '../../common/processes.js';
import { decode, Packet } from '../terminals/protocol.js';
import type { TerminalSession, Viewer } from '../terminals/session.js';

/** Text kept per watch; a pattern is looked for in the newest output only. */
const TEXT_CAP = 1024 * 1024;

// What is left once strip-ansi has taken the escape sequences: control characters other than \t, \n and \r.
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

/** Terminal output as a reader sees it: no escape sequences (colours, cursor moves, titles), lines ending in \n. */
export function plainText(output: string): string {
  return stripAnsi(output).replace(CONTROLS, '').replace(/\r+\n/g, '\n').replace(/\r/g, '\n');
}

export class TerminalWatch {
  private text = '';
  private replaying = true;
  private exited = false;
  private readonly viewer: Viewer;

  constructor(readonly session: TerminalSession) {
    const viewer: Viewer = {
      seq: 0,
      send: (frame) => this.receive(frame),
    };
    this.viewer = viewer;
    // Attaching replays what the session keeps, synchronously: that is the past, not watched.
    session.attach(viewer, session.id, Number.MAX_SAFE_INTEGER);
    this.replaying = false;
  }

  /** Everything printed since the watch started, as plain text. */
  get output(): string {
    return this.text;
  }

  get ended(): boolean {
    return this.exited || this.session.exited;
  }

  /** The last `n` non-empty lines printed since the watch started. */
  tail(n = 6): string {
    return this.text.split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n');
  }

  /**
   * True while the shell itself is the terminal's foreground process group (no command runs); for a
   * shell that runs elsewhere, while its last mark was a prompt's (session.ts PROMPT_MARK).
   */
  shellInForeground(): boolean {
    if (this.session.marksPrompt) return this.session.atPrompt;
    const pid = this.session.pid;
    return procStat(pid)?.tpgid === pid;
  }

  stop(): void {
    this.session.detach(this.viewer);
  }

  private receive(frame: string): void {
    const packet = decode(frame);
    if (packet.type === Packet.OUTPUT) {
      const chars = packet.args.data.length;
      // The session counts a frame as sent after handing it over: acknowledge just after.
      queueMicrotask(() => this.session.acked(this.viewer, chars));
      if (this.replaying) return;
      this.text += plainText(packet.args.data);
      if (this.text.length > TEXT_CAP) this.text = this.text.slice(-TEXT_CAP / 2);
    } else if (packet.type === Packet.EXIT) {
      this.exited = true;
    }
  }
}
