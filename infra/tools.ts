/**
 * Checks for the host tools the embedded backend needs (java 17, mvn, go,
 * python3). A missing or too old tool is reported in one line that names it
 * and says how to install it, instead of a stack trace from deep inside a
 * fetch.
 */
import { spawnSync } from 'node:child_process';

export class MissingToolError extends Error {}

interface ToolSpec {
  command: string;
  versionArgs: string[];
  /** Finds major (group 1) and minor (group 2, optional) in the version output. */
  version: RegExp;
  minimum: [number, number];
  install: string;
}

const tools: Record<string, ToolSpec> = {
  java: {
    command: 'java',
    versionArgs: ['-version'],
    version: /version "(\d+)(?:\.(\d+))?/,
    minimum: [17, 0],
    install: 'apt-get install openjdk-17-jre-headless',
  },
  mvn: {
    command: 'mvn',
    versionArgs: ['-v'],
    version: /Apache Maven (\d+)\.(\d+)/,
    minimum: [3, 6],
    install: 'apt-get install maven',
  },
  go: {
    command: 'go',
    versionArgs: ['version'],
    version: /go(\d+)\.(\d+)/,
    minimum: [1, 26],
    install: 'install Go 1.26 or newer from your distribution or go.dev/dl and put it on PATH',
  },
  python3: {
    command: 'python3',
    versionArgs: ['--version'],
    version: /Python (\d+)\.(\d+)/,
    minimum: [3, 9],
    install: 'apt-get install python3 python3-venv',
  },
};

export type ToolName = keyof typeof tools;

const checked = new Set<string>();

/** Throws MissingToolError with a one-line explanation when the tool is absent or too old. */
export function requireTool(name: ToolName): void {
  if (checked.has(name)) return;
  const spec = tools[name];
  const result = spawnSync(spec.command, spec.versionArgs, { encoding: 'utf8' });
  if (result.error) {
    throw new MissingToolError(`${spec.command} is not installed (needed ${spec.minimum.join('.')}+): ${spec.install}`);
  }
  const m = spec.version.exec(`${result.stdout}${result.stderr}`);
  const version: [number, number] | undefined = m ? [Number(m[1]), Number(m[2] ?? 0)] : undefined;
  const [major, minor] = version ?? [0, 0];
  const [needMajor, needMinor] = spec.minimum;
  if (!version || major < needMajor || (major === needMajor && minor < needMinor)) {
    const found = version ? version.join('.') : 'an unknown version';
    throw new MissingToolError(`${spec.command} ${found} is too old (need ${spec.minimum.join('.')}+): ${spec.install}`);
  }
  checked.add(name);
}
