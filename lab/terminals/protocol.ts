/**
 * The terminal wire protocol, shared by server (lab/server/terminals.ts) and
 * browser (lab/client/socket.ts). One WebSocket carries one terminal. Each
 * text frame starts with a one-character packet type. Output and input, the
 * hot paths, carry their text raw after a short header so a 100 MB stream is
 * never JSON-escaped; the rare control packets carry JSON.
 *
 *   server → client   HELLO, OUTPUT, EXIT, ERROR, PRESENCE
 *   client → server   INPUT, RESIZE, ACK, CONTROL
 */

export enum Packet {
  /** First packet on a connection: which shell this is and where replay starts. */
  HELLO = 'h',
  /** Terminal output; `seq` numbers the last chunk it contains. */
  OUTPUT = 'o',
  /** Keystrokes or pasted text for the shell. */
  INPUT = 'i',
  RESIZE = 'r',
  /** The client has rendered this many more characters (flow control). */
  ACK = 'a',
  /** The shell ended. */
  EXIT = 'x',
  ERROR = 'e',
  /** Who else has this terminal open and who types in it (sent on every change). */
  PRESENCE = 'p',
  /** Take the keyboard (an instructor watching, or the learner taking it back) or hand it back. */
  CONTROL = 'c',
}

export interface HelloArgs {
  /** Identifies one shell process; a new shell after exit or reset has a new one. */
  session: string;
  /** True when output the client had not seen was dropped (past the buffer cap) or the shell is new. */
  fresh: boolean;
  /** True when chunks were dropped before the replay that follows. */
  truncated: boolean;
}
export interface OutputArgs {
  seq: number;
  data: string;
}
export interface InputArgs {
  data: string;
}
export interface ResizeArgs {
  cols: number;
  rows: number;
}
export interface AckArgs {
  chars: number;
}
export interface ExitArgs {
  code: number;
  signal?: number;
}
export interface ErrorArgs {
  message: string;
}
export interface PresenceArgs {
  /** How many instructor views are open on this terminal. */
  watching: number;
  /** Who has the keyboard: the learner (and whoever types beside them), or an instructor who took it over. */
  control: 'learner' | 'instructor';
  /** Whether this connection's keystrokes reach the shell now. */
  mayType: boolean;
  /** Whether the instructor shows this terminal to the whole class. */
  shown: boolean;
  /** The shell's size: a read-only view draws at it rather than at its own box. */
  cols: number;
  rows: number;
}
export interface ControlArgs {
  take: boolean;
}

export type ServerPacket =
  | { type: Packet.HELLO; args: HelloArgs }
  | { type: Packet.OUTPUT; args: OutputArgs }
  | { type: Packet.EXIT; args: ExitArgs }
  | { type: Packet.ERROR; args: ErrorArgs }
  | { type: Packet.PRESENCE; args: PresenceArgs };

export type ClientPacket =
  | { type: Packet.INPUT; args: InputArgs }
  | { type: Packet.RESIZE; args: ResizeArgs }
  | { type: Packet.ACK; args: AckArgs }
  | { type: Packet.CONTROL; args: ControlArgs };

export type AnyPacket = ServerPacket | ClientPacket;

export function encode(packet: AnyPacket): string {
  switch (packet.type) {
    case Packet.OUTPUT:
      return `${Packet.OUTPUT}${packet.args.seq}:${packet.args.data}`;
    case Packet.INPUT:
      return Packet.INPUT + packet.args.data;
    default:
      return packet.type + JSON.stringify(packet.args);
  }
}

/** Decode a frame; throws with the frame's start when it is not a packet. */
export function decode(frame: string): AnyPacket {
  const type = frame[0] as Packet;
  const body = frame.slice(1);
  switch (type) {
    case Packet.OUTPUT: {
      const colon = body.indexOf(':');
      const seq = Number(body.slice(0, colon));
      if (colon < 0 || !Number.isFinite(seq)) throw new Error(`bad output packet: ${frame.slice(0, 20)}`);
      return { type, args: { seq, data: body.slice(colon + 1) } };
    }
    case Packet.INPUT:
      return { type, args: { data: body } };
    case Packet.HELLO:
    case Packet.RESIZE:
    case Packet.ACK:
    case Packet.EXIT:
    case Packet.ERROR:
    case Packet.PRESENCE:
    case Packet.CONTROL:
      return { type, args: JSON.parse(body) } as AnyPacket;
    default:
      throw new Error(`unknown packet type ${JSON.stringify(frame.slice(0, 1))}`);
  }
}
