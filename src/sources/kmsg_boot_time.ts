/**
 * Wall-clock time of boot, to turn a kmsg record's microseconds since boot into a time, and the
 * identity of the running boot, to tell whether a saved kmsg cursor belongs to it.
 *
 * The boot time is `Date.now() - uptime`, from the best uptime Deno lets us read:
 * - `/proc/uptime` (centiseconds). Deno 2 refuses every `/proc` path without `--allow-all`.
 *   Sampled until the value ticks over, the clock at that moment gives the boot time to within
 *   one read (tens of microseconds) instead of 10 ms.
 * - `Deno.osUptime()` (`--allow-sys=osUptime`; whole seconds, rounded up by the kernel): ±0.5 s
 *   at once, and after {@link BootClock.calibrate} has seen the next tick (up to 1 s), a few ms.
 *
 * Like `dmesg -T` and journald, this assumes the kernel's printk clock runs with the boot-time
 * clock. It does not count time spent suspended. Measured on the test VM: record times within
 * 0.1 ms of the wall clock, except shortly after the VM was restored from a snapshot (0.2 s).
 *
 * @example
 * ```ts
 * const clock = new BootClock({});
 * await clock.calibrate(signal);
 * const time = new Date(clock.bootTimeMs()! + usec / 1000);
 * ```
 * @module
 */

/** Where the uptime is read. */
export const UPTIME_PATH = "/proc/uptime";
/** Where the id of the running boot is read (changes at every boot; needs `--allow-all`). */
export const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

/** Parses `/proc/uptime` ("12345.67 23456.78\n") into seconds. */
export function parseUptime(text: string): number {
  const value = Number(text.split(" ", 1)[0]);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`unexpected uptime text ${JSON.stringify(text.slice(0, 40))}`);
  }
  return value;
}

/** Options of {@link estimateBootTimeMs}. */
export interface BootTimeOptions {
  path?: string;
  now?: () => number;
  /** Longest time to wait for the uptime to tick (default 25 ms; it ticks every 10 ms). */
  maxSpinMs?: number;
}

/** Estimates the boot time from `/proc/uptime`, in ms since the epoch. Throws when unreadable. */
export function estimateBootTimeMs(options: BootTimeOptions = {}): number {
  const path = options.path ?? UPTIME_PATH;
  const now = options.now ?? Date.now;
  const read = () => parseUptime(Deno.readTextFileSync(path));
  const first = read();
  const until = now() + (options.maxSpinMs ?? 25);
  // The read count bounds the loop even when the clock does not move (an injected one).
  for (let reads = 0;; reads++) {
    const uptime = read();
    const at = now();
    // Just ticked: the true uptime is `uptime` plus at most one read's duration.
    if (uptime !== first) return at - uptime * 1000;
    // Never ticked (a frozen or fake file): the true value is on average half a step above.
    if (at > until || reads >= 100_000) return at - uptime * 1000 - 5;
  }
}

/** The running boot's id, or undefined when it cannot be read. */
export function readBootId(path = BOOT_ID_PATH): string | undefined {
  try {
    const id = Deno.readTextFileSync(path).trim();
    return id === "" ? undefined : id;
  } catch {
    return undefined;
  }
}

/** Options of {@link BootClock}. */
export interface BootClockOptions {
  /** A fixed boot time (tests); no uptime is read then. */
  bootTimeMs?: number;
  /** Default `/proc/uptime`. */
  uptimePath?: string;
  /** Whole-second uptime (default `Deno.osUptime`). */
  osUptime?: () => number;
  /** How often to look whether the wall clock was stepped (default 60 s). */
  refreshMs?: number;
  now?: () => number;
  /** Told when no uptime is readable, or when the wall clock was stepped. */
  onNote?: (message: string, fields: Record<string, unknown>) => void;
}

type Mode = "fixed" | "proc" | "os" | "none";

/**
 * The boot time, re-checked now and then: when the wall clock is stepped (NTP at start-up),
 * `Date.now() - uptime` moves with it, and record times should follow.
 */
export class BootClock {
  #options: BootClockOptions;
  #mode: Mode | undefined;
  #value: number | undefined;
  #precise = false;
  #checkedAt = -Infinity;

  constructor(options: BootClockOptions) {
    this.#options = options;
    if (options.bootTimeMs !== undefined) {
      this.#mode = "fixed";
      this.#value = options.bootTimeMs;
      this.#precise = true;
    }
  }

  /** Which uptime the estimate comes from ("none": no time can be given). */
  get mode(): Mode {
    if (this.#mode === undefined) this.bootTimeMs();
    return this.#mode!;
  }

  /** The boot time in ms since the epoch, or undefined when no uptime can be read. */
  bootTimeMs(): number | undefined {
    if (this.#mode === "fixed" || this.#mode === "none") return this.#value;
    const now = this.#now();
    if (this.#mode !== undefined && now - this.#checkedAt < (this.#options.refreshMs ?? 60_000)) {
      return this.#value;
    }
    this.#checkedAt = now;
    if (this.#mode === undefined) {
      this.#initial();
      return this.#value;
    }
    // A cheap single reading: only a step of the wall clock is worth following.
    const coarse = this.#coarse(now);
    const tolerance = this.#mode === "os" ? 1500 : 1000;
    if (coarse !== undefined && Math.abs(coarse - this.#value!) > tolerance) {
      this.#options.onNote?.("wall clock stepped; boot time re-estimated", {
        byMs: Math.round(coarse - this.#value!),
      });
      this.#value = this.#mode === "proc" ? this.#fromProc() : coarse;
      this.#precise = this.#mode === "proc";
    }
    return this.#value;
  }

  /**
   * With only whole-second uptime, waits (up to ~1 s, abortable) for it to tick and takes the
   * boot time from that moment. Returns at once otherwise.
   */
  async calibrate(signal: AbortSignal): Promise<void> {
    if (this.mode !== "os" || this.#precise) return;
    const osUptime = this.#options.osUptime ?? Deno.osUptime;
    const first = osUptime();
    const until = this.#now() + 1500;
    while (!signal.aborted && this.#now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const value = osUptime();
      if (value !== first) {
        // The kernel rounds up: the value just became `value` as the uptime passed value - 1.
        this.#value = this.#now() - (value - 1) * 1000;
        this.#precise = true;
        return;
      }
    }
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #fromProc(): number {
    return estimateBootTimeMs({ path: this.#options.uptimePath, now: this.#options.now });
  }

  #coarse(now: number): number | undefined {
    try {
      if (this.#mode === "proc") {
        return now -
          parseUptime(Deno.readTextFileSync(this.#options.uptimePath ?? UPTIME_PATH)) * 1000 - 5;
      }
      return now - ((this.#options.osUptime ?? Deno.osUptime)() - 0.5) * 1000;
    } catch {
      return undefined;
    }
  }

  #initial(): void {
    let procError: unknown;
    try {
      this.#value = this.#fromProc();
      this.#mode = "proc";
      this.#precise = true;
      return;
    } catch (error) {
      procError = error;
    }
    try {
      this.#mode = "os";
      this.#value = this.#coarse(this.#now());
      if (this.#value !== undefined) return;
      (this.#options.osUptime ?? Deno.osUptime)(); // rethrows the reason
    } catch (osError) {
      this.#options.onNote?.("cannot read the uptime; kmsg records get no time", {
        uptimePath: this.#options.uptimePath ?? UPTIME_PATH,
        error: procError,
        osUptimeError: osError,
      });
    }
    this.#mode = "none";
    this.#value = undefined;
  }
}
