/**
 * Capped, jittered exponential backoff for the pod index's list and watch retries, and an
 * abortable sleep. Pure apart from the timer in {@link sleep}.
 *
 * @example
 * ```ts
 * const backoff = new Backoff({ minMs: 800, maxMs: 30_000 });
 * backoff.next(); // 400–800
 * backoff.next(); // 800–1600
 * backoff.reset(); // after a healthy period
 * ```
 * @module
 */

import { retryDelay } from "../timing.ts";

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** The first delay (before jitter). */
  minMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** Source of randomness in [0, 1), for tests. */
  random?: () => number;
}

/**
 * Delays that double from `minMs` up to `maxMs`. Each delay is jittered into the upper half of
 * its step (`[step/2, step]`), so many agents restarted together (a DaemonSet after an API
 * server upgrade) spread out instead of arriving in lockstep.
 */
export class Backoff {
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempts = 0;

  constructor(options: BackoffOptions) {
    this.#minMs = Math.max(0, options.minMs);
    this.#maxMs = Math.max(this.#minMs, options.maxMs);
    this.#random = options.random ?? Math.random;
  }

  /** Delays handed out since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The next delay in milliseconds. */
  next(): number {
    const step = retryDelay(this.#minMs, this.#maxMs, this.#attempts);
    this.#attempts++;
    return Math.round(step / 2 + this.#random() * (step / 2));
  }

  /** Starts over from `minMs` (after a healthy period). */
  reset(): void {
    this.#attempts = 0;
  }
}
