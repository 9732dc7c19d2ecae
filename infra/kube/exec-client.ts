/**
 * The exec client (exec-shell.ts) as one plain JavaScript file, bundled with
 * esbuild: what each terminal of a workstation, and each command the lab runs
 * there, runs on the lab's side. Node.js runs it without tsx, and the bundle
 * holds only the parts of @kubernetes/client-node the client uses, so a
 * terminal costs the lab about 60 MiB resident instead of about 200
 * (bench/exec-client.ts). A lab of 50 learners with four terminals each
 * keeps 200 of them.
 *
 * The bundle is kept in the lab's cache beside the list of the files it was
 * made from and their hashes, and made again when one of them changed (a new
 * checkout, an update of the client library): checking costs a few
 * milliseconds, making it about a second. It is written whole or not at all,
 * so terminals that open at the same time never run half a file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { cacheDir, projectRoot } from '../paths.js';

const bundleDir = join(cacheDir, 'kube-exec-client');
const bundlePath = join(bundleDir, 'exec-shell.mjs');
const inputsPath = join(bundleDir, 'inputs.json');
const entry = join(projectRoot, 'infra', 'kube', 'exec-shell.ts');

const hashOf = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Whether the bundle is there and every file it was made from is as it was. */
function fresh(): boolean {
  if (!existsSync(bundlePath) || !existsSync(inputsPath)) return false;
  try {
    const inputs = JSON.parse(readFileSync(inputsPath, 'utf8')) as Record<string, string>;
    return Object.keys(inputs).length > 0 && Object.entries(inputs).every(([path, hash]) => existsSync(join(projectRoot, path)) && hashOf(join(projectRoot, path)) === hash);
  } catch {
    return false;
  }
}

/** The path of the bundled exec client, made first when it is missing or stale. */
export function execClient(): string {
  if (fresh()) return bundlePath;
  const result = buildSync({
    entryPoints: [entry],
    absWorkingDir: projectRoot,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Some of the client's dependencies are CommonJS and require() Node's own modules.
    banner: { js: "import { createRequire as zdmLabRequire } from 'node:module'; const require = zdmLabRequire(import.meta.url);" },
  });
  const inputs = Object.fromEntries(Object.keys(result.metafile.inputs).map((path) => [path, hashOf(join(projectRoot, path))]));
  mkdirSync(bundleDir, { recursive: true });
  const partial = `.${process.pid}.partial`;
  writeFileSync(bundlePath + partial, result.outputFiles[0].contents);
  renameSync(bundlePath + partial, bundlePath);
  writeFileSync(inputsPath + partial, `${JSON.stringify(inputs, null, 1)}\n`);
  renameSync(inputsPath + partial, inputsPath);
  return bundlePath;
}
