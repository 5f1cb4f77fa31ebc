/**
 * The time of a journal entry as the journal source hands it out. journald stamps an entry with
 * the time it received it (`__REALTIME_TIMESTAMP`); for a kernel message that can be much later
 * than the kernel logged it: drops logged at boot before journald started, or while journald was
 * down or stalled. Kernel entries also carry `_SOURCE_MONOTONIC_TIMESTAMP`, the kernel's own time
 * of the record in microseconds since boot: for entries of the running boot, the time is the boot
 * time (see `kmsg_boot_time.ts`) plus that, as the kmsg source times records. Entries of other
 * boots, and entries without it, keep journald's receive time.
 *
 * The running boot is known by its id (`/proc/sys/kernel/random/boot_id`, readable with
 * `--allow-all`); without it, a boot whose entries' receive times (wall clock minus monotonic
 * clock) put its start within `SAME_BOOT_TOLERANCE_MS` of our boot time estimate is taken
 * for the running one.
 *
 * Estimates of the boot time differ by a few ms between runs; so that an entry delivered again
 * after a restart keeps its exact time (replays are recognised by it), the boot time used is
 * saved with the cursor, and a run resuming within the same boot times its entries with it
 * unless the estimates are further apart than `BOOT_TIME_NOISE_MS` (the wall clock was
 * stepped in between).
 *
 * @example
 * ```ts
 * const times = new EntryTimes({ clock: new BootClock({}), bootId: readBootId() });
 * times.resume(savedCursor);
 * const bootTimeMs = times.bootTimeMs();
 * const time = times.timeOf(entry, bootTimeMs);
 * ```
 * @module
 */

import {
  type BootClock,
  RecordBootTime,
  type ResumedBootTime,
  SAME_BOOT_TOLERANCE_MS,
} from "../kmsg_boot_time.ts";
import type { JournalEntry } from "./journal_set.ts";

/** Options of {@link EntryTimes}. */
export interface EntryTimesOptions {
  clock: BootClock;
  /** The running boot's id (dashes allowed), if known. */
  bootId?: string;
}

/** Times journal entries; see the module documentation. */
export class EntryTimes {
  #bootTime: RecordBootTime;
  #bootId: string | undefined;
  /** Boot ids recognised as the running boot by their entries' times. */
  #current = new Set<string>();

  constructor(options: EntryTimesOptions) {
    this.#bootTime = new RecordBootTime(options.clock);
    const id = options.bootId?.replaceAll("-", "").toLowerCase();
    this.#bootId = id !== undefined && /^[0-9a-f]{32}$/.test(id) ? id : undefined;
  }

  /**
   * Takes the boot time saved with `cursor` (a cursor this source handed out) when it is of the
   * running boot and agrees with our estimate; returns what was decided, for the log.
   */
  resume(cursor: unknown): ResumedBootTime | undefined {
    const savedMs = typeof cursor === "object" && cursor !== null
      ? (cursor as { bootTimeMs?: unknown }).bootTimeMs
      : undefined;
    return this.#bootTime.resume(typeof savedMs === "number" ? savedMs : undefined);
  }

  /**
   * The boot time entries are timed with and cursors carry, whole ms; undefined when no uptime
   * can be read.
   */
  bootTimeMs(): number | undefined {
    return this.#bootTime.ms();
  }

  /** The time of `entry`: the kernel's when it is of the running boot, else journald's. */
  timeOf(entry: JournalEntry, bootTimeMs: number | undefined): Date {
    const source = entry.sourceMonotonic;
    if (source !== undefined && bootTimeMs !== undefined && this.#running(entry, bootTimeMs)) {
      return new Date(bootTimeMs + Math.floor(source / 1000));
    }
    return new Date(Math.floor(entry.realtime / 1000));
  }

  #running(entry: JournalEntry, bootTimeMs: number): boolean {
    const { bootId, realtime, monotonic } = entry.location;
    if (this.#bootId !== undefined) return bootId === this.#bootId;
    if (this.#current.has(bootId)) return true;
    // journald took both clocks when it received the entry: their difference is its boot time.
    if (Math.abs((realtime - monotonic) / 1000 - bootTimeMs) > SAME_BOOT_TOLERANCE_MS) return false;
    this.#current.add(bootId);
    return true;
  }
}
