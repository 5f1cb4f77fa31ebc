/**
 * Where an entry sits among the entries of several journal files, how two such places compare
 * (the order `journalctl` shows entries in), and the cursor a journal source saves.
 *
 * The order is sd-journal's (systemd 252, `journal_file_compare_locations` and
 * `compare_with_location`): entries of the same sequence-number source compare by seqnum; else,
 * in the same boot, by monotonic time; else by wall-clock time; finally by content hash. Two
 * entries equal in all of these are the same entry stored in two files, shown once.
 *
 * @example
 * ```ts
 * const cursor = toCursor(location);          // JSON-friendly, stored in a checkpoint
 * const back = parseCursor(JSON.parse(JSON.stringify(cursor)));
 * formatJournaldCursor(location);             // "s=…;i=…;b=…;m=…;t=…;x=…", as journalctl prints
 * ```
 * @module
 */

/** The place of one entry: everything sd-journal compares entries by. */
export interface EntryLocation {
  /** 32 hex digits: the sequence-number source of the file the entry is in. */
  seqnumId: string;
  seqnum: number;
  /** 32 hex digits. */
  bootId: string;
  /** Microseconds of the boot's monotonic clock. */
  monotonic: number;
  /** Microseconds since the epoch. */
  realtime: number;
  /** XOR of the Jenkins hashes of the entry's fields (unsigned 64-bit). */
  xorHash: bigint;
}

function cmp(a: number | bigint | string, b: number | bigint | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders two entries the way sd-journal interleaves files: negative when `a` comes first, 0 when
 * they are the same entry.
 */
export function compareLocations(a: EntryLocation, b: EntryLocation): number {
  let r: number;
  if (a.seqnumId === b.seqnumId) {
    r = cmp(a.seqnum, b.seqnum);
    if (r !== 0) return r;
    // Same seqnum but different content is a broken writer; fall back to time.
  }
  if (a.bootId === b.bootId) {
    r = cmp(a.monotonic, b.monotonic);
    if (r !== 0) return r;
  }
  r = cmp(a.realtime, b.realtime);
  if (r !== 0) return r;
  return cmp(a.xorHash, b.xorHash);
}

/** The cursor a journal source stores: a JSON-serialisable {@link EntryLocation}. */
export interface JournalCursor {
  /** Format version. */
  v: 1;
  seqnumId: string;
  seqnum: number;
  bootId: string;
  monotonic: number;
  realtime: number;
  /** 16 hex digits. */
  xorHash: string;
  /**
   * The boot time (ms since the epoch) the source timed kernel entries with when it handed this
   * out; a run resuming in the same boot keeps it (see `entry_time.ts`). Not part of the place.
   */
  bootTimeMs?: number;
}

/** The cursor of the entry at `location`. */
export function toCursor(location: EntryLocation): JournalCursor {
  return {
    v: 1,
    seqnumId: location.seqnumId,
    seqnum: location.seqnum,
    bootId: location.bootId,
    monotonic: location.monotonic,
    realtime: location.realtime,
    xorHash: location.xorHash.toString(16).padStart(16, "0"),
  };
}

const ID128 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{1,16}$/;

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Reads a saved cursor: a {@link JournalCursor} object, or a journald cursor string
 * (`s=…;i=…;b=…;m=…;t=…;x=…`, e.g. copied from `journalctl --show-cursor`). Returns a reason
 * string when it is neither.
 */
export function parseCursor(value: unknown): EntryLocation | string {
  if (typeof value === "string") return parseJournaldCursor(value);
  if (typeof value !== "object" || value === null) return "cursor is not an object";
  const c = value as Partial<Record<keyof JournalCursor, unknown>>;
  if (c.v !== 1) return "unknown cursor version";
  if (typeof c.seqnumId !== "string" || !ID128.test(c.seqnumId)) return "bad seqnumId";
  if (typeof c.bootId !== "string" || !ID128.test(c.bootId)) return "bad bootId";
  if (!isCount(c.seqnum) || !isCount(c.monotonic) || !isCount(c.realtime)) {
    return "bad seqnum/monotonic/realtime";
  }
  if (typeof c.xorHash !== "string" || !HEX64.test(c.xorHash)) return "bad xorHash";
  return {
    seqnumId: c.seqnumId,
    seqnum: c.seqnum,
    bootId: c.bootId,
    monotonic: c.monotonic,
    realtime: c.realtime,
    xorHash: BigInt(`0x${c.xorHash}`),
  };
}

/** The journald cursor string of an entry, exactly as `journalctl -o json` prints `__CURSOR`. */
export function formatJournaldCursor(location: EntryLocation): string {
  return `s=${location.seqnumId};i=${location.seqnum.toString(16)};b=${location.bootId};m=${
    location.monotonic.toString(16)
  };t=${location.realtime.toString(16)};x=${location.xorHash.toString(16)}`;
}

/** Parses a complete journald cursor string (all six fields). */
export function parseJournaldCursor(text: string): EntryLocation | string {
  const fields = new Map<string, string>();
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== 1) return `bad cursor field "${part}"`;
    fields.set(part[0], part.slice(2));
  }
  const s = fields.get("s"), b = fields.get("b");
  const i = fields.get("i"), m = fields.get("m"), t = fields.get("t"), x = fields.get("x");
  if (!s || !ID128.test(s) || !b || !ID128.test(b)) return "cursor lacks s= or b=";
  const nums = [i, m, t].map((h) => h && HEX64.test(h) ? Number.parseInt(h, 16) : NaN);
  if (!nums.every((n) => Number.isSafeInteger(n)) || !x || !HEX64.test(x)) {
    return "cursor lacks i=, m=, t= or x=";
  }
  return {
    seqnumId: s,
    seqnum: nums[0],
    bootId: b,
    monotonic: nums[1],
    realtime: nums[2],
    xorHash: BigInt(`0x${x}`),
  };
}
