/**
 * Builds, on a machine that cannot pull from a registry, local images that
 * stand in for cassandra:5.0 and datastax/zdm-proxy:2.4.2 and carry the same
 * real software: a Debian 12 root file system made with debootstrap from
 * Debian's packages (Java 17, Python 3) is imported as the base; on it go the
 * cached Cassandra jars with an entrypoint that behaves like the official
 * image's, cqlsh, and the zdm-proxy binary. Each image is tagged with a hash
 * of everything that went into it, so a re-run finds it and builds nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type Docker from 'dockerode';
import { ensureCassandra, type CassandraArtifact } from '../artifacts/cassandra.js';
import { CQLSH_VERSION, cqlshPath, ensureCqlsh } from '../artifacts/cqlsh.js';
import { ZDM_PROXY_VERSION } from '../artifacts/zdm-proxy.js';
import { containerCassandraYaml } from '../backends/docker.js';
import { isNotFound } from '../backends/docker-daemon.js';
import { FAST_START, javaArgs } from '../config/cassandra.js';
import { cacheDir, projectRoot } from '../paths.js';
import type { Reporter } from '../progress.js';
import { topology } from '../topology.js';

export interface LabImages {
  cassandra: string;
  /** Missing when no zdm-proxy binary was given. */
  proxy?: string;
  /** The kubernetes backend's workstation and sample API; built only when asked for. */
  workstation?: string;
  /** The lab server as deploy/kubernetes runs it; built only when asked for. */
  labServer?: string;
}

const recipes = new URL('.', import.meta.url).pathname;
const workDir = () => join(cacheDir, 'docker-images');

function hashOf(parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 12);
}

function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function imageExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

function run(command: string, args: string[], report: Reporter, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let lastReport = 0;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        const line = output.trimEnd().split('\n').pop() ?? '';
        report(`${what}: ${line.slice(0, 120)}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${what} failed (${command} exited ${code}):\n${output.trim().split('\n').slice(-15).join('\n')}`)),
    );
  });
}

/** Follows a build or import stream, reporting its steps; rejects on the first error it carries. */
function followBuild(docker: Docker, stream: NodeJS.ReadableStream, what: string, report: Reporter): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, events: { error?: string }[]) => {
        const failed = events?.find((e) => e.error);
        if (error || failed) reject(new Error(`${what}: ${error?.message ?? failed?.error}`));
        else resolve();
      },
      (event: { stream?: string; status?: string }) => {
        const line = (event.stream ?? event.status ?? '').trim();
        if (/^Step \d+\/\d+/.test(line)) report(`${what}: ${line.slice(0, 120)}`);
      },
    );
  });
}

/** Debian 12 with Java 17 and Python 3, imported from a debootstrap root file system (cached as a tarball). */
async function baseImage(docker: Docker, report: Reporter): Promise<string> {
  const script = join(recipes, 'base-rootfs.sh');
  const tag = `zdm-lab-local/debian-base:${hashOf([readFileSync(script)])}`;
  if (await imageExists(docker, tag)) return tag;
  mkdirSync(workDir(), { recursive: true });
  const tarball = join(workDir(), `${tag.split(':')[1]}-rootfs.tar`);
  if (!existsSync(tarball)) {
    const rootfs = join(workDir(), 'rootfs');
    report(`${tag}: building a Debian 12 root file system with debootstrap (a few minutes, once)`);
    await run('bash', [script, rootfs], report, 'debootstrap');
    await run('tar', ['-C', rootfs, '--numeric-owner', '-cf', `${tarball}.partial`, '.'], report, 'rootfs tarball');
    await run('mv', [`${tarball}.partial`, tarball], report, 'rootfs tarball');
    rmSync(rootfs, { recursive: true, force: true });
  }
  report(`${tag}: importing the root file system`);
  const [repo, version] = tag.split(':');
  const stream = await docker.importImage(createReadStream(tarball), { repo, tag: version });
  await followBuild(docker, stream, `import ${tag}`, report);
  return tag;
}

/** The distribution's JVM options, one per line, without what the image's start script sets itself. */
function jvmOptionsFile(artifact: CassandraArtifact): string {
  const perNode = /^(-Xm[sx]|-javaagent|-Dcassandra\.(config|logdir|storagedir|jmx)|-Dlogback|-Dzdm\.|-Dcassandra-foreground|-cp$)/;
  const args = javaArgs({ ...topology(1).origin, dir: '/unused' }, artifact, 'small');
  const lines: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '-cp') break;
    if (perNode.test(arg) || FAST_START.includes(arg)) continue;
    if (arg === '--add-exports' || arg === '--add-opens') lines.push(`${arg}=${args[++i]}`);
    else lines.push(arg);
  }
  return `# JVM options of the distribution's jvm-server.options and jvm17-server.options\n${lines.join('\n')}\n`;
}

