/**
 * The journald source: follows the journal files of a directory (`JOURNAL_DIRECTORY`, e.g.
 * /var/log/journal or /run/log/journal) the way `journalctl --directory D -f _TRANSPORT=kernel`
 * would, reading the files natively (no libsystemd, read-only). Kernel messages come out as
 * `records` batches of `{ text: MESSAGE, time }` with a {@link JournalCursor} to resume from,
 * across rotations (`system.journal` archived as `system@….journal`) and restarts.
 *
 * It wakes on file system events (`Deno.watchFs`) and, as a safety net, every `pollIntervalMs`.
 *
 * Record times are the kernel's for kernel messages of the running boot (boot time plus the
 * entry's `_SOURCE_MONOTONIC_TIMESTAMP`), else journald's receive time: see `entry_time.ts`.
 *
 * @example
 * ```ts
 * const source = new JournalSource({ directory: "/var/log/journal", log, resumeFrom: saved });
 * for await (const batch of source.read(signal)) {
 *   if (batch.kind === "records") handle(batch.records), store.update(batch.cursor);
 * }
 * ```
 * @module
 */

import type { Logger } from "../../log.ts";
import { silentLogger } from "../../log.ts";
import type {
  LogRecord,
  LogSource,
  SourceBatch,
  SourceEventSink,
  SourceOptions,
  StartPosition,
} from "../source.ts";
import { listJournalFiles } from "./directory.ts";
import { JournalSet, KERNEL_MATCH } from "./journal_set.ts";
import { type JournalCursor, parseCursor, toCursor } from "./location.ts";
import { WindowCache } from "./window_cache.ts";
import { EntryTimes } from "./entry_time.ts";
import { Wakeup } from "../../timing.ts";
import { BootClock, readBootId } from "../kmsg_boot_time.ts";

/** Options of {@link JournalSource}. */
export interface JournalSourceOptions extends SourceOptions {
  /** The journal directory (`JOURNAL_DIRECTORY`). */
  directory: string;
  /** Safety-net poll interval in ms (the daemon passes WATCH_LOGS_INTERVAL_SECONDS; 1000). */
  pollIntervalMs?: number;
  /** Most records in one batch (default 1000). */
  maxBatchRecords?: number;
  /** `FIELD=value` entries must carry (default `_TRANSPORT=kernel`); null keeps every entry. */
  match?: string | null;
  /** Wake on file system events as well as on the poll timer (default true). */
  watch?: boolean;
  /** How long an online file may look damaged before it is reported and passed over (5000). */
  damageGraceMs?: number;
  /** The clock kernel entries of the running boot are timed with (default: one made here). */
  bootClock?: BootClock;
  /**
   * The running boot's id; by default read from /proc. null: unknown (the running boot is then
   * recognised by its entries' times).
   */
  bootId?: string | null;
  log?: Logger;
}

/** How soon to look again when a file being written was momentarily inconsistent. */
const BLOCKED_RETRY_MS = 100;

/** Follows the kernel messages of a journal directory. See the module documentation. */
export class JournalSource implements LogSource {
  readonly kind = "journal";
  readonly id: string;
  #directory: string;
  #pollMs: number;
  #maxBatch: number;
  #match: string | null;
  #watch: boolean;
  #grace: number | undefined;
  #resumeFrom: unknown;
  #start: StartPosition;
  #onEvent: SourceEventSink;
  #log: Logger;
  #clock: BootClock;
  #bootId: string | undefined;

