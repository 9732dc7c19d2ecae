/**
 * Runs the real zdm-lab command line the way a learner does, and returns what
 * they would see: exit code, stdout and stderr.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { findTagged } from '../../common/processes.js';
import { COMPONENT_TAG, projectRoot } from '../../infra/paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function zdmLab(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCommand(join(projectRoot, 'bin', 'zdm-lab'), args, env);
}

/** zdm-lab as Unix account `user` (an isolated environment's), with its home as HOME and LAB_ENV_HOME. */
export function zdmLabAs(user: string, home: string, args: string[]): Promise<CliResult> {
  return runCommand('runuser', ['-u', user, '--', 'env', `HOME=${home}`, `LAB_ENV_HOME=${home}`, `PATH=${process.env.PATH}`, join(projectRoot, 'bin', 'zdm-lab'), ...args], {});
}

function runCommand(command: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Pids of every live process started for the given environment folder. */
export function labProcesses(envDir: string): number[] {
  return findTagged(COMPONENT_TAG, `${envDir}/`);
}
