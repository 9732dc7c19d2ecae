/**
 * Client side of one terminal's WebSocket (the server side is
 * lab/server/terminals.ts). It remembers which shell it was showing and the
 * last output chunk it got, and reconnects after a drop asking for exactly
 * what it missed. Packets are decoded once here and handed on typed.
 */
import { decode, encode, Packet, type ClientPacket, type ServerPacket } from '../terminals/protocol.js';

export interface SocketHandlers {
  onPacket(packet: ServerPacket): void;
  onState(state: 'connecting' | 'open' | 'closed'): void;
}

export class TerminalSocket {
  private ws: WebSocket | undefined;
  private session: string | undefined;
  private seq = 0;
  private retryMs = 250;
  private stopped = false;

  /** `extra`: watch=1 (the instructor watching) or broadcast=1 (the terminal shown to the class). */
  constructor(
    private readonly env: number,
    private readonly terminal: string,
    private readonly handlers: SocketHandlers,
    private readonly extra: Record<string, string> = {},
  ) {}

  connect(): void {
    this.stopped = false;
    const q = new URLSearchParams({ env: String(this.env), terminal: this.terminal, seq: String(this.seq), ...this.extra });
    if (this.session) q.set('session', this.session);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws/terminal?${q}`);
    this.ws = ws;
    this.handlers.onState('connecting');
    ws.onopen = () => {
      this.retryMs = 250;
      this.handlers.onState('open');
    };
    ws.onmessage = (ev: MessageEvent<string>) => {
      const packet = decode(ev.data) as ServerPacket;
      if (packet.type === Packet.HELLO) {
        this.session = packet.args.session;
      } else if (packet.type === Packet.OUTPUT) {
        this.seq = packet.args.seq;
      }
      this.handlers.onPacket(packet);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.handlers.onState('closed');
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 3000);
    };
  }

  /** Start over with a new shell (after the old one exited). */
  restart(): void {
    this.session = undefined;
    this.seq = 0;
    this.ws?.close();
    this.ws = undefined;
    this.connect();
  }

  /** Close for good (the view is gone). */
  stop(): void {
    this.stopped = true;
    this.ws?.close();
  }

  send(packet: ClientPacket): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encode(packet));
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }
}
