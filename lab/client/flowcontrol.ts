/**
 * Client side of terminal flow control (the server side is
 * lab/terminals/flowcontrol.ts): count the characters xterm.js has actually
 * rendered (its write callback), and acknowledge them about every 256 KiB.
 * The server holds the shell back while too much is unacknowledged, so a flood
 * of output can never queue up faster than this page draws it.
 */
import { FLOW_ACK_EVERY } from '../terminals/flowcontrol.js';

export class AckCounter {
  private rendered = 0;

  constructor(private readonly ack: (chars: number) => void) {}

  /** Call from xterm's write callback with the size of what was written. */
  wrote(chars: number): void {
    this.rendered += chars;
    if (this.rendered >= FLOW_ACK_EVERY) {
      this.ack(this.rendered);
      this.rendered = 0;
    }
  }

  /** A new connection starts with nothing unacknowledged on the server. */
  reset(): void {
    this.rendered = 0;
  }
}
