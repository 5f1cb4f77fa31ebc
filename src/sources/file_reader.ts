/**
 * One open log file being tailed: its handle, identity (device, inode) and line framer. Reads
 * what was appended since the last pass, notices in-place truncation (copytruncate), and turns
 * chunks into `lines` batches whose cursor identifies the exact position.
 *
 * The handle stays open across renames and deletion, so a rotated-away file can be drained to
 * its end before the tailer moves on.
 * @module
 */

import type { Logger } from "../log.ts";
import type { SourceBatch, SourceEventSink } from "./source.ts";
import { CURSOR_HASH_BYTES, cursorIn, type FileCursor, hashBytes } from "./file_cursor.ts";
import { type FramedLines, LineFramer, linesBatch } from "./file_lines.ts";

/** How far back {@link TailedFile.startAtEnd} looks for the start of the last line. */
const END_LOOKBACK_BYTES = 64 * 1024;

/** What a {@link TailedFile} needs from its owner. */
export interface TailedFileOptions {
  maxLineBytes: number;
  log: Logger;
  onEvent: SourceEventSink;
}

/** The path is there but is not a regular file (a directory, a FIFO, a device). */
export class NotRegularFileError extends Error {
  constructor(path: string, info: Deno.FileInfo) {
    super(
      `${path} is ${
        info.isDirectory ? "a directory" : info.isFifo ? "a FIFO" : "not a regular file"
      }`,
    );
    this.name = "NotRegularFileError";
  }
}

/** Where a file was when it was found truncated: a copy made just before holds the same bytes. */
export interface Truncation {
  /** Offset just after the last delivered line. */
  offset: number;
  /** Hash of the bytes before it (as in a cursor). */
  hash: string;
  /**
   * Nothing of the file had been read (it waited its turn): its copy is read from its start;
   * `offset` and `hash` only tell the copy.
   */
  fromStart?: boolean;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Reads into `buffer` until it is full or the file ends; returns the byte count. */
export async function readFull(file: Deno.FsFile, buffer: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null || n === 0) break;
    filled += n;
  }
  return filled;
}

/** An open log file and where we are in it. */
export class TailedFile {
  readonly path: string;
  /** The file's real path when it was opened (symlinks resolved), saved in its cursors. */
  readonly realPath: string;
  readonly dev: number;
  readonly ino: number;
  /** Birth time (epoch ms), where the file system records one. */
  readonly born: number | undefined;
  /** Links to the inode at the last drain; 0 once the file was deleted. */
  links: number;
  /** Modification time (epoch ms) at the last look, saved in cursors (see FileCursor.at). */
  #modified: number;
  /** `performance.now()` when the file last grew (or was opened). */
  lastGrowth = performance.now();
  #handle: Deno.FsFile;
  #framer: LineFramer;
  #opts: TailedFileOptions;
  /**
   * Reading from the start of the file, where only NUL bytes have come so far: a writer that
   * does not append (O_APPEND) goes on at its old offset after a copytruncate, leaving a hole
   * of NULs before its next line. They are skipped, not taken for (part of) a line.
   */
  #inLeadingNuls = true;
  /** What the file held when it was queued to be read from 0 (see {@link noteWaiting}). */
  #waiting: { offset: number; tail: Uint8Array } | undefined;

  private constructor(
    path: string,
    realPath: string,
    handle: Deno.FsFile,
    info: Deno.FileInfo,
    opts: TailedFileOptions,
  ) {
    this.path = path;
    this.realPath = realPath;
    this.#handle = handle;
    this.dev = info.dev;
    this.ino = info.ino ?? 0;
    this.links = info.nlink ?? 1;
    this.born = info.birthtime?.getTime() ?? undefined;
    this.#modified = info.mtime?.getTime() ?? Date.now();
    this.#opts = opts;
    this.#framer = new LineFramer(opts.maxLineBytes);
  }

