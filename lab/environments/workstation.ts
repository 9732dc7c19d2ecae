/**
 * Environments whose learner's processes run elsewhere than on the lab's
 * host: each in a workstation of its own, such as the kubernetes backend's
 * workstation pod (infra/kube/workstation.ts), reached through commands the
 * operator names. The lab's host then holds no learner's shell: a terminal
 * is the `shell` command in a pty of the lab's, and one of the course's
 * commands (setup, a check, a reset) is the `exec` command with it appended.
 * The lab imports nothing of the infrastructure: these are command lines, as
 * the course's own `zdm-lab` commands are.
 *
 * In each command line `{env}` stands for the environment's number and
 * `{ready}` for the text a lab terminal's shell prints once it is ready
 * (terminals/session.ts READY_MARKER).
 */
import { spawn } from 'node:child_process';
import { READY_MARKER } from '../terminals/session.js';

export interface WorkstationCommands {
  /** Makes environment {env}'s workstation, or brings it back to shape (a restart of the lab runs it again). */
  create: string[];
  /** Removes the workstation and everything of the environment with it. */
  destroy: string[];
  /** A terminal there: the learner's login shell, run in a pty. */
  shell: string[];
  /** Runs the command appended to it there, without a terminal; exits with its exit code. */
  exec: string[];
}

/** The output a create or destroy keeps, at most: the message shown when it fails. */
const OUTPUT_LIMIT = 16 * 1024;
const COMMAND_TIMEOUT_MS = 15 * 60_000;

export class Workstation {
  constructor(
    readonly env: number,
    private readonly commands: WorkstationCommands,
  ) {}

  private line(template: string[], extra: string[] = []): { command: string; args: string[] } {
    const [command, ...args] = [...template.map((part) => part.replaceAll('{env}', String(this.env)).replaceAll('{ready}', READY_MARKER)), ...extra];
    if (!command) throw new Error('a workstation command line is empty');
    return { command, args };
  }

  /** The command line of one of the learner's terminals. */
  terminal(): { command: string; args: string[] } {
    return this.line(this.commands.shell);
  }

  /**
   * The command line that runs `command` there, with `variables` set for it
   * (the lab's per-call ones, such as LAB_PAGE: the workstation has the
   * environment's own).
   */
  wrap(command: string, args: string[], variables: Record<string, string> = {}): { command: string; args: string[] } {
    const assignments = Object.entries(variables).map(([name, value]) => `${name}=${value}`);
    return this.line(this.commands.exec, assignments.length > 0 ? ['env', ...assignments, command, ...args] : [command, ...args]);
  }

  /** Makes the workstation (or brings it back to shape); `onOutput` sees its progress as it comes. */
  create(onOutput?: (text: string) => void): Promise<void> {
    return this.run('create', this.commands.create, onOutput);
  }

  destroy(onOutput?: (text: string) => void): Promise<void> {
    return this.run('destroy', this.commands.destroy, onOutput);
  }

  private run(what: string, template: string[], onOutput?: (text: string) => void): Promise<void> {
    const { command, args } = this.line(template);
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const collect = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        onOutput?.(text);
        output = (output + text).slice(-OUTPUT_LIMIT);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      const timer = setTimeout(() => child.kill('SIGTERM'), COMMAND_TIMEOUT_MS);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`environment ${this.env}'s workstation: ${what} could not run ${command}: ${error.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`environment ${this.env}'s workstation: ${what} (${[command, ...args].join(' ')}) ${signal ? `was stopped (${signal})` : `exited ${code}`}:\n${output.trim().split('\n').slice(-15).join('\n')}`));
      });
    });
  }
}

/**
 * The workstations of the kubernetes backend, through `zdm-lab kube env …`
 * (infra/kube/cli.ts): on the cluster of KUBECONFIG (or the one the lab runs
 * in), or on this machine's local cluster with `local`. Each environment's
 * namespace gets the course's per-environment budget as its quota.
 */
export function kubernetesWorkstations(zdmLab: string, options: { local: boolean; memoryGiB: number; cpus: number }): WorkstationCommands {
  const local = options.local ? ['--local'] : [];
  const env = [zdmLab, 'kube', 'env'];
  return {
    create: [...env, 'create', '{env}', '--memory-gib', String(options.memoryGiB), '--cpus', String(options.cpus), ...local],
    destroy: [...env, 'destroy', '{env}', ...local],
    shell: [...env, 'shell', '{env}', '--announce', '{ready}', ...local],
    exec: [...env, 'exec', '{env}', ...local, '--'],
  };
}
