/**
 * The health of an environment's parts, as the course reports it: the
 * course's `status` command prints a JSON list of components with their
 * state, and the engine shows it without knowing what the parts are. The
 * command runs at most once per interval per environment, only while someone
 * asks (the instructor console polls), so an idle classroom costs nothing.
 * Like every course command it runs as the environment's own account when
 * the environment is isolated: it runs in the learner's folders, with the
 * learner's HOME and TMPDIR, which the lab's user must never execute from.
 */
import type { Environment } from '../environments/environment.js';

export type ComponentState = 'up' | 'starting' | 'down';

export interface ComponentHealth {
  name: string;
  state: ComponentState;
  detail?: string;
}

export interface HealthReport {
  components: ComponentHealth[];
  /** When the status command ran (ms since the epoch). */
  at: number;
  /** Why there is no list: the command failed or printed something else. */
  error?: string;
}

const REFRESH_MS = 10_000;
const STATUS_TIMEOUT_MS = 20_000;
const STATES: readonly string[] = ['up', 'starting', 'down'];

export class HealthWatch {
  private last: HealthReport | undefined;
  private running: Promise<HealthReport> | undefined;

  constructor(
    private readonly env: Environment,
    private readonly command: string | undefined,
  ) {}

  /** The latest report (refreshed in the background when old); waits for the first one. */
  async current(): Promise<HealthReport | undefined> {
    if (!this.command) return undefined;
    if (!this.last) return this.refresh();
    if (Date.now() - this.last.at > REFRESH_MS) void this.refresh();
    return this.last;
  }

  /** Forget the last report (after a reset, it describes what is gone). */
  forget(): void {
    this.last = undefined;
  }

  refresh(): Promise<HealthReport> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<HealthReport> {
    const result = await this.env.shell(this.command!, { timeoutMs: STATUS_TIMEOUT_MS });
    const report = parseStatus(result.output, result.ok);
    this.last = report;
    return report;
  }
}

/** Reads the status command's output: a JSON list of {name, state, detail?}. */
export function parseStatus(output: string, ok: boolean): HealthReport {
  const at = Date.now();
  const start = output.indexOf('[');
  let value: unknown;
  try {
    value = JSON.parse(start >= 0 ? output.slice(start) : output);
  } catch {
    return { components: [], at, error: `the course's status command ${ok ? 'printed no JSON list' : 'failed'}: ${output.trim().slice(0, 300)}` };
  }
  if (!Array.isArray(value)) return { components: [], at, error: "the course's status command must print a JSON list of {name, state}" };
  const components: ComponentHealth[] = [];
  for (const item of value) {
    const c = item as Partial<ComponentHealth>;
    if (typeof c.name !== 'string' || typeof c.state !== 'string' || !STATES.includes(c.state)) {
      return { components, at, error: `the course's status command printed ${JSON.stringify(item)}; each entry needs "name" and "state" (up, starting or down)` };
    }
    components.push({ name: c.name, state: c.state, ...(typeof c.detail === 'string' && c.detail !== '' ? { detail: c.detail } : {}) });
  }
  return { components, at };
}
