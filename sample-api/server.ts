/**
 * The sample "user status" API of the lab: `tsx sample-api/server.ts`.
 * It reads its settings (see settings.ts), connects to the database of its
 * connection mode, follows the mode file if one is given, and serves HTTP.
 * A database that cannot be reached does not stop it (requests get 503 until
 * the database is back); settings that make no sense do, at once, with the
 * reason.
 */
import { createServer } from 'node:http';
import { Connection, describePoints } from './connection.js';
import { createApp } from './app.js';
import { readModeFile, watchModeFile } from './mode-file.js';
import { readSettings, SettingsError, type Settings } from './settings.js';

/** Node refuses request heads above 16 KiB; a status may be up to 64 KiB, so allow more and answer 413 ourselves. */
const MAX_HEADER_BYTES = 1024 * 1024;

const log = (line: string) => console.log(line);

let settings: Settings;
try {
  settings = readSettings(process.env, readModeFile);
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(`sample-api: ${error.message}`);
  process.exit(2);
}

log(`sample-api: mode ${settings.mode} (from ${settings.modeSource}), database at ${describePoints(settings.contactPoints[settings.mode]).join(', ')}, login ${settings.login.username}`);
const connection = new Connection(settings, (line) => log(`sample-api: ${line}`));

let stopWatching = () => {};
if (settings.modeFile) {
  log(`sample-api: following ${settings.modeFile}; write ORIGIN, ZDM_PROXY or TARGET into it (and username=…, password=… lines for another login) to switch without a restart`);
  stopWatching = watchModeFile(
    settings.modeFile,
    (request) => {
      log(`sample-api: ${settings.modeFile} says ${request.mode}${request.login ? ` with the login of ${request.login.username}` : ''}`);
      void connection.switchTo(request.mode, request.login);
    },
    (message) => log(`sample-api: ${message}`),
  );
}

const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, createApp(connection, log));
server.on('error', (error: NodeJS.ErrnoException) => {
  const why = error.code === 'EADDRINUSE' ? 'is in use (is another API running?)' : error.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : error.message;
  console.error(`sample-api: cannot listen on ${settings.host}:${settings.port}: the address ${why}`);
  process.exit(1);
});
server.listen(settings.port, settings.host, () => {
  log(`sample-api: listening on http://${settings.host}:${settings.port} (GET /status/:user, POST /status/:user/:status, GET /health)`);
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('sample-api: stopping');
  stopWatching();
  server.closeAllConnections();
  server.close();
  await connection.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
