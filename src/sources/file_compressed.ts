/**
 * Rotations compressed with gzip (`kern.log.1.gz`: logrotate's `compress`, gzip being its
 * default command). When we were stopped while our file was rotated and compressed, the lines
 * logged after our saved position are only in the `.gz`: they are read back by decompressing
 * it as a stream, in bounded memory. Offsets and cursor hashes are those of the uncompressed
 * bytes, so a position in a compressed file is found again the same way (the bytes before the
 * offset must hash to the cursor's hash).
 *
 * @example
 * ```ts
 * const reader = await CompressedLog.openAt("/var/log/kern.log.1.gz", cursor.offset, cursor.hash, options);
 * if (reader) for await (const batch of reader.batches(signal)) handle(batch);
 * ```
 * @module
 */

import type { SourceBatch } from "./source.ts";
import { cursorIn, hashBytes } from "./file_cursor.ts";
import { type FramedLines, lastBytes, LineFramer, linesBatch } from "./file_lines.ts";
import { readFull, type TailedFileOptions } from "./file_reader.ts";

/** Names of gzip files (the one compression read). */
const GZIP = /\.gz$/i;

/** Whether `name` is that of a gzip file. */
export function isGzipName(name: string): boolean {
  return GZIP.test(name);
}

/** gzip's trailer ends with the uncompressed size modulo 2^32 (ISIZE, little endian). */
const TRAILER_SIZE_BYTES = 4;

/** deflate compresses at most about 1032:1: below this many bytes, ISIZE is the exact size. */
const EXACT_ISIZE_BELOW = Math.floor(2 ** 32 / 1032);

/** The smallest gzip file: a 10-byte header and an 8-byte trailer. */
const GZIP_MIN_BYTES = 18;

/**
 * Compressed bytes read at a time: small, as each read inflates to up to about 1000 times its
 * size at once (a file of identical lines).
 */
const READ_BYTES = 8 * 1024;

/** Lines batched before a batch is handed out (decompression yields small chunks). */
const BATCH_BYTES = 256 * 1024;

/**
 * A gzip log file being read from some offset of its uncompressed bytes. Its handle is opened
 * at once and kept, so logrotate removing the file meanwhile does not take its lines.
 */
export class CompressedLog {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  /** Birth time (epoch ms), where the file system records one. */
  readonly born: number | undefined;
  #modified: number;
  #realPath: string;
  #handle: Deno.FsFile;
  #offset: number;
  #hash: string;
  #opts: TailedFileOptions;

  private constructor(
    path: string,
    realPath: string,
    handle: Deno.FsFile,
    info: Deno.FileInfo,
    offset: number,
    hash: string,
    opts: TailedFileOptions,
  ) {
    this.path = path;
    this.#realPath = realPath;
    this.#handle = handle;
    this.dev = info.dev;
    this.ino = info.ino ?? 0;
    this.born = info.birthtime?.getTime() ?? undefined;
    this.#modified = info.mtime?.getTime() ?? Date.now();
    this.#offset = offset;
    this.#hash = hash;
    this.#opts = opts;
  }

  /** Opens `path` to be read from its start; undefined when it cannot be opened. */
  static async open(path: string, opts: TailedFileOptions): Promise<CompressedLog | undefined> {
    return await CompressedLog.#open(path, 0, hashBytes(new Uint8Array(0)), opts);
  }

  /**
   * Opens `path` to be read from `offset` of its uncompressed bytes, if the bytes before that
   * offset hash to `hash` (it is decompressed that far to see); else undefined, as when it
   * cannot be opened or is not gzip.
   */
  static async openAt(
    path: string,
    offset: number,
    hash: string,
    opts: TailedFileOptions,
    signal?: AbortSignal,
  ): Promise<CompressedLog | undefined> {
    const log = await CompressedLog.#open(path, offset, hash, opts);
    if (!log) return undefined;
    try {
      if (await log.#probe(signal)) return log;
    } catch {
      // Damaged or not gzip: not the file we look for.
    }
    log.close();
    return undefined;
  }

  static async #open(
    path: string,
    offset: number,
    hash: string,
    opts: TailedFileOptions,
  ): Promise<CompressedLog | undefined> {
    let handle: Deno.FsFile;
    try {
      handle = await Deno.open(path, { read: true });
    } catch {
      return undefined; // removed meanwhile, or unreadable: nothing of it can be read
    }
    try {
      const info = await handle.stat();
      if (!info.isFile || info.size < GZIP_MIN_BYTES) throw new Error("not a gzip file");
      if (offset > 0 && info.size < EXACT_ISIZE_BELOW) {
        // Cheap first look: too short files are not decompressed.
        const trailer = new Uint8Array(TRAILER_SIZE_BYTES);
        await handle.seek(info.size - TRAILER_SIZE_BYTES, Deno.SeekMode.Start);
        if (await readFull(handle, trailer) < trailer.length) throw new Error("cut short");
        if (new DataView(trailer.buffer).getUint32(0, true) < offset) {
          throw new Error("shorter than the offset");
        }
      }
      let realPath = path;
      try {
        realPath = await Deno.realPath(path);
      } catch {
        // Removed just now: the path it was opened by will do.
      }
      return new CompressedLog(path, realPath, handle, info, offset, hash, opts);
    } catch {
      handle.close();
      return undefined;
    }
  }

