/**
 * The local cluster's images. No registry can be reached here, so each
 * image is a few files in an otherwise empty root file system (a static
 * binary, or a script and the static busybox that runs it), written
 * as a `docker save` archive (manifest.json, the image config, one layer)
 * and imported into the cluster's containerd under the k8s.io namespace,
 * where the kubelet finds it. Tags carry the files' content hash, so an
 * image changes name when its program does and is never looked for in a
 * registry (pods use imagePullPolicy Never or IfNotPresent).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pack } from 'tar-stream';

/** A file of an image: where it is in the image, and the host file it is copied from. */
export interface ImageFile {
  path: string;
  source: string;
}

/** An image to import: its reference, its files, and the one it runs as its entrypoint. */
export interface LocalImage {
  reference: string;
  files: ImageFile[];
  /** The entrypoint's path inside the image: /NAME, e.g. /pause. */
  entrypoint: string;
}

/** The image NAME made of `files` (one of them /NAME, its entrypoint), tagged with their content hash. */
export function localImage(name: string, files: ImageFile[]): LocalImage {
  const hash = createHash('sha256');
  for (const file of files) hash.update(file.path).update(readFileSync(file.source));
  return { reference: `zdm-lab.local/${name}:${hash.digest('hex').slice(0, 12)}`, files, entrypoint: `/${name}` };
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function tarOf(files: { name: string; mode: number; data: Buffer }[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk) => {
    chunks.push(chunk as Buffer);
  });
  const finished = new Promise<void>((done, fail) => {
    archive.on('end', done);
    archive.on('error', fail);
  });
  const mtime = new Date(0);
  for (const file of files) archive.entry({ name: file.name, mode: file.mode, mtime, uid: 0, gid: 0 }, file.data);
  archive.finalize();
  await finished;
  return Buffer.concat(chunks);
}

/** A `docker save` archive of the image (uncompressed, one layer). */
export async function imageArchive(image: LocalImage): Promise<Buffer> {
  const layer = await tarOf(image.files.map((f) => ({ name: f.path.slice(1), mode: 0o755, data: readFileSync(f.source) })));
  const diffId = `sha256:${sha256(layer)}`;
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: new Date(0).toISOString(),
    config: { Entrypoint: [image.entrypoint], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: new Date(0).toISOString(), created_by: `zdm-lab: ${image.files.map((f) => basename(f.source)).join(', ')}` }],
  });
  const configName = `${sha256(config)}.json`;
  const layerName = `${sha256(layer)}/layer.tar`;
  const manifest = JSON.stringify([{ Config: configName, RepoTags: [image.reference], Layers: [layerName] }]);
  return tarOf([
    { name: configName, mode: 0o644, data: Buffer.from(config) },
    { name: layerName, mode: 0o644, data: layer },
    { name: 'manifest.json', mode: 0o644, data: Buffer.from(manifest) },
  ]);
}

/** Imports the images that containerd at `socket` does not hold yet. */
export async function importImages(socket: string, images: LocalImage[], archivePath: (image: LocalImage) => string): Promise<string[]> {
  const ctr = (...args: string[]) => spawnSync('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { encoding: 'utf8' });
  const listed = ctr('images', 'list', '--quiet');
  if (listed.status !== 0) throw new Error(`ctr images list failed: ${listed.stderr.trim() || listed.error}`);
  const present = new Set(listed.stdout.split('\n'));
  const imported: string[] = [];
  for (const image of images) {
    if (present.has(image.reference)) continue;
    const path = archivePath(image);
    writeFileSync(path, await imageArchive(image));
    const result = ctr('images', 'import', '--platform', 'linux/amd64', path);
    if (result.status !== 0) throw new Error(`ctr images import ${path} failed: ${(result.stderr || result.stdout).trim()}`);
    imported.push(image.reference);
  }
  return imported;
}

/**
 * Copies images from the Docker daemon into containerd at `socket` (the
 * lab's Cassandra and zdm-proxy images, which infra/images/build.ts builds
 * with Docker): `docker save` streamed into `ctr images import`, for the
 * references containerd does not hold yet. containerd names an image of
 * Docker's short form (`repo/name:tag`) `docker.io/repo/name:tag`, as the
 * kubelet looks it up. Returns the references it imported.
 */
export async function importDockerImages(socket: string, references: string[]): Promise<string[]> {
  const ctrArgs = ['--address', socket, '--namespace', 'k8s.io'];
  const listed = spawnSync('ctr', [...ctrArgs, 'images', 'list', '--quiet'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`ctr images list failed: ${listed.stderr.trim() || listed.error}`);
  const present = new Set(listed.stdout.split('\n'));
  const imported: string[] = [];
  for (const reference of references) {
    if (present.has(reference) || present.has(`docker.io/${reference}`)) continue;
    const save = spawn('docker', ['save', reference], { stdio: ['ignore', 'pipe', 'pipe'] });
    const load = spawn('ctr', [...ctrArgs, 'images', 'import', '--platform', 'linux/amd64', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    save.stdout.pipe(load.stdin);
    let errors = '';
    for (const child of [save, load]) child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const exit = (child: ChildProcess) => new Promise<number | string>((resolve) => {
      child.on('error', (error) => resolve(error.message));
      child.on('close', (code) => resolve(code ?? 'killed'));
    });
    const [saved, loaded] = await Promise.all([exit(save), exit(load)]);
    if (saved !== 0 || loaded !== 0) throw new Error(`docker save ${reference} | ctr images import failed (docker save: ${saved}, ctr: ${loaded}): ${errors.trim().slice(-500)}`);
    imported.push(reference);
  }
  return imported;
}
