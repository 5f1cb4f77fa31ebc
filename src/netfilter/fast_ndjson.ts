/**
 * A fused fast path for `parse --format ndjson`: a drop line of the commonest shape goes from its
 * bytes straight to its NDJSON line — no header object, no `PacketDrop`, no strings cut
 * for the fields. It exists for speed only: `parse` of a large log spends most of its time on
 * the drop lines, and V8 compiles this one small reader where it would compile the general
 * parser, header reader and writer (whose size, on one CPU, costs as much as running them).
 *
 * It takes a line only when it is, in ASCII bytes:
 * - a time: RFC 3339 with `T`, an optional fraction and a zone (`Z`, `±HH:MM`, `±HHMM`); or
 *   traditional syslog `Mmm dd HH:MM:SS` (`Nov 25`, `Nov  5` or `Nov 05`; no fraction), whose
 *   time — local, its year inferred from the scan's `now` — header.ts's `traditionalTime`
 *   gives; then a space; an optional host name and space; `kernel:`; an optional space; an
 *   optional kernel time `[ 1234.567890]` and space; then no severity word (`warn: `);
 * - one of the parser's literal prefixes (in the parser's order, spaces around it as the parser
 *   allows), then `IN=` within the line's first 512 characters;
 * - fields among IN OUT MAC SRC DST LEN TOS PREC TTL ID TC HOPLIMIT FLOWLBL PROTO SPT DPT TYPE
 *   CODE SEQ ACK WINDOW RES URGP UID GID MARK, the flag words (DF SYN …) and `OPT (hex)`, every
 *   number valid, IN, OUT, SRC, DST and PROTO present; SRC and DST both dotted quads in canonical
 *   form, or both the kernel's expanded IPv6 form;
 * - no control character, no `"` or `\` after the host name.
 *
 * The fallback rule: on anything else — another header, a tab, a severity word, a repeated
 * message, an unknown key or bare word, a bad number, an embedded packet, a missing field — it
 * writes nothing and returns false, and the general parser reads the line as it always does.
 * The general parser (`DropParser`, `writeDropNdjson`) is the definition of the
 * output; this module must give byte-identical output for every line it takes, which
 * tests/netfilter/fast_ndjson_test.ts checks against it on generated and mutated lines.
 * @module
 */

import { daysIn, utcTime } from "./go_layout.ts";
import { MONTH_INDEX, SEVERITIES, traditionalTime } from "./header.ts";
import {
  DST_KEY,
  IN_KEY,
  KEY,
  OUT_KEY,
  PREFIX_KEY,
  PROTO_KEY,
  putTime,
  SRC_KEY,
  TIME_KEY,
} from "./format.ts";
import { canonicalIpFromCodes, ipFamily, isCanonicalIpv4Codes } from "./ip.ts";
import { asciiBytes, type JsonBytes, putBytes, putUint } from "./ndjson_writer.ts";
import { isAlphanumeric, isHexDigits, readHex, readUint } from "./payload.ts";

/** Where the header and prefix must end, as in the parser. */
const HEAD_LENGTH = 512;
const MAX_U32 = 4294967295;

/**
 * The class of each byte value in the fields: {@link PLAIN} (printable ASCII that needs no escape
 * in a JSON string), space, `=`, or {@link OTHER_BYTE} (a line with one is the general path's).
 */
const PLAIN = 0, SPACE = 1, EQUALS = 2, OTHER_BYTE = 3;
const BYTE_CLASS = new Uint8Array(256).fill(OTHER_BYTE);
for (let c = 33; c < 127; c++) if (c !== 34 && c !== 92) BYTE_CLASS[c] = PLAIN;
BYTE_CLASS[32] = SPACE;
BYTE_CLASS[61] = EQUALS;

// The string fields: spans of the line, from and to at 2 * field in `spans`, the first five in
// the schema's order. SRC and DST are addresses (a canonical dotted quad is copied; the kernel's
// IPv6 form is made canonical).
const IN = 0, OUT = 1, SRC = 2, DST = 3, PROTO = 4, MAC = 5, IP_OPTIONS = 6, TCP_OPTIONS = 7;
const STRINGS = 8;
const STRING_KEYS = [IN_KEY, OUT_KEY, SRC_KEY, DST_KEY, PROTO_KEY];

