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
