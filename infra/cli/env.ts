/**
 * `zdm-lab env [--env K] [--shell [--export]]`: where the environment's
 * components are, from the one address plan (infra/topology.ts), and the
 * environment's own Cassandra logins, Origin's and Target's (infra/credentials.ts). `--shell` prints
 * `NAME='value'` lines for the course's scripts to `eval` (`--export`: as
 * exports, which the lab's terminals read at start); without it, a table for
 * a person. In a pod of the kubernetes backend (ZDM_LAB_ADDRESSES=cluster)
 * the addresses are the names the environment's namespace resolves. Kept apart from the main command line so that a
 * script pays for loading the topology only, not for every backend.
 */
import { credentialVariables } from '../credentials.js';
import { addressPlanFromEnvironment, addressVariables, topology } from '../topology.js';
import { parseCommandLine, runCommand } from '../../common/cli.js';

function main(argv: string[]): number {
  const { values, positionals } = parseCommandLine(argv, { env: { type: 'string' }, shell: { type: 'boolean' }, export: { type: 'boolean' } });
  if (values.help || positionals.length !== 1 || positionals[0] !== 'env') {
    console.log('usage: zdm-lab env [--env K] [--shell [--export]]   the environment\'s addresses and Cassandra logins (--shell: as NAME=\'value\' lines to eval)');
    return values.help ? 0 : 2;
  }
  const topo = topology(Number(values.env ?? process.env.LAB_ENV ?? 1), addressPlanFromEnvironment());
  const vars = { ...addressVariables(topo), ...credentialVariables(topo.env) };
  const prefix = values.export ? 'export ' : '';
  const width = Math.max(...Object.keys(vars).map((k) => k.length));
  for (const [name, value] of Object.entries(vars)) {
    console.log(values.shell ? `${prefix}${name}='${value.replace(/'/g, `'\\''`)}'` : `${name.padEnd(width)}  ${value}`);
  }
  return 0;
}

runCommand(() => main(process.argv.slice(2)));
