/**
 * cqlsh, the real one from PyPI (the release that ships with Cassandra 5.0),
 * installed once into a virtualenv inside the cache so that the host's
 * Python stays untouched. The virtualenv runs the interpreter it was made
 * with, so that interpreter must be one every account of the host can run:
 * the system's /usr/bin/python3 when there is one (a Python under a user's
 * home, as pyenv installs it, is out of reach of an isolated learner's
 * account), and a virtualenv made with an unreachable one is made again.
 * The DataStax Python driver cqlsh runs on is pinned: the tests also use it,
 * with the virtualenv's python, as a client of the proxies independent of
 * the Node.js driver. Where no wheel fits, pip builds it without its C
 * extensions, so no compiler is needed.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { closedFolderOn } from '../../common/paths.js';
import { cacheDir } from '../paths.js';
import type { Reporter } from '../progress.js';
import { requireTool } from '../tools.js';
import { runFetch } from './run.js';

export const CQLSH_VERSION = '6.2.2';
export const PYTHON_DRIVER_VERSION = '3.30.1';

function venvDir(): string {
  return join(cacheDir, `cqlsh-${CQLSH_VERSION}`);
}

export function cqlshPath(): string {
  return join(venvDir(), 'bin', 'cqlsh');
}

/** The virtualenv's interpreter, which imports `cassandra` (the Python driver). */
export function venvPython(): string {
  return join(venvDir(), 'bin', 'python');
}

const SYSTEM_PYTHON = '/usr/bin/python3';

/** pip's record of the pinned driver in the virtualenv's site-packages. */
function pythonDriverInstalled(): boolean {
  const lib = join(venvDir(), 'lib');
  if (!existsSync(lib)) return false;
  return readdirSync(lib).some((d) => existsSync(join(lib, d, 'site-packages', `cassandra_driver-${PYTHON_DRIVER_VERSION}.dist-info`)));
}

function pipInstall(packages: string[], what: string, report: Reporter): Promise<string> {
  return runFetch(
    {
      command: join(venvDir(), 'bin', 'pip'),
      args: ['install', '--disable-pip-version-check', ...packages],
      // only read when pip has to build the driver from its source
      env: { CASS_DRIVER_NO_CYTHON: '1', CASS_DRIVER_NO_EXTENSIONS: '1' },
      itemPattern: /^(Collecting|Downloading) /,
      what,
    },
    report,
  );
}

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
  if (existsSync(bin) && !(unreachable && existsSync(SYSTEM_PYTHON))) {
    if (!pythonDriverInstalled()) {
      report(`installing the DataStax Python driver cassandra-driver ${PYTHON_DRIVER_VERSION} from PyPI into ${venvDir()}`);
      await pipInstall([`cassandra-driver==${PYTHON_DRIVER_VERSION}`], 'Python driver packages', report);
    }
    return bin;
  }
  if (unreachable) {
    report(`the cqlsh virtualenv runs ${unreachable}, which other accounts cannot reach: making it again with ${SYSTEM_PYTHON}`);
    rmSync(venvDir(), { recursive: true, force: true });
  }
  const python = existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : 'python3';
  if (python === 'python3') requireTool('python3');
  report(`installing cqlsh ${CQLSH_VERSION} and cassandra-driver ${PYTHON_DRIVER_VERSION} from PyPI into ${venvDir()} (with ${python})`);
  await runFetch(
    { command: python, args: ['-m', 'venv', venvDir()], itemPattern: /^$/, what: 'cqlsh virtualenv' },
    report,
  );
  await pipInstall([`cqlsh==${CQLSH_VERSION}`, `cassandra-driver==${PYTHON_DRIVER_VERSION}`], 'cqlsh packages', report);
  return bin;
}
