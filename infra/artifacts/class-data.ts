/**
 * An AppCDS archive of the classes a Cassandra node loads while it starts,
 * so that every node maps them ready-parsed (and shares the pages with the
 * other nodes of the host) instead of reading and verifying some ten
 * thousand classes from the jars at each start.
 *
 * One archive per Cassandra version, Java runtime and node command line,
 * kept in the cache (cds/<key>.jsa, 0644 in a 0755 folder). It is built by
 * whoever owns the cache, never by a learner's account: `zdm-lab setup` (the
 * course's prepare, run by the lab server) or the first `infra up` of a lab
 * run by its own user. Building it starts a training node on 127.0.255.1
 * (no environment's block), which writes the list of classes it loads until
 * it listens for CQL; the JVM then dumps those classes (-Xshare:dump).
 *
 * An archive never stands in the way of a start: when there is none (not
 * built yet, the cache belongs to another account, the build failed) or it
 * is not trustworthy (writable by others than its owner), nodes start
 * without it and the reporter says so once.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cassandraYaml, javaArgs, logbackXml, nodeEnvironment, nodePaths, nodeProfile } from '../config/cassandra.js';
import { cacheDir } from '../paths.js';
import { portOpen } from '../readiness.js';
import type { Reporter } from '../progress.js';
import type { NodeSpec } from '../topology.js';
import type { CassandraArtifact } from './cassandra.js';

const TRAINING_ADDRESS = '127.0.255.1';
const TRAINING_DEADLINE_MS = 180_000;

function archiveDir(): string {
  return join(cacheDir, 'cds');
}

function trainingNode(): NodeSpec {
  return { kind: 'cassandra', env: 255, name: 'origin', clusterName: 'origin', address: TRAINING_ADDRESS, port: 9042, dir: join(archiveDir(), 'training-node') };
}

/** The node's command line up to the main class, without what names one node (folders, the component tag). */
function sharedOptions(artifact: CassandraArtifact): string[] {
  const args = javaArgs(trainingNode(), artifact);
  return args.slice(0, args.indexOf('-cp')).filter((arg) => !/^-D(cassandra\.(config|logdir|storagedir)|logback\.|zdm\.)/.test(arg));
}

/** What the archive depends on: the JVM that reads it, the jars, and the options it was dumped with. */
export function archivePath(artifact: CassandraArtifact): string {
  const shown = spawnSync('java', ['-XshowSettings:properties', '-version'], { encoding: 'utf8' });
  if (shown.error) throw shown.error;
  // -XshowSettings writes to stderr.
  const settings = shown.stderr;
  const runtime = settings.match(/^\s*(java\.home|java\.runtime\.version|java\.vm\.version|java\.vm\.name) = .*$/gm) ?? [];
  const key = createHash('sha256').update([...runtime, artifact.classpath, ...sharedOptions(artifact)].join('\n')).digest('hex').slice(0, 16);
  return join(archiveDir(), `cassandra-${artifact.version}-${key}.jsa`);
}

/** A file or folder only its owner (root or this account) can change. */
function trustworthy(path: string): boolean {
  const s = statSync(path);
  return (s.uid === 0 || s.uid === process.getuid?.()) && (s.mode & 0o022) === 0;
}

function ownsCache(): boolean {
  try {
    return statSync(cacheDir).uid === process.getuid?.();
  } catch {
    return false;
  }
}

