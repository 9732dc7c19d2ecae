/**
 * The terminal the instructor shows to the whole class: one at a time, of any
 * environment (the instructor's own or a learner's). Each learner page learns
 * of it through its progress poll and opens it read-only beside its own
 * terminals (`/ws/terminal?broadcast=1`); the terminal's own viewers are told
 * it is shown. It ends when the instructor stops it, shows another, or the
 * environment it belongs to is destroyed.
 */
export interface BroadcastTarget {
  env: number;
  terminal: string;
}

/** What a learner page is told: which terminal, under which name, since when. */
export interface BroadcastView extends BroadcastTarget {
  name: string;
  since: number;
}

export class Broadcast {
  private current: BroadcastView | undefined;
  private readonly listeners: ((now: BroadcastView | undefined, before: BroadcastView | undefined) => void)[] = [];

  constructor(private readonly exists: (env: number) => boolean) {}

  /** The terminal shown now, if its environment still exists. */
  get target(): BroadcastView | undefined {
    if (this.current && !this.exists(this.current.env)) this.show(undefined);
    return this.current;
  }

  show(target: (BroadcastTarget & { name: string }) | undefined): void {
    const before = this.current;
    if (before && target && before.env === target.env && before.terminal === target.terminal) return;
    this.current = target && { env: target.env, terminal: target.terminal, name: target.name, since: Date.now() };
    for (const listener of this.listeners) listener(this.current, before);
  }

  onChange(listener: (now: BroadcastView | undefined, before: BroadcastView | undefined) => void): void {
    this.listeners.push(listener);
  }
}
