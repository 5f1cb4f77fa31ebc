/**
 * The on-disk layout of systemd journal files (systemd's "Journal File Format", journal-def.h):
 * constants, and pure decoders for the header and the fixed parts of objects. Nothing here does
 * I/O; every function takes bytes and says what is wrong with them instead of throwing.
 *
 * All integers are little endian. 64-bit values become JavaScript numbers when they fit in 2^53
 * (offsets, sizes, counters, timestamps); values that do not fit are reported as damage, except
 * hashes, which are kept as bigint.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array(HEADER_MAX_SIZE);
 * // … fill from the start of a journal file …
 * const header = parseHeader(bytes);
 * if (typeof header === "string") console.error(header);
 * ```
 * @module
 */

/** The eight bytes every journal file starts with. */
export const SIGNATURE = "LPKSHHRH";

/** Object types (journal-def.h `ObjectType`). */
export const ObjectType = {
  UNUSED: 0,
  DATA: 1,
  FIELD: 2,
  ENTRY: 3,
  DATA_HASH_TABLE: 4,
  FIELD_HASH_TABLE: 5,
  ENTRY_ARRAY: 6,
  TAG: 7,
} as const;

/** Object header flags: how a DATA object's payload is compressed (at most one is set). */
export const ObjectFlag = {
  COMPRESSED_XZ: 1,
  COMPRESSED_LZ4: 2,
  COMPRESSED_ZSTD: 4,
} as const;

/** Mask of all compression flags of an object header. */
export const OBJECT_COMPRESSION_MASK = 7;

/** Header incompatible flags. A reader must refuse a file with a flag it does not know. */
export const IncompatibleFlag = {
  COMPRESSED_XZ: 1,
  COMPRESSED_LZ4: 2,
  KEYED_HASH: 4,
  COMPRESSED_ZSTD: 8,
  COMPACT: 16,
} as const;

/** Every incompatible flag this reader understands. */
export const SUPPORTED_INCOMPATIBLE_FLAGS = 31;

/** Header state byte. */
export const FileState = { OFFLINE: 0, ONLINE: 1, ARCHIVED: 2 } as const;

/** Size of the common object header (type, flags, reserved, size). */
export const OBJECT_HEADER_SIZE = 16;
/** Offset of a DATA object's payload in a regular file. */
export const DATA_PAYLOAD_OFFSET_REGULAR = 64;
/** Offset of a DATA object's payload in a compact file (two extra 32-bit tail fields). */
export const DATA_PAYLOAD_OFFSET_COMPACT = 72;
/** Offset of the items of an ENTRY object. */
export const ENTRY_ITEMS_OFFSET = 64;
/** Offset of the items of an ENTRY_ARRAY object. */
export const ENTRY_ARRAY_ITEMS_OFFSET = 24;
/** Size of one hash table bucket (head and tail offsets). */
export const HASH_ITEM_SIZE = 16;

/** The smallest valid header: every field before `n_data` (added in systemd 187) must exist. */
export const HEADER_MIN_SIZE = 208;
/** The largest header this reader knows (systemd 254 added `tail_entry_offset`). */
export const HEADER_MAX_SIZE = 272;