  constructor(options: JournalSourceOptions) {
    this.#directory = options.directory.length > 1
      ? options.directory.replace(/\/+$/, "")
      : options.directory;
    this.id = this.#directory;
    this.#pollMs = Math.max(10, options.pollIntervalMs ?? 1000);
    this.#maxBatch = Math.max(1, options.maxBatchRecords ?? 1000);
    this.#match = options.match === undefined ? KERNEL_MATCH : options.match;
    this.#watch = options.watch ?? true;
    this.#grace = options.damageGraceMs;
    this.#resumeFrom = options.resumeFrom;
    this.#start = options.start ?? "end";
    this.#onEvent = options.onEvent ?? (() => {});
    this.#log = (options.log ?? silentLogger).with({
      source: "journal",
      directory: this.#directory,
    });
    const log = this.#log;
    this.#clock = options.bootClock ?? new BootClock({
      onNote: (message, fields) => log.warn(message, fields),
    });
    this.#bootId = options.bootId === null ? undefined : options.bootId ?? readBootId();
  }

  async *read(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const log = this.#log;
    const set = new JournalSet({
      match: this.#match,
      log,
      onEvent: this.#onEvent,
      cache: new WindowCache(),
      damageGraceMs: this.#grace,
    });
    const wake = new Wakeup();
    const watch = new DirectoryWatch(this.#directory, wake, log, this.#watch);
    const scan = new Scanner(this.#directory, set, log, this.#onEvent);
    const times = new EntryTimes({ clock: this.#clock, bootId: this.#bootId });
    const cursor = (bootTimeMs: number | undefined) => {
      const value: JournalCursor = toCursor(set.location!);
      if (bootTimeMs !== undefined) value.bootTimeMs = bootTimeMs;
      return value;
    };
    try {
      watch.ensure();
      scan.run();
      const resumed = this.#position(set);
      log.info("following journal", {
        files: set.paths.length,
        match: this.#match ?? "all entries",
      });
      if (!resumed && set.location) {
        // Where reading starts, handed out at once (a batch without records): a run that stops
        // before any entry arrives still leaves a checkpoint. No entry was timed: no boot time.
        yield { kind: "records", records: [], cursor: cursor(undefined) };
      }
      // With only whole-second uptime, wait (up to ~1 s) for a precise boot time; only then is
      // it compared with the saved one.
      await this.#clock.calibrate(signal);
      if (resumed) {
        const decided = times.resume(this.#resumeFrom);
        if (decided !== undefined) log.debug("boot time of the saved cursor", { decided });
      }
      while (!signal.aborted) {
        const result = set.read(this.#maxBatch);
        if (result.entries.length > 0) {
          const bootTimeMs = times.bootTimeMs();
          const records: LogRecord[] = result.entries.map((entry) => ({
            text: entry.message,
            time: times.timeOf(entry, bootTimeMs),
          }));
          yield { kind: "records", records, cursor: cursor(bootTimeMs) };
          if (result.stop === "limit") continue;
        }
        if (signal.aborted) break;
        const delay = result.stop === "blocked"
          ? Math.min(BLOCKED_RETRY_MS, this.#pollMs)
          : this.#pollMs;
        const why = await wake.wait(delay, signal);
        if (why === "aborted") break;
        // Files appear, vanish and get renamed: list them on every timer tick, and on events
        // that say the directory changed; plain writes only need the headers re-read.
        if (why === "timeout" || watch.takeStructural()) {
          watch.ensure();
          scan.run();
        }
        set.refresh();
      }
    } finally {
      watch.close();
      set.close();
    }
  }

  /** Places the set per the saved cursor (returns true) or the start option. */
  #position(set: JournalSet): boolean {
    if (this.#resumeFrom !== undefined && this.#resumeFrom !== null) {
      const location = parseCursor(this.#resumeFrom);
      if (typeof location !== "string") {
        set.seekAfter(location);
        this.#log.info("resuming after saved cursor", { seqnum: location.seqnum });
        return true;
      }
      this.#log.warn("saved journal cursor cannot be used; starting afresh", {
        problem: location,
        start: this.#start,
      });
      this.#onEvent("cursor_invalid");
    }
    if (this.#start === "beginning") set.seekHead();
    else set.seekTail();
    return false;
  }
}

/**
 * Lists the directory into the set; reports a missing or unreadable directory once, and a
 * directory without journal files once until files appear.
 */
class Scanner {
  #lastProblem = "";
  #warnedEmpty = false;

  constructor(
    readonly directory: string,
    readonly set: JournalSet,
    readonly log: Logger,
    readonly onEvent: SourceEventSink,
  ) {}

  run(): void {
    let files: string[];
    try {
      const listing = listJournalFiles(this.directory);
      files = listing.files;
      this.#noteEmpty(files.length === 0, listing.directories.slice(1));
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== this.#lastProblem) {
        this.#lastProblem = problem;
        this.log.warn("cannot list the journal directory; retrying", { error: problem });
        this.onEvent("read_error");
      }
      files = [];
      if (!(error instanceof Deno.errors.NotFound)) return; // keep what we have
    }
    if (this.#lastProblem !== "" && files.length > 0) {
      this.#lastProblem = "";
      this.log.info("journal directory readable again");
    }
    this.set.sync(files);
  }

  /** Warns once that the directory holds no journal files (where journald would put them). */
  #noteEmpty(empty: boolean, subdirectories: string[]): void {
    if (!empty) {
      this.#warnedEmpty = false;
      return;
    }
    if (this.#warnedEmpty) return;
    this.#warnedEmpty = true;
    const fields: Record<string, unknown> = {};
    if (subdirectories.length > 0) {
      fields.machineIdSubdirectories = subdirectories;
      fields.hint = "journald writes <machine-id>/system.journal; none there yet";
    } else {
      let nested = false;
      try {
        nested = Deno.statSync(`${this.directory}/journal`).isDirectory;
      } catch {
        // no such subdirectory
      }
      fields.hint = nested
        ? `no <machine-id>/ subdirectory here; did you mean ${this.directory}/journal?`
        : "no <machine-id>/ subdirectory here (journald writes <machine-id>/system.journal)";
    }
    this.log.warn("no journal files found in the journal directory; waiting for some", fields);
  }
}

/** `Deno.watchFs` on the directory (recursive: the machine-id subdirectories too). */
class DirectoryWatch {
  #watcher: Deno.FsWatcher | undefined;
  #structural = false;
  #failed = "";

  constructor(
    readonly directory: string,
    readonly wake: Wakeup,
    readonly log: Logger,
    readonly enabled: boolean,
  ) {}

  /** Starts watching if not yet watching (the directory may appear later). */
  ensure(): void {
    if (!this.enabled || this.#watcher !== undefined) return;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(this.directory, { recursive: true });
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== this.#failed) {
        this.#failed = problem;
        this.log.debug("cannot watch the journal directory; polling", { error: problem });
      }
      return;
    }
    this.#failed = "";
    this.#watcher = watcher;
    this.#pump(watcher);
  }

  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (event.kind !== "modify" && event.kind !== "access") this.#structural = true;
        this.wake.notify();
      }
    } catch (error) {
      this.log.debug("journal directory watch ended", { error });
    } finally {
      // Ended without close() (a watch error): closed too, not only forgotten. An open one keeps
      // its share of the shared inotify watch, and a watch made later on a directory that was
      // replaced meanwhile would hear nothing.
      if (this.#watcher === watcher) {
        this.#watcher = undefined;
        try {
          watcher.close();
        } catch {
          // already closed
        }
      }
      this.#structural = true;
    }
  }

  /** Whether an event since the last call said files may have appeared, vanished or moved. */
  takeStructural(): boolean {
    const value = this.#structural;
    this.#structural = false;
    return value;
  }

  close(): void {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    try {
      watcher?.close();
    } catch {
      // already closed
    }
  }
}
