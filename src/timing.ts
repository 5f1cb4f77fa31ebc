/**
 * Waiting, for every loop that waits: one abortable sleep (retries, polling), one backoff curve,
 * and a reusable wake-up signal for followers woken by file system events.
 *
 * @example
 * ```ts
 * if (!await sleep(retryDelay(100, 5000, failures), signal)) return; // aborted: stop
 * const why = await wake.wait(1000, signal); // "notified" | "timeout" | "aborted"
 * ```
 * @module
 */

/**
 * The delay before retry number `attempt` (0 for the first): `firstMs`, doubled per attempt, at
 * most `maxMs`. The one backoff curve of every retry loop (some add jitter of their own).
 *
 * @example
 * ```ts
 * retryDelay(100, 5000, 0); // 100
 * retryDelay(100, 5000, 3); // 800
 * retryDelay(100, 5000, 9); // 5000
 * ```
 */
export function retryDelay(firstMs: number, maxMs: number, attempt: number): number {
  // 2^30 is far past any cap; stop the exponent there so the number stays finite.
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/**
 * Waits `ms`; resolves true when the time has passed, false as soon as `signal` aborts (at once
 * when it already has). Never rejects; leaves no timer or listener behind.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Waits until `done()` holds or the time `deadline` (`performance.now()`, so a step of the wall
 * clock cannot stretch it) has come, looking every `everyMs`; resolves whether it holds.
 */
export async function pollUntil(
  done: () => boolean,
  deadline: number,
  everyMs = 10,
): Promise<boolean> {
  for (;;) {
    if (done()) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await sleep(Math.min(everyMs, left));
  }
}

/** Why {@link Wakeup.wait} returned. */
export type WakeReason = "notified" | "timeout" | "aborted";

/**
 * A reusable wake-up signal: a follower sleeps until something changed (a file system event),
 * a timer runs out, or it is aborted, whichever comes first. Notifications that arrive while
 * nobody waits are kept (one flag: a burst wakes once), so none is lost between two waits.
 */
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
