/**
 * The Kubernetes command line: the local cluster (run as root), and
 * learners' environments on any cluster.
 *
 *   tsx infra/kube/cli.ts build    build the cluster's binaries into the cache (once per version)
 *   tsx infra/kube/cli.ts up       build what is missing, start the cluster, wait for its node to be Ready
 *   tsx infra/kube/cli.ts down     stop the cluster and remove every trace of it (the cache stays)
 *   tsx infra/kube/cli.ts status   what runs, whether the API server and node are ready
 *
 *   tsx infra/kube/cli.ts env create K… --memory-gib G --cpus C
 *                                        make environments K… whole (provision.ts), waiting for each workstation
 *   tsx infra/kube/cli.ts env destroy K…  remove them, and everything in them
 *   tsx infra/kube/cli.ts env shell K [--announce TEXT] [--prompt-mark P --command-mark C]
 *                                        a login shell in K's workstation, as its learner has it
 *                                        (TEXT printed once it is open: exec-shell.ts; P printed
 *                                        with each prompt, C as each command starts: profile.sh)
 *   tsx infra/kube/cli.ts env exec K [--input] -- COMMAND [ARGS…]
 *                                        COMMAND in K's workstation, in the learner's working folder
 *                                        with the workstation's variables; no TTY unless standard
 *                                        input is one; its exit code. With --input it reads this
 *                                        command's standard input (no TTY) and ends when that does
 *
 * bin/zdm-lab runs these as `zdm-lab kube …`.
 *
 * `up` prints the administrator's kubeconfig path on standard output (its
 * last line); progress goes to standard error. `down` exits 1 when it could
 * not remove everything, listing what is left.
 *
 * The `env` commands act on the cluster of KUBECONFIG (or ~/.kube/config, or
 * the cluster the command runs in); with `--local`, on the local cluster,
 * whose images they build with Docker and import (infra/images), and whose
 * volumes they make. Elsewhere the images are named by
 * ZDM_LAB_CASSANDRA_IMAGE (Origin and Target; default cassandra:5.0),
 * ZDM_LAB_PROXY_IMAGE (default datastax/zdm-proxy:2.4.2) and
 * ZDM_LAB_WORKSTATION_IMAGE (the lab's own, infra/images/workstation, pushed
 * where the cluster pulls from; required), and the nodes' volumes come from
 * ZDM_LAB_STORAGE_CLASS or the cluster's default StorageClass. Each
 * environment's budget (its namespace's quota) is the course's
 * per-environment figures (course.json `environments`: memoryGiB 1.3 and
 * cpus 2 for the ZDM course), given as --memory-gib and --cpus.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { labImageNames } from '../../common/docker-scope.js';
import { findZdmProxy } from '../artifacts/zdm-proxy.js';
import { dockerClient } from '../backends/docker-daemon.js';
import { ensureLabImages } from '../images/build.js';
import { consoleReporter, type Reporter } from '../progress.js';
import { validateEnv } from '../topology.js';
import { binDir, ensureBinaries } from './build.js';
import { adminKubeconfig, clusterStatus, down, importFromDocker, leftovers, up } from './cluster.js';
import type { EnvironmentBudget } from './environment.js';
import { provisionEnvironment, removeEnvironment, type ProvisionOptions } from './provision.js';
import { LOCAL_STORAGE_CLASS } from './storage.js';
import { workstationCommand, workstationShell } from './workstation.js';

const usage = `usage: tsx infra/kube/cli.ts build | up | down | status
       tsx infra/kube/cli.ts env create K… --memory-gib G --cpus C [--local]
       tsx infra/kube/cli.ts env destroy K… [--local] | env shell K [--local] [--announce TEXT] [--prompt-mark P --command-mark C]
       tsx infra/kube/cli.ts env exec K [--local] [--input] -- COMMAND [ARGS…]`;

function environments(args: string[]): number[] {
  if (args.length === 0) throw new Error(`name the environments, by number\n${usage}`);
  return args.map((a) => validateEnv(Number(a)));
}

/** An environment's budget from --memory-gib and --cpus, both needed. */
function budgetOf(values: { 'memory-gib'?: string; cpus?: string }): EnvironmentBudget {
  const memory = Number(values['memory-gib']);
  const cpus = Number(values.cpus);
  if (!(memory > 0) || !(cpus > 0)) {
    throw new Error(`give each environment's budget, the course's course.json "environments" figures: --memory-gib G --cpus C (1.3 and 2 for the ZDM course); got --memory-gib ${values['memory-gib'] ?? '(none)'} --cpus ${values.cpus ?? '(none)'}`);
  }
  return { memoryBytes: Math.round(memory * 1024 ** 3), cpus };
}

function clusterConfig(local: boolean): KubeConfig {
  const config = new KubeConfig();
  if (local) config.loadFromFile(adminKubeconfig);
  else config.loadFromDefault();
  return config;
}

