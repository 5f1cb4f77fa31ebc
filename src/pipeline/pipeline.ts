/**
 * The daemon's spine: source → parser → filters → sink, one direction, with the checkpoint
 * advanced only over batches whose drops are fully handled (see {@link AckTracker}).
 *
 * Reading never waits for the sink: a sink that cannot keep up sheds (and counts) what it
 * cannot queue, so the pipeline keeps reading and counting every drop.
 * @module
 */

import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { DropParser } from "../netfilter/parser.ts";
import type { PacketDrop, ParseErrorReason, ParseResult } from "../netfilter/types.ts";
import type { CheckpointStore } from "../sources/checkpoint.ts";
import type { LogSource } from "../sources/source.ts";
import { AckTracker, type BatchAck } from "./ack_tracker.ts";
import { dropIdentity, type ExpiryFilter, type RepeatFilter } from "./filters.ts";
import { type Replay, type ReplayNote, replayNote, type ReplayVerdict } from "./replay.ts";

/** Where drops that pass the filters go. */
export interface DropSink {
  /**
   * Handles `count` identical drops (more than 1 only for an rsyslog `message repeated N times`
   * line with the repeat filter off): counted as that many, acted on as one (one Event update
   * by `count`). The returned promise (if any) settles when they are fully handled (printed,
   * their Events posted, or deliberately shed); the checkpoint waits for it.
   */
  handle(drop: PacketDrop, count: number): Promise<void> | void;
  /** Called after each batch (e.g. to flush buffered output). */
  flush?(): Promise<void> | void;
}

/** Options of {@link Pipeline}. */
export interface PipelineOptions {
  source: LogSource;
  parser: DropParser;
  expiry: ExpiryFilter;
  repeat: RepeatFilter;
  sink: DropSink;
  metrics: Metrics;
  log: Logger;
  checkpoint?: CheckpointStore;
  /** After a clean restart: which of the first drops were handled before the stop. */
  replay?: Replay;
  /** Clock for the "last read" gauge. */
  now?: () => number;
}

/** How often one parse-error reason is logged at warn level at most. */
const PARSE_ERROR_LOG_INTERVAL_MS = 60_000;

/** Runs the source through parser, filters and sink. */
export class Pipeline {
  #o: PipelineOptions;
  #tracker: AckTracker;
  #running = false;
  #failure: unknown;
  #lastWarned = new Map<ParseErrorReason, number>();
  /** When an expired drop was last logged (ms). */
  #lastExpiredNote = -Infinity;
  #replay: Replay | undefined;

  constructor(options: PipelineOptions) {
    this.#o = options;
    this.#replay = options.replay;
    this.#tracker = new AckTracker((cursor) => options.checkpoint?.update(cursor));
  }

  /** Whether the read loop is running (liveness). */
  get alive(): boolean {
    return this.#running;
  }

  /** Why the read loop stopped, when it failed. */
  get failure(): unknown {
    return this.#failure;
  }

  /**
   * At shutdown, once the sink is closed: stops the checkpoint where it is and returns the note
   * of what was handled after it (`parser`: the parser settings), to save with it.
   */
  shutdownNote(parser: string): ReplayNote | undefined {
    return replayNote(this.#tracker.freeze(), parser);
  }

  /** Reads until `signal` aborts (or the source ends). */
  async run(signal: AbortSignal): Promise<void> {
    const { source, metrics, sink } = this.#o;
    const now = this.#o.now ?? Date.now;
    const lines = metrics.logLines.labels({ source: source.kind });
    this.#running = true;
    try {
      for await (const batch of source.read(signal)) {
        const ack = this.#tracker.begin(batch.cursor);
        const onResult = (result: ParseResult) => this.#onResult(result, ack);
        if (batch.kind === "lines") {
          lines.inc(batch.lineCount);
          // Before the next batch is asked for: `bytes` is the source's read buffer.
          this.#o.parser.scan(batch.text, onResult, batch.cut, batch.bytes);
        } else {
          lines.inc(batch.records.length);
          for (const record of batch.records) {
            const result = this.#o.parser.parseMessage(record.text, record.time);
            if (result.kind !== "ignored") onResult(result);
          }
        }
        metrics.lastRead.set(now() / 1000);
        // Output first, then the checkpoint may pass this batch.
        try {
          await sink.flush?.();
        } catch (error) {
          if (!signal.aborted) throw error;
          // Shutting down with output that could not be delivered: it is not checkpointed.
          this.#o.log.warn(
            this.#o.checkpoint?.path
              ? "output not delivered at shutdown; it comes again at the next start"
              : "output not delivered at shutdown (without a state directory it is not read again)",
            { error },
          );
          break;
        }
        ack.seal();
      }
    } catch (error) {
      this.#failure = error;
      throw error;
    } finally {
      this.#running = false;
    }
  }

