/**
 * The zdm-lab command line: one entry point for the infrastructure
 * (infra, proxy, monitoring, cqlsh, setup). Options are parsed here and
 * turned into a LabContext; everything else lives in infra/commands/.
 */
import { spawnSync } from 'node:child_process';
import { ensureCassandra } from '../artifacts/cassandra.js';
import { classDataOptions } from '../artifacts/class-data.js';
import { ensureCqlsh } from '../artifacts/cqlsh.js';
import { ArtifactUnavailableError, describeZdmProxy, ensureZdmProxy, findZdmProxy, ZDM_PROXY_VERSION } from '../artifacts/zdm-proxy.js';
import { chooseBackend } from '../backends/select.js';
import { readProxyConfig, setProxyConfigValue, ProxyConfigError } from '../config/proxy.js';
import { formatStatus, infraDown, infraReset, infraStatus, infraStop, infraUp, type LabContext } from '../commands/environment.js';
import { nodeNamed, nodeStart, nodeStop } from '../commands/node.js';
import { proxyDeploy, proxyLogs, proxyRollingUpdate, proxyStatus } from '../commands/proxy.js';
import { migrateCommand, validateCommand } from '../migrate/command.js';
import { monitoringDown, monitoringStatus, monitoringUp } from '../monitoring/prometheus.js';
import { consoleReporter } from '../progress.js';
import { restoreState, saveState } from '../commands/state.js';
import { labOfTerminal, restoreThroughLab } from './lab-restore.js';
import { addressPlanFromEnvironment, topology } from '../topology.js';
import { parseCommandLine, runCommand } from '../../common/cli.js';

