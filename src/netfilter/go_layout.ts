/**
 * Go reference-time layouts (`PACKET_DROP_LOG_TIME_LAYOUT`, e.g. `2006-01-02T15:04:05.000000-07:00`
 * or `Jan _2 15:04:05`) compiled into a parser of the time at the start of a log line.
 *
 * Differences from Go's `time.Parse`, chosen for log headers: a layout without a year takes the
 * year that puts the time closest before `now` (syslog's December-read-in-January case); a
 * layout without a zone reads local time, like the syslog daemon that wrote it — unless a literal
 * `Z` follows the time (`2006-01-02T15:04:05.000Z`), which says UTC — and in the hour repeated
 * when summer time ends takes the occurrence closest before `now` ({@link latestOccurrence}).
 *
 * @example
 * ```ts
 * const parse = compileGoLayout("2006-01-02T15:04:05.000000-07:00");
 * parse("2026-11-25T07:58:47.511188+00:00 vm kernel: …", 0, new Date());
 * // { time: 2026-11-25T07:58:47.511Z, end: 32 }
 * ```
 * @module
 */

/** Parses a time at `start` of `text`; returns the time and the index after it, or undefined. */
export type TimeParser = (
  text: string,
  start: number,
  now: Date,
) => { time: Date; end: number } | undefined;

type Chunk =
  | { kind: "literal"; text: string }
  | { kind: "year4" | "year2" | "month" | "month2" | "monthName" | "monthLong" }
  | { kind: "day" | "day2" | "dayPadded" | "yday" | "weekday" | "weekdayLong" }
  | { kind: "hour24" | "hour12" | "hour12pad" | "minute" | "minute2" | "second" | "second2" }
  | { kind: "pm" | "PM" | "zoneName" }
  | { kind: "frac"; digits: number; optional: boolean }
  | { kind: "offset"; z: boolean; colon: boolean; seconds: boolean; hoursOnly: boolean };

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_LONG = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const DAYS_LONG = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** Layout tokens, longest first where they share a start (as Go's nextStdChunk decides). */
const TOKENS: [string, Chunk][] = [
  ["January", { kind: "monthLong" }],
  ["Jan", { kind: "monthName" }],
  ["Monday", { kind: "weekdayLong" }],
  ["Mon", { kind: "weekday" }],
  ["MST", { kind: "zoneName" }],
  ["2006", { kind: "year4" }],
  ["002", { kind: "yday" }],
  ["01", { kind: "month2" }],
  ["02", { kind: "day2" }],
  ["03", { kind: "hour12pad" }],
  ["04", { kind: "minute2" }],
  ["05", { kind: "second2" }],
  ["06", { kind: "year2" }],
  ["15", { kind: "hour24" }],
  ["__2", { kind: "yday" }],
  ["_2", { kind: "dayPadded" }],
  ["1", { kind: "month" }],
  ["2", { kind: "day" }],
  ["3", { kind: "hour12" }],
  ["4", { kind: "minute" }],
  ["5", { kind: "second" }],
  ["PM", { kind: "PM" }],
  ["pm", { kind: "pm" }],
  ["Z07:00:00", { kind: "offset", z: true, colon: true, seconds: true, hoursOnly: false }],
  ["-07:00:00", { kind: "offset", z: false, colon: true, seconds: true, hoursOnly: false }],
  ["Z070000", { kind: "offset", z: true, colon: false, seconds: true, hoursOnly: false }],
  ["-070000", { kind: "offset", z: false, colon: false, seconds: true, hoursOnly: false }],
  ["Z07:00", { kind: "offset", z: true, colon: true, seconds: false, hoursOnly: false }],
  ["-07:00", { kind: "offset", z: false, colon: true, seconds: false, hoursOnly: false }],
  ["Z0700", { kind: "offset", z: true, colon: false, seconds: false, hoursOnly: false }],
  ["-0700", { kind: "offset", z: false, colon: false, seconds: false, hoursOnly: false }],
  ["Z07", { kind: "offset", z: true, colon: false, seconds: false, hoursOnly: true }],
  ["-07", { kind: "offset", z: false, colon: false, seconds: false, hoursOnly: true }],
];

/** Splits a Go layout into chunks. */
export function tokenizeGoLayout(layout: string): Chunk[] {
  const chunks: Chunk[] = [];
  let literal = "";
  let i = 0;
  outer: while (i < layout.length) {
    const c = layout[i];
    // Fractional seconds: ".000" / ",999" followed by a non-digit.
    if ((c === "." || c === ",") && (layout[i + 1] === "0" || layout[i + 1] === "9")) {
      const digit = layout[i + 1];
      let j = i + 1;
      while (layout[j] === digit) j++;
      if (!/[0-9]/.test(layout[j] ?? "")) {
        if (literal) chunks.push({ kind: "literal", text: literal });
        literal = "";
        chunks.push({ kind: "frac", digits: j - i - 1, optional: digit === "9" });
        i = j;
        continue;
      }
    }
    // Go reads "_2006" as a literal "_" and the year, not "_2" (a padded day) and "006".
    if (layout.startsWith("_2006", i)) {
      literal += c;
      i++;
      continue;
    }
    for (const [token, chunk] of TOKENS) {
      if (!layout.startsWith(token, i)) continue;
      // Go reads "Jan"/"Mon" only when not followed by a lower-case letter ("Janet" is literal).
      if ((token === "Jan" || token === "Mon") && /[a-z]/.test(layout[i + 3] ?? "")) continue;
      if (literal) chunks.push({ kind: "literal", text: literal });
      literal = "";
      chunks.push(chunk);
      i += token.length;
      continue outer;
    }
    literal += c;
    i++;
  }
  if (literal) chunks.push({ kind: "literal", text: literal });
  return chunks;
}

function digits(text: string, at: number, min: number, max: number): [number, number] | undefined {
  let value = 0;
  let i = at;
  while (i < text.length && i - at < max) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    value = value * 10 + c;
    i++;
  }
  return i - at >= min ? [value, i] : undefined;
}

