/**
 * Server side of terminal flow control (the client side is
 * lab/client/flowcontrol.ts). Each viewer acknowledges the characters it has
 * rendered, about every 256 KiB. While any viewer has more than HIGH
 * characters sent but not acknowledged, the pty is paused, so a program
 * flooding output blocks on its write instead of filling server memory and the
 * browser's queue; it resumes once every viewer is below LOW. The gap between
 * the two marks keeps pause/resume from flapping on every packet.
 */

export const FLOW_HIGH = 2 * 1024 * 1024;
export const FLOW_LOW = 512 * 1024;
/** How often the client acknowledges; exported for the client to share. */
export const FLOW_ACK_EVERY = 256 * 1024;

export class FlowControl<V> {
  private readonly unacked = new Map<V, number>();
  private paused = false;

  constructor(
    private readonly pause: () => void,
    private readonly resume: () => void,
    private readonly high = FLOW_HIGH,
    private readonly low = FLOW_LOW,
  ) {}

  add(viewer: V): void {
    this.unacked.set(viewer, 0);
  }

  /** A viewer left: what it never acknowledged no longer holds the pty back. */
  remove(viewer: V): void {
    this.unacked.delete(viewer);
    this.maybeResume();
  }

  sent(viewer: V, chars: number): void {
    const n = (this.unacked.get(viewer) ?? 0) + chars;
    this.unacked.set(viewer, n);
    if (!this.paused && n > this.high) {
      this.paused = true;
      this.pause();
    }
  }

  /**
   * A viewer rendered `chars` more characters. False, and nothing changed,
   * when that is not a count of characters sent and not yet acknowledged:
   * such a client is lying or broken, and the caller drops it.
   */
  acked(viewer: V, chars: number): boolean {
    const outstanding = this.unacked.get(viewer);
    if (outstanding === undefined) return true;
    if (!Number.isFinite(chars) || chars < 0 || chars > outstanding) return false;
    this.unacked.set(viewer, outstanding - chars);
    this.maybeResume();
    return true;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private maybeResume(): void {
    if (!this.paused) return;
    for (const n of this.unacked.values()) if (n > this.low) return;
    this.paused = false;
    this.resume();
  }
}
