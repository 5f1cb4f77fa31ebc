/**
 * Recognises the header in front of a kernel message, in every flavour a node's log can have,
 * and returns the message's time and where the message starts:
 *
 * - RFC 3339 with any fraction and `Z` or an offset (`+00:00` or `+0000`): rsyslog's default;
 * - traditional syslog `Mmm dd HH:MM:SS` (no year: inferred, December read in January included);
 * - ISO time without a zone (`2026-11-25 07:58:47` or with `T`), read as local time;
 * - an optional `<PRI>` and RFC 5424 (`<4>1 2026-… host kernel - - - msg`);
 * - `/dev/kmsg` records `prio,seq,usec,flags;message` (time = boot time + usec);
 * - dmesg lines `[ 1234.567890] message` (time = boot time + seconds), `dmesg -T`
 *   (`[Wed Nov 25 07:58:47 2026] message`, local time), `dmesg --time-format=iso`
 *   (`2026-11-25T07:58:47,511188+00:00 message`: an ISO time, then the message, no host or tag)
 *   and `dmesg -x` (`kern  :warn  : …`, any of these times; other facilities are not the
 *   kernel's);
 * - journalctl's other short formats: `-o short-monotonic` (`[ 1234.567890] host kernel: …`),
 *   `-o short-unix` (`1764057527.511188 host kernel: …`) and `-o short-full`
 *   (`Wed 2026-11-25 07:58:47 UTC host kernel: …`: UTC, GMT, a numeric zone or the local zone's
 *   abbreviation at that date; another zone is `invalid_time`, not a wrong time);
 * - a bare message (journald MESSAGE, `journalctl -o cat`): no header at all.
 *
 * Times without a zone are local; in the hour repeated when summer time ends they are the
 * occurrence closest before now (see {@link latestOccurrence}).
 *
 * After a syslog header the tag must be `kernel` — a prefix in another program's message is not
 * a packet drop — and a `<PRI>` must be of the kernel's facility. An optional severity word and the kernel's `[ 1234.567890]` follow.
 * @module
 */

import {
  daysIn,
  inferYear,
  latestOccurrence,
  localTime,
  type TimeParser,
  utcTime,
} from "./go_layout.ts";
import { parseKmsgHeader } from "./kmsg_record.ts";

/** What header parsing needs to know besides the line. */
export interface HeaderContext {
  /** Reference time: year inference. */
  now: Date;
  /**
   * Wall-clock time of boot in ms, for kmsg and dmesg times; unknown when undefined. A function
   * is asked only when a line needs it (and should remember its answer): estimating the boot
   * time precisely can take up to a second, which a log without such lines need not wait for.
   */
  bootTimeMs?: number | (() => number | undefined);
  /** A compiled `PACKET_DROP_LOG_TIME_LAYOUT`; when set it replaces automatic detection. */
  layout?: TimeParser;
}

/** A recognised header. */
export interface Header {
  /** The message's time, when the header carries one. */
  time?: Date;
  /** Index where the kernel message (the LOG prefix) starts. */
  messageStart: number;
  /**
   * Where the message starts, and its time, if what was taken for a severity word or the
   * kernel's `[ 1234.5]` is part of the LOG prefix (`alert: blocked`, `[42] drop:`); undefined
   * when nothing was skipped.
   */
  undecorated: { start: number; time?: Date } | undefined;
  /** A `/dev/kmsg` record: its message may hold `\xNN` escapes. */
  kmsg: boolean;
  /**
   * No header was recognised: the line is taken for a bare message (journald MESSAGE,
   * `journalctl -o cat`) — or its header is one we do not know.
   */
  unknown: boolean;
}

/** Why a line's header was not accepted. */
export type HeaderRejection = "not_kernel" | "invalid_time";