/** What `env create` makes an environment from: the course's budget, the images and the StorageClass. */
async function provisionOptions(local: boolean, budget: EnvironmentBudget, report: Reporter): Promise<ProvisionOptions> {
  if (local) {
    const proxyBinary = findZdmProxy()?.path;
    if (!proxyBinary) throw new Error('no zdm-proxy binary in the cache: run bin/zdm-lab setup first');
    const built = await ensureLabImages(dockerClient(), report, { proxyBinary, workstation: true });
    const images = { cassandra: built.cassandra, proxy: built.proxy!, workstation: built.workstation! };
    const imported = await importFromDocker(Object.values(images));
    report(`images in the local cluster: ${Object.values(images).join(', ')}${imported.length ? ` (imported ${imported.length})` : ''}`);
    return { budget, images, storageClass: LOCAL_STORAGE_CLASS, localVolumes: true };
  }
  const workstation = process.env.ZDM_LAB_WORKSTATION_IMAGE;
  if (!workstation) throw new Error('ZDM_LAB_WORKSTATION_IMAGE is not set: build the workstation image (infra/images/workstation, infra/images/build.ts), push it where the cluster pulls from, and name it there');
  const names = labImageNames();
  return { budget, images: { cassandra: names.origin, proxy: names.proxy, workstation }, storageClass: process.env.ZDM_LAB_STORAGE_CLASS || undefined };
}

/**
 * Runs `line` with this process's standard streams; its exit code. Or, when
 * bin/zdm-lab asks (ZDM_LAB_EXEC_LINE), writes it NUL-separated for the
 * script to exec in its place: then the exec client is the one process a
 * terminal keeps on the lab's side, not this command's Node.js beside it.
 */
function attached(line: { command: string; args: string[] }, local: boolean): Promise<number> {
  if (process.env.ZDM_LAB_EXEC_LINE) {
    const words = [...(local ? ['env', `KUBECONFIG=${adminKubeconfig}`] : []), line.command, ...line.args];
    process.stdout.write(words.map((word) => `${word}\0`).join(''));
    return Promise.resolve(0);
  }
  const kubeconfig = local ? { KUBECONFIG: adminKubeconfig } : {};
  const child = spawn(line.command, line.args, { stdio: 'inherit', env: { ...process.env, ...kubeconfig } });
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

async function environmentCommand(action: string | undefined, argv: string[], report: Reporter): Promise<number> {
  // What follows `--` is the command `env exec` runs, its options included.
  const split = argv.indexOf('--');
  const command = split < 0 ? [] : argv.slice(split + 1);
  const { values, positionals: args } = parseArgs({
    args: split < 0 ? argv : argv.slice(0, split),
    allowPositionals: true,
    options: { local: { type: 'boolean' }, input: { type: 'boolean' }, 'memory-gib': { type: 'string' }, cpus: { type: 'string' }, announce: { type: 'string' }, 'prompt-mark': { type: 'string' }, 'command-mark': { type: 'string' } },
  });
  const local = values.local === true;
  switch (action) {
    case 'create': {
      const envs = environments(args);
      const budget = budgetOf(values);
      const config = clusterConfig(local);
      const options = await provisionOptions(local, budget, report);
      for (const env of envs) await provisionEnvironment(config, env, options, report);
      return 0;
    }
    case 'destroy': {
      const envs = environments(args);
      const config = clusterConfig(local);
      for (const env of envs) await removeEnvironment(config, env, { localVolumes: local }, report);
      return 0;
    }
    case 'shell': {
      const [env] = environments(args);
      const prompt = values['prompt-mark'];
      const mark = values['command-mark'];
      if ((prompt === undefined) !== (mark === undefined)) throw new Error('--prompt-mark and --command-mark go together: what the shell prints with each prompt, and as each command starts');
      return attached(workstationShell(env, values.announce, prompt === undefined ? undefined : { prompt, command: mark! }), local);
    }
    case 'exec': {
      const [env] = environments(args);
      if (command.length === 0) throw new Error(`name the command after --\n${usage}`);
      return attached(workstationCommand(env, command, values.input === true), local);
    }
    default:
      process.stderr.write(`${usage}\n`);
      return 2;
  }
}

async function main([command, ...args]: string[]): Promise<number> {
  const report = consoleReporter('kube: ');
  switch (command) {
    case 'env':
      return environmentCommand(args[0], args.slice(1), report);
    case 'build': {
      const started = Date.now();
      await ensureBinaries(report);
      report(`binaries ready in ${binDir} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
      return 0;
    }
    case 'up': {
      const result = await up(report);
      process.stdout.write(`${result.kubeconfig}\n`);
      return 0;
    }
    case 'down': {
      const left = await down(report);
      const found = leftovers().filter((item) => !left.includes(item));
      if (found.length > 0) report(`still on the host after down:\n  ${found.join('\n  ')}`);
      return left.length + found.length === 0 ? 0 : 1;
    }
    case 'status': {
      const status = await clusterStatus();
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      return status.nodeReady ? 0 : 1;
    }
    default:
      process.stderr.write(`${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`kube: ${error.message}\n`);
    process.exit(1);
  },
);
