/**
 * Frames a byte stream into batches of complete lines, without splitting it into per-line
 * strings: each chunk becomes one decoded text covering all the lines it completes. Pure (no I/O).
 *
 * - A partial last line is held until its newline arrives; a line is never emitted half.
 * - A line longer than `maxLineBytes` is cut: its first `maxLineBytes` bytes (backed off to a
 *   UTF-8 character boundary) are emitted as a line, the rest up to the newline is skipped and
 *   counted. Memory stays bounded by `maxLineBytes`, whatever the input.
 * - Invalid UTF-8 becomes U+FFFD (one shared, non-fatal TextDecoder). A newline byte never occurs
 *   inside a multi-byte UTF-8 sequence, so decoding whole lines needs no streaming state.
 *
 * @example
 * ```ts
 * const framer = new LineFramer(65536);
 * framer.push(new TextEncoder().encode("one\ntw"));  // { text: "one\n", lineCount: 1, end: 4, … }
 * framer.push(new TextEncoder().encode("o\n"));      // { text: "two\n", lineCount: 1, end: 8, … }
 * ```
 * @module
 */

import { CURSOR_HASH_BYTES } from "./file_cursor.ts";
import type { SourceBatch, SourceEventSink } from "./source.ts";

const NEWLINE = 0x0a;
const EMPTY = new Uint8Array(0);
const NEWLINE_BYTE = new Uint8Array([NEWLINE]);

/** The complete lines a chunk finished. */
export interface FramedLines {
  /** The lines, each ending in "\n". */
  text: string;
  /** Number of lines in `text`. */
  lineCount: number;
  /** How many of them were cut at the line cap. */
  truncated: number;
  /**
   * Where in `text` the cut lines end (the index of their "\n"): what remains of an over-long
   * line must not be read as if it were the whole line.
   */
  cut: number[];
  /** Stream offset just after the last newline (where the next undelivered line starts). */
  end: number;
  /** The last up to {@link CURSOR_HASH_BYTES} raw stream bytes before `end`. */
  endTail: Uint8Array;
  /**
   * The bytes `text` was decoded from, when each character came from one byte (ASCII text, no
   * line cut or joined): the parser reads them instead of encoding the text again. A view into
   * the pushed data: valid until the caller reuses that memory.
   */
  bytes?: Uint8Array;
}

/** The last `CURSOR_HASH_BYTES` bytes of `before` followed by `data[0, end)`. */
export function lastBytes(before: Uint8Array, data: Uint8Array, end: number): Uint8Array {
  if (end >= CURSOR_HASH_BYTES) return data.slice(end - CURSOR_HASH_BYTES, end);
  const keep = Math.min(before.length, CURSOR_HASH_BYTES - end);
  const out = new Uint8Array(keep + end);
  out.set(before.subarray(before.length - keep));
  out.set(data.subarray(0, end), keep);
  return out;
}

/** Where to cut a line at `cut`, moved back so no UTF-8 character is split (at most 3 bytes). */
function characterBoundary(bytes: Uint8Array, lineStart: number, cut: number): number {
  let at = cut;
  while (at > lineStart && at > cut - 3 && (bytes[at] & 0xc0) === 0x80) at--;
  return (bytes[at] & 0xc0) === 0x80 ? cut : at;
}

/** Stateful line framer over one byte stream (one file, from some offset). */
export class LineFramer {
  /** Longest line emitted whole, in bytes without the newline. */
  readonly maxLineBytes: number;
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  #scanned = 0;
  #consumed = 0;
  #recent: Uint8Array = EMPTY;
  #consumedTail: Uint8Array = EMPTY;
  /** First bytes of the current unfinished line (one more than the cap, to find a boundary). */
  #held: Uint8Array;
  #heldBytes = 0;
  /** Full length of the current unfinished line, including what was not kept. */
  #lineBytes = 0;
  #discarding = false;