/** Starts the training node with a class list, waits until it listens for CQL, stops it; returns the list. */
async function train(artifact: CassandraArtifact, list: string): Promise<void> {
  const node = trainingNode();
  const paths = nodePaths(node);
  rmSync(node.dir, { recursive: true, force: true });
  for (const dir of [paths.conf, paths.data, paths.logs]) mkdirSync(dir, { recursive: true });
  writeFileSync(paths.yaml, cassandraYaml(node));
  writeFileSync(paths.logback, logbackXml(node));
  const out = openSync(join(paths.logs, 'stdout.log'), 'a');
  const child = spawn('java', [`-XX:DumpLoadedClassList=${list}`, ...javaArgs(node, artifact)], { cwd: node.dir, env: { ...process.env, ...nodeEnvironment() }, stdio: ['ignore', out, out] });
  closeSync(out);
  let exited = false;
  child.once('exit', () => (exited = true));
  try {
    const deadline = Date.now() + TRAINING_DEADLINE_MS;
    while (!(await portOpen(node.address, node.port))) {
      if (exited) throw new Error(`the training node ended before it listened for CQL (see ${paths.log})`);
      if (Date.now() > deadline) throw new Error(`the training node did not listen for CQL within ${TRAINING_DEADLINE_MS / 1000} s (see ${paths.log})`);
      await sleep(200);
    }
    // The default superuser is set up just after: its classes are loaded at every start too.
    await sleep(3000);
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    if (!exited) await new Promise((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
  }
}

/** Dumps the listed classes into the archive, checks that the JVM maps it, and publishes it (0644). */
function dump(artifact: CassandraArtifact, list: string, archive: string): void {
  const partial = `${archive}.partial`;
  const options = sharedOptions(artifact).filter((arg) => !arg.startsWith('-javaagent:'));
  execFileSync('java', ['-Xshare:dump', `-XX:SharedClassListFile=${list}`, `-XX:SharedArchiveFile=${partial}`, ...options, '-cp', artifact.classpath], { stdio: 'pipe', env: { ...process.env, ...nodeEnvironment() } });
  // -Xshare:on refuses to start when the archive cannot be mapped with the node's options.
  execFileSync('java', [`-XX:SharedArchiveFile=${partial}`, '-Xshare:on', ...sharedOptions(artifact), '-cp', artifact.classpath, '-version'], { stdio: 'pipe' });
  chmodSync(partial, 0o644);
  renameSync(partial, archive);
  // An archive of other settings or another Java is of no more use: it would only fill the cache.
  for (const name of readdirSync(archiveDir())) {
    if (name.endsWith('.jsa') && join(archiveDir(), name) !== archive) rmSync(join(archiveDir(), name), { force: true });
  }
}

/**
 * The class data archive for nodes started now, building it first when this
 * account owns the cache and it is missing. Returns the JVM options that use
 * it: none when there is no archive to use, and then `report` says why.
 */
export async function classDataOptions(artifact: CassandraArtifact, report: Reporter): Promise<string[]> {
  if (nodeProfile() !== 'small') return [];
  let archive: string;
  try {
    archive = archivePath(artifact);
  } catch (error) {
    report(`no class data archive (java: ${(error as Error).message.split('\n')[0]}): nodes start without it`);
    return [];
  }
  if (!existsSync(archive)) {
    if (!ownsCache()) {
      report(`no class data archive in ${archiveDir()} yet (zdm-lab setup, run by the cache's owner, builds it): nodes start without it`);
      return [];
    }
    const problem = await build(artifact, archive, report);
    if (problem) {
      report(`class data archive not built (${problem}): nodes start without it`);
      return [];
    }
  }
  if (!trustworthy(archive) || !trustworthy(archiveDir())) {
    report(`class data archive ${archive} is writable by other accounts, so it is not used (nodes start without it); delete it and run zdm-lab setup`);
    return [];
  }
  return [`-XX:SharedArchiveFile=${archive}`, '-Xshare:auto'];
}

/** Builds the archive, one builder at a time (a lock file); returns what went wrong, if anything. */
async function build(artifact: CassandraArtifact, archive: string, report: Reporter): Promise<string | undefined> {
  const dir = archiveDir();
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const lock = join(dir, 'build.lock');
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
  } catch {
    const holder = Number(readFileSync(lock, 'utf8'));
    if (holder && isAlive(holder)) return `process ${holder} is building it`;
    rmSync(lock, { force: true });
    return build(artifact, archive, report);
  }
  const started = Date.now();
  const list = join(dir, 'training.classlist');
  try {
    report(`class data archive: a training node on ${TRAINING_ADDRESS} lists the classes a node loads (once for this Java and Cassandra)`);
    await train(artifact, list);
    report('class data archive: dumping the classes');
    dump(artifact, list, archive);
    report(`class data archive ${archive} built in ${((Date.now() - started) / 1000).toFixed(1)}s: nodes start with it`);
    return undefined;
  } catch (error) {
    const e = error as Error & { stderr?: Buffer };
    return (e.stderr?.toString().trim().split('\n').pop() || e.message).slice(0, 300);
  } finally {
    rmSync(`${archive}.partial`, { force: true });
    rmSync(list, { force: true });
    rmSync(trainingNode().dir, { recursive: true, force: true });
    rmSync(lock, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
