/**
 * The terminal WebSocket: `/ws/terminal?env=1&terminal=host&session=…&seq=…`.
 * An upgrade needs an access cookie that opens that environment (a learner's
 * opens their own only) and the lab's own Origin, else it is refused before
 * any shell is touched. After a reset the environment's connections are
 * closed, so browsers reconnect to the new, empty shells. A connection is one viewer of one
 * terminal session: it gets the output it has not seen (`session`/`seq` say
 * what it had), then live output under flow control; its input, resizes and
 * acknowledgements go to the session.
 *
 * `&watch=1` is the instructor watching a learner's terminal (read-only until
 * they take the keyboard with a CONTROL packet); a learner's token may not
 * ask for it. `?broadcast=1` is the terminal the instructor shows to the class
 * (broadcast.ts), read-only, open to every learner while it is shown; its
 * viewers are closed when the broadcast ends or changes. Read-only views are
 * not flow-controlled: one that falls 8 MiB behind is closed and reconnects
 * for what it missed.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Environment } from '../environments/environment.js';
import { PacketError, readClientPacket } from '../terminals/client-packets.js';
import { encode, Packet } from '../terminals/protocol.js';
import { logError } from './errors.js';
import type { Viewer, ViewerRole } from '../terminals/session.js';
import { isInstructor, isSameOrigin, mayUseEnvironment, principalsOf, type TokenResolver } from './access.js';
import type { Broadcast } from './broadcast.js';

/** How far a read-only view may fall behind before it is closed (it reconnects for what it missed). */
const READ_ONLY_BACKLOG = 8 * 1024 * 1024;

export const TERMINAL_PATH = '/ws/terminal';

export interface TerminalSockets {
  wss: WebSocketServer;
  /** Close every connection to environment `env`'s terminals (it was reset or destroyed). */
  disconnect(env: number): void;
}

export function setupTerminalSocket(
  server: Server,
  environments: Map<number, Environment>,
  resolve: TokenResolver,
  port: () => number,
  broadcast: Broadcast,
  /** The origin of the lab's public address, when it has one (LabOptions.publicUrl). */
  publicOrigin?: string,
): TerminalSockets {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false });
  const envOf = new WeakMap<WebSocket, number>();
  const audience = new Set<WebSocket>();
  broadcast.onChange((now, before) => {
    if (before) {
      for (const ws of audience) ws.close(4001, 'the instructor stopped showing this terminal');
      audience.clear();
      shownSession(before.env, before.terminal, false);
    }
    if (now) shownSession(now.env, now.terminal, true);
  });
  function shownSession(env: number, terminal: string, shown: boolean): void {
    try {
      const environment = environments.get(env);
      if (environment && !environment.isClosed) environment.terminal(terminal).shown = shown;
    } catch (err) {
      logError('terminal shown to the class', err);
    }
  }

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
    // a shell token opens no terminal
    const principals = principalsOf(req, resolve, port()).filter((p) => p.role !== 'shell');
    if (principals.length === 0) return refuse(403, 'the access token is missing or wrong');
    if (!isSameOrigin(req, publicOrigin)) return refuse(403, `WebSocket from origin ${req.headers.origin ?? '(none)'} refused`);
    let envId: number;
    let terminal: string;
    let role: ViewerRole;
    if (url.searchParams.get('broadcast') === '1') {
      const shown = broadcast.target;
      if (!shown) return refuse(404, 'no terminal is shown to the class now');
      ({ env: envId, terminal } = shown);
      role = 'audience';
    } else {
      envId = Number(url.searchParams.get('env') ?? '1');
      terminal = url.searchParams.get('terminal') ?? '';
      if (!mayUseEnvironment(principals, envId)) return refuse(403, `your access token does not open environment ${envId}`);
      const watch = url.searchParams.get('watch') === '1';
      if (watch && !isInstructor(principals)) return refuse(403, "only the instructor watches a learner's terminal");
      role = watch ? 'watcher' : principals.some((p) => p.role === 'learner' && p.env === envId) ? 'learner' : 'instructor';
    }
    const environment = environments.get(envId);
    if (!environment) return refuse(404, 'no such environment');
    wss.handleUpgrade(req, socket, head, (ws) => {
      envOf.set(ws, envId);
      if (role === 'audience') {
        audience.add(ws);
        ws.on('close', () => audience.delete(ws));
      }
      try {
        attach(ws, environment, terminal, role, url.searchParams);
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

function attach(ws: WebSocket, environment: Environment, terminal: string, role: ViewerRole, params: URLSearchParams): void {
  let session;
  try {
    session = environment.terminal(terminal);
  } catch (err) {
    ws.send(encode({ type: Packet.ERROR, args: { message: (err as Error).message } }));
    ws.close(1008, 'no such terminal');
    return;
  }
  const readOnly = role === 'watcher' || role === 'audience';
  const viewer: Viewer = {
    seq: 0,
    role,
    send: (frame) => {
      if (ws.readyState !== ws.OPEN) return;
      if (readOnly && ws.bufferedAmount > READ_ONLY_BACKLOG) ws.close(1013, 'this view fell too far behind');
      else ws.send(frame);
    },
  };
  if (role === 'audience') session.shown = true;
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
          // keys from a view that does not have the keyboard are dropped: its page shows why
          if (s.input(viewer, packet.args.data)) environment.touch();
          break;
        case Packet.RESIZE:
          s.resize(packet.args.cols, packet.args.rows, viewer);
          break;
        case Packet.CONTROL: {
          const why = s.control(viewer, packet.args.take);
          if (why) throw new PacketError(why);
          break;
        }
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
