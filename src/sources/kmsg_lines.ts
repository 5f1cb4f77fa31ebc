/**
 * Splits `/dev/kmsg` output into record lines. On the device every read returns exactly one
 * record; from a file or a FIFO (a saved `/dev/kmsg` dump, tests) reads return any slice of the
 * stream, so a partial line waits for the rest. Continuation lines (starting with a space,
 * ` KEY=value` dictionary entries such as ` SUBSYSTEM=net`) belong to the record before them and
 * are dropped: a log record needs only the message.
 *
 * @example
 * ```ts
 * const splitter = new KmsgLineSplitter();
 * splitter.push(bytes, (line) => console.log(line));
 * ```
 * @module
 */

/** Longest record line kept (the kernel's own limit is 8 KiB of text, escaped up to 4x). */
export const MAX_KMSG_LINE = 32 * 1024;

/** Turns a byte stream of kmsg records into record lines (without the newline). */
export class KmsgLineSplitter {
  /** Lines cut off because they exceeded the cap (reset by the caller). */
  oversized = 0;
  readonly #decoder = new TextDecoder();
  #carry = "";
  #skipping = false;
  #max: number;

  constructor(maxLine = MAX_KMSG_LINE) {
    this.#max = maxLine;
  }

  /** Feeds `bytes`; calls `onLine` for each complete record line, in order. */
  push(bytes: Uint8Array, onLine: (line: string) => void): void {
    const text = this.#carry + this.#decoder.decode(bytes, { stream: true });
    this.#carry = "";
    let start = 0;
    for (;;) {
      const end = text.indexOf("\n", start);
      if (end < 0) break;
      if (this.#skipping) {
        this.#skipping = false;
      } else if (end > start && text.charCodeAt(start) !== 32) {
        onLine(text.slice(start, end));
      }
      start = end + 1;
    }
    if (start < text.length && !this.#skipping) {
      const rest = text.slice(start);
      if (rest.length > this.#max) {
        this.oversized++;
        this.#skipping = true;
      } else {
        this.#carry = rest;
      }
    }
  }
}
