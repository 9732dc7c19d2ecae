/**
 * What the server accepts from a browser on a terminal socket: INPUT (raw
 * text), RESIZE {cols, rows}, ACK {chars} and CONTROL {take}, each checked against its
 * shape (zod) before any of it is used, so a packet with null, missing or
 * mistyped arguments is refused with a message instead of reaching the pty.
 * Kept apart from protocol.ts, which the browser bundles too.
 */
import { z } from 'zod';
import { decode, Packet, type ClientPacket } from './protocol.js';

const count = z.number().finite();
const shapes = {
  [Packet.RESIZE]: z.object({ cols: count.int(), rows: count.int() }).strict(),
  [Packet.ACK]: z.object({ chars: count.nonnegative() }).strict(),
  [Packet.CONTROL]: z.object({ take: z.boolean() }).strict(),
};

export class PacketError extends Error {}

/** The packet in a client's frame, or a PacketError saying what is wrong with it. */
export function readClientPacket(frame: string): ClientPacket {
  let packet;
  try {
    packet = decode(frame);
  } catch (err) {
    // decode names an unknown type or a bad output header itself; JSON.parse's message would not help
    throw new PacketError(err instanceof SyntaxError ? `packet "${frame.slice(0, 1)}" does not hold JSON arguments` : (err as Error).message);
  }
  if (packet.type === Packet.INPUT) return packet;
  if (packet.type !== Packet.RESIZE && packet.type !== Packet.ACK && packet.type !== Packet.CONTROL) throw new PacketError(`a client may not send packet "${packet.type}"`);
  const checked = shapes[packet.type].safeParse(packet.args);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new PacketError(`packet "${packet.type}": ${issue.path.join('.') || 'its arguments'}: ${issue.message}`);
  }
  return { type: packet.type, args: checked.data } as ClientPacket;
}
