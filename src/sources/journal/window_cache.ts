/**
 * Positional reads of journal files through a small pool of reusable windows, shared by all open
 * files (the role of sd-journal's mmap cache). Journal objects that belong together (an entry and
 * its fresh data objects, an entry array) sit close to each other, so nearly every object read is
 * served from memory; a multi-GB file is never read whole.
 *
 * A returned {@link WindowView} stays valid only until the next call on the cache.
 *
 * @example
 * ```ts
 * const cache = new WindowCache();
 * const file = cache.register(Deno.openSync(path));
 * const w = cache.read(file, 4096, 16);
 * if (w) console.log(w.bytes[w.at]); // first byte at offset 4096
 * ```
 * @module
 */

/** A file known to the cache. */
export interface CachedFile {
  readonly key: number;
  readonly handle: Deno.FsFile;
  /** Current size in bytes; reads beyond it fail. Updated by the owner on refresh. */
  size: number;
}

/** Bytes of a file around a requested range: the range starts at `bytes[at]`. */
export interface WindowView {
  bytes: Uint8Array;
  view: DataView;
  at: number;
}

interface Window {
  key: number;
  start: number;
  end: number;
  bytes: Uint8Array;
  view: DataView;
  used: number;
}

/** Options of {@link WindowCache}. */
export interface WindowCacheOptions {
  /** Size of one window in bytes (default 256 KiB). */
  windowSize?: number;
  /** Number of windows kept (default 16). */
  windows?: number;
}

const PAGE = 4096;

/** A bounded LRU pool of read windows over several files. */
export class WindowCache {
  readonly windowSize: number;
  #windows: Window[] = [];
  #capacity: number;
  #clock = 0;
  #nextKey = 1;
  #last: Window | undefined;
  /** Number of read system calls done (for benchmarks and tests). */
  reads = 0;

  constructor(options: WindowCacheOptions = {}) {
    this.windowSize = options.windowSize ?? 256 * 1024;
    this.#capacity = Math.max(2, options.windows ?? 16);
  }

  /** Registers an open file; the caller keeps ownership of the handle. */
  register(handle: Deno.FsFile, size = 0): CachedFile {
    return { key: this.#nextKey++, handle, size };
  }

  /** Forgets every window of `file` (its bytes may have changed). */
  invalidate(file: CachedFile): void {
    for (const w of this.#windows) {
      if (w.key === file.key) w.key = 0;
    }
    if (this.#last?.key === 0) this.#last = undefined;
  }

  /**
   * The bytes `[offset, offset + length)` of `file`, or undefined when they are not all inside the
   * file. Throws only what the file system throws.
   */
  read(file: CachedFile, offset: number, length: number): WindowView | undefined {
    const end = offset + length;
    if (offset < 0 || length < 0 || end > file.size) return undefined;
    const last = this.#last;
    if (last !== undefined && last.key === file.key && last.start <= offset && end <= last.end) {
      return { bytes: last.bytes, view: last.view, at: offset - last.start };
    }
    for (const w of this.#windows) {
      if (w.key === file.key && w.start <= offset && end <= w.end) {
        w.used = ++this.#clock;
        this.#last = w;
        return { bytes: w.bytes, view: w.view, at: offset - w.start };
      }
    }
    if (length > this.windowSize) {
      // A large object: read it alone into a buffer of its own.
      const bytes = new Uint8Array(length);
      if (this.#fill(file, offset, bytes) < length) return undefined;
      return { bytes, view: new DataView(bytes.buffer), at: 0 };
    }
    const w = this.#victim();
    let start = offset - (offset % PAGE);
    if (end - start > this.windowSize) start = offset;
    const want = Math.min(this.windowSize, file.size - start);
    w.key = 0; // in case the read throws
    const got = this.#fill(file, start, w.bytes.subarray(0, want));
    if (start + got < end) return undefined;
    w.key = file.key;
    w.start = start;
    w.end = start + got;
    w.used = ++this.#clock;
    this.#last = w;
    return { bytes: w.bytes, view: w.view, at: offset - start };
  }

  #victim(): Window {
    if (this.#windows.length < this.#capacity) {
      const bytes = new Uint8Array(this.windowSize);
      const w: Window = {
        key: 0,
        start: 0,
        end: 0,
        bytes,
        view: new DataView(bytes.buffer),
        used: 0,
      };
      this.#windows.push(w);
      return w;
    }
    let oldest = this.#windows[0];
    for (const w of this.#windows) {
      if (w.key === 0) return w;
      if (w.used < oldest.used) oldest = w;
    }
    return oldest;
  }

  /** Reads into `into` from `position` until it is full or the file ends; returns bytes read. */
  #fill(file: CachedFile, position: number, into: Uint8Array): number {
    file.handle.seekSync(position, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < into.length) {
      this.reads++;
      const n = file.handle.readSync(into.subarray(filled));
      if (n === null || n === 0) break;
      filled += n;
    }
    return filled;
  }
}