const USAGE = `usage: zdm-lab <command> [options]

  setup                              fetch Cassandra, cqlsh (and its Python driver) and zdm-proxy into the cache; build the nodes' class data archive
  infra up|status|down|reset         Origin and Target nodes of an environment (infra up in a terminal
                                     of the lab: the whole environment, back to your page of the course)
  infra stop                         stop what can stop without losing data (an idle environment)
  infra reset [--check]              back to the step-1 state, undoing only what differs (--check: say what)
  infra state save|restore FILE      the clusters' zdmapp rows (with writetimes) and the proxies' settings, in a
                                     file any environment can restore (proxies left stopped)
  node stop|start origin|target      stop one node while the rest keeps running (a failure drill); start it again
  proxy deploy                       start three ZDM proxies from the YAML files
  proxy rolling-update [--pause S]   apply YAML changes one proxy at a time, S seconds apart (default 10, or $ZDM_LAB_PROXY_PAUSE)
  proxy status                       state and effective configuration of each proxy
  proxy version                      the zdm-proxy binary in use: where it came from, what it reports
  proxy logs [1|2|3] [-f]            print or follow proxy logs
  proxy config show                  print the proxy configuration
  proxy config set key=value ...     change proxy YAML keys (validated)
  monitoring up|down|status          the real Prometheus (Debian package prometheus) scraping the
                                     proxies every 2 s, on 127.0.K.30:9090
  cqlsh origin|target|proxy [-e CQL] [-f FILE]
  migrate --keyspace K [--tables a,b]               copy Origin's rows to Target, keeping writetimes and TTLs
  validate --keyspace K [--tables a,b] [--autocorrect] [--report FILE]
                                     compare Origin and Target; exit 1 on differences

the lab server's own commands (course check|play, env list|create|reset|destroy): zdm-lab course --help

options:
  --env K          environment number (default: $LAB_ENV or 1); it owns 127.0.K.0/24
  --backend NAME   local, docker or kubernetes, remembered for the environment (default: the
                   remembered one, else docker when a Docker daemon answers and no
                   local artifacts are cached, else local)`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals, command, sub, rest } = parseCommandLine(argv, {
    env: { type: 'string' },
    backend: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    execute: { type: 'string', short: 'e' },
    file: { type: 'string' },
    pause: { type: 'string' },
    keyspace: { type: 'string' },
    tables: { type: 'string' },
    splits: { type: 'string' },
    concurrency: { type: 'string' },
    autocorrect: { type: 'boolean' },
    check: { type: 'boolean' },
    report: { type: 'string' },
  });
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const env = Number(values.env ?? process.env.LAB_ENV ?? 1);
  const lab = `${command} ${sub ?? ''}` === 'infra up' && !values.backend ? labOfTerminal(env) : undefined;
  if (lab) {
    const code = await restoreThroughLab(env, lab, (line) => console.log(line));
    if (code !== undefined) return code;
  }
  const topo = topology(env, addressPlanFromEnvironment());
  const ctx: LabContext = {
    topo,
    backend: await chooseBackend(values.backend, topo),
    report: consoleReporter(),
    print: (line) => console.log(line),
  };

  switch (`${command} ${sub ?? ''}`.trim()) {
    case 'setup': {
      await classDataOptions(await ensureCassandra(ctx.report), ctx.report);
      await ensureCqlsh(ctx.report);
      try {
        const bin = await ensureZdmProxy(ctx.report);
        ctx.print(`zdm-proxy: ${bin.path} (${bin.route})`);
      } catch (error) {
        if (!(error instanceof ArtifactUnavailableError)) throw error;
        ctx.print(error.message);
        return 3;
      }
      ctx.print('all artifacts are in the cache');
      return 0;
    }
    case 'infra up':
      await infraUp(ctx);
      return 0;
    case 'infra status': {
      const rows = await infraStatus(ctx);
      ctx.print(formatStatus(rows));
      return 0;
    }
    case 'infra down':
      await infraDown(ctx);
      ctx.print(`environment ${env} is down: ${ctx.backend.name === 'docker' ? 'no lab container, network or volume' : 'no lab process'} left`);
      return 0;
    case 'infra stop':
      await infraStop(ctx);
      ctx.print(`environment ${env} is stopped; zdm-lab infra up brings it back with its data`);
      return 0;
    case 'infra reset': {
      if (values.check) {
        const off = await infraReset(ctx, { check: true });
        if (off.length === 0) {
          ctx.print(`environment ${env} is in the step-1 state`);
          return 0;
        }
        ctx.print(`environment ${env} is not in the step-1 state: ${off.join('; ')}. zdm-lab infra reset brings it there`);
        return 1;
      }
      const undone = await infraReset(ctx);
      ctx.print(`environment ${env} is back to the start of step 1${undone.length ? ` (undone: ${undone.join('; ')})` : ''}`);
      return 0;
    }
    case 'infra state': {
      const [action, file] = rest;
      if ((action !== 'save' && action !== 'restore') || !file) {
        ctx.print('usage: zdm-lab infra state save|restore FILE');
        return 2;
      }
      if (action === 'save') await saveState(ctx, file);
      else {
        await restoreState(ctx, file);
        ctx.print(`environment ${env} holds the state of ${file}; the proxies are stopped (zdm-lab proxy deploy starts them with its settings)`);
      }
      return 0;
    }
    case 'node stop':
      await nodeStop(ctx, nodeNamed(topo, rest[0], 'stop'));
      return 0;
    case 'node start':
      await nodeStart(ctx, nodeNamed(topo, rest[0], 'start'));
      return 0;
    case 'proxy version': {
      const bin = findZdmProxy();
      if (!bin) {
        ctx.print(`zdm-proxy v${ZDM_PROXY_VERSION} is not in the cache yet: zdm-lab setup (or proxy deploy) gets it`);
        return 1;
      }
      for (const line of describeZdmProxy(bin)) ctx.print(line);
      return 0;
    }
    case 'proxy deploy':
      await proxyDeploy(ctx);
      return 0;
    case 'proxy rolling-update':
      await proxyRollingUpdate(ctx, { pauseMs: values.pause === undefined ? undefined : Number(values.pause) * 1000 });
      return 0;
    case 'proxy status':
      ctx.print(await proxyStatus(ctx));
      return 0;
    case 'proxy logs':
      return proxyLogs(ctx, rest[0] === undefined ? undefined : Number(rest[0]), Boolean(values.follow));
    case 'proxy config': {
      const [action, ...pairs] = rest;
      if (action === 'show' || action === undefined) {
        ctx.print(JSON.stringify(readProxyConfig(ctx.topo), null, 2));
        return 0;
      }
      if (action === 'set' && pairs.length) {
        for (const pair of pairs) {
          const eq = pair.indexOf('=');
          if (eq < 1) throw new ProxyConfigError([`"${pair}" is not key=value`]);
          setProxyConfigValue(ctx.topo, pair.slice(0, eq), pair.slice(eq + 1));
          ctx.print(`${pair.slice(0, eq)} = ${pair.slice(eq + 1)}`);
        }
        ctx.print('saved; apply with: zdm-lab proxy rolling-update');
        return 0;
      }
      throw new Error('usage: zdm-lab proxy config show | zdm-lab proxy config set key=value ...');
    }
    case 'monitoring up':
      await monitoringUp(ctx);
      return 0;
    case 'monitoring down':
      await monitoringDown(ctx);
      return 0;
    case 'monitoring status':
      ctx.print(await monitoringStatus(ctx));
      return 0;
    case 'migrate':
      return migrateCommand(ctx, values);
    case 'validate':
      return validateCommand(ctx, values);
    default:
      // `cqlsh target -f file.cql`: -f is parsed as the boolean flag, the file follows it
      if (command === 'cqlsh') return cqlsh(ctx, sub, values.execute, values.file ?? (values.follow ? rest[0] : undefined));
      console.error(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
      return 2;
  }
}

async function cqlsh(ctx: LabContext, which: string | undefined, execute?: string, file?: string): Promise<number> {
  const { topo } = ctx;
  const endpoint = which === 'origin' ? topo.origin : which === 'target' ? topo.target : which === 'proxy' ? topo.proxies[0] : undefined;
  if (!endpoint) throw new Error('usage: zdm-lab cqlsh origin|target|proxy [-e "CQL"] [--file FILE]');
  const exec = await ctx.backend.cqlsh(endpoint);
  const args = [...exec.args, ...(execute ? ['-e', execute] : []), ...(file ? ['-f', file] : [])];
  const result = spawnSync(exec.command, args, { stdio: 'inherit', env: { ...process.env, ...exec.env } });
  return result.status ?? 1;
}

runCommand(() => main(process.argv.slice(2)));