/** The decoded file header. */
export interface JournalHeader {
  compatibleFlags: number;
  incompatibleFlags: number;
  /** {@link FileState}: 0 offline, 1 online (being written), 2 archived. */
  state: number;
  fileId: string;
  machineId: string;
  tailEntryBootId: string;
  /** Files written by the same journald share this; their seqnums interleave. */
  seqnumId: string;
  headerSize: number;
  arenaSize: number;
  dataHashTableOffset: number;
  dataHashTableSize: number;
  fieldHashTableOffset: number;
  fieldHashTableSize: number;
  tailObjectOffset: number;
  nObjects: number;
  nEntries: number;
  tailEntrySeqnum: number;
  headEntrySeqnum: number;
  /** First ENTRY_ARRAY of the global chain (all entries of the file), 0 when empty. */
  entryArrayOffset: number;
  headEntryRealtime: number;
  tailEntryRealtime: number;
  tailEntryMonotonic: number;
  /** Whether 32-bit offsets are used in entries and entry arrays (HEADER_INCOMPATIBLE_COMPACT). */
  compact: boolean;
  /** Whether data hashes are siphash24 keyed by the file id (else Jenkins lookup3). */
  keyedHash: boolean;
  /** The raw file id, the siphash key. */
  fileIdBytes: Uint8Array;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of `length` bytes at `offset` (128-bit ids are printed this way by systemd). */
export function toHex(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  let text = "";
  for (let i = offset; i < offset + length; i++) text += HEX[bytes[i]];
  return text;
}

/** Reads a little-endian u64 as a number, or -1 when it does not fit in 2^53. */
export function readU64(view: DataView, offset: number): number {
  const low = view.getUint32(offset, true);
  const high = view.getUint32(offset + 4, true);
  if (high > 0x1fffff) return -1;
  return high * 0x1_0000_0000 + low;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes the file header from the first bytes of a file (at least {@link HEADER_MIN_SIZE}, up to
 * {@link HEADER_MAX_SIZE}). Returns a description of the problem when the bytes are not a header
 * this reader can use.
 */
export function parseHeader(bytes: Uint8Array): JournalHeader | string {
  if (bytes.length < HEADER_MIN_SIZE) return `header too short (${bytes.length} bytes)`;
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== SIGNATURE.charCodeAt(i)) return "bad signature (not a journal file)";
  }
  const view = viewOf(bytes);
  const incompatibleFlags = view.getUint32(12, true);
  const unknown = incompatibleFlags & ~SUPPORTED_INCOMPATIBLE_FLAGS;
  if (unknown !== 0) return `unsupported incompatible flags 0x${unknown.toString(16)}`;
  const u64 = (offset: number) => readU64(view, offset);
  const header: JournalHeader = {
    compatibleFlags: view.getUint32(8, true),
    incompatibleFlags,
    state: bytes[16],
    fileId: toHex(bytes, 24, 16),
    machineId: toHex(bytes, 40, 16),
    tailEntryBootId: toHex(bytes, 56, 16),
    seqnumId: toHex(bytes, 72, 16),
    headerSize: u64(88),
    arenaSize: u64(96),
    dataHashTableOffset: u64(104),
    dataHashTableSize: u64(112),
    fieldHashTableOffset: u64(120),
    fieldHashTableSize: u64(128),
    tailObjectOffset: u64(136),
    nObjects: u64(144),
    nEntries: u64(152),
    tailEntrySeqnum: u64(160),
    headEntrySeqnum: u64(168),
    entryArrayOffset: u64(176),
    headEntryRealtime: u64(184),
    tailEntryRealtime: u64(192),
    tailEntryMonotonic: u64(200),
    compact: (incompatibleFlags & IncompatibleFlag.COMPACT) !== 0,
    keyedHash: (incompatibleFlags & IncompatibleFlag.KEYED_HASH) !== 0,
    fileIdBytes: bytes.slice(24, 40),
  };
  if (header.headerSize < HEADER_MIN_SIZE || header.headerSize % 8 !== 0) {
    return `bad header_size ${header.headerSize}`;
  }
  for (const key of ["arenaSize", "tailObjectOffset", "nEntries", "entryArrayOffset"] as const) {
    if (header[key] < 0) return `${key} out of range`;
  }
  if (header.state > FileState.ARCHIVED) return `unknown state ${header.state}`;
  return header;
}

/** Human name of a header state. */
export function stateName(state: number): string {
  return ["offline", "online", "archived"][state] ?? `state ${state}`;
}

/** The fixed part of an ENTRY object: where an entry sits among all others. */
export interface EntryHead {
  seqnum: number;
  /** Wall-clock time, microseconds since the epoch. */
  realtime: number;
  /** Monotonic time of the boot `bootId`, microseconds. */
  monotonic: number;
  bootId: string;
  /** XOR of the Jenkins hashes of all the entry's data payloads (identifies its contents). */
  xorHash: bigint;
}

/** Payload offset of DATA objects in a file with these header flags. */
export function dataPayloadOffset(compact: boolean): number {
  return compact ? DATA_PAYLOAD_OFFSET_COMPACT : DATA_PAYLOAD_OFFSET_REGULAR;
}

/** Size of one item of an ENTRY object. */
export function entryItemSize(compact: boolean): number {
  return compact ? 4 : 16;
}

/** Size of one item of an ENTRY_ARRAY object. */
export function entryArrayItemSize(compact: boolean): number {
  return compact ? 4 : 8;
}

/** The smallest valid size of an object of `type` (0 for types this reader never follows). */
export function minObjectSize(type: number, compact: boolean): number {
  switch (type) {
    case ObjectType.DATA:
      return dataPayloadOffset(compact) + 1;
    case ObjectType.FIELD:
      return 40 + 1;
    case ObjectType.ENTRY:
      return ENTRY_ITEMS_OFFSET + entryItemSize(compact);
    case ObjectType.ENTRY_ARRAY:
      return ENTRY_ARRAY_ITEMS_OFFSET + entryArrayItemSize(compact);
    default:
      return OBJECT_HEADER_SIZE;
  }
}

/**
 * Checks the structure of an object of `type` whose `size` was read from its header; returns
 * a problem description or undefined.
 */
export function checkObjectSize(type: number, size: number, compact: boolean): string | undefined {
  if (size < minObjectSize(type, compact)) return `object size ${size} too small for type ${type}`;
  if (type === ObjectType.ENTRY && (size - ENTRY_ITEMS_OFFSET) % entryItemSize(compact) !== 0) {
    return `entry size ${size} is not a whole number of items`;
  }
  if (
    type === ObjectType.ENTRY_ARRAY &&
    (size - ENTRY_ARRAY_ITEMS_OFFSET) % entryArrayItemSize(compact) !== 0
  ) {
    return `entry array size ${size} is not a whole number of items`;
  }
  return undefined;
}
