/**
 * Turns a stream of byte chunks into text holding only complete lines, without splitting each
 * line: the hot path hands whole chunks of text to the scanner. A partial last line is held
 * until its newline arrives; a line longer than the cap is cut at the cap (the cut part is
 * delivered as a line of exactly `maxLineBytes`), the rest skipped up to its newline and counted.
 *
 * @example
 * ```ts
 * const chunker = new LineChunker({ maxLineBytes: 65536 });
 * chunker.push(new TextEncoder().encode("a\nb")); // { text: "a\n", lines: 1 }
 * chunker.push(new TextEncoder().encode("\n"));   // { text: "b\n", lines: 1 }
 * ```
 * @module
 */

/** Complete lines from one push. */
export interface LineChunk {
  /** Complete lines, each ending in "\n"; "" when none completed. */
  text: string;
  /** Number of lines in `text`. */
  lines: number;
  /** Lines cut at the cap during this push. */
  truncated: number;
}

const NEWLINE = 10;

/** Counts "\n" in `bytes`. */
export function countNewlines(bytes: Uint8Array): number {
  let count = 0;
  let at = bytes.indexOf(NEWLINE);
  while (at >= 0) {
    count++;
    at = bytes.indexOf(NEWLINE, at + 1);
  }
  return count;
}

/** Splits byte chunks at line boundaries with a length cap. */
export class LineChunker {
  #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  #max: number;
  /** Bytes of the current partial line (at most `max`). */
  #partial: Uint8Array[] = [];
  #partialLength = 0;
  /** Skipping the rest of a line that exceeded the cap. */
  #skipping = false;

  constructor(options: { maxLineBytes: number }) {
    this.#max = options.maxLineBytes;
  }

  /** Bytes held of an unfinished line. */
  get pendingBytes(): number {
    return this.#partialLength;
  }

  /** Whether a cut line's remainder is being skipped. */
  get skipping(): boolean {
    return this.#skipping;
  }

  /** Feeds bytes; returns the lines they completed. */
  push(bytes: Uint8Array): LineChunk {
    const pieces: Uint8Array[] = [];
    let lines = 0;
    let truncated = 0;
    let pos = 0;
    while (pos < bytes.length) {
      const nl = bytes.indexOf(NEWLINE, pos);
      const end = nl < 0 ? bytes.length : nl;
      if (this.#skipping) {
        if (nl < 0) return this.#finish(pieces, lines, truncated);
        this.#skipping = false;
        pos = nl + 1;
        continue;
      }
      const room = this.#max - this.#partialLength;
      if (end - pos > room) {
        // Over the cap: deliver the first `max` bytes as a line, skip the rest.
        this.#partial.push(bytes.subarray(pos, pos + room));
        pieces.push(...this.#partial, NEWLINE_BYTES);
        this.#partial = [];
        this.#partialLength = 0;
        lines++;
        truncated++;
        this.#skipping = true;
        pos += room;
        continue;
      }
      if (nl < 0) {
        this.#partial.push(bytes.slice(pos));
        this.#partialLength += bytes.length - pos;
        break;
      }
      if (this.#partialLength > 0) {
        pieces.push(...this.#partial);
        this.#partial = [];
        this.#partialLength = 0;
      }
      // Take every complete line up to the last newline of the chunk at once when possible.
      const last = bytes.lastIndexOf(NEWLINE);
      if (last > nl && !this.#anyLineOver(bytes, nl + 1, last)) {
        pieces.push(bytes.subarray(pos, last + 1));
        lines += 1 + countNewlines(bytes.subarray(nl + 1, last + 1));
        pos = last + 1;
      } else {
        pieces.push(bytes.subarray(pos, nl + 1));
        lines++;
        pos = nl + 1;
      }
    }
    return this.#finish(pieces, lines, truncated);
  }

  /** Ends the stream: an unfinished last line is delivered as if it had its newline. */
  end(): LineChunk {
    if (this.#partialLength === 0) return { text: "", lines: 0, truncated: 0 };
    const pieces = [...this.#partial, NEWLINE_BYTES];
    this.#partial = [];
    this.#partialLength = 0;
    return this.#finish(pieces, 1, 0);
  }

  /** Whether a line between `from` and `to` (inclusive newline at `to`) exceeds the cap. */
  #anyLineOver(bytes: Uint8Array, from: number, to: number): boolean {
    if (to - from < this.#max) return false;
    let start = from;
    while (start <= to) {
      const nl = bytes.indexOf(NEWLINE, start);
      if (nl < 0 || nl > to) return false;
      if (nl - start > this.#max) return true;
      start = nl + 1;
    }
    return false;
  }

  #finish(pieces: Uint8Array[], lines: number, truncated: number): LineChunk {
    if (pieces.length === 0) return { text: "", lines, truncated };
    const bytes = pieces.length === 1 ? pieces[0] : concat(pieces);
    return { text: this.#decoder.decode(bytes), lines, truncated };
  }
}

const NEWLINE_BYTES = new Uint8Array([NEWLINE]);

function concat(pieces: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of pieces) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
