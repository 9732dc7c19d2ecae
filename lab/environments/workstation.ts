/**
 * Environments whose learner's processes run elsewhere than on the lab's
 * host: each in a workstation of its own, such as the kubernetes backend's
 * workstation pod (infra/kube/workstation.ts), reached through commands the
 * operator names. The lab's host then holds no learner's shell: a terminal
 * is the `shell` command in a pty of the lab's, and one of the course's
 * commands (setup, a check, a reset) is the `exec` command with it appended.
 * A saved state comes out as a tar stream on `exec`'s output, and goes in as
 * one on `input`'s input.
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
import { readdirSync, readFileSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extract, pack } from 'tar-stream';
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
  /**
   * As `exec`, with this command's standard input as the command's: it ends when that input does. Saved
   * states go into the workstation this way (a tar stream).
   */
  input: string[];
}

const COMMAND_TIMEOUT_MS = 15 * 60_000;
const TRANSFER_TIMEOUT_MS = 5 * 60_000;
/** A folder's name there, relative to the learner's working folder (LAB_ENV_DIR): plain, not `.` or `..`, with no way up or out. */
const FOLDER = /^(?!\.\.?$)[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;

function checkFolder(folder: string): void {
  if (!FOLDER.test(folder)) throw new Error(`not a folder name in the learner's working folder: ${folder}`);
}
/** A file's name in such a folder, as tar writes it (./name). */
const FILE = /^(?:\.\/)?([A-Za-z0-9_][A-Za-z0-9_.-]*)$/;

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

  /**
   * Copies the plain files of `folder` there (in the learner's working folder) into the
   * existing folder `to` here, through `exec` and a tar stream of them. Anything but plain
   * files (a link, a folder, a device) and more than `maxBytes` in all are refused, with the
   * reason, and nothing of them is written.
   */
  async download(folder: string, to: string, maxBytes: number, signal?: AbortSignal): Promise<void> {
    checkFolder(folder);
    const chunks: Buffer[] = [];
    let size = 0;
    const tooBig = new AbortController();
    const result = await runCommand(this.line(this.commands.exec, ['/bin/bash', '-c', 'cd "$LAB_ENV_DIR/$1" && exec tar -cf - .', 'zdm-lab-download', folder]), {
      timeoutMs: TRANSFER_TIMEOUT_MS,
      signal: signal ? AbortSignal.any([signal, tooBig.signal]) : tooBig.signal,
      onStdout: (chunk) => {
        size += chunk.length;
        // The archive's headers and padding come on top of the files: a little room for them.
        if (size > maxBytes + 1024 ** 2) tooBig.abort();
        else chunks.push(chunk);
      },
    });
    if (tooBig.signal.aborted) throw new Error(`${folder} in the workstation holds more than ${maxBytes / 1024 ** 2} MiB`);
    if (!result.ok) throw new Error(`${folder} could not be read from the workstation: ${result.output.trim().split('\n').at(-1) ?? `exit ${result.exitCode}`}`);
    const files = await plainFiles(Buffer.concat(chunks), maxBytes);
    for (const [name, content] of files) writeFileSync(join(to, name), content, { mode: 0o600 });
  }

  /**
   * Puts the plain files of the folder `from` here into `folder` there (in the learner's working
   * folder), which is made anew, readable by its learner, through `input` and a tar stream.
   */
  async upload(from: string, folder: string): Promise<ShellResult> {
    checkFolder(folder);
    const archive = pack();
    for (const name of readdirSync(from).sort()) {
      if (!lstatSync(join(from, name)).isFile()) throw new Error(`${join(from, name)} is not a plain file`);
      archive.entry({ name, mode: 0o644 }, readFileSync(join(from, name)));
    }
    archive.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of archive) chunks.push(chunk as Buffer);
    const unpack = 'cd "$LAB_ENV_DIR" && rm -rf "$1" && mkdir -m 755 "$1" && exec tar -xf - -C "$1" --no-same-owner --no-same-permissions';
    return runCommand(this.line(this.commands.input, ['/bin/bash', '-c', unpack, 'zdm-lab-upload', folder]), { timeoutMs: TRANSFER_TIMEOUT_MS, input: Buffer.concat(chunks) });
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

/** The plain files of a tar archive of one folder (its own entry, ./, aside), by name; anything else is refused. */
async function plainFiles(archive: Buffer, maxBytes: number): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const reader = extract();
  let total = 0;
  let refused: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const name = FILE.exec(header.name)?.[1];
      const type = header.type ?? 'file';
      if (type === 'directory' && (header.name === './' || header.name === '.')) {
        stream.resume();
      } else if (type !== 'file' || name === undefined) {
        refused ??= `${type} ${JSON.stringify(header.name)}: a state holds plain files only`;
        stream.resume();
      } else {
        const parts: Buffer[] = [];
        stream.on('data', (part) => parts.push(part as Buffer));
        stream.on('end', () => {
          total += header.size ?? 0;
          files.set(name, Buffer.concat(parts));
        });
      }
      stream.on('end', () => next());
    });
    reader.on('finish', () => resolve());
    reader.on('error', (error: Error) => reject(new Error(`the workstation sent no tar archive: ${error.message}`)));
  });
  reader.end(archive);
  await done;
  if (refused) throw new Error(refused);
  if (total > maxBytes) throw new Error(`the state is over ${maxBytes / 1024 ** 2} MiB`);
  return files;
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
    input: [...env, 'exec', '{env}', '--input', ...local, '--'],
  };
}
