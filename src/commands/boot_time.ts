/**
 * The boot time `parse` dates kmsg and dmesg records with when no `--boot-time` is given: the
 * daemon's estimate ({@link BootClock}, src/sources/kmsg_boot_time.ts), to the millisecond.
 *
 * With `/proc/uptime` readable (not under the production permissions: Deno 2 refuses `/proc`
 * without `--allow-all`) it is precise at once. With only `Deno.osUptime()` (whole seconds,
 * rounded up) the estimate is taken the moment the uptime ticks (`BootClock.calibrateSync`:
 * the parser asks for it in the middle of a line), and only then: a log without kmsg or dmesg
 * times never waits (up to a second).
 * @module
 */

import { BootClock, type BootClockOptions } from "../sources/kmsg_boot_time.ts";

/** Options of {@link estimateBootTimeMs}: those of {@link BootClock}, and the longest wait. */
export interface ParseBootTimeOptions extends BootClockOptions {
  /** Longest wait for a whole-second uptime to tick (default 1500 ms; it ticks every 1000). */
  maxWaitMs?: number;
}

/** The boot time in ms since the epoch, or undefined when no uptime can be read. */
export function estimateBootTimeMs(options: ParseBootTimeOptions = {}): number | undefined {
  const clock = new BootClock(options);
  clock.calibrateSync(options.maxWaitMs);
  return clock.bootTimeMs();
}

/**
 * A function that estimates the boot time the first time it is called and then gives the same
 * value: the parser calls it at the first kmsg or dmesg time it meets.
 */
export function lazyBootTime(options: ParseBootTimeOptions = {}): () => number | undefined {
  let known = false;
  let value: number | undefined;
  return () => {
    if (!known) {
      value = estimateBootTimeMs(options);
      known = true;
    }
    return value;
  };
}
