/**
 * One journal file opened read-only: its header, its objects, and chains of entries (all entries,
 * or the entries that carry one field value such as `_TRANSPORT=kernel`). Reads go through a
 * shared {@link WindowCache}; every offset and size is checked against the file before it is
 * used, and a structural problem surfaces as a {@link JournalDamage} error that the caller turns
 * into "read up to here".
 *
 * A file being written (state online) changes under the reader: call {@link JournalFile.refresh}
 * to see new entries. Objects are only trusted once linked and counted (`n_entries`), so a half
 * written entry is never read.
 *
 * @example
 * ```ts
 * const cache = new WindowCache();
 * const file = JournalFile.open("/var/log/journal/…/system.journal", { cache });
 * file.refresh();
 * const data = file.findData("_TRANSPORT=kernel");
 * const chain = data ? file.dataChain(data) : undefined;
 * for (let entry = chain?.next(); entry; entry = chain!.next()) {
 *   console.log(file.entryHead(entry).realtime, file.message(entry));
 * }
 * file.close();
 * ```
 * @module
 */

import {
  checkObjectSize,
  dataPayloadOffset,
  ENTRY_ARRAY_ITEMS_OFFSET,
  ENTRY_ITEMS_OFFSET,
  entryArrayItemSize,
  type EntryHead,
  entryItemSize,
  HASH_ITEM_SIZE,
  HEADER_MAX_SIZE,
  type JournalHeader,
  OBJECT_COMPRESSION_MASK,
  OBJECT_HEADER_SIZE,
  ObjectType,
  parseHeader,
  readU64,
  toHex,
} from "./format.ts";
import { dataHash } from "./hash.ts";
import { decompressPayload } from "./decompress.ts";
import type { CachedFile, WindowCache, WindowView } from "./window_cache.ts";

/** Structural damage found at `offset`: nothing at or after it in that chain can be trusted. */
export class JournalDamage extends Error {
  constructor(readonly offset: number, readonly reason: string) {
    super(`${reason} at offset ${offset}`);
    this.name = "JournalDamage";
  }
}

/** A DATA object whose payload could not be decoded (unsupported compression, too large). */
export interface UndecodableData {
  offset: number;
  reason: string;
}

/** Options of {@link JournalFile.open}. */
export interface JournalFileOptions {
  cache: WindowCache;
  /** Largest decoded field payload, in bytes (default 1 MiB); larger fields are undecodable. */
  maxDataSize?: number;
  /** Number of shared data objects whose decoded meaning is remembered (default 4096). */
  dataCacheSize?: number;
  /** Told about every field that could not be decoded. */
  onUndecodable?: (problem: UndecodableData) => void;
}

/** Counts and offsets that define a chain of entries. */
interface ChainBounds {
  /** An entry stored inline before the arrays (DATA objects), or 0. */
  inline: number;
  /** First ENTRY_ARRAY object, or 0. */
  firstArray: number;
  /** Number of entries in the chain (inline one included). */
  total: number;
}

/**
 * What a shared DATA object means to the message reader: its MESSAGE text (a string), its
 * `_SOURCE_MONOTONIC_TIMESTAMP` (a number), or neither (null).
 */
type CachedMeaning = string | number | null;

/** The fields of an entry a log source needs. */
export interface EntryRecord {
  /** The first MESSAGE that can be decoded, if any. */
  message: string | undefined;
  /**
   * `_SOURCE_MONOTONIC_TIMESTAMP`: for kernel messages, the kernel's own time of the record in
   * microseconds since boot (journald's receive time can be much later).
   */
  sourceMonotonic: number | undefined;
}

const MESSAGE_PREFIX = new TextEncoder().encode("MESSAGE=");
const SOURCE_MONOTONIC_PREFIX = new TextEncoder().encode("_SOURCE_MONOTONIC_TIMESTAMP=");
/** Longest prefix looked for: how much of a DATA payload is read to tell what it is. */
const PREFIX_BYTES = Math.max(MESSAGE_PREFIX.length, SOURCE_MONOTONIC_PREFIX.length);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_HASH_CHAIN_STEPS = 1_000_000;
/** Largest ENTRY object read (journald writes at most 1024 items of at most 16 bytes). */
const MAX_ENTRY_SIZE = 1024 * 1024;

