/**
 * cqlsh, the real one from PyPI (the release that ships with Cassandra 5.0),
 * installed once into a virtualenv inside the cache so that the host's
 * Python stays untouched. The virtualenv runs the interpreter it was made
 * with, so that interpreter must be one every account of the host can run:
 * the system's /usr/bin/python3 when there is one (a Python under a user's
 * home, as pyenv installs it, is out of reach of an isolated learner's
 * account), and a virtualenv made with an unreachable one is made again.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { closedFolderOn } from '../../common/paths.js';
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

const SYSTEM_PYTHON = '/usr/bin/python3';

/** The interpreter a virtualenv was made with (pyvenv.cfg's `home`), when it cannot be run by every account. */
function unreachableInterpreter(): string | undefined {
  const cfg = join(venvDir(), 'pyvenv.cfg');
  if (!existsSync(cfg)) return undefined;
  const home = /^home\s*=\s*(.+)$/m.exec(readFileSync(cfg, 'utf8'))?.[1]?.trim();
  return home && closedFolderOn(join(home, 'python3')) !== undefined ? home : undefined;
}

export async function ensureCqlsh(report: Reporter): Promise<string> {
  const bin = cqlshPath();
  const unreachable = unreachableInterpreter();
  if (existsSync(bin) && !(unreachable && existsSync(SYSTEM_PYTHON))) return bin;
  if (unreachable) {
    report(`the cqlsh virtualenv runs ${unreachable}, which other accounts cannot reach: making it again with ${SYSTEM_PYTHON}`);
    rmSync(venvDir(), { recursive: true, force: true });
  }
  const python = existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : 'python3';
  if (python === 'python3') requireTool('python3');
  report(`installing cqlsh ${CQLSH_VERSION} from PyPI into ${venvDir()} (with ${python})`);
  await runFetch(
    { command: python, args: ['-m', 'venv', venvDir()], itemPattern: /^$/, what: 'cqlsh virtualenv' },
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
