/**
 * cqlsh, the real one from PyPI (the release that ships with Cassandra 5.0),
 * installed once into a virtualenv inside the cache so that the host's
 * Python stays untouched.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../paths.js';
import type { Reporter } from '../progress.js';
import { requireTool } from '../tools.js';
import { runFetch } from './run.js';

export const CQLSH_VERSION = '6.2.2';

function venvDir(): string {
  return join(cacheDir, `cqlsh-${CQLSH_VERSION}`);
}

export function cqlshPath(): string {
  return join(venvDir(), 'bin', 'cqlsh');
}

export async function ensureCqlsh(report: Reporter): Promise<string> {
  const bin = cqlshPath();
  if (existsSync(bin)) return bin;
  requireTool('python3');
  report(`installing cqlsh ${CQLSH_VERSION} from PyPI into ${venvDir()}`);
  await runFetch(
    { command: 'python3', args: ['-m', 'venv', venvDir()], itemPattern: /^$/, what: 'cqlsh virtualenv' },
    report,
  );
  await runFetch(
    {
      command: join(venvDir(), 'bin', 'pip'),
      args: ['install', '--disable-pip-version-check', `cqlsh==${CQLSH_VERSION}`],
      itemPattern: /^(Collecting|Downloading) /,
      what: 'cqlsh packages',
    },
    report,
  );
  return bin;
}
