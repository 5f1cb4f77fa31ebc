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

/**
 * Boot times further apart than this belong to different boots. Estimates of one boot agree to
 * a few ms (unless the wall clock is stepped); a reboot moves the boot time by at least the
 * uptime the previous boot had.
 */
export const SAME_BOOT_TOLERANCE_MS = 5000;

/**
 * Two boot time estimates of one boot further apart than this mean the wall clock was stepped
 * between them (NTP at start-up). Precise estimates agree to a few ms; coarse ones (whole-second
 * uptime, calibration cut short) to about a second. The step tolerance of `BootClock`.
 */
export const BOOT_TIME_NOISE_MS = 1500;

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
    const first = this.#osUptime();
    const until = this.#now() + 1500;
    while (!signal.aborted && this.#now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (this.#ticked(first)) return;
    }
  }

  /**
   * The same, blocking, for at most `maxWaitMs` (a synchronous reader such as `parse`). When the
   * uptime cannot be read meanwhile, the coarse estimate stays.
   */
  calibrateSync(maxWaitMs = 1500): void {
    if (this.mode !== "os" || this.#precise) return;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    try {
      const first = this.#osUptime();
      const until = this.#now() + maxWaitMs;
      while (this.#now() < until) {
        Atomics.wait(pause, 0, 0, 1);
        if (this.#ticked(first)) return;
      }
    } catch {
      // Readable a moment ago: keep the coarse estimate.
    }
  }

  #osUptime(): number {
    return (this.#options.osUptime ?? Deno.osUptime)();
  }

  /** Whether the whole-second uptime moved on from `first`; then the boot time is taken. */
  #ticked(first: number): boolean {
    const value = this.#osUptime();
    if (value === first) return false;
    // The kernel rounds up: the value just became `value` as the uptime passed value - 1.
    this.#value = this.#now() - (value - 1) * 1000;
    this.#precise = true;
    return true;
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

/** What {@link RecordBootTime.resume} made of a saved boot time. */
export type ResumedBootTime = "saved" | "stepped" | "other boot";

/**
 * The boot time records are timed with and cursors carry: whole ms, so that a cursor holds
 * exactly what the times were computed with. Estimates of one boot differ by a few ms between
 * runs, so a run resuming within the boot a cursor was saved in keeps the cursor's value (a
 * record delivered again keeps its time, by which replays are recognised), moved only by later
 * steps of the wall clock.
 */
export class RecordBootTime {
  #clock: BootClock;
  #saved: { savedMs: number; estimateMs: number } | undefined;

  constructor(clock: BootClock) {
    this.#clock = clock;
  }

  /**
   * Keeps `savedMs` (a saved cursor's boot time) when the estimate agrees with it. Returns what
   * was decided: "stepped" (further apart than {@link BOOT_TIME_NOISE_MS}: the wall clock was
   * stepped meanwhile, the estimate is used), "other boot" (further than
   * {@link SAME_BOOT_TOLERANCE_MS}), or undefined (no saved value, or no estimate).
   */
  resume(savedMs: number | undefined): ResumedBootTime | undefined {
    this.#saved = undefined;
    const estimateMs = this.#clock.bootTimeMs();
    if (savedMs === undefined || !Number.isFinite(savedMs) || estimateMs === undefined) {
      return undefined;
    }
    const apart = Math.abs(savedMs - estimateMs);
    if (apart > SAME_BOOT_TOLERANCE_MS) return "other boot";
    if (apart > BOOT_TIME_NOISE_MS) return "stepped";
    this.#saved = { savedMs, estimateMs };
    return "saved";
  }

  /** Forgets a kept value: records are timed with the estimate. */
  reset(): void {
    this.#saved = undefined;
  }

  /** The boot time in whole ms, or undefined when no uptime can be read. */
  ms(): number | undefined {
    const estimateMs = this.#clock.bootTimeMs();
    if (estimateMs === undefined) return undefined;
    const saved = this.#saved;
    // Unchanged estimate: exactly the saved value. A stepped clock moves it by the step.
    return Math.round(saved ? saved.savedMs + (estimateMs - saved.estimateMs) : estimateMs);
  }
}
