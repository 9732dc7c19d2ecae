/**
 * The local Kubernetes cluster's command line (run as root):
 *
 *   tsx infra/kube/cli.ts build    build the cluster's binaries into the cache (once per version)
 *   tsx infra/kube/cli.ts up       build what is missing, start the cluster, wait for its node to be Ready
 *   tsx infra/kube/cli.ts down     stop the cluster and remove every trace of it (the cache stays)
 *   tsx infra/kube/cli.ts status   what runs, whether the API server and node are ready
 *
 * `up` prints the administrator's kubeconfig path on standard output (its
 * last line); progress goes to standard error. `down` exits 1 when it could
 * not remove everything, listing what is left.
 */
import { consoleReporter } from '../progress.js';
import { binDir, ensureBinaries } from './build.js';
import { clusterStatus, down, leftovers, up } from './cluster.js';

const usage = 'usage: tsx infra/kube/cli.ts build | up | down | status';

async function main(command: string | undefined): Promise<number> {
  const report = consoleReporter('kube: ');
  switch (command) {
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

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`kube: ${error.message}\n`);
    process.exit(1);
  },
);