function buildContext(dir: string, files: Record<string, string>, links: Record<string, string>, copies: Record<string, string>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content, { mode: 0o755 });
  }
  for (const [name, target] of Object.entries(links)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    symlinkSync(target, join(dir, name));
  }
  for (const [name, source] of Object.entries(copies)) copyFileSync(source, join(dir, name));
}

async function buildImage(docker: Docker, tag: string, base: string, context: string, report: Reporter): Promise<void> {
  report(`${tag}: building`);
  // -h: the jars and cqlsh's packages are linked into the context, not copied
  const tar = spawn('tar', ['-C', context, '-ch', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stream = await docker.buildImage(tar.stdout, { t: tag, buildargs: { BASE: base }, rm: true, forcerm: true });
  await followBuild(docker, stream, `build ${tag}`, report);
}

/** cqlsh's Python packages (the cached virtualenv's site-packages), which the images run with Debian's python3. */
async function cqlshSitePackages(report: Reporter): Promise<string> {
  await ensureCqlsh(report);
  const venvLib = join(cqlshPath(), '..', '..', 'lib');
  return join(venvLib, readdirSync(venvLib).find((d) => d.startsWith('python3'))!, 'site-packages');
}

async function cassandraImage(docker: Docker, base: string, report: Reporter): Promise<string> {
  const artifact = await ensureCassandra(report);
  const sitePackages = await cqlshSitePackages(report);
  const recipe = join(recipes, 'cassandra');
  const files: Record<string, string> = {
    'conf/cassandra.yaml': containerCassandraYaml({ ...topology(1).origin, dir: '/var/lib/cassandra' }),
    'conf/jvm17-server.options': jvmOptionsFile(artifact),
  };
  for (const name of ['Dockerfile', 'docker-entrypoint.sh', 'cassandra', 'cqlsh', 'logback.xml']) {
    files[name === 'logback.xml' ? 'conf/logback.xml' : name] = readFileSync(join(recipe, name), 'utf8');
  }
  const jars = readdirSync(artifact.libDir).sort().map((j) => `${j}:${statSync(join(artifact.libDir, j)).size}`);
  const tag = `zdm-lab-local/cassandra:${artifact.version}-${hashOf([base, ...Object.entries(files).flat(), ...jars, CQLSH_VERSION])}`;
  if (await imageExists(docker, tag)) return tag;
  const context = join(workDir(), 'cassandra-context');
  buildContext(context, files, { lib: artifact.libDir, 'cqlsh-packages': sitePackages }, {});
  await buildImage(docker, tag, base, context, report);
  rmSync(context, { recursive: true, force: true });
  return tag;
}

async function proxyImage(docker: Docker, base: string, binary: string, report: Reporter): Promise<string> {
  const dockerfile = readFileSync(join(recipes, 'zdm-proxy', 'Dockerfile'), 'utf8');
  const tag = `zdm-lab-local/zdm-proxy:${ZDM_PROXY_VERSION}-${hashOf([base, dockerfile, fileHash(binary)])}`;
  if (await imageExists(docker, tag)) return tag;
  const context = join(workDir(), 'zdm-proxy-context');
  buildContext(context, { Dockerfile: dockerfile }, {}, { main: binary });
  await buildImage(docker, tag, base, context, report);
  rmSync(context, { recursive: true, force: true });
  return tag;
}

/**
 * The project's folders a workstation runs from: the command line, the infrastructure's commands, the course
 * and its scripts, the sample API. Not the lab server's code (lab/): a change there makes no new workstation
 * image, whose new tag would replace every learner's workstation pod, and end what runs there, at the lab's
 * next start.
 */
const WORKSTATION_FOLDERS = ['bin', 'common', 'infra', 'sample-api', 'steps'];
/** The lab server's: the workstation's and its own. */
const LAB_SERVER_FOLDERS = [...WORKSTATION_FOLDERS, 'lab'];
const PROJECT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json'];
/** Packages only the project's development needs (type checks, browser tests): left out of the image. */
const DEVELOPMENT_PACKAGES = ['typescript', 'playwright-core', '@types'];

/** Every file under `dir` (relative paths, sorted), for the image's tag. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** The project's own files (relative paths) the workstation's or the lab server's image carries, and is tagged by. */
export function imageSources(image: 'workstation' | 'lab-server'): string[] {
  const folders = image === 'workstation' ? WORKSTATION_FOLDERS : LAB_SERVER_FOLDERS;
  return folders.flatMap((folder) => filesUnder(join(projectRoot, folder)).map((file) => join(folder, file))).concat(PROJECT_FILES);
}

/** The project's own files an image carries, with the links that put them (and the installed packages) under zdm-lab/ of a build context. */
function projectFiles(image: 'workstation' | 'lab-server'): { sources: string[]; links: Record<string, string> } {
  const modules = join(projectRoot, 'node_modules');
  if (!existsSync(modules)) throw new Error(`the lab's images carry the project's packages, and ${modules} does not exist: run npm ci first`);
  const sources = imageSources(image);
  const links: Record<string, string> = {};
  for (const name of [...(image === 'workstation' ? WORKSTATION_FOLDERS : LAB_SERVER_FOLDERS), ...PROJECT_FILES]) links[`zdm-lab/${name}`] = join(projectRoot, name);
  for (const name of readdirSync(modules).filter((n) => !DEVELOPMENT_PACKAGES.includes(n) && n !== '.bin')) links[`zdm-lab/node_modules/${name}`] = join(modules, name);
  return { sources, links };
}

/** What an image of the project's own code is tagged by: its recipe, the extra files, Node.js and every project file it holds. */
function projectTag(name: string, base: string, sources: string[], parts: (string | Buffer)[]): string {
  return `zdm-lab-local/${name}:${hashOf([base, ...parts, fileHash(process.execPath), ...sources.flatMap((file) => [file, fileHash(join(projectRoot, file))])])}`;
}

/**
 * The workstation image of the kubernetes backend (infra/images/workstation):
 * the learner's shell with cqlsh, curl, tsx and `zdm-lab`, which runs the
 * course's commands, the sample API and Prometheus (`zdm-lab monitoring
 * up`). It carries this machine's Node.js and Prometheus (Debian's, which
 * needs only the C library) and the project's installed packages
 * (node_modules, native ones included: the base is the same Debian 12),
 * tagged by the lock file, the two binaries and every file of the project it
 * holds: the lab server's own code is not among them.
 */
async function workstationImage(docker: Docker, base: string, report: Reporter): Promise<string> {
  const sitePackages = await cqlshSitePackages(report);
  const dockerfile = readFileSync(join(recipes, 'workstation', 'Dockerfile'), 'utf8');
  const cqlsh = readFileSync(join(recipes, 'cassandra', 'cqlsh'), 'utf8');
  const profile = readFileSync(join(recipes, 'workstation', 'profile.sh'), 'utf8');
  const prometheus = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
  if (!prometheus) throw new Error('the workstation image carries this machine\'s Prometheus, and prometheus is not installed: apt-get install prometheus');
  const { sources, links } = projectFiles('workstation');
  const tag = projectTag('workstation', base, sources, [dockerfile, cqlsh, profile, fileHash(prometheus)]);
  if (await imageExists(docker, tag)) return tag;
  const context = join(workDir(), 'workstation-context');
  buildContext(context, { Dockerfile: dockerfile, cqlsh, 'profile.sh': profile }, { ...links, 'cqlsh-packages': sitePackages }, { node: process.execPath, prometheus });
  await buildImage(docker, tag, base, context, report);
  rmSync(context, { recursive: true, force: true });
  return tag;
}

/**
 * The lab server's image (infra/images/lab-server, deployed by
 * deploy/kubernetes): Node.js and the project's code and packages, which
 * serve the course and reach every environment through the Kubernetes API.
 */
async function labServerImage(docker: Docker, base: string, report: Reporter): Promise<string> {
  const dockerfile = readFileSync(join(recipes, 'lab-server', 'Dockerfile'), 'utf8');
  const { sources, links } = projectFiles('lab-server');
  const tag = projectTag('lab-server', base, sources, [dockerfile]);
  if (await imageExists(docker, tag)) return tag;
  const context = join(workDir(), 'lab-server-context');
  buildContext(context, { Dockerfile: dockerfile }, links, { node: process.execPath });
  await buildImage(docker, tag, base, context, report);
  rmSync(context, { recursive: true, force: true });
  return tag;
}

/**
 * The lab's local images, built when missing: Cassandra (from the cached
 * jars) always, zdm-proxy when a binary is given.
 */
export async function ensureLabImages(docker: Docker, report: Reporter, options: { proxyBinary?: string; workstation?: boolean; labServer?: boolean } = {}): Promise<LabImages> {
  const base = await baseImage(docker, report);
  const cassandra = await cassandraImage(docker, base, report);
  const proxy = options.proxyBinary ? await proxyImage(docker, base, options.proxyBinary, report) : undefined;
  const workstation = options.workstation ? await workstationImage(docker, base, report) : undefined;
  const labServer = options.labServer ? await labServerImage(docker, base, report) : undefined;
  return { cassandra, proxy, workstation, labServer };
}
