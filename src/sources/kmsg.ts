/**
 * The `/dev/kmsg` source: kernel log records straight from the kernel's ring buffer, without
 * syslog or journald in between.
 *
 * - Every open of `/dev/kmsg` gets every record (reading is not destructive) starting at the
 *   oldest one still in the ring buffer. Records carry a sequence number; the cursor is
 *   `{ seq, boot }` (the last sequence number handled and the boot id). Resuming skips records up
 *   to `seq`; when the oldest record left is newer than `seq + 1` the missing ones are counted as
 *   a `gap`. A cursor of another boot is useless (sequence numbers restart at 0): then the whole
 *   ring buffer is read, as everything in it is new.
 * - Without a cursor the source starts at the end (skips what the ring buffer holds) or at the
 *   beginning.
 * - Records overwritten before we read them (`EPIPE`) are counted as a `gap` with the number of
 *   sequence numbers missed, and reading goes on with the oldest record left.
 * - The device is read in a thread of its own (see `kmsg_device.ts`) into a bounded queue
 *   (`queueBytes`), so pauses of the main thread (handling a batch, garbage collection) do not let
 *   the kernel overwrite records first; with the queue full that thread stops reading and the
 *   kernel's overrun is counted as a gap. The source waits for that thread's records; an abort
 *   ends `read()` at once.
 * - Only kernel-facility records are delivered (facility 0), as `journalctl -k` and syslog's
 *   `kern.*` would; userspace writes to `/dev/kmsg` (facility 1 and up) are skipped.
 * - Times are boot time (whole ms) + the record's milliseconds (see `kmsg_boot_time.ts`). Each
 *   run estimates the boot time anew, and estimates of one boot differ by a few ms; so that a
 *   record delivered again after a restart keeps its exact time (replays are recognised by it),
 *   a run resuming within the same boot times its records with the boot time of the saved
 *   cursor (`RecordBootTime`), unless the estimates are too far apart (the wall clock was
 *   stepped in between: then the new estimate is right and the old one was not).
 *
 * Permissions. The kernel: reading `/dev/kmsg` needs root (its mode is 0644 root) or
 * CAP_SYSLOG when `kernel.dmesg_restrict=1`. Deno 2: paths under `/dev` and `/proc` open only with
 * `--allow-all` (an explicit `--allow-read=/dev/kmsg` is refused). Without `-A`, mount the device
 * node at another path (a hostPath volume of type CharDevice) and give that path with
 * `--allow-read=PATH`, plus `--allow-sys=osUptime` for times; cursors then carry the boot time
 * instead of the boot id. With `-A` the source also reads `/proc/uptime` (more precise times) and
 * `/proc/sys/kernel/random/boot_id`.
 *
 * @example
 * ```ts
 * const source = new KmsgSource({ resumeFrom: await store.load(), onEvent, log });
 * for await (const batch of source.read(signal)) {
 *   // batch.kind === "records"; batch.records[i].text is the kernel message
 *   store.update(batch.cursor);
 * }
 * ```
 * @module
 */

import { retryDelay, sleep } from "../timing.ts";
import { type LogFields, type Logger, silentLogger } from "../log.ts";
import { parseKmsgHeader, unescapeKmsg } from "../netfilter/kmsg_record.ts";
import { BootClock, readBootId, RecordBootTime, type ResumedBootTime } from "./kmsg_boot_time.ts";
import {
  type KmsgDevice,
  type KmsgDeviceOpener,
  openKmsgDevice,
  RECORD_BYTES,
} from "./kmsg_device.ts";
import { KmsgLineSplitter } from "./kmsg_lines.ts";
import {
  type LogRecord,
  type LogSource,
  problemOf,
  type SourceBatch,
  type SourceEventSink,
  type SourceOptions,
  type StartPosition,
} from "./source.ts";

/** The kernel's log device. */
export const KMSG_PATH = "/dev/kmsg";

/** A kmsg source position. */
export interface KmsgCursor {
  /** The sequence number of the last record handled. */
  seq: number;
  /** The boot the sequence number belongs to (`/proc/sys/kernel/random/boot_id`), if readable. */
  boot?: string;
  /**
   * The boot time the records were timed with (whole ms since the epoch); a restart within the
   * same boot times its records with it too. Also tells boots apart.
   */
  bootTimeMs?: number;
}

