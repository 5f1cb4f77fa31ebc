/**
 * The one interface every log source implements (file, journald, /dev/kmsg), in the manner of
 * node-problem-detector's log watchers: a source turns its input into ordered batches, each with
 * the position to resume from once the batch has been handled.
 * @module
 */

/** One record from a source that knows record boundaries itself (journald, /dev/kmsg). */
export interface LogRecord {
  /** The kernel's message text (journald `MESSAGE`, the text after `;` of a kmsg record). */
  text: string;
  /** The record's wall-clock time when the source knows it. */
  time?: Date;
}

/**
 * A batch of input. A `lines` batch holds complete, newline-terminated lines of a text log
 * (the scanner finds candidates in it without splitting every line); a `records` batch holds
 * records whose text needs no header parsing.
 *
 * `cursor` is a JSON-serialisable position just after the batch. The pipeline persists the
 * cursor of the newest batch whose work is complete, and hands it back to the source on restart.
 * A batch without lines or records (empty `text`, no `records`) is a position only: a source
 * started without a cursor hands out where it starts, so that position is saved even if no line
 * ever comes.
 */
export type SourceBatch =
  | {
    kind: "lines";
    text: string;
    lineCount: number;
    cursor: unknown;
    /** Indexes in `text` of the "\n" ending lines that were cut at the length cap. */
    cut?: number[];
    /**
     * The bytes `text` was decoded from, when each character is one byte (see line_codes.ts):
     * the parser reads them instead of encoding lines again. Valid until the next batch is
     * asked for (the source reuses its read buffer).
     */
    bytes?: Uint8Array;
  }
  | { kind: "records"; records: LogRecord[]; cursor: unknown };

/** Things a source reports that end up in metrics (`kube_iptables_tailer_source_events_total`). */
export type SourceEvent =
  /** An open/read/stat failure (already logged with its path); the source retries with backoff. */
  | "read_error"
  /** A line longer than the cap: cut at the cap, the rest skipped. */
  | "line_truncated"
  /** The file was rotated (rename+create, delete+recreate, symlink retarget). */
  | "rotation"
  /** The file was truncated in place (copytruncate); reading restarted at 0. */
  | "truncation"
  /** Records were lost before we could read them (kmsg EPIPE, a journal file vanished). */
  | "gap"
  /** Damaged input (a corrupt journal file) read up to the damage. */
  | "corrupt"
  /** A record that could not be decoded (e.g. an unsupported compression) and was skipped. */
  | "undecodable"
  /** A saved cursor could not be used (file gone, hash mismatch); the source started afresh. */
  | "cursor_invalid"
  /** The saved kmsg cursor is of an earlier boot: the ring buffer is read from its start. */
  | "new_boot";

/** Receives {@link SourceEvent}s; `n` defaults to 1. */
export type SourceEventSink = (event: SourceEvent, n?: number) => void;

/** Where a source starts when it has no usable cursor. */
export type StartPosition = "end" | "beginning";

/** Options every source constructor takes besides its own. */
export interface SourceOptions {
  /** Cursor saved by a previous run (from a batch's `cursor`), or undefined. */
  resumeFrom?: unknown;
  /** Where to start without a usable cursor: the end (like `tail -F`, default) or the beginning. */
  start?: StartPosition;
  /** Metrics hook. */
  onEvent?: SourceEventSink;
}

/** A log source. */
export interface LogSource {
  /** Short kind name for logs and metrics: "file", "journal" or "kmsg". */
  readonly kind: string;
  /** A stable identity (e.g. the path) used to name the checkpoint. */
  readonly id: string;
  /**
   * Reads until `signal` aborts, then returns (after yielding what it already has).
   * Runtime I/O errors never escape: they are logged, reported as `read_error`, and retried.
   */
  read(signal: AbortSignal): AsyncIterable<SourceBatch>;
}

/** A short, stable description of an error, to tell one failure streak from another. */
export function problemOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
