/**
 * Holds a {@link withLock} lock across a start/stop pair (a daemon's lifetime) instead of one
 * callback.
 * @module
 */

import { withLock } from "../lock.ts";

/** A held lock; `release()` frees it (idempotent). */
export interface HeldLock {
  release(): Promise<void>;
}

/** Waits for the named machine-wide lock and returns once it is held. */
export function holdLock(name: string): Promise<HeldLock> {
  return new Promise((acquired, failed) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = withLock(name, async () => {
      acquired({
        release: async () => {
          release();
          await held;
        },
      });
      await released;
    });
    held.catch(failed);
  });
}