/** Options of {@link KmsgSource}. */
export interface KmsgSourceOptions extends SourceOptions {
  /** The device (default `/dev/kmsg`); a regular file or a FIFO of records works too. */
  path?: string;
  log?: Logger;
  /**
   * Longest wait when nothing is available, in ms (default 100; shorter while records flow), for
   * a device without a reader thread (`openDevice`); the reader thread waits at most this and
   * at most 20 ms (`MAX_IDLE_WAIT_MS`), so that a flood starting after a quiet time is read
   * before it overruns the ring buffer.
   */
  pollIntervalMs?: number;
  /** Most bytes read from the device ahead of the batches handed out (default 4 MiB). */
  queueBytes?: number;
  /** Most records in one batch (default 512). */
  maxBatchRecords?: number;
  /** Boot time in ms since the epoch; by default estimated from `/proc/uptime`. */
  bootTimeMs?: number;
  /** The boot clock to use instead of one made here (tests: a fake uptime and wall clock). */
  bootClock?: BootClock;
  /** The boot id cursors are tied to; by default read from /proc; null: do not tie them. */
  bootId?: string | null;
  /** Deliver only kernel-facility records (default true). */
  kernelOnly?: boolean;
  /** First and longest wait before reopening after an error, in ms (default 500 and 30000). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * Called each time the input has been opened and positioned: records logged from then on
   * will be delivered. For tests and start-up logs.
   */
  onReady?: (lastSeq: number | undefined) => void;
  /** Opens the input (default: a reader thread, `openKmsgDevice`); tests inject failures here. */
  openDevice?: KmsgDeviceOpener;
}

/** Why Deno refused the device, and what to do about it. */
export const NOT_CAPABLE_HINT = "Deno opens paths under /dev and /proc only with --allow-all, " +
  "which the release binary never has: make the device appear at another path it may read, " +
  "/run/kube-iptables-tailer/kmsg (the DaemonSet's hostPath CharDevice volume; by hand: mknod " +
  "/run/kube-iptables-tailer/kmsg c 1 11; see the README), or, running from source, use deno run -A";

/**
 * The wait after a read that found records, for a device without a reader thread of its own.
 * The kernel's ring buffer (often 128 KiB: some 600 records) is overwritten in tens of
 * milliseconds by a flood; a fixed 100 ms wait lost half of 50 000 records that journald,
 * reading the same device, kept.
 */
const FLOWING_WAIT_MS = 1;

/** Records one read pass found that make the next pass come at once. */
const FLOOD_RECORDS = 32;

/** Repeated warnings of one kind (gaps, undecodable lines) are logged at most this often. */
const WARN_INTERVAL_MS = 10_000;

/** Parses a saved cursor; undefined when it is not one. */
export function parseKmsgCursor(value: unknown): KmsgCursor | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { seq, boot, bootTimeMs } = value as Record<string, unknown>;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  if (boot !== undefined && typeof boot !== "string") return undefined;
  if (bootTimeMs !== undefined && (typeof bootTimeMs !== "number" || !isFinite(bootTimeMs))) {
    return undefined;
  }
  const cursor: KmsgCursor = { seq };
  if (boot !== undefined) cursor.boot = boot;
  if (bootTimeMs !== undefined) cursor.bootTimeMs = bootTimeMs;
  return cursor;
}

/** A record with its sequence number (for the cursor of a batch that ends with it). */
interface Entry {
  record: LogRecord;
  seq: number;
}

/** What the reader knows about its position. */
interface Position {
  /** Sequence number of the last record read (delivered or skipped). */
  lastSeq: number | undefined;
  /** Discard records until the input has nothing more (start at the end). */
  toEnd: boolean;
  /** A resumed cursor not yet confirmed by the records of the ring buffer. */
  unconfirmed: number | undefined;
  /** An EPIPE was seen; the next record tells how many were lost. */
  overrun: boolean;
  /** Highest sequence number read since this open. */
  maxSeen: number;
}

