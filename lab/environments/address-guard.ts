/**
 * Another environment's addresses are not a learner's to take. Any account
 * may bind any loopback address, and the packet filter (isolation.ts) judges
 * only what is sent: so a learner could listen on 127.0.B.x before B's
 * Cassandra, proxy or API does, and B's part would fail to start, or listen
 * on every address (0.0.0.0, ::) and take B's port on all of them. The guard
 * reads the kernel's socket tables (/proc/net) every second and ends, with
 * SIGKILL, each process of an environment's account that holds a socket
 * bound to another environment's block or to every address, and logs it.
 * A server a learner starts on their own addresses (127.0.K.x) is left be.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { processesOf } from './isolation.js';

export interface BoundSocket {
  proto: 'tcp' | 'udp';
  address: string;
  port: number;
  uid: number;
  inode: number;
}

const TCP_LISTEN = '0A';

/** "0100007F" (as /proc/net/tcp prints an IPv4 address) → "127.0.0.1"; IPv6 as colon-separated groups, :: for all zeros. */
export function decodeAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  // IPv6: four 32-bit words, each in host (little-endian) order.
  const bytes = Array.from({ length: 4 }, (_, w) => [3, 2, 1, 0].map((i) => hex.slice(w * 8 + i * 2, w * 8 + i * 2 + 2)).join('')).join('').toLowerCase();
  if (/^0{32}$/.test(bytes)) return '::';
  if (bytes.startsWith('00000000000000000000ffff')) return decodeAddress([3, 2, 1, 0].map((i) => bytes.slice(24 + i * 2, 26 + i * 2)).join(''));
  return bytes.match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16)).join(':');
}

/** Listening TCP sockets and bound UDP sockets, from a /proc/net folder. */
export function boundSockets(procNet = '/proc/net'): BoundSocket[] {
  const sockets: BoundSocket[] = [];
  for (const [file, proto] of [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']] as const) {
    let text: string;
    try {
      text = readFileSync(join(procNet, file), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (proto === 'tcp' && f[3] !== TCP_LISTEN) continue;
      const [addr, port] = f[1]!.split(':');
      sockets.push({ proto, address: decodeAddress(addr!), port: parseInt(port!, 16), uid: Number(f[7]), inode: Number(f[9]) });
    }
  }
  return sockets;
}

/** Why environment `own`'s account may not hold this socket, or undefined when it may. */
export function trespass(socket: BoundSocket, own: number): string | undefined {
  if (socket.address === '0.0.0.0' || socket.address === '::') return `listens on every address (${socket.proto} port ${socket.port}), which takes that port from every environment: bind 127.0.${own}.x instead`;
  const m = /^127\.0\.(\d+)\.\d+$/.exec(socket.address);
  if (m && Number(m[1]) !== own && Number(m[1]) !== 0) return `listens on ${socket.address}:${socket.port}, an address of environment ${m[1]}: bind 127.0.${own}.x instead`;
  return undefined;
}

export interface Eviction {
  env: number;
  pids: number[];
  why: string;
}

/** The processes of `uid` that hold socket `inode`. */
function holders(uid: number, inode: number): number[] {
  const link = `socket:[${inode}]`;
  return processesOf(uid).filter((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`) === link;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

export class AddressGuard {
  private timer: NodeJS.Timeout | undefined;

  /** `owners` maps each environment account's uid to its environment number. */
  constructor(
    private readonly owners: () => Map<number, number>,
    private readonly log: (line: string) => void,
  ) {}

  start(intervalMs = 1000): void {
    this.timer ??= setInterval(() => this.sweep(), intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the socket tables: ends every trespassing process and says what it did. */
  sweep(procNet?: string): Eviction[] {
    const owners = this.owners();
    if (owners.size === 0) return [];
    const evictions: Eviction[] = [];
    for (const socket of boundSockets(procNet)) {
      const env = owners.get(socket.uid);
      if (env === undefined) continue;
      const why = trespass(socket, env);
      if (!why) continue;
      const pids = holders(socket.uid, socket.inode);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ended meanwhile
        }
      }
      evictions.push({ env, pids, why });
      this.log(`environment ${env}: stopped process ${pids.join(', ') || '(gone)'}: it ${why}`);
    }
    return evictions;
  }
}