/** A journal file opened for reading. */
export class JournalFile {
  /** Current path (updated by the owner when the file is renamed, e.g. archived). */
  path: string;
  /** Inode and device: the file's identity across renames. */
  readonly ino: number;
  readonly dev: number;
  #file: CachedFile;
  #cache: WindowCache;
  #header: JournalHeader | undefined;
  #headerBuffer = new Uint8Array(HEADER_MAX_SIZE);
  #limit = 0;
  #maxDataSize: number;
  #meanings = new Map<number, CachedMeaning>();
  #meaningsMax: number;
  #onUndecodable: ((problem: UndecodableData) => void) | undefined;
  #lastBootBytes = new Uint8Array(16);
  #lastBootId = "";
  #closed = false;

  private constructor(
    path: string,
    handle: Deno.FsFile,
    stat: Deno.FileInfo,
    options: JournalFileOptions,
  ) {
    this.path = path;
    this.ino = stat.ino ?? 0;
    this.dev = stat.dev ?? 0;
    this.#cache = options.cache;
    this.#file = options.cache.register(handle, stat.size);
    this.#maxDataSize = options.maxDataSize ?? 1024 * 1024;
    this.#meaningsMax = options.dataCacheSize ?? 4096;
    this.#onUndecodable = options.onUndecodable;
  }

  /** Opens `path` read-only. Throws the file system's error when it cannot be opened. */
  static open(path: string, options: JournalFileOptions): JournalFile {
    const handle = Deno.openSync(path, { read: true });
    try {
      return new JournalFile(path, handle, handle.statSync(), options);
    } catch (error) {
      handle.close();
      throw error;
    }
  }

  /** The header read by the last successful {@link refresh}. */
  get header(): JournalHeader | undefined {
    return this.#header;
  }

  /** File size seen by the last {@link refresh}. */
  get size(): number {
    return this.#file.size;
  }