function word(text: string, at: number, names: string[]): [number, number] | undefined {
  for (let k = 0; k < names.length; k++) {
    if (text.startsWith(names[k], at)) return [k, at + names[k].length];
  }
  return undefined;
}

const TIME_OF_DAY = new Set<Chunk["kind"]>([
  "hour24",
  "hour12",
  "hour12pad",
  "minute",
  "minute2",
  "second",
  "second2",
  "frac",
]);

/**
 * Whether a layout without a zone field says UTC with a literal `Z` right after the time of day
 * (`2006-01-02T15:04:05.000Z`: Go reads "Z" as a zone only in `Z07…`). Go gives such times UTC
 * as it gives every zone-less time; here zone-less times are local, which a `Z` contradicts.
 */
function hasZuluLiteral(chunks: Chunk[]): boolean {
  if (chunks.some((c) => c.kind === "offset" || c.kind === "zoneName")) return false;
  return chunks.some((c, k) =>
    c.kind === "literal" && c.text.startsWith("Z") && k > 0 && TIME_OF_DAY.has(chunks[k - 1].kind)
  );
}

/** Compiles `layout`; throws a readable Error when the layout has no time fields at all. */
export function compileGoLayout(layout: string): TimeParser {
  const chunks = tokenizeGoLayout(layout);
  const hasField = chunks.some((c) => c.kind !== "literal");
  if (!hasField) throw new Error(`layout ${JSON.stringify(layout)} contains no Go time fields`);
  const hasYear = chunks.some((c) => c.kind === "year4" || c.kind === "year2");
  const hasDate = chunks.some((c) =>
    ["month", "month2", "monthName", "monthLong"].includes(c.kind)
  );
  const zulu = hasZuluLiteral(chunks);

  return (text, start, now) => {
    let year = now.getFullYear(), month = 1, day = 1, yday = -1;
    let hour = 0, minute = 0, second = 0, millis = 0;
    let pm: boolean | undefined;
    let offsetMinutes: number | undefined = zulu ? 0 : undefined;
    let i = start;
    for (let k = 0; k < chunks.length; k++) {
      const chunk = chunks[k];
      let r: [number, number] | undefined;
      switch (chunk.kind) {
        case "literal":
          if (!text.startsWith(chunk.text, i)) return undefined;
          i += chunk.text.length;
          continue;
        case "year4":
          r = digits(text, i, 4, 4);
          if (r) year = r[0];
          break;
        case "year2":
          r = digits(text, i, 2, 2);
          if (r) year = r[0] >= 69 ? 1900 + r[0] : 2000 + r[0];
          break;
        case "month":
        case "month2":
          r = digits(text, i, chunk.kind === "month" ? 1 : 2, 2);
          if (r) month = r[0];
          break;
        case "monthName":
          r = word(text, i, MONTHS);
          if (r) month = r[0] + 1;
          break;
        case "monthLong":
          r = word(text, i, MONTHS_LONG);
          if (r) month = r[0] + 1;
          break;
        case "dayPadded":
          if (text[i] === " ") i++;
          r = digits(text, i, 1, 2);
          if (r) day = r[0];
          break;
        case "day":
        case "day2":
          r = digits(text, i, chunk.kind === "day" ? 1 : 2, 2);
          if (r) day = r[0];
          break;
        case "yday":
          while (text[i] === " ") i++;
          r = digits(text, i, 1, 3);
          if (r) yday = r[0];
          break;
        case "weekday":
          r = word(text, i, DAYS);
          break;
        case "weekdayLong":
          r = word(text, i, DAYS_LONG);
          break;
        case "hour24":
          r = digits(text, i, 1, 2);
          if (r) hour = r[0];
          break;
        case "hour12":
        case "hour12pad":
          r = digits(text, i, chunk.kind === "hour12" ? 1 : 2, 2);
          if (r) hour = r[0];
          break;
        case "minute":
        case "minute2":
          r = digits(text, i, chunk.kind === "minute" ? 1 : 2, 2);
          if (r) minute = r[0];
          break;
        case "second":
        case "second2": {
          r = digits(text, i, chunk.kind === "second" ? 1 : 2, 2);
          if (r) second = r[0];
          // Go accepts a fraction after the seconds even when the layout does not name one.
          const next = chunks[k + 1];
          if (r && next?.kind !== "frac" && (text[r[1]] === "." || text[r[1]] === ",")) {
            const f = digits(text, r[1] + 1, 1, 9);
            if (f) {
              millis = Math.floor(Number(`0.${text.slice(r[1] + 1, f[1])}`) * 1000);
              r = [r[0], f[1]];
            }
          }
          break;
        }
        case "frac": {
          if (text[i] !== "." && text[i] !== ",") {
            if (chunk.optional) continue;
            return undefined;
          }
          r = digits(
            text,
            i + 1,
            chunk.optional ? 1 : chunk.digits,
            chunk.optional ? 9 : chunk.digits,
          );
          if (r) millis = Math.floor(Number(`0.${text.slice(i + 1, r[1])}`) * 1000);
          break;
        }
        case "PM":
        case "pm": {
          const t = text.slice(i, i + 2).toUpperCase();
          if (t !== "AM" && t !== "PM") return undefined;
          pm = t === "PM";
          r = [0, i + 2];
          break;
        }
        case "zoneName": {
          // Abbreviations are ambiguous; accept UTC/GMT/Z, otherwise read the time as local.
          const m = /^[A-Z]{3,5}|^[+-]\d{2}/.exec(text.slice(i, i + 5));
          if (!m) return undefined;
          if (m[0] === "UTC" || m[0] === "GMT") offsetMinutes = 0;
          r = [0, i + m[0].length];
          break;
        }
        case "offset": {
          if (chunk.z && text[i] === "Z") {
            offsetMinutes = 0;
            r = [0, i + 1];
            break;
          }
          const sign = text[i] === "+" ? 1 : text[i] === "-" ? -1 : 0;
          if (sign === 0) return undefined;
          let j = i + 1;
          const hh = digits(text, j, 2, 2);
          if (!hh) return undefined;
          j = hh[1];
          let mm = 0;
          if (!chunk.hoursOnly) {
            if (chunk.colon) {
              if (text[j] !== ":") return undefined;
              j++;
            }
            const m = digits(text, j, 2, 2);
            if (!m) return undefined;
            mm = m[0];
            j = m[1];
            if (chunk.seconds) {
              if (chunk.colon) {
                if (text[j] !== ":") return undefined;
                j++;
              }
              const s = digits(text, j, 2, 2);
              if (!s) return undefined;
              j = s[1];
            }
          }
          offsetMinutes = sign * (hh[0] * 60 + mm);
          r = [0, j];
          break;
        }
      }
      if (!r) return undefined;
      i = r[1];
    }
    if (pm !== undefined) {
      if (hour < 1 || hour > 12) return undefined;
      hour = (hour % 12) + (pm ? 12 : 0);
    }
    // A day of the year the year does not have is not rolled over into the next (as Go refuses).
    if (yday === 0 || yday > (hasYear ? (daysIn(2, year) === 29 ? 366 : 365) : 366)) {
      return undefined;
    }
    if (yday > 0 && !hasDate) {
      const d = new Date(utcTime(year, 0, yday, 0, 0, 0));
      month = d.getUTCMonth() + 1;
      day = d.getUTCDate();
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
      return undefined;
    }
    const build = (y: number) =>
      offsetMinutes === undefined
        ? localTime(y, month - 1, day, hour, minute, second, millis)
        : new Date(
          utcTime(y, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000,
        );
    // Without a year, the day must exist in a leap year (February 29 does, February 30 never).
    if (day > daysIn(month, hasYear ? year : 2000)) return undefined;
    let time = hasYear ? build(year) : inferYear(month, day, now, build);
    if (Number.isNaN(time.getTime())) return undefined;
    if (offsetMinutes === undefined) time = latestOccurrence(time, now);
    return { time, end: i };
  };
}

const HOUR_MS = 3_600_000;

/**
 * A local time as `new Date(y, m, d, h, …)` made it — or, when its wall-clock fields come again an
 * hour later (the hour repeated when summer time ends, whose first occurrence JavaScript takes),
 * that second occurrence if it is not after `now`: read live, a line of the second pass is a
 * minute old, not an hour (and expired). A time in the hour skipped when summer time starts,
 * which a writer in the same zone never logs, is read as the hour after (JavaScript's rule).
 */
export function latestOccurrence(time: Date, now: Date): Date {
  const ms = time.getTime();
  // Most lines are read within the hour they were written: no zone look-ups for them.
  if (ms + HOUR_MS > now.getTime()) return time;
  // Older lines (a log read later) mostly share their minute with the line before.
  const minute = Math.floor(ms / 60_000);
  if (minute !== checkedMinute) {
    checkedMinute = minute;
    checkedRepeats = new Date(ms + HOUR_MS).getTimezoneOffset() - time.getTimezoneOffset() === 60;
  }
  return checkedRepeats ? new Date(ms + HOUR_MS) : time;
}

/**
 * The minute (since the epoch) {@link latestOccurrence} last looked up, and whether its
 * wall-clock time comes again an hour later (zone changes fall on whole minutes).
 */
let checkedMinute = NaN;
let checkedRepeats = false;

/** Allowed clock skew before a year-less time counts as "last year". */
const FUTURE_SLACK_MS = 2 * 24 * 3600 * 1000;

/** 400 Gregorian years, in ms: the calendar repeats after them (146 097 days). */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/**
 * `Date.UTC` for every year: `Date.UTC` reads years 0-99 as 1900-1999. (`month0` is 0-11.)
 *
 * @example
 * ```ts
 * new Date(utcTime(99, 0, 1, 0, 0, 0)).toISOString(); // "0099-01-01T00:00:00.000Z"
 * ```
 */
export function utcTime(
  year: number,
  month0: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis = 0,
): number {
  return year >= 0 && year < 100
    ? Date.UTC(year + 400, month0, day, hour, minute, second, millis) - FOUR_CENTURIES_MS
    : Date.UTC(year, month0, day, hour, minute, second, millis);
}

/** `new Date(year, …)` (local time) for every year: it reads years 0-99 as 1900-1999. */
export function localTime(
  year: number,
  month0: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis = 0,
): Date {
  const time = new Date(year, month0, day, hour, minute, second, millis);
  if (year >= 0 && year < 100) time.setFullYear(year, month0, day);
  return time;
}

/** Days in `month` (1-12) of `year`. */
export function daysIn(month: number, year: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * The time of a date logged without a year (`month` 1-12, `day` valid in some year): this
 * year's, or the latest earlier year's that does not put it in the future (December lines
 * read in January; February 29 only in a leap year, not rolled over into March 1). "The future"
 * allows for clock skew: a January line read on December 31 is next year's when it is at most
 * that far ahead.
 */
export function inferYear(
  month: number,
  day: number,
  now: Date,
  build: (year: number) => Date,
): Date {
  // Next year is only within the skew of now across New Year: try it then, and only then (one
  // more date to build would cost every line).
  let year = month === 1 && now.getMonth() === 11 ? now.getFullYear() + 1 : now.getFullYear();
  // At most eight years back (February 29 around a century not divisible by 400).
  for (let k = 0;; k++, year--) {
    if (day > daysIn(month, year) && k < 8) continue;
    const time = build(year); // (once a line: the hot path of year-less headers)
    if (time.getTime() - now.getTime() <= FUTURE_SLACK_MS || k >= 8) return time;
  }
}
