/**
 * The lab server the course benches (class.ts, resets.ts) run on: the ZDM
 * course, no environment of its own, isolated or not, its data in a
 * temporary folder. `cleanUp` destroys every environment (its
 * infrastructure down, also for one the lab no longer lists), closes the
 * lab and removes the folder; Ctrl-C and SIGTERM run it too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { infraDown } from '../infra/commands/environment.js';
import { isolationProblem } from '../lab/environments/isolation.js';
import { startLab, type LabServer } from '../lab/server/app.js';
import { testContext } from '../test/support/lab.js';

const root = new URL('..', import.meta.url).pathname;

export const say = (line: string) => process.stderr.write(`${line}\n`);

export interface BenchLab {
  lab: LabServer;
  dataDir: string;
  /** Environments the bench created: taken down at the end even if the lab lost them. */
  used: Set<number>;
  cleanUp(): Promise<void>;
}

/** Ends the process with the reason when --isolate was asked for and the lab cannot isolate here. */
export function requireIsolation(isolate: boolean): void {
  if (!isolate) return;
  const problem = isolationProblem([root]);
  if (problem) {
    console.error(`--isolate: the lab cannot isolate here: ${problem}`);
    process.exit(2);
  }
}

export async function startBenchLab(name: string, isolate: boolean): Promise<BenchLab> {
  const dataDir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const lab = await startLab({ courseDir: join(root, 'steps'), port: 0, dataDir, environmentId: null, isolate });
  const used = new Set<number>();
  let cleaning: Promise<void> | undefined;
  const cleanUp = () => {
    cleaning ??= (async () => {
      say(`destroying ${lab.environments.size} environment(s)`);
      await Promise.all([...lab.environments.keys()].map((k) => lab.classroom.destroy(k).catch((err: Error) => say(`environment ${k}: destroy: ${err.message}`))));
      await lab.close().catch((err: Error) => say(`closing the lab: ${err.message}`));
      for (const k of used) await infraDown(testContext(k)).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return cleaning;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: cleaning up`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  return { lab, dataDir, used, cleanUp };
}