// Numeric fields: slots of `values`, in the order the NDJSON schema writes them.
const SPT = 0, DPT = 1, ICMP_TYPE = 2, ICMP_CODE = 3;
const LEN = 4, TOS = 5, PREC = 6, TTL = 7, ID = 8, TC = 9, HOP_LIMIT = 10, FLOW_LABEL = 11;
const SEQ = 12, ACK = 13, WINDOW = 14, RES = 15, URGP = 16, UDP_LEN = 17, ICMP_ID = 18;
const ICMP_SEQ = 19, UID = 20, GID = 21, MARK = 22;
/** The slots written before `family`, and before `flags`, as bits. */
const BEFORE_FAMILY = (1 << 4) - 1, BEFORE_FLAGS = (1 << 12) - 1;
const SLOTS = 23;
/** Each slot's NDJSON key, largest value and whether the kernel prints it in hex (payload.ts). */
const SLOT_FIELDS: [key: string, max: number, hex: boolean][] = [
  ["spt", 65535, false],
  ["dpt", 65535, false],
  ["icmpType", 255, false],
  ["icmpCode", 255, false],
  ["len", 1048575, false],
  ["tos", 255, true],
  ["prec", 255, true],
  ["ttl", 255, false],
  ["id", MAX_U32, false],
  ["tc", 255, false],
  ["hopLimit", 255, false],
  ["flowLabel", 0xfffff, false],
  ["seq", MAX_U32, false],
  ["ack", MAX_U32, false],
  ["window", 65535, false],
  ["res", 255, true],
  ["urgp", 65535, false],
  ["udpLen", 1048575, false],
  ["icmpId", MAX_U32, false],
  ["icmpSeq", MAX_U32, false],
  ["uid", MAX_U32, false],
  ["gid", MAX_U32, false],
  ["mark", MAX_U32, true],
];
const SLOT_KEYS = SLOT_FIELDS.map(([key]) => KEY[key]);
const SLOT_MAX = SLOT_FIELDS.map(([, max]) => max);
const SLOT_HEX = SLOT_FIELDS.map(([, , hex]) => hex);
/** What {@link field} returns for a numeric field: NUMBER + its slot. */
const NUMBER = 16;

/**
 * The field of the key whose length is `length` and whose first eight characters are packed in
 * `k1` and `k2` (as payload.ts packs them): a string field, NUMBER + a slot, or -1 for a key
 * the fast path leaves to the general one. LEN, ID and SEQ are given their first meaning (IP's
 * length and id, ICMP's sequence); the caller moves them after PROTO=.
 */
function field(length: number, k1: number, k2: number): number {
  if (length > 4) {
    if (length === 5 && k1 === 0x50524f54 && k2 === 0x4f) return PROTO;
    if (length === 6 && k1 === 0x57494e44 && k2 === 0x4f57) return NUMBER + WINDOW;
    if (length === 7 && k1 === 0x464c4f57 && k2 === 0x4c424c) return NUMBER + FLOW_LABEL;
    if (length === 8 && k1 === 0x484f504c && k2 === 0x494d4954) return NUMBER + HOP_LIMIT;
    return -1;
  }
  switch (k1) {
    case 0x494e: // IN
      return IN;
    case 0x4f5554: // OUT
      return OUT;
    case 0x4d4143: // MAC
      return MAC;
    case 0x535243: // SRC
      return SRC;
    case 0x445354: // DST
      return DST;
    case 0x4944: // ID
      return NUMBER + ID;
    case 0x5443: // TC
      return NUMBER + TC;
    case 0x4c454e: // LEN
      return NUMBER + LEN;
    case 0x544f53: // TOS
      return NUMBER + TOS;
    case 0x54544c: // TTL
      return NUMBER + TTL;
    case 0x535054: // SPT
      return NUMBER + SPT;
    case 0x445054: // DPT
      return NUMBER + DPT;
    case 0x534551: // SEQ
      return NUMBER + ICMP_SEQ;
    case 0x41434b: // ACK
      return NUMBER + ACK;
    case 0x524553: // RES
      return NUMBER + RES;
    case 0x554944: // UID
      return NUMBER + UID;
    case 0x474944: // GID
      return NUMBER + GID;
    case 0x50524543: // PREC
      return NUMBER + PREC;
    case 0x54595045: // TYPE
      return NUMBER + ICMP_TYPE;
    case 0x434f4445: // CODE
      return NUMBER + ICMP_CODE;
    case 0x4d41524b: // MARK
      return NUMBER + MARK;
    case 0x55524750: // URGP
      return NUMBER + URGP;
  }
  return -1;
}