  /** Decompresses up to the offset: whether the bytes before it hash as expected. */
  async #probe(signal?: AbortSignal): Promise<boolean> {
    const reader = this.#uncompressed().getReader();
    try {
      return await this.#toOffset(reader, signal) !== undefined;
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  /**
   * Reads `reader` (the uncompressed bytes from the start) up to the offset. Returns the rest
   * of the chunk the offset is in (empty at the end of the file), the bytes before the offset,
   * and whether the stream ended; undefined when those bytes do not hash as saved, the file
   * ends before the offset, or `signal` aborts.
   */
  async #toOffset(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<{ rest: Uint8Array; before: Uint8Array; done: boolean } | undefined> {
    let position = 0;
    let before: Uint8Array = new Uint8Array(0);
    while (!signal?.aborted) {
      const next = await reader.read();
      if (next.done && position < this.#offset) return undefined;
      const chunk = next.done ? new Uint8Array(0) : next.value;
      const into = this.#offset - position;
      before = lastBytes(before, chunk, Math.min(into, chunk.length));
      position += chunk.length;
      if (into < chunk.length || (next.done && into === 0)) {
        if (hashBytes(before) !== this.#hash) return undefined;
        return { rest: chunk.subarray(into), before, done: next.done ?? false };
      }
    }
    return undefined;
  }

  /** The file's uncompressed bytes from its start (the handle stays open for another pass). */
  #uncompressed(): ReadableStream<Uint8Array> {
    const handle = this.#handle;
    let started = false;
    const compressed = new ReadableStream<BufferSource>({
      async pull(controller) {
        if (!started) {
          started = true;
          await handle.seek(0, Deno.SeekMode.Start);
        }
        const buffer = new Uint8Array(READ_BYTES);
        const n = await handle.read(buffer);
        if (n === null) controller.close();
        else controller.enqueue(buffer.subarray(0, n));
      },
    });
    // One member, as logrotate's gzip writes. (Node's zlib reads more, but it reads ahead from
    // the handle's shared position, where the probe's pass and this one would collide.)
    return compressed.pipeThrough(new DecompressionStream("gzip"));
  }

  /**
   * The lines from the offset to the end of the file, as `lines` batches whose cursors name
   * this file and offsets in its uncompressed bytes; then the handle is closed. Yields nothing
   * when the bytes before the offset no longer match. A damaged file is read up to the damage,
   * which is logged and counted (`corrupt`).
   */
  async *batches(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const framer = new LineFramer(this.#opts.maxLineBytes);
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const framedPending = (): SourceBatch | undefined => {
      const data = new Uint8Array(pendingBytes);
      let at = 0;
      for (const chunk of pending) {
        data.set(chunk, at);
        at += chunk.length;
      }
      pending = [];
      pendingBytes = 0;
      const framed = framer.push(data);
      return framed && this.#batch(framed, framed.end, framed.endTail);
    };
    /** What is left at the end: a last line without a newline is complete as it is. */
    const lastLine = (): SourceBatch | undefined => {
      const end = framer.scanned;
      const tail = framer.recent;
      const framed = framer.finish();
      return framed && this.#batch(framed, end, tail);
    };
    const reader = this.#uncompressed().getReader();
    let matched = false;
    let done = false;
    let leadingNuls = this.#offset === 0;
    /** Uncompressed bytes passed so far. */
    let position = 0;
    try {
      const start = await this.#toOffset(reader, signal);
      if (!start) return;
      matched = true;
      framer.reset(this.#offset, start.before);
      position = this.#offset;
      done = start.done;
      let chunk: Uint8Array | undefined = start.rest;
      while (!done && !signal.aborted) {
        if (chunk === undefined) {
          const next = await reader.read();
          if (next.done) {
            done = true;
            break;
          }
          chunk = next.value;
        }
        position += chunk.length;
        if (leadingNuls) {
          // A copy may start with a hole of NULs (as file_reader.ts skips them): no line.
          chunk = framer.skipNuls(chunk);
          leadingNuls = chunk.length === 0;
        }
        // In pieces: a small compressed read may inflate to megabytes.
        for (let from = 0; from < chunk.length; from += BATCH_BYTES) {
          const piece = chunk.subarray(from, from + BATCH_BYTES);
          pending.push(piece);
          pendingBytes += piece.length;
          if (pendingBytes >= BATCH_BYTES) {
            const batch = framedPending();
            if (batch) yield batch;
          }
        }
        chunk = undefined;
      }
      if (!done) return;
      const batch = framedPending();
      if (batch) yield batch;
      const last = lastLine();
      if (last) yield last;
    } catch (error) {
      if (signal.aborted) return;
      // Damaged (or no gzip at all): what came before the damage is delivered.
      this.#opts.log.warn("cannot read the compressed log file to its end", {
        path: this.path,
        error,
        readTo: position,
      });
      this.#opts.onEvent("corrupt");
      if (!matched) return;
      const batch = framedPending();
      if (batch) yield batch;
    } finally {
      if (!done) await reader.cancel().catch(() => {});
      this.close();
    }
  }

  /** The batch of framed lines (their cut lines counted), ending at `end`. */
  #batch(framed: FramedLines, end: number, tail: Uint8Array): SourceBatch {
    const file = {
      dev: this.dev,
      ino: this.ino,
      path: this.#realPath,
      // gzip keeps the original's modification time: the rotations after it are newer.
      modified: this.#modified,
      born: this.born,
    };
    return linesBatch(framed, cursorIn(file, end, tail), this.#opts.onEvent);
  }

  /** Closes the handle (idempotent). */
  close(): void {
    try {
      this.#handle.close();
    } catch {
      // Already closed (by its readable stream, or before).
    }
  }
}
