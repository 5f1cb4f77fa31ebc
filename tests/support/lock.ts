/**
 * A cross-process lock (flock on a file in /tmp), for system tests that share one machine-wide
 * resource (the kernel log's netfilter settings, a journald instance) while `deno test --parallel`
 * runs test files in separate processes.
 *
 * @example
 * ```ts
 * await withLock("journald", async () => { ... });
 * ```
 * @module
 */

/** Runs `fn` while holding the named machine-wide lock. */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(`/tmp/kube-iptables-tailer-test-${name}.lock`, {
    create: true,
    write: true,
  });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing releases the lock
  }
}