/** Flag words, as the general parser knows them, and as JSON strings. */
const FLAGS = ["DF", "MF", "CE", "AE", "SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR"];
const FLAG_JSON = FLAGS.map((flag) => asciiBytes(`"${flag}"`));

/** The index in {@link FLAGS} of the word whose characters are packed in `k`, or -1. */
function flagIndex(k: number): number {
  switch (k) {
    case 0x4446: // DF
      return 0;
    case 0x4d46: // MF
      return 1;
    case 0x4345: // CE
      return 2;
    case 0x4145: // AE
      return 3;
    case 0x53594e: // SYN
      return 4;
    case 0x41434b: // ACK
      return 5;
    case 0x46494e: // FIN
      return 6;
    case 0x525354: // RST
      return 7;
    case 0x505348: // PSH
      return 8;
    case 0x555247: // URG
      return 9;
    case 0x454345: // ECE
      return 10;
    case 0x435752: // CWR
      return 11;
  }
  return -1;
}
/** More flag words than this in a line: the general path reads it. */
const MAX_FLAGS = 16;

/** The decimal of `n` digits at b[at…], or -1. */
function digits(b: Uint8Array, at: number, n: number): number {
  return readUint(b, at, at + n, Infinity);
}

/** The second of the last time read (`2026-11-25T07:58:47`), and its UTC milliseconds. */
const lastSecondText = new Uint8Array(19);
let lastSecondKnown = false;
let lastSecondUtc = 0;
/**
 * The time of the header {@link messageStart} read last, epoch milliseconds (in an array: a
 * module variable would box every new value).
 */
const headerTime = new Float64Array(1);

/**
 * Reads `2026-11-25T07:58:47` at b[from…] into {@link lastSecondText} and {@link lastSecondUtc};
 * false when it is no valid time. Called once per second of log, apart from the per-line code.
 */
function readSecond(b: Uint8Array, from: number): boolean {
  if (
    b[from + 4] !== 45 || b[from + 7] !== 45 || b[from + 10] !== 84 || b[from + 13] !== 58 ||
    b[from + 16] !== 58
  ) {
    return false;
  }
  const year = digits(b, from, 4), month = digits(b, from + 5, 2), day = digits(b, from + 8, 2);
  const hour = digits(b, from + 11, 2), minute = digits(b, from + 14, 2);
  const second = digits(b, from + 17, 2);
  if ((year | month | day | hour | minute | second) < 0) return false;
  if (
    month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 ||
    minute > 59 || second > 60
  ) {
    return false;
  }
  for (let k = 0; k < 19; k++) lastSecondText[k] = b[from + k];
  lastSecondKnown = true;
  lastSecondUtc = utcTime(year, month - 1, day, hour, minute, second);
  return true;
}

/** The length of a traditional header's time: `Nov 25 07:58:47`. */
const TRADITIONAL_LENGTH = 15;
/** The time of the last traditional header read, as text. */
const lastTraditionalText = new Uint8Array(TRADITIONAL_LENGTH);
/**
 * The `now` (epoch ms) {@link lastTraditionalText} was read at, and its time: its year and
 * repeated hour depend on `now`, so a time is reused only for the same text and the same `now`.
 * NaN at first: equal to no `now`.
 */
const lastTraditional = new Float64Array([NaN, 0]);

/**
 * Reads the traditional time `Nov 25 07:58:47` at b[from…], read at `now`, into
 * {@link headerTime}[0]; false when it is not of that shape (`Nov  5` or `Nov 05`) or its
 * fields are out of range, as header.ts's readTraditionalTime reads them.
 */
