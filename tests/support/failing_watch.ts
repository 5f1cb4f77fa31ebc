/**
 * `Deno.watchFs` replaced, for a test, by watchers whose events end in an error, as Deno's do
 * when its shared inotify backend fails (it hands the error to every watcher); the real backend
 * cannot be made to fail without changing machine-wide inotify limits.
 *
 * @example
 * ```ts
 * await withFailingWatches(async (watchers) => {
 *   // … start what watches …
 *   assert.ok(watchers.every((w) => w.closed));
 * });
 * ```
 * @module
 */

/** One watcher made while the fake was in place. */
export interface FakeWatch {
  closed: boolean;
}

/** Runs `body` with the fake in place (the watchers it made are listed as they come). */
export async function withFailingWatches(
  body: (watchers: FakeWatch[]) => Promise<void>,
): Promise<void> {
  const real = Deno.watchFs;
  const watchers: FakeWatch[] = [];
  Object.defineProperty(Deno, "watchFs", {
    configurable: true,
    writable: true,
    value: () => {
      const state = { closed: false };
      watchers.push(state);
      return {
        close: () => state.closed = true,
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            await new Promise((resolve) => setTimeout(resolve, 10));
            throw new Error("inotify read failed");
          },
        }),
      } as unknown as Deno.FsWatcher;
    },
  });
  try {
    await body(watchers);
  } finally {
    Object.defineProperty(Deno, "watchFs", { configurable: true, writable: true, value: real });
  }
}
