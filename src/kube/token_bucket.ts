/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. Used for the client-side
 * API rate limit (client-go's defaults: 5 QPS, burst 10) and, per Pod, for the Event spam filter
 * (client-go's: burst 25, one more every 5 minutes).
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ rate: 5, burst: 10 });
 * if (bucket.tryTake()) post(); // or: await bucket.take(signal);
 * ```
 * @module
 */

import { sleep } from "../timing.ts";

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second. */
  rate: number;
  /** Capacity; the bucket starts full. */
  burst: number;
  /** Clock in ms (tests pass a fake one). */
  now?: () => number;
}

/** A token bucket rate limiter. */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #last: number;
  #now: () => number;

  constructor(options: TokenBucketOptions) {
    this.#rate = options.rate;
    this.#burst = options.burst;
    this.#tokens = options.burst;
    this.#now = options.now ?? (() => performance.now());
    this.#last = this.#now();
  }

  #refill(): void {
    const now = this.#now();
    if (now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    }
    this.#last = now;
  }

  /** Tokens available now (fractional). */
  get available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Whether the bucket is full again (an idle bucket can be forgotten). */
  get full(): boolean {
    return this.available >= this.#burst;
  }

  /** Takes a token if one is available. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  /** Puts back a token taken for work that turned out not to need one (up to the burst). */
  giveBack(): void {
    this.#refill();
    this.#tokens = Math.min(this.#burst, this.#tokens + 1);
  }

  /** Milliseconds until a token is available (0 when one is). */
  waitMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
  }

  /** Waits for a token (in FIFO order with other waiters is not guaranteed). Rejects on abort. */
  async take(signal?: AbortSignal): Promise<void> {
    while (!this.tryTake()) {
      signal?.throwIfAborted();
      await sleep(this.waitMs(), signal);
    }
  }
}