  constructor(maxLineBytes: number) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    }
    this.maxLineBytes = maxLineBytes;
    this.#held = new Uint8Array(maxLineBytes + 1);
  }

  /** Stream offset of the next byte to push. */
  get scanned(): number {
    return this.#scanned;
  }

  /** Stream offset just after the last complete line (skipped or emitted). */
  get consumed(): number {
    return this.#consumed;
  }

  /** The last up to {@link CURSOR_HASH_BYTES} bytes before {@link scanned}. */
  get recent(): Uint8Array {
    return this.#recent;
  }

  /** The last up to {@link CURSOR_HASH_BYTES} bytes before {@link consumed}. */
  get consumedTail(): Uint8Array {
    return this.#consumedTail;
  }

  /** Restarts at stream offset `offset`, `recent` being the bytes just before it. */
  reset(offset: number, recent: Uint8Array = EMPTY): void {
    this.#scanned = offset;
    this.#consumed = offset;
    this.#recent = recent.slice(Math.max(0, recent.length - CURSOR_HASH_BYTES));
    this.#consumedTail = this.#recent;
    this.#heldBytes = 0;
    this.#lineBytes = 0;
    this.#discarding = false;
  }

  /**
   * Passes over the NUL bytes that start `data` (a hole of NULs at the start of a file, left by
   * a writer that does not append after a truncation): the position moves past them, and they
   * are the bytes before it. Returns the rest of `data`.
   */
  skipNuls(data: Uint8Array): Uint8Array {
    let k = 0;
    while (k < data.length && data[k] === 0) k++;
    if (k > 0) {
      const offset = this.#scanned + k;
      this.reset(offset, new Uint8Array(Math.min(offset, CURSOR_HASH_BYTES)));
    }
    return data.subarray(k);
  }

  /** Drops the line in progress up to its newline without emitting it (starting mid-line). */
  discardCurrentLine(): void {
    this.#heldBytes = 0;
    this.#lineBytes = 0;
    this.#discarding = true;
  }

  /** Feeds the next bytes of the stream; returns the lines they complete, if any. */
  push(data: Uint8Array): FramedLines | undefined {
    const start = this.#scanned;
    const firstNewline = data.indexOf(NEWLINE);
    if (firstNewline < 0) {
      this.#hold(data);
      this.#advance(start, data, undefined);
      return undefined;
    }
    const end = data.lastIndexOf(NEWLINE) + 1;
    const cap = this.maxLineBytes;
    let text = "";
    let lineCount = 0;
    let truncated = 0;
    const cut: number[] = [];
    let from = 0;
    if (this.#discarding) {
      this.#discarding = false;
      from = firstNewline + 1;
    } else if (this.#lineBytes > 0) {
      // The first newline finishes the line held from earlier chunks.
      this.#hold(data.subarray(0, firstNewline));
      let line = this.#held.subarray(0, this.#heldBytes);
      if (this.#lineBytes > cap) {
        line = this.#held.subarray(0, characterBoundary(this.#held, 0, cap));
        truncated++;
      }
      text = this.#decoder.decode(line) + "\n";
      if (this.#lineBytes > cap) cut.push(text.length - 1);
      lineCount = 1;
      from = firstNewline + 1;
    }
    this.#heldBytes = 0;
    this.#lineBytes = 0;
    // Lines wholly inside this chunk: count them, and cut the over-long ones.
    let bytes: Uint8Array | undefined;
    if (end > from) {
      const framed = this.#frameWhole(data, from, end);
      if (framed.aligned && text === "") bytes = data.subarray(from, end);
      for (const at of framed.cut) cut.push(text.length + at);
      text += framed.text;
      lineCount += framed.lines;
      truncated += framed.truncated;
    }
    this.#hold(data.subarray(end));
    const endTail = lastBytes(this.#recent, data, end);
    this.#consumedTail = endTail;
    this.#advance(start, data, end);
    if (lineCount === 0) return undefined; // only a discarded line ended here
    return { text, lineCount, truncated, cut, end: this.#consumed, endTail, bytes };
  }

  /**
   * Decodes data[from, end) — complete lines only — and counts them. Decoding first and counting
   * in the string is several times faster than one byte search per line; in ASCII text a
   * character is a byte, so over-long lines are found and cut in the string too. Other text
   * with room for an over-long line takes the byte-exact path.
   */
  #frameWhole(
    data: Uint8Array,
    from: number,
    end: number,
  ): { text: string; lines: number; truncated: number; cut: number[]; aligned: boolean } {
    const cap = this.maxLineBytes;
    const decoded = this.#decoder.decode(data.subarray(from, end));
    const ascii = decoded.length === end - from;
    if (!ascii && end - from > cap) return { ...this.#frameBytes(data, from, end), aligned: false };
    let lines = 0;
    let truncated = 0;
    let text = "";
    let segment = 0;
    const cut: number[] = [];
    for (let lineStart = 0; lineStart < decoded.length;) {
      const newline = decoded.indexOf("\n", lineStart);
      lines++;
      if (newline - lineStart > cap) {
        text += decoded.slice(segment, lineStart + cap) + "\n";
        cut.push(text.length - 1);
        truncated++;
        segment = newline + 1;
      }
      lineStart = newline + 1;
    }
    text = segment === 0 ? decoded : text + decoded.slice(segment);
    return { text, lines, truncated, cut, aligned: ascii && segment === 0 };
  }

  /** The byte-exact framing of data[from, end): cuts at UTF-8 character boundaries. */
  #frameBytes(
    data: Uint8Array,
    from: number,
    end: number,
  ): { text: string; lines: number; truncated: number; cut: number[] } {
    const cap = this.maxLineBytes;
    let text = "";
    let lines = 0;
    let truncated = 0;
    let segment = from;
    const cuts: number[] = [];
    for (let lineStart = from; lineStart < end;) {
      const newline = data.indexOf(NEWLINE, lineStart);
      lines++;
      if (newline - lineStart > cap) {
        const cut = characterBoundary(data, lineStart, lineStart + cap);
        text += this.#decoder.decode(data.subarray(segment, cut)) + "\n";
        cuts.push(text.length - 1);
        truncated++;
        segment = newline + 1;
      }
      lineStart = newline + 1;
    }
    if (segment < end) text += this.#decoder.decode(data.subarray(segment, end));
    return { text, lines, truncated, cut: cuts };
  }

  /**
   * Ends the stream (a whole file read by `parse`): an unfinished last line is delivered as if
   * its newline had arrived. Returns undefined when there is none.
   */
  finish(): FramedLines | undefined {
    if (this.#discarding || this.#lineBytes === 0) return undefined;
    return this.push(NEWLINE_BYTE);
  }

  #advance(start: number, data: Uint8Array, end: number | undefined): void {
    this.#recent = lastBytes(this.#recent, data, data.length);
    this.#scanned = start + data.length;
    if (end !== undefined) this.#consumed = start + end;
  }

  #hold(bytes: Uint8Array): void {
    if (this.#discarding || bytes.length === 0) return;
    const room = this.#held.length - this.#heldBytes;
    if (room > 0) {
      const kept = bytes.length <= room ? bytes : bytes.subarray(0, room);
      this.#held.set(kept, this.#heldBytes);
      this.#heldBytes += kept.length;
    }
    this.#lineBytes += bytes.length;
  }
}

/**
 * The `lines` batch of `framed`, ending at `cursor`; cut lines are reported to `onEvent`
 * (`line_truncated`).
 */
export function linesBatch(
  framed: FramedLines,
  cursor: unknown,
  onEvent: SourceEventSink,
): SourceBatch {
  if (framed.truncated > 0) onEvent("line_truncated", framed.truncated);
  return {
    kind: "lines",
    text: framed.text,
    lineCount: framed.lineCount,
    cursor,
    cut: framed.cut.length > 0 ? framed.cut : undefined,
    bytes: framed.bytes,
  };
}