function readTraditional(b: Uint8Array, from: number, now: Date): boolean {
  const nowMs = now.getTime();
  let same = lastTraditional[0] === nowMs;
  for (let k = 0; same && k < TRADITIONAL_LENGTH; k++) {
    same = b[from + k] === lastTraditionalText[k];
  }
  if (same) {
    headerTime[0] = lastTraditional[1];
    return true;
  }
  if (b[from + 3] !== 32 || b[from + 6] !== 32 || b[from + 9] !== 58 || b[from + 12] !== 58) {
    return false;
  }
  const month = MONTH_INDEX[String.fromCharCode(b[from], b[from + 1], b[from + 2])];
  if (month === undefined) return false;
  const day = b[from + 4] === 32 ? digits(b, from + 5, 1) : digits(b, from + 4, 2);
  const hour = digits(b, from + 7, 2), minute = digits(b, from + 10, 2);
  const second = digits(b, from + 13, 2);
  if ((day | hour | minute | second) < 0) return false;
  // No year: February 29 passes (traditionalTime infers the year).
  if (day < 1 || day > daysIn(month + 1, 2000) || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  const time = traditionalTime(month, day, hour, minute, second, 0, now)?.getTime() ?? NaN;
  if (Number.isNaN(time)) return false;
  for (let k = 0; k < TRADITIONAL_LENGTH; k++) lastTraditionalText[k] = b[from + k];
  lastTraditional[0] = nowMs;
  lastTraditional[1] = time;
  headerTime[0] = time;
  return true;
}

/**
 * Reads the header of the line b[from, to), read at `now` (see the module doc): returns where
 * its message starts and leaves its time in {@link headerTime}[0], or returns -1.
 */
function messageStart(b: Uint8Array, from: number, to: number, now: Date): number {
  if (to - from < 40) return -1;
  const first = b[from];
  // A month name ("A"-"Z"), or a year.
  const i = first >= 65 && first <= 90
    ? (readTraditional(b, from, now) ? from + TRADITIONAL_LENGTH : -1)
    : rfc3339End(b, from);
  if (i < 0) return -1;
  return afterTime(b, i, from, to);
}

/**
 * Reads the RFC 3339 time at b[from…] into {@link headerTime}[0]: returns the index after it,
 * or -1.
 */
function rfc3339End(b: Uint8Array, from: number): number {
  let same = lastSecondKnown;
  for (let k = 0; same && k < 19; k++) same = b[from + k] === lastSecondText[k];
  if (!same && !readSecond(b, from)) return -1;
  let i = from + 19;
  let millis = 0;
  if (b[i] === 46 || b[i] === 44) { // "." or ","
    i++;
    const first = i;
    for (let scale = 100; b[i] >= 48 && b[i] <= 57; i++, scale /= 10) {
      if (scale >= 1) millis += (b[i] - 48) * scale;
    }
    if (i === first) return -1;
  }
  let offset: number;
  const z = b[i];
  if (z === 90 || z === 122) { // "Z" or "z"
    offset = 0;
    i++;
  } else if (z === 43 || z === 45) { // "+" or "-"
    const hh = digits(b, i + 1, 2);
    const colon = b[i + 3] === 58;
    const mm = digits(b, colon ? i + 4 : i + 3, 2);
    if (hh < 0 || mm < 0 || hh > 23 || mm > 59) return -1;
    offset = (z === 45 ? -1 : 1) * (hh * 60 + mm);
    i += colon ? 6 : 5;
  } else return -1; // local time: the general path knows the zone rules
  headerTime[0] = lastSecondUtc + millis - offset * 60_000;
  return i;
}

/**
 * After the time, at `at`, of the line b[from, to): ` [host ]kernel: `, the kernel time; returns
 * where the message starts, or -1.
 */
function afterTime(b: Uint8Array, at: number, from: number, to: number): number {
  let i = at;
  // A fraction or anything else but a space after a traditional time is the general path's.
  if (b[i++] !== 32) return -1;
  const headEnd = Math.min(to, from + HEAD_LENGTH);
  if (!isKernelTag(b, i)) {
    while (i < headEnd && b[i] > 32 && b[i] < 127) i++;
    if (b[i] !== 32 || i >= headEnd || !isKernelTag(b, i + 1)) return -1;
    i++;
  }
  i += 7;
  if (b[i] === 32) i++;
  // The general path reads a severity word both as a decoration and as the prefix's start.
  if (b[i] >= 97 && b[i] <= 122 && severityAt(b, i, headEnd)) return -1;
  return kernelTimeEnd(b, i);
}

/**
 * Whether a severity word, a colon or not, then a space begins b[at…] within `to`: read as
 * header.ts's skipKernelDecorations reads it (the space within 9 characters).
 */
function severityAt(b: Uint8Array, at: number, to: number): boolean {
  const limit = Math.min(to, at + 9);
  let space = at;
  while (space < limit && b[space] !== 32) space++;
  if (space === limit || space === at) return false;
  const end = b[space - 1] === 58 ? space - 1 : space; // ":"
  return SEVERITIES.has(String.fromCharCode(...b.subarray(at, end)));
}

/** Whether b[at…] is `kernel:`. */
function isKernelTag(b: Uint8Array, at: number): boolean {
  return b[at] === 107 && b[at + 1] === 101 && b[at + 2] === 114 && b[at + 3] === 110 &&
    b[at + 4] === 101 && b[at + 5] === 108 && b[at + 6] === 58;
}

/** After the kernel's `[ 1234.567890]` (and a space) at `at`; `at` when there is none. */
function kernelTimeEnd(b: Uint8Array, at: number): number {
  if (b[at] !== 91) return at; // "["
  let i = at + 1;
  while (b[i] === 32) i++;
  let count = 0, dots = 0, whole = 0;
  for (;; i++) {
    const c = b[i];
    if (c >= 48 && c <= 57) {
      count++;
      if (dots === 0) whole++;
    } else if (c === 46) dots++;
    else break;
  }
  if (count === 0 || dots > 1 || whole > 308 || b[i] !== 93) return at; // "]"
  i++;
  return b[i] === 32 ? i + 1 : i;
}

/** Turns drop lines of the common shape into NDJSON lines (see the module doc). */
export class FastNdjson {
  #out: JsonBytes;
  /** The literal prefixes, as bytes and as JSON string bytes, in the parser's order. */
  #prefixes: Uint8Array[];
  #prefixJson: Uint8Array[];
  #enabled: boolean;
  #values = new Float64Array(SLOTS);
  /** Which slots of {@link #values} the line had: bit `slot`. */
  #present = 0;
  #spans = new Int32Array(2 * STRINGS);
  /** Canonical IPv6 text of SRC and DST, when they are not dotted quads. */
  #ipv6: (string | undefined)[] = [undefined, undefined];
  #flags = new Uint8Array(MAX_FLAGS);

  /**
   * `prefixes`: the parser's literal prefixes in the order it tries them
   * (`DropParser.fastPathPrefixes`); undefined (a time layout) turns the fast path off.
   * Lines go to `out`.
   */
  constructor(prefixes: readonly string[] | undefined, out: JsonBytes) {
    this.#out = out;
    this.#prefixes = (prefixes ?? []).map(asciiBytes);
    this.#prefixJson = (prefixes ?? []).map((p) => asciiBytes(JSON.stringify(p)));
    // Prefixes are compared byte for byte and their bytes are not checked again.
    this.#enabled = prefixes !== undefined &&
      prefixes.every((p) => [...p].every((c) => c >= " " && c <= "~"));
  }

  /**
   * Writes the NDJSON line of the drop on the line text[lineStart, lineEnd) — its bytes, one a
   * character, are bytes[lineStart, lineEnd) — and returns true; or writes nothing and returns
   * false (the general path's line). `now` is the parser's for this scan (the year of a
   * traditional header). The caller has checked the line's length.
   */
  line(text: string, b: Uint8Array, lineStart: number, lineEnd: number, now: Date): boolean {
    if (!this.#enabled) return false;
    let start = messageStart(b, lineStart, lineEnd, now);
    if (start < 0) return false;
    // The prefix, as the parser's #findPrefix finds it.
    while (b[start] === 32 || b[start] === 9) start++;
    const headEnd = Math.min(lineEnd, lineStart + HEAD_LENGTH);
    let matched = -1;
    // Where the fields start: the `IN=` after the matched prefix.
    let payload = 0;
    for (let k = 0; k < this.#prefixes.length && matched < 0; k++) {
      const prefix = this.#prefixes[k];
      let same = true;
      for (let j = 0; same && j < prefix.length; j++) same = b[start + j] === prefix[j];
      if (!same) continue;
      payload = start + prefix.length;
      while (b[payload] === 32 || b[payload] === 9) payload++;
      const p = payload;
      if (p + 3 <= headEnd && b[p] === 73 && b[p + 1] === 78 && b[p + 2] === 61) matched = k;
    }
    if (matched < 0) return false;
    const flagCount = this.#fields(text, b, payload, lineEnd);
    if (flagCount < 0) return false;
    this.#write(b, lineEnd - lineStart, matched, flagCount);
    return true;
  }

  /**
   * Reads the fields of b[from, to) into {@link #spans}, {@link #values}, {@link #ipv6} and
   * {@link #flags}; returns the number of flags, or -1 for a line the general path must read.
   * A field's first value counts, as in the general parser (payload.ts).
   */
  #fields(text: string, b: Uint8Array, from: number, to: number): number {
    const spans = this.#spans.fill(-1);
    const values = this.#values;
    let present = 0;
    const ipv6 = this.#ipv6;
    ipv6[0] = ipv6[1] = undefined;
    let flagCount = 0;
    let tcp = false;
    let i = from;
    while (i < to) {
      if (b[i] === 32) {
        i++;
        continue;
      }
      // The key (or bare word), its first eight characters packed into k1 and k2. "[" starts
      // an embedded packet: the general path's.
      const tokenStart = i;
      if (b[i] === 91) return -1;
      let k1 = 0, k2 = 0;
      for (; BYTE_CLASS[b[i]] === PLAIN; i++) {
        if (i - tokenStart < 4) k1 = (k1 << 8) | b[i];
        else if (i - tokenStart < 8) k2 = (k2 << 8) | b[i];
      }
      const length = i - tokenStart;
      if (i >= to || b[i] === 32) {
        if (i > to) return -1;
        if (length === 3 && k1 === 0x4f5054 && b[i + 1] === 40 && i < to) { // "OPT ("
          // IP or TCP options, hex, as the general parser keeps them.
          const hexFrom = i + 2;
          let close = hexFrom;
          while (close < to && b[close] !== 41) close++; // ")"
          if (close === to || !isHexDigits(b, hexFrom, close)) return -1;
          if (close + 1 < to && b[close + 1] !== 32) return -1;
          const f = spans[2 * PROTO] < 0 ? IP_OPTIONS : TCP_OPTIONS;
          if (spans[2 * f] < 0) {
            spans[2 * f] = hexFrom;
            spans[2 * f + 1] = close;
          }
          i = close + 1;
          continue;
        }
        const flag = length <= 3 ? flagIndex(k1) : -1;
        if (flag < 0 || flagCount === MAX_FLAGS) return -1;
        this.#flags[flagCount++] = flag;
        continue;
      }
      if (b[i] !== 61) return -1; // not "=": a character the general path handles
      const v = ++i;
      while (BYTE_CLASS[b[i]] <= EQUALS && b[i] !== 32) i++;
      if (i > to || (i < to && b[i] !== 32)) return -1;
      const f = field(length, k1, k2);
      if (f < 0) return -1;
      if (f >= NUMBER) {
        let slot = f - NUMBER;
        if (spans[2 * PROTO] >= 0) {
          if (slot === LEN) slot = UDP_LEN;
          else if (slot === ID) slot = ICMP_ID;
          else if (slot === ICMP_SEQ && tcp) slot = SEQ;
        }
        if ((present & (1 << slot)) === 0) {
          const max = SLOT_MAX[slot];
          const value = SLOT_HEX[slot] ? readHex(b, v, i, max) : readUint(b, v, i, max);
          if (value < 0) return -1;
          values[slot] = value;
          present |= 1 << slot;
        }
        continue;
      }
      const address = f === SRC || f === DST;
      if (spans[2 * f] >= 0 || (address && ipv6[f - SRC] !== undefined)) continue;
      if (f === PROTO) {
        // The kernel prints a name or a number; the general path reports anything else.
        if (i === v || i - v > 16 || !isAlphanumeric(b, v, i)) return -1;
        tcp = i - v === 3 && b[v] === 84 && b[v + 1] === 67 && b[v + 2] === 80; // "TCP"
      } else if (address && !isCanonicalIpv4Codes(b, v, i)) {
        if (i - v !== 39) return -1;
        ipv6[f - SRC] = canonicalIpFromCodes(b, v, i, text, 0, false);
        if (ipv6[f - SRC] === undefined) return -1;
        continue;
      }
      spans[2 * f] = v;
      spans[2 * f + 1] = i;
    }
    if (spans[2 * IN] < 0 || spans[2 * OUT] < 0 || spans[2 * PROTO] < 0) return -1;
    // Both addresses dotted quads, or both IPv6.
    const src6 = ipv6[0], dst6 = ipv6[1];
    if (src6 === undefined ? spans[2 * SRC] < 0 : ipFamily(src6) !== 6) return -1;
    if (dst6 === undefined ? spans[2 * DST] < 0 : ipFamily(dst6) !== 6) return -1;
    if ((src6 === undefined) !== (dst6 === undefined)) return -1;
    this.#present = present;
    return flagCount;
  }

  /** Writes the NDJSON line of the fields read, in the schema's order (format.ts). */
  #write(b: Uint8Array, lineLength: number, prefix: number, flagCount: number): void {
    const w = this.#out;
    const spans = this.#spans;
    const values = this.#values;
    const prefixJson = this.#prefixJson[prefix];
    // The line's bytes bound the strings; keys, numbers, flags and the time take under 1024.
    const o = w.reserve(lineLength + prefixJson.length + 1024);
    let at = putBytes(o, w.end, TIME_KEY);
    at = putTime(o, at, headerTime[0]);
    at = putBytes(o, putBytes(o, at, PREFIX_KEY), prefixJson);
    for (let f = IN; f <= PROTO; f++) {
      at = putBytes(o, at, STRING_KEYS[f]);
      const ip = f === SRC || f === DST ? this.#ipv6[f - SRC] : undefined;
      at = ip === undefined ? putSpan(o, at, b, spans[2 * f], spans[2 * f + 1]) : putIp(o, at, ip);
    }
    const present = this.#present;
    at = putSlots(o, at, values, present & BEFORE_FAMILY);
    at = putBytes(o, at, KEY.family);
    o[at++] = this.#ipv6[0] === undefined ? 52 : 54; // 4 or 6
    if (spans[2 * MAC] >= 0) {
      at = putSpan(o, putBytes(o, at, KEY.mac), b, spans[2 * MAC], spans[2 * MAC + 1]);
    }
    at = putSlots(o, at, values, present & BEFORE_FLAGS & ~BEFORE_FAMILY);
    if (flagCount > 0) {
      at = putBytes(o, at, KEY.flags);
      o[at++] = 91; // "["
      for (let k = 0; k < flagCount; k++) {
        if (k > 0) o[at++] = 44; // ","
        at = putBytes(o, at, FLAG_JSON[this.#flags[k]]);
      }
      o[at++] = 93; // "]"
    }
    at = putSlots(o, at, values, present & ~BEFORE_FLAGS);
    for (let f = IP_OPTIONS; f <= TCP_OPTIONS; f++) {
      if (spans[2 * f] < 0) continue;
      at = putBytes(o, at, f === IP_OPTIONS ? KEY.ipOptions : KEY.tcpOptions);
      at = putSpan(o, at, b, spans[2 * f], spans[2 * f + 1]);
    }
    o[at++] = 125; // "}"
    o[at++] = 10;
    w.commit(at);
  }
}

/** Writes b[from, to) (plain characters: see {@link BYTE_CLASS}) as a JSON string at o[at…]. */
function putSpan(o: Uint8Array, at: number, b: Uint8Array, from: number, to: number): number {
  o[at++] = 34;
  for (let i = from; i < to; i++) o[at++] = b[i];
  o[at++] = 34;
  return at;
}

/** Writes canonical IP text (hex digits, ":" and "." only) as a JSON string at o[at…]. */
function putIp(o: Uint8Array, at: number, ip: string): number {
  o[at++] = 34;
  for (let i = 0; i < ip.length; i++) o[at++] = ip.charCodeAt(i);
  o[at++] = 34;
  return at;
}

/** Writes the numeric fields of the slots whose bits are set in `slots`, keys first. */
function putSlots(o: Uint8Array, at: number, values: Float64Array, slots: number): number {
  for (let rest = slots; rest !== 0; rest &= rest - 1) {
    const s = 31 - Math.clz32(rest & -rest); // the lowest slot left
    at = putUint(o, putBytes(o, at, SLOT_KEYS[s]), values[s]);
  }
  return at;
}
