/**
 * A reusable wake-up signal: a follower sleeps until something changed (a file system event),
 * a timer runs out, or it is aborted, whichever comes first. Notifications that arrive while
 * nobody waits are kept, so none is lost between two waits.
 *
 * @example
 * ```ts
 * const wake = new Wakeup();
 * watcherLoop(() => wake.notify());
 * const why = await wake.wait(1000, signal); // "notified" | "timeout" | "aborted"
 * ```
 * @module
 */

/** Why {@link Wakeup.wait} returned. */
export type WakeReason = "notified" | "timeout" | "aborted";

/** See the module documentation. */
export class Wakeup {
  #pending = false;
  #resolve: ((reason: WakeReason) => void) | undefined;

  /** Wakes the current waiter, or the next one. */
  notify(): void {
    this.#pending = true;
    this.#resolve?.("notified");
  }

  /** Waits for a notification, `ms` milliseconds, or `signal`. */
  wait(ms: number, signal: AbortSignal): Promise<WakeReason> {
    if (signal.aborted) return Promise.resolve("aborted");
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve("notified");
    }
    return new Promise<WakeReason>((resolve) => {
      const finish = (reason: WakeReason) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.#resolve = undefined;
        this.#pending = false;
        resolve(reason);
      };
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), Math.max(0, ms));
      signal.addEventListener("abort", onAbort, { once: true });
      this.#resolve = finish;
    });
  }
}
