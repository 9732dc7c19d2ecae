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
 * In each command line `{env}` stands for the environment's number,
 * `{ready}` for the text a lab terminal's shell prints once it is ready
 * (terminals/session.ts READY_MARKER), and `{prompt-mark}` and
 * `{command-mark}` for what its shell prints with each prompt and as each
 * command starts (PROMPT_MARK, COMMAND_MARK): a `shell` line that passes
 * them on tells the lab when a command there has ended. `{memory-gib}` and
 * `{cpus}` are the environment's budget (the course's, or the lab's
 * --memory-per-env and --cpus-per-env).
 */
import { COMMAND_MARK, PROMPT_MARK, READY_MARKER } from '../terminals/session.js';
import { runCommand, type ShellResult } from './shell.js';

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

const COMMAND_TIMEOUT_MS = 15 * 60_000;

/** An environment's budget, as the workstation's commands are given it. */
export interface WorkstationBudget {
  memoryGiB: number;
  /** None when the course declares none and the lab was given none. */
  cpus?: number;
}

export class Workstation {
  constructor(
    readonly env: number,
    private readonly commands: WorkstationCommands,
    private readonly budget?: WorkstationBudget,
  ) {}

  private line(template: string[], extra: string[] = []): { command: string; args: string[] } {
    const fill = (part: string) => {
      if (part.includes('{cpus}') && this.budget?.cpus === undefined) throw new Error('the workstation is made with a CPU budget, and the course declares no "cpus" per environment: give the lab one (--cpus-per-env)');
      if (part.includes('{memory-gib}') && this.budget === undefined) throw new Error('the workstation is made with a memory budget, and the lab gave it none');
      return part
        .replaceAll('{env}', String(this.env))
        .replaceAll('{ready}', READY_MARKER)
        .replaceAll('{prompt-mark}', PROMPT_MARK)
        .replaceAll('{command-mark}', COMMAND_MARK)
        .replaceAll('{memory-gib}', String(this.budget?.memoryGiB))
        .replaceAll('{cpus}', String(this.budget?.cpus));
    };
    const [command, ...args] = [...template.map(fill), ...extra];
    if (!command) throw new Error('a workstation command line is empty');
    return { command, args };
  }

  /** The command line of one of the learner's terminals. */
  terminal(): { command: string; args: string[] } {
    return this.line(this.commands.shell);
  }

  /** Its terminals' shells print the lab's prompt and command marks. */
  get marksPrompt(): boolean {
    return this.commands.shell.some((part) => part.includes('{prompt-mark}')) && this.commands.shell.some((part) => part.includes('{command-mark}'));
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
  create(opts: { onOutput?: (text: string) => void; signal?: AbortSignal } = {}): Promise<ShellResult> {
    return this.run(this.commands.create, opts);
  }

  destroy(): Promise<ShellResult> {
    return this.run(this.commands.destroy);
  }

  /** A command line that cannot be filled in (no budget for it) fails as the command would, with the reason. */
  private run(template: string[], opts: { onOutput?: (text: string) => void; signal?: AbortSignal } = {}): Promise<ShellResult> {
    let line: { command: string; args: string[] };
    try {
      line = this.line(template);
    } catch (error) {
      return Promise.resolve({ ok: false, exitCode: null, timedOut: false, output: `${(error as Error).message}\n` });
    }
    return runCommand(line, { ...opts, timeoutMs: COMMAND_TIMEOUT_MS });
  }
}

/**
 * The workstations of the kubernetes backend, through `zdm-lab kube env …`
 * (infra/kube/cli.ts): on the cluster of KUBECONFIG (or the one the lab runs
 * in), or on this machine's local cluster with `local`. Each environment's
 * namespace gets the course's per-environment budget as its quota.
 */
export function kubernetesWorkstations(zdmLab: string, options: { local: boolean }): WorkstationCommands {
  const local = options.local ? ['--local'] : [];
  const env = [zdmLab, 'kube', 'env'];
  return {
    create: [...env, 'create', '{env}', '--memory-gib', '{memory-gib}', '--cpus', '{cpus}', ...local],
    destroy: [...env, 'destroy', '{env}', ...local],
    shell: [...env, 'shell', '{env}', '--announce', '{ready}', '--prompt-mark', '{prompt-mark}', '--command-mark', '{command-mark}', ...local],
    exec: [...env, 'exec', '{env}', ...local, '--'],
  };
}