/** The words of a severity that may follow `kernel:` (`kernel: warn: …`), colon or not. */
export const SEVERITIES: ReadonlySet<string> = new Set([
  "emerg",
  "alert",
  "crit",
  "err",
  "error",
  "warn",
  "warning",
  "notice",
  "info",
  "debug",
]);
/** dmesg -x's facility names (`kern` is the kernel's). */
const FACILITIES = new Set([
  "kern",
  "user",
  "mail",
  "daemon",
  "auth",
  "syslog",
  "lpr",
  "news",
  "uucp",
  "cron",
  "authpriv",
  "ftp",
  "res0",
  "res1",
  "res2",
  "res3",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
]);
/** The month (0-11) of a traditional header's month name, in exactly this case. */
export const MONTH_INDEX: Readonly<Record<string, number>> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

/**
 * The codes (see line_codes.ts) of the line being read: `lineCodes[i - lineBase]` is the code
 * of `text[i]`. Reading them costs less than `charCodeAt`.
 */
let lineCodes: Uint8Array = new Uint8Array(2);
let lineBase = 0;

/** The code at text index `i` of the line being read. */
function ch(i: number): number {
  return lineCodes[i - lineBase];
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The boot time of `ctx`, asking its function when it has one. */
function bootTime(ctx: HeaderContext): number | undefined {
  const boot = ctx.bootTimeMs;
  return typeof boot === "function" ? boot() : boot;
}

/** The time `ms` after boot (a kmsg or dmesg time), or undefined without a boot time. */
function sinceBoot(ctx: HeaderContext, ms: number): Date | undefined {
  const boot = bootTime(ctx);
  return boot === undefined ? undefined : new Date(boot + ms);
}

function num(at: number, len: number): number {
  let value = 0;
  for (let i = at; i < at + len; i++) {
    const c = ch(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return value;
}

/**
 * The last date and time to the second read (`2026-11-25T07:58:47`), its fields, and its UTC
 * milliseconds: consecutive lines mostly share it, and comparing costs less than reading.
 */
const lastText = new Uint8Array(19);
let lastKnown = false;
let lastYear = 0, lastMonth = 0, lastDay = 0, lastHour = 0, lastMinute = 0, lastSecond = 0;
let lastUtc = 0;

/** The fraction of a second {@link fractionEnd} read last, in whole milliseconds. */
let fractionMillis = 0;

/**
 * Reads the digits of a fraction of a second at `at` (after its "."): leaves their value in
 * {@link fractionMillis} and returns the index after them (`at` when there is none).
 */
function fractionEnd(at: number): number {
  let i = at;
  let millis = 0;
  for (let scale = 100; isDigit(ch(i)); i++, scale /= 10) {
    if (scale >= 1) millis += (ch(i) - 48) * scale;
  }
  fractionMillis = Math.floor(millis);
  return i;
}

/** Whether the 19 codes at `at` are those of {@link lastText}. */
function sameSecond(at: number): boolean {
  if (!lastKnown) return false;
  const codes = lineCodes;
  const from = at - lineBase;
  for (let k = 0; k < 19; k++) if (codes[from + k] !== lastText[k]) return false;
  return true;
}

/**
 * Reads `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM]` at `at`; `local` when it has no zone (its
 * time is the first occurrence of those fields: see {@link latestOccurrence}).
 */
function readIsoTime(
  at: number,
): { time: Date; end: number; local: boolean } | "invalid" | undefined {
  if (!sameSecond(at)) {
    if (ch(at + 4) !== 45 || ch(at + 7) !== 45 || ch(at + 13) !== 58 || ch(at + 16) !== 58) {
      return undefined;
    }
    const sep = ch(at + 10);
    if (sep !== 84 && sep !== 32) return undefined; // "T" or " "
    const year = num(at, 4), month = num(at + 5, 2), day = num(at + 8, 2);
    const hour = num(at + 11, 2), minute = num(at + 14, 2), second = num(at + 17, 2);
    if ((year | month | day | hour | minute | second) < 0) return undefined;
    if (
      month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 ||
      minute > 59 || second > 60
    ) {
      return "invalid";
    }
    lastText.set(lineCodes.subarray(at - lineBase, at - lineBase + 19));
    lastKnown = true;
    lastYear = year;
    lastMonth = month;
    lastDay = day;
    lastHour = hour;
    lastMinute = minute;
    lastSecond = second;
    lastUtc = utcTime(year, month - 1, day, hour, minute, second);
  }
  let i = at + 19;
  let millis = 0;
  const dot = ch(i);
  if (dot === 46 || dot === 44) { // "." or ","
    const j = fractionEnd(i + 1);
    if (j === i + 1) return "invalid";
    millis = fractionMillis;
    i = j;
  }
  let offset: number | undefined;
  const z = ch(i);
  if (z === 90 || z === 122) { // "Z" or "z"
    offset = 0;
    i++;
  } else if (z === 43 || z === 45) { // "+" or "-"
    const hh = num(i + 1, 2);
    let mm: number;
    let end: number;
    if (ch(i + 3) === 58) {
      mm = num(i + 4, 2);
      end = i + 6;
    } else {
      mm = num(i + 3, 2);
      end = i + 5;
    }
    if (hh < 0 || mm < 0 || hh > 23 || mm > 59) return "invalid";
    offset = (z === 45 ? -1 : 1) * (hh * 60 + mm);
    i = end;
  }
  const time = offset === undefined
    ? localTime(lastYear, lastMonth - 1, lastDay, lastHour, lastMinute, lastSecond, millis)
    : new Date(lastUtc + millis - offset * 60_000);
  return Number.isNaN(time.getTime()) ? "invalid" : { time, end: i, local: offset === undefined };
}

/**
 * Reads `Mmm dd HH:MM:SS` (day space-padded or not) at `at`, in `year` when known (else the
 * year is inferred from `now`), local time (in the repeated hour: see {@link latestOccurrence}).
 */
function readTraditionalTime(
  line: string,
  at: number,
  now: Date,
  year?: number,
): { time: Date; end: number } | "invalid" | undefined {
  const month = MONTH_INDEX[line.slice(at, at + 3)];
  if (month === undefined || ch(at + 3) !== 32) return undefined;
  let i = at + 4;
  if (ch(i) === 32) i++;
  let day = 0;
  const dayStart = i;
  while (isDigit(ch(i)) && i - dayStart < 2) {
    day = day * 10 + ch(i++) - 48;
  }
  if (i === dayStart || ch(i) !== 32) return undefined;
  i++;
  if (ch(i + 2) !== 58 || ch(i + 5) !== 58) return undefined;
  const hour = num(i, 2), minute = num(i + 3, 2), second = num(i + 6, 2);
  if ((hour | minute | second) < 0) return undefined;
  // No year: February 29 passes (the year is inferred below).
  if (day < 1 || day > daysIn(month + 1, 2000) || hour > 23 || minute > 59 || second > 60) {
    return "invalid";
  }
  i += 8;
  let millis = 0;
  if (ch(i) === 46 && isDigit(ch(i + 1))) {
    // Some templates add a fraction (e.g. `Nov 25 07:58:47.511`).
    i = fractionEnd(i + 1);
    millis = fractionMillis;
  }
  const time = traditionalTime(month, day, hour, minute, second, millis, now, year);
  return time === undefined ? "invalid" : { time, end: i };
}

/**
 * The time of a traditional header's fields (`Mmm dd HH:MM:SS[.frac]`: local time, `month0`
 * 0-11, every field in range) read at `now`: in `year` when known (undefined when the day is not
 * in it), else in the year inferred from `now` ({@link inferYear}: December lines read in
 * January); in the hour repeated when summer time ends, the occurrence closest before `now`
 * ({@link latestOccurrence}). The one reading of these times: fast_ndjson.ts calls it too.
 */
export function traditionalTime(
  month0: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis: number,
  now: Date,
  year?: number,
): Date | undefined {
  const build = (y: number) => localTime(y, month0, day, hour, minute, second, millis);
  if (year !== undefined) {
    return day > daysIn(month0 + 1, year) ? undefined : latestOccurrence(build(year), now);
  }
  return latestOccurrence(inferYear(month0 + 1, day, now, build), now);
}

/**
 * Finds the kernel's `[ 1234.567890]` at `at`: returns the index after it (and its space), or -1.
 * The seconds are read by {@link kernelSeconds} only when the header has no better time.
 */
function kernelTimeEnd(at: number): number {
  if (ch(at) !== 91) return -1; // "["
  let i = at + 1;
  while (ch(i) === 32) i++;
  // Digits with at most one ".", and few enough to be a finite number.
  let digits = 0, dots = 0, intDigits = 0;
  for (;; i++) {
    const c = ch(i);
    if (isDigit(c)) {
      digits++;
      if (dots === 0) intDigits++;
    } else if (c === 46) dots++;
    else break;
  }
  if (digits === 0 || dots > 1 || intDigits > 308 || ch(i) !== 93) return -1; // "]"
  i++;
  if (ch(i) === 32) i++;
  return i;
}

/**
 * Where a message would start in text[from, to) if its header were valid: after "kernel: " or
 * a kmsg record's ";", and the kernel's time (for telling invalid times of our lines apart).
 */
export function messageStartGuess(
  text: string,
  codes: Uint8Array,
  base: number,
  from: number,
  to: number,
): number {
  lineCodes = codes;
  lineBase = base;
  const k = text.indexOf("kernel: ", from);
  let at = k >= 0 && k + 8 <= to ? k + 8 : from;
  if (at === from) {
    // A kmsg record: the message follows the ";" of its header.
    const semi = text.indexOf(";", from);
    if (semi > from && semi - from < 64 && semi < to && /^\d+,/.test(text.slice(from, semi))) {
      at = semi + 1;
    } else {
      // dmesg -x's `kern  :warn  : `, then dmesg --time-format=iso's time: one word.
      const level = /^kern +:[a-z]+ *: /.exec(text.slice(from, Math.min(to, from + 32)));
      if (level) at += level[0].length;
      const space = text.indexOf(" ", at);
      if (isDigit(ch(at)) && space > at && space - at <= 40 && space < to) at = space + 1;
    }
  }
  const end = kernelTimeEnd(at);
  if (end >= 0) return end;
  const close = dmesgWallClose(at);
  return close >= 0 && ch(close) === 32 ? close + 1 : at;
}

/** The seconds of a kernel time at `at` that {@link kernelTimeEnd} accepted. */
function kernelSeconds(line: string, at: number): number {
  let i = at + 1;
  while (ch(i) === 32) i++;
  return Number(line.slice(i, line.indexOf("]", i)));
}

/** The index of the first space in text[from, to), or -1, read in the codes. */
function spaceBefore(from: number, to: number): number {
  for (let i = from; i < to; i++) if (ch(i) === 32) return i;
  return -1;
}

/** Whether the text at `at` is `kernel:`, read in the codes. */
function isKernelTag(at: number): boolean {
  return ch(at) === 107 && ch(at + 1) === 101 && ch(at + 2) === 114 && ch(at + 3) === 110 &&
    ch(at + 4) === 101 && ch(at + 5) === 108 && ch(at + 6) === 58;
}

/** Skips an optional severity word and the kernel's `[ 1234.5]` after `kernel:`. */
function skipKernelDecorations(
  line: string,
  at: number,
  to: number,
  header: Header,
  ctx: HeaderContext,
): void {
  const undecoratedTime = header.time;
  let i = at;
  const first = ch(i);
  if (first >= 97 && first <= 122) { // severity words are lower case
    // (fast_ndjson.ts's severityAt reads them by the same rule)
    const space = spaceBefore(i, Math.min(to, i + 9));
    if (space > i) {
      let word = line.slice(i, space);
      if (word.endsWith(":")) word = word.slice(0, -1);
      if (SEVERITIES.has(word)) i = space + 1;
    }
  }
  const end = kernelTimeEnd(i);
  if (end >= 0) {
    header.time ??= sinceBoot(ctx, kernelSeconds(line, i) * 1000);
    i = end;
  }
  header.messageStart = i;
  if (i !== at) header.undecorated = { start: at, time: undecoratedTime };
}

/**
 * After a syslog time: `[host ]kernel: …` (or RFC 5424 `host kernel procid msgid sd msg`).
 * Returns false when the tag is not the kernel's.
 */
function readTag(
  line: string,
  at: number,
  to: number,
  rfc5424: boolean,
  header: Header,
  ctx: HeaderContext,
) {
  let i = at;
  if (ch(i) !== 32) return false;
  i++;
  if (rfc5424) {
    // HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
    const fields: string[] = [];
    for (let k = 0; k < 4; k++) {
      const sp = line.indexOf(" ", i);
      if (sp < 0 || sp >= to) return false;
      fields.push(line.slice(i, sp));
      i = sp + 1;
    }
    if (fields[1] !== "kernel") return false;
    if (ch(i) === 45) i += 2; // "-"
    else if (ch(i) === 91) { // "["
      const close = line.indexOf("] ", i);
      if (close < 0 || close >= to) return false;
      i = close + 2;
    }
    skipKernelDecorations(line, i, to, header, ctx);
    return true;
  }
  if (!isKernelTag(i)) {
    const sp = spaceBefore(i, to);
    if (sp < 0) return false;
    i = sp + 1;
    if (!isKernelTag(i)) return false;
  }
  i += 7;
  if (ch(i) === 32) i++;
  skipKernelDecorations(line, i, to, header, ctx);
  return true;
}

/**
 * Parses the header of the line text[from, to), read in place (the text is usually a chunk of
 * many lines) and in its codes: `codes[k]` is the code of `text[base + k]` (see line_codes.ts).
 * Returns the header (`messageStart` is an index in `text`), or a rejection: `not_kernel`
 * (another program's line), `invalid_time` (a header whose time fields are out of range or do
 * not match the configured layout).
 */
export function parseHeader(
  text: string,
  codes: Uint8Array,
  base: number,
  ctx: HeaderContext,
  from: number,
  to: number,
): Header | HeaderRejection {
  lineCodes = codes;
  lineBase = base;
  const header = readHeader(text, ctx, from, to);
  // A kernel time or kmsg counter far out of range makes a date JavaScript cannot hold.
  if (typeof header !== "string" && header.time && Number.isNaN(header.time.getTime())) {
    return "invalid_time";
  }
  return header;
}

// Reading in place: the character after a line is a line feed (or the text ends), which every
// reader below stops at; searches are checked against `to`.
function readHeader(
  line: string,
  ctx: HeaderContext,
  from: number,
  to: number,
): Header | HeaderRejection {
  let i = from;
  let rfc5424 = false;
  // Optional syslog PRI "<13>", and RFC 5424's version "1 ".
  if (ch(from) === 60) {
    const close = line.indexOf(">", from);
    if (close > from + 1 && close <= from + 4 && /^\d+$/.test(line.slice(from + 1, close))) {
      // The facility is the kernel's (0: PRI 0-7) for kernel messages; `logger -t kernel`
      // writes as another (user: PRI 13), as kmsg records and dmesg -x tell apart too.
      if (Number(line.slice(from + 1, close)) >= 8) return "not_kernel";
      i = close + 1;
      if (ch(i) === 49 && ch(i + 1) === 32) { // "1 "
        rfc5424 = true;
        i += 2;
      }
    }
  }
  const header: Header = {
    time: undefined,
    messageStart: i,
    undecorated: undefined,
    kmsg: false,
    unknown: false,
  };
  if (ctx.layout) {
    // Layouts read freely: give them the line alone.
    const parsed = ctx.layout(line.slice(from, to), i - from, ctx.now);
    if (!parsed) return "invalid_time";
    header.time = parsed.time;
    return readTag(line, from + parsed.end, to, rfc5424, header, ctx) ? header : "not_kernel";
  }
  const c = ch(i);
  if (isDigit(c)) {
    const iso = readIsoTime(i);
    if (iso === "invalid") return "invalid_time";
    if (iso) {
      header.time = iso.local ? latestOccurrence(iso.time, ctx.now) : iso.time;
      if (readTag(line, iso.end, to, rfc5424, header, ctx)) return header;
      return rfc5424 || i !== from ? "not_kernel" : dmesgIsoMessage(iso.end, header);
    }
    const kmsg = parseKmsgHeader(line, i);
    if (kmsg && kmsg.messageStart <= to) {
      if (kmsg.facility !== 0) return "not_kernel";
      header.time = sinceBoot(ctx, Math.floor(kmsg.usec / 1000));
      header.messageStart = kmsg.messageStart;
      header.kmsg = true;
      return header;
    }
    const unix = readUnixTime(i);
    if (unix) {
      header.time = unix.time;
      return readTag(line, unix.end, to, false, header, ctx) ? header : "not_kernel";
    }
    header.unknown = true;
    return header;
  }
  if (c >= 65 && c <= 90) {
    const trad = readTraditionalTime(line, i, ctx.now);
    if (trad === "invalid") return "invalid_time";
    if (trad) {
      header.time = trad.time;
      return readTag(line, trad.end, to, rfc5424, header, ctx) ? header : "not_kernel";
    }
    const full = readFullTime(line, i);
    if (full === "invalid") return "invalid_time";
    if (full) {
      header.time = full.time;
      return readTag(line, full.end, to, false, header, ctx) ? header : "not_kernel";
    }
    header.unknown = true;
    return header;
  }
  if (c >= 97 && c <= 122) return readDmesgDecorated(line, i, to, header, ctx);
  return readBracketed(line, i, to, header, ctx, false);
}

/**
 * dmesg -x: `kern  :warn  : ` at `at`, then a time (`[ 1234.5]`, `-T`'s, an ISO time) or none;
 * other facilities are not the kernel's. A line starting with another word has no header.
 */
function readDmesgDecorated(
  line: string,
  at: number,
  to: number,
  header: Header,
  ctx: HeaderContext,
): Header | HeaderRejection {
  let wordEnd = at + 1;
  while (wordEnd - at < 8 && ((ch(wordEnd) >= 97 && ch(wordEnd) <= 122) || isDigit(ch(wordEnd)))) {
    wordEnd++;
  }
  const levelEnd = dmesgLevelEnd(wordEnd);
  const facility = levelEnd > 0 ? line.slice(at, wordEnd) : "";
  if (!FACILITIES.has(facility)) return readBracketed(line, at, to, header, ctx, false);
  if (facility !== "kern") return "not_kernel";
  header.messageStart = levelEnd;
  if (!isDigit(ch(levelEnd))) return readBracketed(line, levelEnd, to, header, ctx, true);
  // `dmesg -x --time-format=iso`
  const iso = readIsoTime(levelEnd);
  if (iso === "invalid") return "invalid_time";
  if (iso && ch(iso.end) === 32) {
    header.time = iso.time;
    header.messageStart = iso.end + 1;
  }
  return header;
}

/**
 * At `at`: a kernel time `[ 1234.5]` (dmesg; journalctl -o short-monotonic when `host kernel:`
 * follows), dmesg -T's `[Wed Nov 25 07:58:47 2026]`, or nothing known — then the header is
 * unknown unless a dmesg -x level was `decorated` before.
 */
function readBracketed(
  line: string,
  at: number,
  to: number,
  header: Header,
  ctx: HeaderContext,
  decorated: boolean,
): Header | HeaderRejection {
  const i = at;
  if (ch(i) === 91) {
    const end = kernelTimeEnd(i);
    if (end >= 0) {
      header.time = sinceBoot(ctx, kernelSeconds(line, i) * 1000);
      // journalctl -o short-monotonic: the kernel time, then `host kernel: `.
      if (ch(end - 1) === 32 && readTag(line, end - 1, to, false, header, ctx)) return header;
      header.messageStart = end;
      header.undecorated = { start: i, time: undefined };
      return header;
    }
    const wall = readDmesgWallTime(line, i, ctx.now);
    if (wall === "invalid") return "invalid_time";
    if (wall) {
      header.time = wall.time;
      header.messageStart = wall.end;
      return header;
    }
  }
  header.unknown = !decorated;
  return header;
}

/**
 * dmesg --time-format=iso prints the kernel's message right after the time, which ends at `at`
 * (dmesg prints kernel records only). Another program's syslog line (`<time> host prog: …`)
 * then has a message that does not start with a prefix, and is ignored as well.
 */
function dmesgIsoMessage(at: number, header: Header): Header | HeaderRejection {
  if (ch(at) !== 32) return "not_kernel";
  header.messageStart = at + 1;
  return header;
}

/** `1764057527.511188 ` (journalctl -o short-unix) at `at`: seconds since the epoch. */
function readUnixTime(at: number): { time: Date; end: number } | undefined {
  let i = at;
  let seconds = 0;
  while (isDigit(ch(i)) && i - at < 12) seconds = seconds * 10 + ch(i++) - 48;
  if (i - at < 9 || ch(i) !== 46) return undefined;
  const end = fractionEnd(i + 1);
  if (end === i + 1 || ch(end) !== 32) return undefined;
  return { time: new Date(seconds * 1000 + fractionMillis), end };
}

/**
 * `Wed 2026-11-25 07:58:47 UTC` (journalctl -o short-full) at `at`: a weekday, an ISO time and a
 * zone abbreviation (strftime's `%Z`); see {@link zoneTime}.
 */
function readFullTime(
  line: string,
  at: number,
): { time: Date; end: number } | "invalid" | undefined {
  if (ch(at + 3) !== 32 || !isDigit(ch(at + 4))) return undefined;
  const iso = readIsoTime(at + 4);
  if (iso === undefined || iso === "invalid") return iso;
  if (ch(iso.end) !== 32) return undefined;
  const zoneEnd = spaceBefore(iso.end + 1, iso.end + 8);
  if (zoneEnd < 0) return undefined;
  const time = zoneTime(iso.time, line.slice(iso.end + 1, zoneEnd));
  return time === undefined ? "invalid" : { time, end: zoneEnd };
}

/** Locales whose short zone names Intl knows for more zones than en-US's (IST, CET, AEST, JST…). */
const ZONE_NAME_LOCALES = [
  "en-US",
  "en-GB",
  "en-IE",
  "en-IN",
  "en-AU",
  "en-NZ",
  "en-CA",
  "en-ZA",
  "en-HK",
  "ja-JP",
];

/** The local zone's short names by its offset (minutes, as getTimezoneOffset gives it). */
const localZoneNamesCache = new Map<number, readonly string[]>();

/** A zone abbreviation in letters (`CET`, `MSK`), not `GMT+3`. */
const LETTERS = /^[A-Z]{2,6}$/;

/** The short names Intl knows for the local zone at `time` (`CET`, `GMT+1`, …). */
function localZoneNames(time: Date): readonly string[] {
  const offset = time.getTimezoneOffset();
  let names = localZoneNamesCache.get(offset);
  if (names === undefined) {
    const found = new Set<string>();
    for (const locale of ZONE_NAME_LOCALES) {
      const part = new Intl.DateTimeFormat(locale, { timeZoneName: "short" }).formatToParts(time)
        .find((p) => p.type === "timeZoneName");
      if (part) found.add(part.value);
    }
    names = [...found];
    localZoneNamesCache.set(offset, names);
  }
  return names;
}

/**
 * The time journalctl printed as `local` wall-clock fields (read as local time) in `zone`:
 * UTC, GMT; a numeric zone (`+0530`, `-03`: tzdata's names for zones without letters); or the
 * local zone's abbreviation at that date — in a repeated hour (DST ending) the abbreviation
 * tells which. Where Intl knows no letters for the local zone (MSK), any letters are taken as
 * local. A zone that is none of these (the log was written under another TZ) is undefined: no
 * time rather than a wrong one.
 */
export function zoneTime(local: Date, zone: string): Date | undefined {
  const fieldsAsUtc = () =>
    utcTime(
      local.getFullYear(),
      local.getMonth(),
      local.getDate(),
      local.getHours(),
      local.getMinutes(),
      local.getSeconds(),
      local.getMilliseconds(),
    );
  if (zone === "UTC" || zone === "GMT" || zone === "UCT") return new Date(fieldsAsUtc());
  const numeric = /^([+-])(\d\d)(?::?(\d\d))?$/.exec(zone);
  if (numeric) {
    const minutes = Number(numeric[2]) * 60 + Number(numeric[3] ?? 0);
    if (minutes >= 24 * 60) return undefined;
    return new Date(fieldsAsUtc() - (numeric[1] === "-" ? -1 : 1) * minutes * 60_000);
  }
  const names = localZoneNames(local);
  if (names.includes(zone)) return local;
  // Intl has no letters for some zones (MSK, China's CST: "GMT+3", "GMT+8"): their abbreviation
  // cannot be checked, and a log read where it was written is local time.
  if (LETTERS.test(zone) && !names.some((name) => LETTERS.test(name))) return local;
  // The same wall-clock time an hour later (the repeated hour), in the other abbreviation.
  const later = new Date(local.getTime() + 3_600_000);
  if (
    later.getHours() === local.getHours() && later.getMinutes() === local.getMinutes() &&
    localZoneNames(later).includes(zone)
  ) {
    return later;
  }
  return undefined;
}

/**
 * Where dmesg -T's `[Wed Nov 25 07:58:47 2026]` (fixed width: the day is `%e`) at `at` ends: the
 * index after its "]", or -1 when no such brackets are there.
 */
function dmesgWallClose(at: number): number {
  return ch(at) === 91 && ch(at + 25) === 93 ? at + 26 : -1;
}

/** dmesg -T's time (local) at `at` and the index after it and its space. */
function readDmesgWallTime(
  line: string,
  at: number,
  now: Date,
): { time: Date; end: number } | "invalid" | undefined {
  const close = dmesgWallClose(at);
  if (close < 0 || ch(at + 4) !== 32 || ch(at + 20) !== 32) return undefined;
  const year = num(at + 21, 4);
  if (year < 0) return undefined;
  const time = readTraditionalTime(line, at + 5, now, year);
  if (time === undefined || time === "invalid") return time;
  if (time.end !== at + 20) return undefined;
  return { time: time.time, end: ch(close) === 32 ? close + 1 : close };
}

/** After dmesg -x's `kern`: `  :warn  : ` (padded level name); the index after it, or -1. */
function dmesgLevelEnd(at: number): number {
  let i = at;
  while (ch(i) === 32) i++;
  if (ch(i) !== 58) return -1; // ":"
  i++;
  const word = i;
  while (ch(i) >= 97 && ch(i) <= 122) i++;
  if (i === word) return -1;
  while (ch(i) === 32) i++;
  if (ch(i) !== 58 || ch(i + 1) !== 32) return -1;
  return i + 2;
}