  #onResult(result: ParseResult, ack: BatchAck): void {
    const { metrics, log } = this.#o;
    if (result.kind === "error") {
      metrics.parseError(result.reason);
      const last = this.#lastWarned.get(result.reason) ?? -Infinity;
      const now = performance.now();
      if (now - last >= PARSE_ERROR_LOG_INTERVAL_MS) {
        this.#lastWarned.set(result.reason, now);
        log.warn("cannot parse a line with a matching prefix (further ones counted, not logged)", {
          reason: result.reason,
          detail: result.detail,
        });
      } else if (log.enabled("debug")) {
        log.debug("cannot parse a line", { reason: result.reason, detail: result.detail });
      }
      return;
    }
    if (result.kind !== "drop") return;
    // A line that stands for several identical drops (rsyslog's "message repeated N times") goes
    // through as one drop with that count: one by one, the count in the line (up to 999 999 999,
    // and anything that writes to syslog as "kernel" can write one) held the event loop for
    // minutes, with the repeat filter off (no health answers, no reading).
    if (result.count === undefined) this.#onDrop(result.drop, 1, ack);
    else this.#onDrop({ ...result.drop, repeated: result.count }, result.count, ack);
  }

  /**
   * Runs `count` identical drops, logged at once, through replay, filters and sink: one item for
   * the checkpoint and the replay, counted `count` times.
   */
  #onDrop(drop: PacketDrop, count: number, ack: BatchAck): void {
    const { metrics } = this.#o;
    // Its identity, made once when the tracker keeps it or the replay asks for it.
    let id: string | undefined;
    const identity = () => (id ??= dropIdentity(drop));
    const at = ack.count(identity);
    // Asked of every drop, in order.
    let verdict: ReplayVerdict = "usual";
    if (this.#replay) {
      verdict = this.#replay.verdict(identity());
      if (this.#replay.done) this.#replay = undefined;
    }
    // Handled before the stop, and counted then (parsed, and in its outcome): not again.
    if (verdict === "pass") return;
    // By the configured prefix: the text a `*` matched is log content, without bound.
    metrics.dropsParsed.inc({ prefix: this.#o.parser.ruleOf(drop.prefix) }, count);
    if (this.#o.expiry.expired(drop)) {
      metrics.dropsSkipped.inc({ reason: "expired" }, count);
      this.#noteExpired(drop);
      return;
    }
    // A drop the stopped process acted on is acted on again whatever the filter (whose memory
    // of the drops before the checkpoint is gone) says; the filter remembers it all the same.
    const repeat = this.#o.repeat;
    if (repeat.isRepeat(drop) && verdict !== "act") {
      metrics.dropsSkipped.inc({ reason: "repeated" }, count);
      return;
    }
    // Of identical drops logged at once, the filter (when on) acts on the first: the rest
    // repeat it.
    const acted = repeat.enabled ? 1 : count;
    if (acted < count) metrics.dropsSkipped.inc({ reason: "repeated" }, count - acted);
    const work = this.#o.sink.handle(drop, acted);
    if (work) ack.track(work, at);
  }

  /**
   * Says (at most once a minute) that drops are skipped as too old: reading an old log, or
   * `--from-start` on one, otherwise shows nothing at all and looks broken.
   */
  #noteExpired(drop: PacketDrop): void {
    const now = performance.now();
    if (now - this.#lastExpiredNote < PARSE_ERROR_LOG_INTERVAL_MS) return;
    this.#lastExpiredNote = now;
    this.#o.log.info(
      "skipping drops logged longer ago than PACKET_DROP_EXPIRATION_MINUTES (further ones are counted, not logged)",
      { time: drop.time.toISOString(), src: drop.src, dst: drop.dst },
    );
  }
}
