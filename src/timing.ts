/**
 * One abortable sleep for every loop that waits (retries, backoff, polling).
 *
 * @example
 * ```ts
 * if (!await sleep(backoffMs, signal)) return; // aborted: stop
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