/** Follows the kernel log through `/dev/kmsg`. See the module documentation. */
export class KmsgSource implements LogSource {
  readonly kind = "kmsg";
  readonly id: string;
  #path: string;
  #log: Logger;
  #pollMs: number;
  #maxBatch: number;
  #kernelOnly: boolean;
  #retryMin: number;
  #retryMax: number;
  /** The last failure, to log a streak of the same one once. */
  #lastProblem = "";
  #start: StartPosition;
  #resumeFrom: unknown;
  #bootId: string | undefined;
  #clock: BootClock;
  /** The boot time records are timed with: the saved cursor's, in the boot it was saved in. */
  #bootTime: RecordBootTime;
  #onEvent: SourceEventSink;
  #onReady: ((lastSeq: number | undefined) => void) | undefined;
  #open: KmsgDeviceOpener;
  #warned = new Map<string, { at: number; suppressed: number }>();

  constructor(options: KmsgSourceOptions = {}) {
    this.#path = options.path ?? KMSG_PATH;
    this.id = this.#path;
    this.#log = (options.log ?? silentLogger).with({ source: "kmsg", path: this.#path });
    this.#pollMs = Math.max(1, options.pollIntervalMs ?? 100);
    this.#maxBatch = Math.max(1, options.maxBatchRecords ?? 512);
    this.#kernelOnly = options.kernelOnly ?? true;
    this.#retryMin = Math.max(1, options.retryMinMs ?? 500);
    this.#retryMax = Math.max(this.#retryMin, options.retryMaxMs ?? 30_000);
    this.#start = options.start ?? "end";
    this.#resumeFrom = options.resumeFrom;
    this.#bootId = options.bootId === null ? undefined : options.bootId ?? readBootId();
    this.#onEvent = options.onEvent ?? (() => {});
    this.#onReady = options.onReady;
    const queueBytes = options.queueBytes;
    const maxWaitMs = this.#pollMs;
    this.#open = options.openDevice ?? ((path) => openKmsgDevice(path, { queueBytes, maxWaitMs }));
    const log = this.#log;
    this.#clock = options.bootClock ?? new BootClock({
      bootTimeMs: options.bootTimeMs,
      onNote: (message, fields) => log.warn(message, fields),
    });
    this.#bootTime = new RecordBootTime(this.#clock);
  }

  async *read(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    await this.#clock.calibrate(signal);
    const position = this.#initialPosition();
    // Without a saved position, where reading starts is handed out once (a batch without
    // records): a run that stops before any record arrives still leaves a checkpoint.
    let announce = position.lastSeq === undefined;
    const buffer = new Uint8Array(RECORD_BYTES);
    // Records read but not yet yielded: one read of a file can hold more than a batch.
    const pending: Entry[] = [];
    let failures = 0;
    while (!signal.aborted || pending.length > 0) {
      let device: KmsgDevice | undefined;
      if (!signal.aborted) {
        try {
          device = await this.#open(this.#path);
        } catch (error) {
          await this.#failed("cannot open the kernel log", error, failures++, signal);
          continue;
        }
        position.maxSeen = -1;
        this.#log.info("reading the kernel log", {
          from: position.lastSeq === undefined
            ? (position.toEnd ? "end" : "beginning")
            : `after seq ${position.lastSeq}`,
        });
      }
      const splitter = new KmsgLineSplitter();
      let ready = false;
      let waitMs = FLOWING_WAIT_MS;
      let failure: { error: unknown } | undefined;
      try {
        for (;;) {
          let drained = false;
          let waiting = false;
          const seqBefore = position.lastSeq ?? -1;
          if (device && !signal.aborted && pending.length < this.#maxBatch) {
            ({ drained, waiting = false, failure } = this.#fill(
              device,
              buffer,
              splitter,
              position,
              pending,
            ));
          }
          const read = (position.lastSeq ?? -1) - seqBefore;
          // A flood: read again at once. Some records: soon. None: wait longer each time.
          waitMs = read >= FLOOD_RECORDS
            ? 0
            : read > 0
            ? FLOWING_WAIT_MS
            : Math.min(this.#pollMs, Math.max(FLOWING_WAIT_MS, waitMs) * 2);
          if (drained && !ready) {
            ready = true;
            if (failures > 0) this.#log.info("the kernel log is readable again", { failures });
            failures = 0;
            this.#positioned(position);
            this.#onReady?.(position.lastSeq);
          }
          if (ready && announce && pending.length === 0 && position.lastSeq !== undefined) {
            announce = false;
            yield { kind: "records", records: [], cursor: this.#cursor(position.lastSeq) };
          }
          if (pending.length > 0) {
            const entries = pending.splice(0, this.#maxBatch);
            // All read so far is handled once this batch is: skipped records count too.
            const seq = pending.length === 0 ? position.lastSeq! : entries.at(-1)!.seq;
            yield {
              kind: "records",
              records: entries.map((e) => e.record),
              cursor: this.#cursor(seq),
            };
          }
          if (failure || (signal.aborted && pending.length === 0)) break;
          if ((drained || waiting) && pending.length === 0) {
            await (device?.wait ? device.wait(waitMs, signal) : sleep(waitMs, signal));
          }
        }
      } finally {
        // Also when the consumer stops iterating (return() at the yield).
        device?.close();
      }
      if (failure) {
        await this.#failed("cannot read the kernel log", failure.error, failures++, signal);
      }
    }
  }

  /** Where to begin, from the saved cursor or the start option. */
  #initialPosition(): Position {
    this.#bootTime.reset();
    const position: Position = {
      lastSeq: undefined,
      toEnd: this.#start === "end",
      unconfirmed: undefined,
      overrun: false,
      maxSeen: -1,
    };
    if (this.#resumeFrom === undefined || this.#resumeFrom === null) return position;
    const cursor = parseKmsgCursor(this.#resumeFrom);
    if (!cursor) {
      this.#onEvent("cursor_invalid");
      this.#log.warn("saved cursor is not a kmsg cursor; starting afresh", {
        cursor: this.#resumeFrom,
        start: this.#start,
      });
      return position;
    }
    // Records delivered again after the restart keep the times they had (the cursor's boot
    // time), unless the wall clock was stepped meanwhile.
    const estimateMs = this.#clock.bootTimeMs();
    const decided = this.#bootTime.resume(cursor.bootTimeMs);
    if (this.#otherBoot(cursor, decided)) {
      this.#bootTime.reset();
      // Everything in the ring buffer was logged after the saved position.
      this.#onEvent("new_boot");
      this.#log.info("saved cursor is from an earlier boot; reading the whole ring buffer", {
        saved: cursor,
        boot: this.#bootId,
        bootTime: this.#bootTime.ms(),
      });
      return { ...position, toEnd: false };
    }
    if (decided !== undefined) {
      const fields = {
        savedBootTimeMs: cursor.bootTimeMs,
        estimateMs: Math.round(estimateMs!),
        differenceMs: Math.round(estimateMs! - cursor.bootTimeMs!),
      };
      if (decided === "saved") {
        this.#log.debug("records are timed with the saved cursor's boot time", fields);
      } else {
        this.#log.info(
          "boot time moved since the cursor was saved (wall clock stepped); records are timed " +
            "with the new estimate",
          fields,
        );
      }
    }
    return { ...position, toEnd: false, lastSeq: cursor.seq, unconfirmed: cursor.seq };
  }

  /** Whether `cursor` was saved during another boot (by boot id, else by boot time). */
  #otherBoot(cursor: KmsgCursor, decided: ResumedBootTime | undefined): boolean {
    if (cursor.boot !== undefined && this.#bootId !== undefined) {
      return cursor.boot !== this.#bootId;
    }
    return decided === "other boot";
  }

  /** Once the input has been read to its end the first time after an open. */
  #positioned(position: Position): void {
    position.toEnd = false;
    const saved = position.unconfirmed;
    position.unconfirmed = undefined;
    if (saved !== undefined && position.maxSeen >= 0 && position.maxSeen < saved) {
      // The ring buffer ends before the saved position: the cursor cannot be from this input.
      this.#onEvent("cursor_invalid");
      this.#log.warn("saved sequence number is ahead of the kernel log; following from its end", {
        saved,
        newest: position.maxSeen,
      });
      position.lastSeq = position.maxSeen;
    }
  }

  #cursor(seq: number): KmsgCursor {
    const cursor: KmsgCursor = { seq };
    if (this.#bootId !== undefined) cursor.boot = this.#bootId;
    const bootTimeMs = this.#bootTime.ms();
    if (bootTimeMs !== undefined) cursor.bootTimeMs = bootTimeMs;
    return cursor;
  }

  /**
   * Reads what is available now into `pending`, until it holds a batch. `drained`: the input had
   * nothing more; `waiting`: nothing more has arrived from the device's reader thread yet. A read
   * error ends the reading; what was read before it is kept.
   */
  #fill(
    device: KmsgDevice,
    buffer: Uint8Array,
    splitter: KmsgLineSplitter,
    position: Position,
    pending: Entry[],
  ): { drained: boolean; waiting?: boolean; failure?: { error: unknown } } {
    const bootTimeMs = this.#bootTime.ms();
    const onLine = (line: string) => this.#record(line, position, bootTimeMs, pending);
    while (pending.length < this.#maxBatch) {
      let result;
      try {
        result = device.read(buffer);
      } catch (error) {
        return { drained: false, failure: { error } };
      }
      if (result === "again") return { drained: true };
      if (result === "pending") return { drained: false, waiting: true };
      if (result === "overrun") {
        if (!position.toEnd) position.overrun = true;
        continue;
      }
      splitter.push(buffer.subarray(0, result), onLine);
      if (splitter.oversized > 0) {
        this.#onEvent("undecodable", splitter.oversized);
        this.#warnLimited("oversized", "kmsg line too long; skipped", {
          lines: splitter.oversized,
        });
        splitter.oversized = 0;
      }
    }
    return { drained: false };
  }

  #record(line: string, position: Position, bootTimeMs: number | undefined, out: Entry[]) {
    const header = parseKmsgHeader(line);
    if (!header) {
      this.#onEvent("undecodable");
      this.#warnLimited("undecodable", "not a kmsg record; skipped", { line: line.slice(0, 120) });
      return;
    }
    const seq = header.seq;
    if (seq > position.maxSeen) position.maxSeen = seq;
    if (position.lastSeq !== undefined && seq <= position.lastSeq) {
      // Handled before. After an overrun this is where the kernel put us back: behind our
      // position, so nothing we needed was lost.
      position.overrun = false;
      return;
    }
    if (!position.toEnd && position.lastSeq !== undefined) {
      // (Without a position yet, the first record read is where reading starts: the oldest
      // left, also when older ones were overwritten between the open and this read.)
      // The sequence numbers alone say what was lost. After an EPIPE the kernel gives the oldest
      // record left: when that is the one right after our position (the ring wrapped only over
      // records we were passing over), nothing was.
      const missed = seq - position.lastSeq - 1;
      if (missed > 0) {
        const lost = missed;
        this.#onEvent("gap", lost);
        this.#warnLimited(
          "gap",
          position.overrun
            ? "kernel log records were overwritten before they were read"
            : "kernel log records are missing",
          { lost, after: position.lastSeq, next: seq },
        );
      }
    }
    position.overrun = false;
    position.lastSeq = seq;
    if (position.toEnd) return;
    if (this.#kernelOnly && header.facility !== 0) return;
    const record: LogRecord = { text: unescapeKmsg(line.slice(header.messageStart)) };
    if (bootTimeMs !== undefined) {
      record.time = new Date(bootTimeMs + Math.floor(header.usec / 1000));
    }
    out.push({ record, seq });
  }

  /** Logs a warning at most every {@link WARN_INTERVAL_MS} per kind, with the count it held back. */
  #warnLimited(kind: string, message: string, fields: LogFields): void {
    const now = performance.now();
    const last = this.#warned.get(kind);
    if (last && now - last.at < WARN_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    this.#warned.set(kind, { at: now, suppressed: 0 });
    this.#log.warn(message, last?.suppressed ? { ...fields, notLogged: last.suppressed } : fields);
  }

  /**
   * Counts a failure and waits before the next try. It is logged once per streak of the same
   * error (as the file source does), with what to do about a missing or refused device.
   */
  async #failed(what: string, error: unknown, failures: number, signal: AbortSignal) {
    const delay = retryDelay(this.#retryMin, this.#retryMax, failures);
    this.#onEvent("read_error");
    const problem = `${what}: ${problemOf(error)}`;
    if (failures === 0 || problem !== this.#lastProblem) {
      const fields: Record<string, unknown> = { error, retryInMs: delay };
      if (error instanceof Deno.errors.NotCapable) fields.hint = NOT_CAPABLE_HINT;
      if (error instanceof Deno.errors.NotFound || (error as { code?: string }).code === "ENOENT") {
        fields.hint = "no device at this path: mount the host's /dev/kmsg here (the DaemonSet " +
          `does), or by hand: mknod ${this.#path} c 1 11`;
      }
      this.#log.error(`${what}; retrying (the same error again is counted, not logged)`, fields);
    }
    this.#lastProblem = problem;
    await sleep(delay, signal);
  }
}