  /**
   * Re-reads the size and the header. Returns what is wrong when there is no usable header (yet:
   * a file being created may still be empty). Throws only file system errors.
   */
  refresh(): JournalHeader | string {
    const buffer = this.#headerBuffer;
    this.#file.handle.seekSync(0, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < buffer.length) {
      const n = this.#file.handle.readSync(buffer.subarray(filled));
      if (n === null || n === 0) break;
      filled += n;
    }
    // The size is taken after the header: journald writes an object before the header counts
    // it, so all this header refers to lies within it. (Taken before, an entry appended in
    // between could straddle the end and be taken for damage.)
    const size = this.#file.handle.statSync().size;
    const parsed = parseHeader(buffer.subarray(0, filled));
    const previous = this.#header;
    if (size !== this.#file.size || typeof parsed === "string" || changed(previous, parsed)) {
      this.#cache.invalidate(this.#file);
    }
    this.#file.size = size;
    if (typeof parsed === "string") {
      this.#header = undefined;
      this.#limit = 0;
      return parsed;
    }
    if (previous !== undefined && previous.fileId !== parsed.fileId) {
      this.#meanings.clear();
    }
    this.#header = parsed;
    // Objects live in [header_size, header_size + arena_size), and never past the real end.
    this.#limit = Math.min(size, parsed.headerSize + parsed.arenaSize);
    return parsed;
  }

  /** Drops cached bytes of this file, so the next reads see what is on disk now. */
  forget(): void {
    this.#cache.invalidate(this.#file);
  }

  /** Closes the file; further reads throw. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.invalidate(this.#file);
    this.#file.handle.close();
  }

  #requireHeader(): JournalHeader {
    if (this.#header === undefined) throw new JournalDamage(0, "no valid header");
    return this.#header;
  }

  /**
   * Reads the object at `offset`, checking alignment, bounds, type and size. Returns a window
   * holding its first `want` bytes (the whole object by default) and its full size.
   */
  #object(offset: number, type: number, want = Infinity): { w: WindowView; size: number } {
    const header = this.#requireHeader();
    // Not checked against tail_object_offset: a chain may already link objects appended after
    // the header was read. Everything linked is complete; the size checks below bound it.
    if (offset % 8 !== 0 || offset < header.headerSize) {
      throw new JournalDamage(offset, `bad object offset for type ${type}`);
    }
    if (offset + OBJECT_HEADER_SIZE > this.#limit) {
      throw new JournalDamage(offset, "object header beyond the end of the file");
    }
    let w = this.#cache.read(this.#file, offset, OBJECT_HEADER_SIZE);
    if (w === undefined) throw new JournalDamage(offset, "object header unreadable");
    const actual = w.bytes[w.at];
    if (actual !== type) {
      throw new JournalDamage(offset, `object type ${actual}, expected ${type}`);
    }
    const size = readU64(w.view, w.at + 8);
    const problem = size < 0
      ? "object size out of range"
      : checkObjectSize(type, size, header.compact);
    if (problem !== undefined) throw new JournalDamage(offset, problem);
    if (offset + size > this.#limit) {
      throw new JournalDamage(offset, "object beyond the end of the file");
    }
    w = this.#cache.read(this.#file, offset, Math.min(size, want));
    if (w === undefined) throw new JournalDamage(offset, "object unreadable");
    return { w, size };
  }

  /** An ENTRY object, whole; entries are small (journald caps them at 1024 fields). */
  #entry(offset: number): { w: WindowView; size: number } {
    const entry = this.#object(offset, ObjectType.ENTRY, MAX_ENTRY_SIZE);
    if (entry.size > MAX_ENTRY_SIZE) throw new JournalDamage(offset, "entry object too large");
    return entry;
  }

  /** The fixed part of the ENTRY object at `offset`. */
  entryHead(offset: number): EntryHead {
    const { w } = this.#object(offset, ObjectType.ENTRY, ENTRY_ITEMS_OFFSET);
    const { bytes, view, at } = w;
    const seqnum = readU64(view, at + 16);
    const realtime = readU64(view, at + 24);
    const monotonic = readU64(view, at + 32);
    if (seqnum <= 0) throw new JournalDamage(offset, "entry without seqnum");
    if (realtime <= 0) throw new JournalDamage(offset, "entry with invalid realtime");
    if (monotonic < 0) throw new JournalDamage(offset, "entry with invalid monotonic time");
    return {
      seqnum,
      realtime,
      monotonic,
      bootId: this.#bootId(bytes, at + 40),
      xorHash: view.getBigUint64(at + 56, true),
    };
  }

  /** Boot ids repeat for long runs of entries; reuse the last string. */
  #bootId(bytes: Uint8Array, at: number): string {
    const last = this.#lastBootBytes;
    let same = this.#lastBootId !== "";
    for (let i = 0; same && i < 16; i++) same = last[i] === bytes[at + i];
    if (!same) {
      last.set(bytes.subarray(at, at + 16));
      this.#lastBootId = toHex(bytes, at, 16);
    }
    return this.#lastBootId;
  }

  /** Offsets of the DATA objects of the entry at `offset`. */
  entryItems(offset: number): number[] {
    const header = this.#requireHeader();
    const { w, size } = this.#entry(offset);
    const itemSize = entryItemSize(header.compact);
    const items: number[] = [];
    for (let p = w.at + ENTRY_ITEMS_OFFSET; p < w.at + size; p += itemSize) {
      items.push(header.compact ? w.view.getUint32(p, true) : readU64(w.view, p));
    }
    return items;
  }

  /**
   * The first MESSAGE of the entry at `offset`, or undefined when it has none that can be decoded.
   * Shared data objects are remembered, so a typical entry costs one new object read.
   */
  message(offset: number): string | undefined {
    return this.#read(offset, false).message;
  }

  /**
   * The first MESSAGE of the entry at `offset` and its `_SOURCE_MONOTONIC_TIMESTAMP` (see
   * {@link EntryRecord}); each undefined when the entry has none that can be decoded.
   */
  record(offset: number): EntryRecord {
    return this.#read(offset, true);
  }

  #read(offset: number, wantSourceTime: boolean): EntryRecord {
    const header = this.#requireHeader();
    const { w, size } = this.#entry(offset);
    const compact = header.compact;
    const itemSize = entryItemSize(compact);
    const end = w.at + size;
    // Copy the item offsets out first: reading data objects may move the window.
    const count = (size - ENTRY_ITEMS_OFFSET) / itemSize;
    const items = count <= 64 ? SCRATCH : new Array<number>(count);
    for (let i = 0, p = w.at + ENTRY_ITEMS_OFFSET; p < end; i++, p += itemSize) {
      items[i] = compact ? w.view.getUint32(p, true) : readU64(w.view, p);
    }
    const found: EntryRecord = { message: undefined, sourceMonotonic: undefined };
    for (let i = 0; i < count; i++) {
      const dataOffset = items[i];
      let meaning = this.#meanings.get(dataOffset);
      if (meaning === null) continue;
      if (meaning === undefined) meaning = this.#meaningOf(dataOffset);
      if (typeof meaning === "string") found.message ??= meaning;
      else if (typeof meaning === "number") found.sourceMonotonic ??= meaning;
      if (found.message !== undefined && (!wantSourceTime || found.sourceMonotonic !== undefined)) {
        break;
      }
    }
    return found;
  }

  /**
   * Decodes the DATA object at `offset` if it is a MESSAGE or a `_SOURCE_MONOTONIC_TIMESTAMP`;
   * remembers shared objects. Undefined when it cannot be decoded.
   */
  #meaningOf(offset: number): CachedMeaning | undefined {
    const header = this.#requireHeader();
    const payloadOffset = dataPayloadOffset(header.compact);
    // First only the fixed fields and the start of the payload: most items are neither.
    const { w, size } = this.#object(offset, ObjectType.DATA, payloadOffset + PREFIX_BYTES);
    const flags = w.bytes[w.at + 1] & OBJECT_COMPRESSION_MASK;
    const shared = readU64(w.view, w.at + 56) > 1;
    let meaning: CachedMeaning = null;
    if (flags === 0) {
      const start = w.at + payloadOffset;
      const message = hasPrefix(w.bytes, start, w.at + size, MESSAGE_PREFIX);
      if (message || hasPrefix(w.bytes, start, w.at + size, SOURCE_MONOTONIC_PREFIX)) {
        // Mostly the window read already holds the whole object: no second read.
        const payload = w.at + size <= w.bytes.length && size - payloadOffset <= this.#maxDataSize
          ? w.bytes.subarray(start, w.at + size)
          : this.#payload(offset, size);
        if (payload === undefined) return undefined;
        meaning = meaningOf(payload);
      }
    } else {
      const payload = this.#payload(offset, size);
      if (payload === undefined) return undefined;
      meaning = meaningOf(payload);
    }
    if (shared) this.#remember(offset, meaning);
    return meaning;
  }

  /**
   * The decoded payload of the DATA object at `offset` (of `size` bytes), or undefined (reported)
   * when it is too large or cannot be decompressed. The bytes are valid until the next read.
   */
  #payload(offset: number, size: number): Uint8Array | undefined {
    const header = this.#requireHeader();
    const payloadOffset = dataPayloadOffset(header.compact);
    if (size - payloadOffset > this.#maxDataSize) {
      this.#undecodable(offset, `field of ${size - payloadOffset} bytes exceeds the limit`);
      return undefined;
    }
    const { w } = this.#object(offset, ObjectType.DATA);
    const flags = w.bytes[w.at + 1] & OBJECT_COMPRESSION_MASK;
    const stored = w.bytes.subarray(w.at + payloadOffset, w.at + size);
    return flags === 0 ? stored : this.#decompress(offset, flags, stored);
  }

  #decompress(offset: number, flags: number, payload: Uint8Array): Uint8Array | undefined {
    const result = decompressPayload(flags, payload, this.#maxDataSize);
    if (typeof result === "string") {
      this.#undecodable(offset, result);
      return undefined;
    }
    return result;
  }

  #undecodable(offset: number, reason: string): void {
    // Remember the verdict so a shared undecodable object is reported once.
    this.#remember(offset, null);
    this.#onUndecodable?.({ offset, reason });
  }

  #remember(offset: number, meaning: CachedMeaning): void {
    if (this.#meanings.size >= this.#meaningsMax) {
      const oldest = this.#meanings.keys().next().value;
      if (oldest !== undefined) this.#meanings.delete(oldest);
    }
    this.#meanings.set(offset, meaning);
  }

  /**
   * All fields of the entry at `offset` as `[name, value]` pairs, in item order. Fields that cannot
   * be decoded are reported and left out.
   */
  fields(offset: number): Array<[string, Uint8Array]> {
    const out: Array<[string, Uint8Array]> = [];
    for (const dataOffset of this.entryItems(offset)) {
      const { size } = this.#object(dataOffset, ObjectType.DATA, OBJECT_HEADER_SIZE);
      const payload = this.#payload(dataOffset, size)?.slice();
      if (payload === undefined) continue;
      const eq = payload.indexOf(0x3d);
      if (eq <= 0) throw new JournalDamage(dataOffset, "data payload without a field name");
      out.push([decoder.decode(payload.subarray(0, eq)), payload.subarray(eq + 1)]);
    }
    return out;
  }

  /**
   * Finds the DATA object holding exactly `payload` (e.g. `"_TRANSPORT=kernel"`) through the
   * file's data hash table; 0 when the file has none. When the table is damaged (a truncated
   * file), falls back to scanning the objects from the start.
   */
  findData(payload: string | Uint8Array): number {
    const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
    try {
      return this.#findDataByHash(bytes);
    } catch (error) {
      if (!(error instanceof JournalDamage)) throw error;
      const found = this.#findDataByScan(bytes);
      if (found === 0) throw error;
      return found;
    }
  }

  #findDataByHash(bytes: Uint8Array): number {
    const header = this.#requireHeader();
    const buckets = Math.floor(header.dataHashTableSize / HASH_ITEM_SIZE);
    const table = header.dataHashTableOffset;
    if (buckets <= 0 || table <= 0) return 0;
    const hash = dataHash(bytes, header.keyedHash, header.fileIdBytes);
    const slotOffset = table + Number(hash % BigInt(buckets)) * HASH_ITEM_SIZE;
    if (table % 8 !== 0 || slotOffset + HASH_ITEM_SIZE > this.#limit) {
      throw new JournalDamage(table, "data hash table beyond the end of the file");
    }
    const slot = this.#cache.read(this.#file, slotOffset, HASH_ITEM_SIZE);
    if (slot === undefined) throw new JournalDamage(table, "data hash table unreadable");
    let p = readU64(slot.view, slot.at);
    let previous = 0;
    for (let steps = 0; p !== 0; steps++) {
      if (p < 0 || p <= previous || steps > MAX_HASH_CHAIN_STEPS) {
        throw new JournalDamage(previous, "bad data hash chain");
      }
      const { w, size } = this.#object(p, ObjectType.DATA, 32);
      const storedHash = w.view.getBigUint64(w.at + 16, true);
      const next = readU64(w.view, w.at + 24);
      if (storedHash === hash && this.#payloadEquals(p, size, bytes)) return p;
      previous = p;
      p = next;
    }
    return 0;
  }

  /** Walks every object from the start of the arena up to the first damage. */
  #findDataByScan(bytes: Uint8Array): number {
    const header = this.#requireHeader();
    const end = Math.min(this.#limit, header.tailObjectOffset + OBJECT_HEADER_SIZE);
    for (let p = header.headerSize; p + OBJECT_HEADER_SIZE <= end;) {
      const w = this.#cache.read(this.#file, p, OBJECT_HEADER_SIZE);
      if (w === undefined) return 0;
      const type = w.bytes[w.at];
      const size = readU64(w.view, w.at + 8);
      if (size < OBJECT_HEADER_SIZE || p + size > this.#limit) return 0;
      if (
        type === ObjectType.DATA && checkObjectSize(type, size, header.compact) === undefined &&
        this.#payloadEquals(p, size, bytes)
      ) {
        return p;
      }
      p += Math.ceil(size / 8) * 8;
    }
    return 0;
  }

  #payloadEquals(offset: number, size: number, bytes: Uint8Array): boolean {
    const header = this.#requireHeader();
    const { w } = this.#object(offset, ObjectType.DATA, OBJECT_HEADER_SIZE);
    const compressed = (w.bytes[w.at + 1] & OBJECT_COMPRESSION_MASK) !== 0;
    // An uncompressed payload of another length cannot be equal: skip reading it.
    if (!compressed && size - dataPayloadOffset(header.compact) !== bytes.length) return false;
    const stored = this.#payload(offset, size);
    return stored !== undefined && equalBytes(stored, bytes);
  }

  /** The chain of all entries of the file, in file order. */
  allEntries(): EntryChain {
    return new EntryChain(this, () => {
      const header = this.#requireHeader();
      return { inline: 0, firstArray: header.entryArrayOffset, total: header.nEntries };
    });
  }

  /** The chain of the entries that reference the DATA object at `dataOffset`, in file order. */
  dataChain(dataOffset: number): EntryChain {
    return new EntryChain(this, () => {
      const { w } = this.#object(dataOffset, ObjectType.DATA, 64);
      const total = readU64(w.view, w.at + 56);
      const inline = readU64(w.view, w.at + 40);
      const firstArray = readU64(w.view, w.at + 48);
      if (total < 0 || inline < 0 || firstArray < 0) {
        throw new JournalDamage(dataOffset, "data object with out-of-range entry links");
      }
      return { inline: total > 0 ? inline : 0, firstArray, total };
    });
  }

  /** Reads the ENTRY_ARRAY at `offset`: its next array and its capacity. */
  entryArray(offset: number): { next: number; capacity: number } {
    const header = this.#requireHeader();
    const { w, size } = this.#object(offset, ObjectType.ENTRY_ARRAY, ENTRY_ARRAY_ITEMS_OFFSET);
    const next = readU64(w.view, w.at + 16);
    if (next !== 0 && next <= offset) {
      throw new JournalDamage(offset, "entry array chain goes backwards");
    }
    return {
      next,
      capacity: (size - ENTRY_ARRAY_ITEMS_OFFSET) / entryArrayItemSize(header.compact),
    };
  }

  /** Item `index` of the ENTRY_ARRAY at `offset` (whose capacity the caller checked). */
  entryArrayItem(offset: number, index: number): number {
    const header = this.#requireHeader();
    const itemSize = entryArrayItemSize(header.compact);
    const at = offset + ENTRY_ARRAY_ITEMS_OFFSET + index * itemSize;
    const w = this.#cache.read(this.#file, at, itemSize);
    if (w === undefined) throw new JournalDamage(offset, "entry array item unreadable");
    return header.compact ? w.view.getUint32(w.at, true) : readU64(w.view, w.at);
  }
}

