/**
 * The two limits on how much migrate and validate do at once: how many token
 * ranges are scanned together (pool), and how many statements one range has
 * in flight (InFlight). Keeping both bounded keeps a 2-core machine with two
 * Cassandra nodes responsive while a copy runs.
 */
import pLimit from 'p-limit';

/** Runs task(i) for i in 0..n-1, at most `limit` at a time. */
export async function pool(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  const slot = pLimit(Math.max(1, limit));
  await Promise.all(Array.from({ length: n }, (_, i) => slot(() => task(i))));
}

/**
 * At most `limit` tasks running; run() waits for a free slot. Remembers the
 * first failure and refuses new work after it. Kept by hand: p-limit queues
 * every task it is given at once, while a scan producing millions of writes
 * must itself wait for a slot (back-pressure), and the first failure must
 * stop the producer.
 */
export class InFlight {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private idle: (() => void)[] = [];
  error: unknown;

  constructor(private readonly limit: number) {}

  async run(task: () => Promise<unknown>): Promise<void> {
    while (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    if (this.error) throw this.error;
    this.active++;
    task().then(
      () => this.release(),
      (error: unknown) => {
        this.error ??= error;
        this.release();
      },
    );
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
    if (this.active === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Waits for every running task; throws the first failure. */
  async drain(): Promise<void> {
    if (this.active > 0) await new Promise<void>((r) => this.idle.push(r));
    if (this.error) throw this.error;
  }
}
