/**
 * One terminal on the page: an xterm.js view bound to a server shell through a
 * TerminalSocket. Output is written as it comes and acknowledged once drawn
 * (flow control); keystrokes go straight to the shell; the view is fitted to
 * its box whenever the window or the layout changes, and the shell is told
 * the new size. A shell that ended offers a new one on the next key.
 *
 * A view is the learner's own, an instructor's watch (`watch`: read-only
 * until the instructor takes the keyboard) or the terminal shown to the class
 * (`broadcast`: read-only). The server says, on every change, who watches and
 * who has the keyboard (PRESENCE); keys are sent only while they count, and a
 * read-only view draws at the shell's size instead of sizing the shell.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Packet, type PresenceArgs, type ServerPacket } from '../terminals/protocol.js';
import { AckCounter } from './flowcontrol.js';
import { TerminalSocket } from './socket.js';

export type ViewMode = 'learner' | 'watch' | 'broadcast';

export interface ViewOptions {
  mode?: ViewMode;
  /** Called on every change of who watches and who types. */
  onPresence?: (presence: PresenceArgs) => void;
}

export class TerminalView {
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly socket: TerminalSocket;
  private readonly acks: AckCounter;
  private readonly mode: ViewMode;
  private ended = false;
  private size = { cols: 0, rows: 0 };
  /** Whether keys count now (the server says; a learner's own view starts with the keyboard). */
  private mayType: boolean;
  presence: PresenceArgs | undefined;

  constructor(
    readonly id: string,
    readonly host: HTMLElement,
    private readonly status: HTMLElement,
    env: number,
    private readonly options: ViewOptions = {},
  ) {
    this.mode = options.mode ?? 'learner';
    this.mayType = this.mode === 'learner';
    this.term = new Terminal({
      cursorBlink: true,
      fontSize: 13,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      scrollback: 5000,
      theme: { background: '#1e1f22', foreground: '#e6e6e6' },
    });
    this.term.loadAddon(this.fit);
    const extra: Record<string, string> = this.mode === 'watch' ? { watch: '1' } : this.mode === 'broadcast' ? { broadcast: '1' } : {};
    this.socket = new TerminalSocket(
      env,
      id,
      {
        onPacket: (p) => this.onPacket(p),
        onState: (s) => this.setStatus(s),
      },
      extra,
    );
    this.acks = new AckCounter((chars) => this.socket.send({ type: Packet.ACK, args: { chars } }));
    this.term.onData((data) => {
      if (!this.mayType) return;
      if (this.ended) {
        this.ended = false;
        this.term.reset();
        this.socket.restart();
        return;
      }
      this.socket.send({ type: Packet.INPUT, args: { data } });
    });
    this.term.open(host);
    new ResizeObserver(() => this.refit()).observe(host);
    this.socket.connect();
  }

  /** Take the keyboard (an instructor watching; the learner taking it back) or hand it back. */
  control(take: boolean): void {
    this.socket.send({ type: Packet.CONTROL, args: { take } });
  }

  /** Close the view for good. */
  dispose(): void {
    this.socket.stop();
    this.term.dispose();
  }

  /** Fit to the box; tell the shell only about a real change of size. A read-only view keeps the shell's size. */
  refit(): void {
    if (this.mode !== 'learner') return;
    if (this.host.offsetWidth === 0 || this.host.offsetHeight === 0) return;
    try {
      this.fit.fit();
    } catch {
      return;
    }
    const { cols, rows } = this.term;
    if (cols !== this.size.cols || rows !== this.size.rows) {
      this.size = { cols, rows };
      this.socket.send({ type: Packet.RESIZE, args: { cols, rows } });
    }
  }

  focus(): void {
    this.term.focus();
  }

  /** Everything in the terminal's buffer, as text (for copy and for tests). */
  text(): string {
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n').replace(/\n+$/, '');
  }

  private onPacket(p: ServerPacket): void {
    switch (p.type) {
      case Packet.HELLO:
        this.acks.reset();
        if (p.args.fresh) this.term.reset();
        if (p.args.truncated) this.term.write('\x1b[2m[older output was dropped]\x1b[0m\r\n');
        this.size = { cols: 0, rows: 0 };
        this.refit();
        break;
      case Packet.OUTPUT: {
        const n = p.args.data.length;
        this.term.write(p.args.data, () => this.acks.wrote(n));
        break;
      }
      case Packet.EXIT:
        this.ended = true;
        this.term.write('\r\n\x1b[2m[the shell ended; press any key for a new one]\x1b[0m\r\n');
        break;
      case Packet.ERROR:
        this.term.write(`\r\n\x1b[31m[lab: ${p.args.message}]\x1b[0m\r\n`);
        break;
      case Packet.PRESENCE: {
        const regained = p.args.mayType && !this.mayType;
        this.mayType = p.args.mayType;
        this.presence = p.args;
        this.host.closest('.lab-terminal, .watch-view')?.setAttribute('data-keyboard', p.args.mayType ? 'yours' : 'not-yours');
        if (this.mode !== 'learner') {
          if (p.args.cols !== this.term.cols || p.args.rows !== this.term.rows) this.term.resize(p.args.cols, p.args.rows);
        } else if (regained) {
          // the keyboard is back: the shell takes this view's size again
          this.size = { cols: 0, rows: 0 };
          this.refit();
        }
        this.options.onPresence?.(p.args);
        break;
      }
    }
  }

  private setStatus(state: 'connecting' | 'open' | 'closed'): void {
    this.status.dataset.state = state;
    this.status.textContent = state === 'open' ? '' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
    this.host.closest('.lab-terminal')?.setAttribute('data-connected', String(state === 'open'));
  }
}