const SCRATCH: number[] = new Array<number>(64).fill(0);

function changed(a: JournalHeader | undefined, b: JournalHeader): boolean {
  return a === undefined || a.fileId !== b.fileId || a.state !== b.state ||
    a.nObjects !== b.nObjects || a.nEntries !== b.nEntries ||
    a.tailObjectOffset !== b.tailObjectOffset || a.arenaSize !== b.arenaSize;
}

/** What a decoded DATA payload means to the message reader (see {@link CachedMeaning}). */
function meaningOf(payload: Uint8Array): CachedMeaning {
  if (hasPrefix(payload, 0, payload.length, MESSAGE_PREFIX)) {
    return decoder.decode(payload.subarray(MESSAGE_PREFIX.length));
  }
  if (hasPrefix(payload, 0, payload.length, SOURCE_MONOTONIC_PREFIX)) {
    // Digits read in place: one of these per kernel entry, never shared.
    const from = SOURCE_MONOTONIC_PREFIX.length;
    const digits = payload.length - from;
    if (digits < 1 || digits > 16) return null;
    let value = 0;
    for (let i = from; i < payload.length; i++) {
      const d = payload[i] - 48;
      if (d < 0 || d > 9) return null;
      value = value * 10 + d;
    }
    return Number.isSafeInteger(value) ? value : null;
  }
  return null;
}

