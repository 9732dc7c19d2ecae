/**
 * What the course's writer loop costs in CPU, the part of a learner's
 * environment that runs in their terminal five times a second:
 *
 *   npx tsx bench/writer.ts [--seconds 20]
 *
 * Runs steps/scripts/writer.sh for the given time against an API that
 * answers every request at once (a Node server in a process of its own, so
 * that only the loop is measured), and, as the anchor in the same run, the
 * same requests at the same pace made with one `curl` each, as the loop
 * made them before it spoke HTTP through bash's /dev/tcp. Prints, for both,
 * the requests made once the loop writes, the CPU they took (the loop's
 * process and every process it started, from /proc), CPU per request and the
 * cores the loop keeps busy.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);
if (!(seconds > 0)) {
  console.error('usage: npx tsx bench/writer.ts [--seconds S]   (S above 0)');
  process.exit(2);
}
const writer = new URL('../steps/scripts/writer.sh', import.meta.url).pathname;

const API_SERVER = `
require('node:http').createServer((req, res) => {
  if (req.url !== '/health') console.log(req.method);
  res.setHeader('content-type', 'application/json');
  res.end(req.url === '/health' ? '{"mode":"ORIGIN","connected":true}' : '{}');
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
`;

/** The loop as it made its requests before: one curl each, the same writes, reads and pace. */
const CURL_LOOP = `
exec {nap_fd}<> <(:)
n=0
while true; do
  n=$((n + 1))
  code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "$SAMPLE_API_URL/status/eva/anchor-$n")
  echo "anchor-$n $code" >> "$LAB_ENV_DIR/writer.log"
  if (( n % 5 == 0 )); then
    code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$SAMPLE_API_URL/status/eva")
    echo "read $code" >> "$LAB_ENV_DIR/writer.log"
  fi
  read -rt 0.2 -u "$nap_fd" || true
done
`;

interface Run {
  requests: number;
  cpuSeconds: number;
}

const CLOCK_TICKS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds of a process and of the children it has waited for (utime, stime, cutime, cstime). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) / CLOCK_TICKS;
}

/**
 * Starts SCRIPT against an API of its own and, once it writes, measures its CPU and its requests for
 * the time given: the start (the course's scripts ask zdm-lab for the addresses, about half a second
 * of CPU) is left out.
 */
async function measure(what: string, bashArgs: string[]): Promise<Run> {
  const server = spawn(process.execPath, ['-e', API_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout.on('data', (b: Buffer) => (out += b.toString()));
  while (!out.includes('\n')) await sleep(20);
  const api = `http://127.0.0.1:${out.trim()}`;
  const requests = () => out.split('\n').length - 2;
  const dir = mkdtempSync(join(tmpdir(), 'zdm-bench-writer-'));
  const loop = spawn('bash', bashArgs, { env: { ...process.env, SAMPLE_API_URL: api, LAB_ENV_DIR: dir }, stdio: 'ignore', detached: true });
  try {
    console.log(`${what}: ${seconds} s once it writes…`);
    const deadline = Date.now() + 30_000;
    while (requests() < 5) {
      if (Date.now() > deadline || loop.exitCode !== null) throw new Error(`${what} made no request within 30 s`);
      await sleep(50);
    }
    const cpu0 = cpuOf(loop.pid!);
    const requests0 = requests();
    await sleep(seconds * 1000);
    const cpuSeconds = cpuOf(loop.pid!) - cpu0;
    const made = requests() - requests0;
    // Both loops record each request and its answer in writer.log, as the course's loop does.
    const failed = readFileSync(join(dir, 'writer.log'), 'utf8').split('\n').filter((l) => / [0-9]{3}$/.test(l) && !l.endsWith(' 200')).length;
    if (failed > 0) throw new Error(`${what}: ${failed} requests failed`);
    return { requests: made, cpuSeconds };
  } finally {
    if (loop.exitCode === null) process.kill(-loop.pid!, 'SIGKILL');
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: [string, Run][] = [
  ['writer.sh (bash /dev/tcp)', await measure('the course’s writer loop', [writer, 'bench'])],
  ['anchor: one curl a request', await measure('the anchor, one curl a request', ['-c', CURL_LOOP])],
];
console.log(`\nthe writer loop's CPU over ${seconds} s, against an API that answers at once:`);
console.log(`  ${'loop'.padEnd(28)} ${'requests'.padStart(9)} ${'CPU s'.padStart(7)} ${'ms/request'.padStart(11)} ${'cores'.padStart(6)}`);
for (const [name, r] of rows) {
  console.log(
    `  ${name.padEnd(28)} ${String(r.requests).padStart(9)} ${r.cpuSeconds.toFixed(2).padStart(7)} ${((r.cpuSeconds * 1000) / r.requests).toFixed(2).padStart(11)} ${(r.cpuSeconds / seconds).toFixed(3).padStart(6)}`,
  );
}
