/**
 * The terminal WebSocket: `/ws/terminal?env=1&terminal=host&session=…&seq=…`.
 * An upgrade needs an access cookie that opens that environment (a learner's
 * opens their own only) and the lab's own Origin, else it is refused before
 * any shell is touched. After a reset the environment's connections are
 * closed, so browsers reconnect to the new, empty shells. A connection is one viewer of one
 * terminal session: it gets the output it has not seen (`session`/`seq` say
 * what it had), then live output under flow control; its input, resizes and
 * acknowledgements go to the session.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Environment } from '../environments/environment.js';
import { PacketError, readClientPacket } from '../terminals/client-packets.js';
import { encode, Packet } from '../terminals/protocol.js';
import { logError } from './errors.js';
import type { Viewer } from '../terminals/session.js';
import { isSameOrigin, mayUseEnvironment, principalsOf, type TokenResolver } from './access.js';

export const TERMINAL_PATH = '/ws/terminal';

export interface TerminalSockets {
  wss: WebSocketServer;
  /** Close every connection to environment `env`'s terminals (it was reset or destroyed). */
  disconnect(env: number): void;
}

export function setupTerminalSocket(server: Server, environments: Map<number, Environment>, resolve: TokenResolver, port: () => number): TerminalSockets {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false });
  const envOf = new WeakMap<WebSocket, number>();

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: 400 | 403 | 404, why: string) => {
      // Destroy once written: a refused client may never close its side, and
      // a half-open socket would keep the server from shutting down.
      const text = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found' }[status];
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${why}\n`, () => socket.destroy());
    };
    socket.on('error', () => socket.destroy());
    // The boundary for upgrades: whatever the request holds, the answer is a refusal or a WebSocket.
    try {
      upgrade(req, socket, head, refuse);
    } catch (err) {
      logError('WebSocket upgrade', err);
      refuse(400, 'the lab could not read this request');
    }
  });

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, refuse: (status: 400 | 403 | 404, why: string) => void): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://lab');
    } catch {
      return refuse(400, 'the request path is not a valid URL path');
    }
    if (url.pathname !== TERMINAL_PATH) return refuse(404, 'no WebSocket here');
    const principals = principalsOf(req, resolve, port());
    if (principals.length === 0) return refuse(403, 'the access token is missing or wrong');
    if (!isSameOrigin(req)) return refuse(403, `WebSocket from origin ${req.headers.origin ?? '(none)'} refused`);
    const envId = Number(url.searchParams.get('env') ?? '1');
    if (!mayUseEnvironment(principals, envId)) return refuse(403, `your access token does not open environment ${envId}`);
    const environment = environments.get(envId);
    if (!environment) return refuse(404, 'no such environment');
    wss.handleUpgrade(req, socket, head, (ws) => {
      envOf.set(ws, envId);
      try {
        attach(ws, environment, url.searchParams);
      } catch (err) {
        logError('terminal attach', err);
        ws.close(1011, 'the lab could not open this terminal');
      }
    });
  }

  return {
    wss,
    disconnect(env) {
      for (const ws of wss.clients) if (envOf.get(ws) === env) ws.close(4000, 'the environment was reset');
    },
  };
}

function attach(ws: WebSocket, environment: Environment, params: URLSearchParams): void {
  let session;
  try {
    session = environment.terminal(params.get('terminal') ?? '');
  } catch (err) {
    ws.send(encode({ type: Packet.ERROR, args: { message: (err as Error).message } }));
    ws.close(1008, 'no such terminal');
    return;
  }
  const viewer: Viewer = {
    seq: 0,
    send: (frame) => {
      if (ws.readyState === ws.OPEN) ws.send(frame);
    },
  };
  const since = Number(params.get('seq') ?? '0');
  session.attach(viewer, params.get('session') ?? undefined, Number.isFinite(since) ? since : 0);
  const s = session;
  ws.on('message', (raw, isBinary) => {
    // The boundary for packets: whatever a frame holds, the answer is an error packet or a close.
    try {
      if (isBinary) throw new PacketError('binary frames are not part of the protocol');
      const packet = readClientPacket(raw.toString());
      switch (packet.type) {
        case Packet.INPUT:
          environment.touch();
          s.write(packet.args.data);
          break;
        case Packet.RESIZE:
          s.resize(packet.args.cols, packet.args.rows);
          break;
        case Packet.ACK:
          if (!s.acked(viewer, packet.args.chars)) {
            ws.close(1008, 'acknowledged more output than was sent');
            s.detach(viewer);
          }
          break;
      }
    } catch (err) {
      if (!(err instanceof PacketError)) logError('terminal packet', err);
      viewer.send(encode({ type: Packet.ERROR, args: { message: err instanceof PacketError ? err.message : 'the lab could not handle that packet' } }));
    }
  });
  ws.on('close', () => s.detach(viewer));
  ws.on('error', () => s.detach(viewer));
}