function hasPrefix(bytes: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[start + i] !== prefix[i]) return false;
  }
  return true;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A position in a chain of entries (entry arrays linked from the header or from a DATA object).
 * {@link peek} gives the offset of the next entry in file order (0 at the current end) and
 * {@link advance} moves past it, so a caller advances only after it could read the entry. The
 * chain may grow later: call {@link refresh} after the file's header changed. A
 * {@link JournalDamage} leaves the position unchanged, so the same step can be retried.
 */
export class EntryChain {
  #file: JournalFile;
  #bounds: () => ChainBounds;
  #current: ChainBounds = { inline: 0, firstArray: 0, total: 0 };
  /** Index of the next entry to return. */
  #index = 0;
  #array = 0;
  #arrayFirst = 0;
  #arrayCapacity = 0;
  /** Offset of the last entry moved past (entries strictly increase along a chain). */
  #lastEntry = 0;
  /** The entry at #index once looked up, else 0. */
  #peeked = 0;
  #fresh = false;

  constructor(file: JournalFile, bounds: () => ChainBounds) {
    this.#file = file;
    this.#bounds = bounds;
  }

  /** Number of entries moved past so far. */
  get index(): number {
    return this.#index;
  }

  /** Number of entries in the chain as of the last refresh. */
  get total(): number {
    if (!this.#fresh) this.refresh();
    return this.#current.total;
  }

  /** Re-reads the chain's bounds (counts grow while the file is written). */
  refresh(): void {
    const bounds = this.#bounds();
    if (bounds.firstArray !== this.#current.firstArray || bounds.inline !== this.#current.inline) {
      // The first array appeared (or the file changed): walk again from the start.
      this.#array = 0;
      this.#arrayFirst = 0;
      this.#arrayCapacity = 0;
      this.#peeked = 0;
    }
    this.#current = bounds;
    this.#fresh = true;
  }

  /** Offset of the next entry, or 0 at the end of what is linked so far. */
  peek(): number {
    if (this.#peeked === 0) this.#peeked = this.#offsetAt(this.#index);
    return this.#peeked;
  }

  /** Moves past the entry {@link peek} returned. */
  advance(): void {
    const offset = this.peek();
    if (offset === 0) return;
    this.#index++;
    this.#lastEntry = offset;
    this.#peeked = 0;
  }

  /** Moves past every entry currently in the chain; returns the last one's offset or 0. */
  seekEnd(): number {
    const total = this.total;
    if (total > this.#index) {
      this.#lastEntry = this.#offsetAt(total - 1);
      this.#index = total;
      this.#peeked = 0;
    }
    return this.#index > 0 ? this.#lastEntry : 0;
  }

  /**
   * Moves past the entries for which `before` holds, assuming they form a prefix of the chain (the
   * chain is in order): whole entry arrays are skipped by testing only their last entry.
   * Returns the number of entries skipped.
   */
  skipWhile(before: (entryOffset: number) => boolean): number {
    const start = this.#index;
    if (!this.#fresh) this.refresh();
    const { inline, total } = this.#current;
    const shift = inline !== 0 ? 1 : 0;
    if (this.#index === 0 && shift === 1 && total > 0) {
      if (!before(inline)) return 0;
      this.advance();
    }
    while (this.#index < total) {
      const itemIndex = this.#index - shift;
      this.#locate(itemIndex);
      const arrayEnd = Math.min(this.#arrayFirst + this.#arrayCapacity, total - shift);
      if (arrayEnd - 1 <= itemIndex) break;
      const last = this.#file.entryArrayItem(this.#array, arrayEnd - 1 - this.#arrayFirst);
      if (last <= this.#lastEntry || !before(last)) break;
      this.#lastEntry = last;
      this.#index = arrayEnd + shift;
      this.#peeked = 0;
    }
    for (;;) {
      const offset = this.peek();
      if (offset === 0 || !before(offset)) break;
      this.advance();
    }
    return this.#index - start;
  }

  /** The entry at chain position `index`, or 0 when it is not linked yet. */
  #offsetAt(index: number): number {
    if (!this.#fresh) this.refresh();
    const { inline, total } = this.#current;
    if (index >= total) return 0;
    let offset: number;
    if (inline !== 0 && index === 0) {
      offset = inline;
    } else {
      const itemIndex = index - (inline !== 0 ? 1 : 0);
      this.#locate(itemIndex);
      offset = this.#file.entryArrayItem(this.#array, itemIndex - this.#arrayFirst);
      if (offset === 0) throw new JournalDamage(this.#array, "entry array item not set");
    }
    if (index === this.#index && offset <= this.#lastEntry) {
      throw new JournalDamage(offset, "entry chain is not in file order");
    }
    return offset;
  }

  /** Makes the current array the one holding array item `itemIndex`. */
  #locate(itemIndex: number): void {
    if (this.#array === 0 || itemIndex < this.#arrayFirst) {
      const first = this.#current.firstArray;
      if (first === 0) throw new JournalDamage(0, "entry chain has entries but no array");
      const { capacity } = this.#file.entryArray(first);
      this.#array = first;
      this.#arrayFirst = 0;
      this.#arrayCapacity = capacity;
    }
    while (itemIndex >= this.#arrayFirst + this.#arrayCapacity) {
      const { next } = this.#file.entryArray(this.#array);
      if (next === 0) throw new JournalDamage(this.#array, "entry array chain ends early");
      const following = this.#file.entryArray(next);
      // Commit each step: a later failure should not repeat the walk.
      this.#arrayFirst += this.#arrayCapacity;
      this.#array = next;
      this.#arrayCapacity = following.capacity;
    }
  }
}