  /**
   * Opens `path` for reading at offset 0.
   * @throws {NotRegularFileError} when it is not a regular file; the OS error when it cannot be opened.
   */
  static async open(path: string, opts: TailedFileOptions): Promise<TailedFile> {
    const handle = await Deno.open(path, { read: true });
    try {
      const info = await handle.stat();
      if (!info.isFile) throw new NotRegularFileError(path, info);
      let realPath = path;
      try {
        realPath = await Deno.realPath(path);
      } catch {
        // Renamed or deleted just now: the path it was opened by will do.
      }
      return new TailedFile(path, realPath, handle, info, opts);
    } catch (error) {
      handle.close();
      throw error;
    }
  }

  /** Next byte offset to read. */
  get offset(): number {
    return this.#framer.scanned;
  }

  /** Current size of the file. */
  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  /**
   * Positions at `offset` if the bytes before it still hash to `hash`; returns whether they do.
   */
  async startAt(offset: number, hash: string): Promise<boolean> {
    const size = await this.size();
    if (offset > size) return false;
    const before = new Uint8Array(Math.min(offset, CURSOR_HASH_BYTES));
    await this.#handle.seek(offset - before.length, Deno.SeekMode.Start);
    if (await readFull(this.#handle, before) !== before.length) return false;
    if (hashBytes(before) !== hash) return false;
    this.#framer.reset(offset, before);
    this.#inLeadingNuls = offset === 0;
    return true;
  }

  /**
   * Notes what the file holds while it waits its turn to be read from 0 (other files first):
   * if it is truncated in place meanwhile (copytruncate), {@link drain} tells, and its lines
   * are then in the copy. Never throws.
   */
  async noteWaiting(): Promise<void> {
    if (this.#framer.scanned !== 0) return;
    try {
      const size = await this.size();
      const before = new Uint8Array(Math.min(size, CURSOR_HASH_BYTES));
      await this.#handle.seek(size - before.length, Deno.SeekMode.Start);
      const got = await readFull(this.#handle, before);
      if (got === before.length && size > 0) this.#waiting = { offset: size, tail: before };
    } catch {
      // Unreadable now: drain will say so when its turn comes.
    }
  }

  /** Positions at the start of the last (possibly unfinished) line, like `tail -F` does. */
  async startAtEnd(): Promise<void> {
    const size = await this.size();
    this.#inLeadingNuls = size === 0;
    const window = new Uint8Array(Math.min(size, END_LOOKBACK_BYTES));
    const windowStart = size - window.length;
    await this.#handle.seek(windowStart, Deno.SeekMode.Start);
    const got = await readFull(this.#handle, window);
    const bytes = window.subarray(0, got);
    const lastNewline = bytes.lastIndexOf(0x0a);
    // A newline so early in the window that the hash bytes before it are not all in it counts
    // as too far back (the cursor hash needs them).
    if (lastNewline >= (windowStart > 0 ? CURSOR_HASH_BYTES : 0)) {
      const start = windowStart + lastNewline + 1;
      this.#framer.reset(start, bytes.subarray(0, lastNewline + 1));
    } else if (windowStart === 0) {
      this.#framer.reset(0);
    } else {
      // The last line is longer than the look-back: skip its rest rather than emit a fragment.
      this.#framer.reset(windowStart + got, bytes);
      this.#framer.discardCurrentLine();
    }
  }

  /** The cursor just after a batch ending at `offset`. */
  cursor(offset: number, tail: Uint8Array): FileCursor {
    return cursorIn(
      {
        dev: this.dev,
        ino: this.ino,
        path: this.realPath,
        modified: this.#modified,
        born: this.born,
      },
      offset,
      tail,
    );
  }

  /** The cursor of where reading stands (after the last complete line). */
  positionCursor(): FileCursor {
    return this.cursor(this.#framer.consumed, this.#framer.consumedTail);
  }

  /**
   * Reads what was appended since the last call, as batches, until the end of the file.
   *
   * When the file shrank below our position, or the bytes just before it changed (truncated and
   * rewritten past our offset before we looked), it was truncated in place: reports
   * `truncation`, places itself at 0 and returns where it was, so the caller can first finish
   * the lines it had not read yet from the copy (copytruncate), then drain again.
   */
  async *drain(
    buffer: Uint8Array,
    signal: AbortSignal,
  ): AsyncGenerator<SourceBatch, Truncation | undefined> {
    const info = await this.#handle.stat();
    this.links = info.nlink ?? 1;
    // Before the read: lines read now may be newer, never older (an earlier time is the safe side).
    this.#modified = info.mtime?.getTime() ?? this.#modified;
    if (info.size < this.#framer.scanned) return this.#truncated(info.size);
    const waited = this.#waiting;
    this.#waiting = undefined;
    if (waited && this.#framer.scanned === 0 && !await this.#stillHolds(waited, info.size)) {
      return this.#truncatedWhileWaiting(waited, info.size);
    }
    if (info.size === this.#framer.scanned) return undefined;
    // Re-read the bytes just before our position along with the new ones: if they changed,
    // the file was rewritten under us.
    const check = this.#framer.recent;
    await this.#handle.seek(this.#framer.scanned - check.length, Deno.SeekMode.Start);
    let first = true;
    while (!signal.aborted) {
      const n = (await this.#handle.read(buffer)) ?? 0;
      let data = buffer.subarray(0, n);
      if (first) {
        first = false;
        if (n < check.length || !equalBytes(data.subarray(0, check.length), check)) {
          return this.#truncated(info.size);
        }
        data = data.subarray(check.length);
      }
      if (data.length > 0) this.lastGrowth = performance.now();
      if (this.#inLeadingNuls && data.length > 0) {
        data = this.#framer.skipNuls(data);
        this.#inLeadingNuls = data.length === 0;
      }
      const framed = this.#framer.push(data);
      if (framed) yield this.#batch(framed, this.cursor(framed.end, framed.endTail));
      // A short read means we reached the end as it was; appends after it wake us again.
      if (n < buffer.length) return undefined;
    }
    return undefined;
  }

  /**
   * The unfinished last line, as a batch of one line, when the file is left for good (the
   * writer moved on to a newer file without ending it): it will not be finished here.
   */
  finishLine(): SourceBatch | undefined {
    // The position after it is the end of the file as it is (no newline was written there).
    const end = this.#framer.scanned;
    const tail = this.#framer.recent;
    const framed = this.#framer.finish();
    return framed ? this.#batch(framed, this.cursor(end, tail)) : undefined;
  }

  /** The batch of framed lines (their cut lines counted), ending at `cursor`. */
  #batch(framed: FramedLines, cursor: FileCursor): SourceBatch {
    return linesBatch(framed, cursor, this.#opts.onEvent);
  }

  /** Closes the handle (idempotent). */
  close(): void {
    try {
      this.#handle.close();
    } catch {
      // Already closed.
    }
  }

  /** Whether the file still has the bytes `waited.tail` before `waited.offset`. */
  async #stillHolds(waited: { offset: number; tail: Uint8Array }, size: number): Promise<boolean> {
    if (size < waited.offset) return false;
    const now = new Uint8Array(waited.tail.length);
    await this.#handle.seek(waited.offset - now.length, Deno.SeekMode.Start);
    return await readFull(this.#handle, now) === now.length && equalBytes(now, waited.tail);
  }

  #truncatedWhileWaiting(waited: { offset: number; tail: Uint8Array }, size: number): Truncation {
    this.#opts.log.info("log file was truncated before its turn; reading it from the start", {
      ino: this.ino,
      size,
      held: waited.offset,
    });
    this.#opts.onEvent("truncation");
    return { offset: waited.offset, hash: hashBytes(waited.tail), fromStart: true };
  }

  #truncated(size: number): Truncation {
    const was: Truncation = {
      offset: this.#framer.consumed,
      hash: hashBytes(this.#framer.consumedTail),
    };
    this.#opts.log.info("log file was truncated; reading it from the start", {
      ino: this.ino,
      size,
      offset: this.#framer.scanned,
    });
    this.#opts.onEvent("truncation");
    this.#framer.reset(0);
    this.#inLeadingNuls = true;
    return was;
  }
}
