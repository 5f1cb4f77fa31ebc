/**
 * Netfilter LOG records → {@link PacketDrop}s. Pure: no I/O, no clock unless given one.
 *
 * A record is ours when the text the kernel printed before `IN=` — trimmed — equals one of the
 * configured prefixes (also trimmed). That works for prefixes without a trailing space
 * (`DROP:IN=…`), prefixes starting with IN/OUT/SRC/DST (`INPUT-DROP: `), prefixes with spaces,
 * and 128-character nftables prefixes; and a prefix inside another program's message never
 * matches, because the header must say `kernel`.
 *
 * @example
 * ```ts
 * const parser = new DropParser({ prefixes: ["calico-packet:"] });
 * const r = parser.parseLine("2026-11-25T07:58:51.523218+00:00 vm kernel: [  274.690604] calico-packet: IN=cali1 OUT=cali3 SRC=10.244.1.10 DST=10.244.2.20 LEN=60 PROTO=TCP SPT=38786 DPT=9090 SYN");
 * // r.kind === "drop", r.drop.dpt === 9090
 * ```
 * @module
 */

import { compileGoLayout, type TimeParser } from "./go_layout.ts";
import { type HeaderContext, messageStartGuess, parseHeader } from "./header.ts";
import { hostileCharacter, parsePayload } from "./payload.ts";
import { firstUnsafeCharacter } from "../text.ts";
import { codesStartWith, firstControlCode, lineCodes, NOT_ASCII, OTHER } from "./line_codes.ts";
import { unescapeKmsg } from "./kmsg_record.ts";
import type { ParseResult } from "./types.ts";

/** Options of {@link DropParser}. */
export interface ParserOptions {
  /** Configured LOG prefixes (trimmed here; empty ones are refused by the config). */
  prefixes: readonly string[];
  /** `PACKET_DROP_LOG_TIME_LAYOUT`: a Go layout that replaces header auto-detection. */
  timeLayout?: string;
  /**
   * Wall-clock boot time (ms) for kmsg and dmesg times, or a function asked for it when the
   * first such line is read (see {@link HeaderContext.bootTimeMs}).
   */
  bootTimeMs?: HeaderContext["bootTimeMs"];
  /** Clock: year inference and the time of records that carry none. */
  now?: () => Date;
  /** Longer candidate lines are refused as `line_too_long` (default 64 KiB). */
  maxLineLength?: number;
  /**
   * Whether a drop's strings are copied out of the text they were read from (default true), so
   * that a drop kept for long does not keep the whole chunk of text in memory. A caller that
   * uses each drop at once (the `parse` command) saves the copies.
   */
  detach?: boolean;
  /**
   * Told of each line that looks like a netfilter LOG record (`IN=`, then ` SRC=` and ` DST=`)
   * but whose prefix is none of ours: its prefix text is text[start, end), trimmed, possibly
   * empty (a rule without one). Only such lines pay for it; `parse` uses it to name the prefixes
   * a log has when none of the given ones matched.
   */
  onForeignPrefix?: (text: string, start: number, end: number) => void;
}

const IGNORED: ParseResult = { kind: "ignored" };

/** After `IN=`, the rest of a LOG record's fields as the kernel prints them (one line only). */
const SRC_FIELD = /[^\n]*? SRC=/y;
const DST_FIELD = /[^\n]*? DST=/y;

/**
 * How much of a line the header and prefix are read from: the longest syslog header plus the
 * longest prefix (nftables allows 127 characters) fit with room to spare.
 */
const HEAD_LENGTH = 512;

/**
 * A prefix pattern: `*` stands for one or more characters other than whitespace (a policy or
 * tier name). The regex is sticky and captures the prefix text, followed by `IN=`.
 */
export function prefixPattern(prefix: string): RegExp {
  return new RegExp(`(${patternBody(prefix)})[ \t]*IN=`, "y");
}

/** The regex source of a prefix pattern (see {@link prefixPattern}). */
function patternBody(prefix: string): string {
  return prefix.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(
    "\\S+",
  );
}

/** Whether codes[from, to) hold a kmsg `\\x` escape (searched in the line only). */
function hasEscape(codes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to - 1; i++) if (codes[i] === 92 && codes[i + 1] === 120) return true;
  return false;
}

const REPEATED = "message repeated ";
const TIMES = " times: [";

/**
 * rsyslog's `message repeated N times: [<message>]` in codes[at - base, end - base): the count and
 * where the message starts and ends (before the closing "]"); undefined for other text.
 */
function repeatedMessage(
  codes: Uint8Array,
  base: number,
  at: number,
  end: number,
): { count: number; start: number; end: number } | undefined {
  let i = at - base;
  const last = end - base;
  // "m" first: most messages fail there.
  if (codes[i] !== 109 || !codesStartWith(codes, i, REPEATED)) return undefined;
  i += REPEATED.length;
  let count = 0;
  const digits = i;
  while (i < last && codes[i] >= 48 && codes[i] <= 57 && i - digits < 9) {
    count = count * 10 + codes[i++] - 48;
  }
  if (i === digits || count === 0) return undefined;
  if (!codesStartWith(codes, i, TIMES)) return undefined;
  i += TIMES.length;
  let close = last;
  while (close > i && (codes[close - 1] === 32 || codes[close - 1] === 9)) close--;
  if (close <= i || codes[close - 1] !== 93) return undefined; // "]"
  return { count, start: i + base, end: close - 1 + base };
}

/** Whitespace the kernel or a syslog daemon may put around a prefix. */
function isSpace(code: number): boolean {
  return code === 32 || code === 9;
}

/** Parses netfilter LOG records for a set of prefixes. */
export class DropParser {
  /** The prefixes, trimmed and de-duplicated, longest first. */
  readonly prefixes: readonly string[];
  /** The prefix the last successful {@link #findPrefix} matched. */
  #matched = "";
  /** Prefixes without wildcards, compared in place. */
  #literal: string[];
  /** Their first characters' codes (see line_codes.ts): most lines fail at the first. */
  #literalFirst: number[];
  /** Prefixes with `*` (e.g. `calico-drop *:` for Calico's policy-name prefixes), as regexes. */
  #patterns: RegExp[];
  /** The same, matching at the end of a text (see {@link #prefixInside}). */
  #patternEnds: RegExp[];
  /** The same, each with its prefix, matching a whole text (see {@link ruleOf}). */
  #patternWholes: [string, RegExp][];
  #layout: TimeParser | undefined;
  #bootTimeMs: HeaderContext["bootTimeMs"];
  #now: () => Date;
  #maxLineLength: number;
  #detach: boolean;
  #onForeignPrefix: ParserOptions["onForeignPrefix"];

  constructor(options: ParserOptions) {
    const trimmed = [...new Set(options.prefixes.map((p) => p.trim()).filter((p) => p !== ""))];
    if (trimmed.length === 0) throw new Error("at least one non-empty prefix is required");
    this.prefixes = trimmed.sort((a, b) => b.length - a.length);
    this.#literal = this.prefixes.filter((p) => !p.includes("*"));
    this.#literalFirst = this.#literal.map((p) => Math.min(p.charCodeAt(0), OTHER));
    const wildcards = this.prefixes.filter((p) => p.includes("*"));
    this.#patterns = wildcards.map(prefixPattern);
    this.#patternEnds = wildcards.map((p) => new RegExp(`(?:^|\\s)(?:${patternBody(p)})$`));
    this.#patternWholes = wildcards.map((p) => [p, new RegExp(`^(?:${patternBody(p)})$`)]);
    this.#layout = options.timeLayout ? compileGoLayout(options.timeLayout) : undefined;
    this.#bootTimeMs = options.bootTimeMs;
    this.#now = options.now ?? (() => new Date());
    this.#maxLineLength = options.maxLineLength ?? 65536;
    this.#detach = options.detach ?? true;
    this.#onForeignPrefix = options.onForeignPrefix;
  }

  /**
   * For a fast reader of the usual headers (fast_ndjson.ts): the literal prefixes in the order
   * lines are matched against them; undefined when a configured time layout replaces header
   * detection (such lines are this parser's alone).
   */
  get fastPathPrefixes(): readonly string[] | undefined {
    return this.#layout === undefined ? this.#literal : undefined;
  }

  /**
   * The configured prefix a drop's `prefix` was matched by: itself, or the `*` pattern it
   * matched. A bounded set, unlike the matched text (a policy name, or whatever a program that
   * writes to syslog as "kernel" puts there), so it is what metric labels may carry.
   */
  ruleOf(matched: string): string {
    // Literal prefixes are tried first when a line is parsed, so here too.
    if (this.#patternWholes.length === 0 || this.#literal.includes(matched)) return matched;
    for (const [prefix, whole] of this.#patternWholes) if (whole.test(matched)) return prefix;
    return matched;
  }

  /** Parses one log line: syslog (any header), a /dev/kmsg record, a dmesg line, or bare. */
  parseLine(line: string): ParseResult {
    const ctx = this.#context(this.#now());
    return this.#parseSpan(line, 0, line.length, line.indexOf("IN="), ctx, undefined);
  }

  /** A header context for lines read at `now` (one per scanned text, not one per line). */
  #context(now: Date): HeaderContext {
    return { now, bootTimeMs: this.#bootTimeMs, layout: this.#layout };
  }

  /**
   * Parses the line text[lineStart, lineEnd) whose first "IN=" is at `anchor`, in place: `text`
   * is usually a whole chunk, flat and fast to read, and nothing is cut from it but the fields a
   * drop keeps. The header and prefix are looked for in the line's first {@link HEAD_LENGTH}
   * characters.
   */
  #parseSpan(
    text: string,
    lineStart: number,
    lineEnd: number,
    anchor: number,
    ctx: HeaderContext,
    bytes: Uint8Array | undefined,
  ): ParseResult {
    if (lineEnd > lineStart && text.charCodeAt(lineEnd - 1) === 13) lineEnd--;
    // NUL bytes before a line are a hole in the file, not the line's: what a file system leaves
    // of writes lost in a crash (ext4's delayed allocation) before the syslog daemon goes on.
    while (lineStart < anchor && text.charCodeAt(lineStart) === 0) lineStart++;
    const headEnd = Math.min(lineEnd, lineStart + HEAD_LENGTH);
    if (anchor < lineStart || anchor + 3 > headEnd) return IGNORED;
    const codes = bytes ?? lineCodes(text, lineStart, lineEnd);
    const base = bytes ? 0 : lineStart;
    const header = parseHeader(text, codes, base, ctx, lineStart, headEnd);
    if (header === "not_kernel") return IGNORED;
    if (header === "invalid_time") {
      // Only an error when the line is otherwise one of ours.
      const guess = messageStartGuess(text, codes, base, lineStart, headEnd);
      return this.#findPrefix(text, codes, base, guess, headEnd) < 0 ? IGNORED : {
        kind: "error",
        reason: "invalid_time",
        detail: text.slice(lineStart, Math.min(headEnd, lineStart + 40)),
      };
    }
    const time = header.time ?? ctx.now;
    if (header.kmsg && hasEscape(codes, header.messageStart - base, lineEnd - base)) {
      // A kmsg record with escaped bytes: parse what the kernel logged.
      return this.parseMessage(unescapeKmsg(text.slice(header.messageStart, lineEnd)), time);
    }
    const result = this.#parseFrom(
      text,
      codes,
      base,
      lineStart,
      lineEnd,
      header.messageStart,
      time,
    );
    if (result !== IGNORED) return result;
    const repeated = repeatedMessage(codes, base, header.messageStart, lineEnd);
    if (repeated) {
      // rsyslog's RepeatedMsgReduction: one line for `count` more of the message before it.
      const inner = this.#parseFrom(
        text,
        codes,
        base,
        lineStart,
        repeated.end,
        repeated.start,
        time,
      );
      if (inner === IGNORED) return this.#foreign(text, repeated.start, headEnd);
      return inner.kind === "drop" ? { ...inner, count: repeated.count } : inner;
    }
    const bare = header.undecorated;
    if (bare !== undefined) {
      // What looked like a severity word or a kernel time may begin the prefix.
      const other = this.#parseFrom(
        text,
        codes,
        base,
        lineStart,
        lineEnd,
        bare.start,
        bare.time ?? ctx.now,
      );
      return other === IGNORED ? this.#foreign(text, header.messageStart, headEnd) : other;
    }
    // A header we do not know may be another program's: where its prefix would begin is unknown.
    if (header.unknown) return this.#unrecognised(text, lineStart, headEnd);
    return this.#foreign(text, header.messageStart, headEnd);
  }

  /**
   * A line none of whose prefixes is ours, its message starting at `messageStart`: if it looks
   * like a LOG record, its prefix text — what {@link #findPrefix} compares, the text before `IN=`,
   * trimmed — goes to {@link ParserOptions.onForeignPrefix}. Ignored either way.
   */
  #foreign(text: string, messageStart: number, headEnd: number): ParseResult {
    if (this.#onForeignPrefix === undefined) return IGNORED;
    const anchor = text.indexOf("IN=", messageStart);
    if (anchor < 0 || anchor + 3 > headEnd) return IGNORED;
    // Sticky searches that stop at the line's end: a line without the fields costs its length.
    SRC_FIELD.lastIndex = anchor;
    if (!SRC_FIELD.test(text)) return IGNORED;
    DST_FIELD.lastIndex = SRC_FIELD.lastIndex;
    if (!DST_FIELD.test(text)) return IGNORED;
    let start = messageStart;
    let end = anchor;
    while (start < end && isSpace(text.charCodeAt(start))) start++;
    while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
    this.#onForeignPrefix(text, start, end);
    return IGNORED;
  }

  /**
   * A line without a header we know, whose message does not start with a prefix: an
   * `unrecognised_header` error when a prefix and IN= are in it after all, else ignored.
   */
  #unrecognised(text: string, lineStart: number, headEnd: number): ParseResult {
    if (!this.#prefixInside(text, lineStart, headEnd)) return IGNORED;
    return {
      kind: "error",
      reason: "unrecognised_header",
      detail: text.slice(lineStart, Math.min(headEnd, lineStart + 40)),
    };
  }

  /**
   * Whether a configured prefix (after whitespace), then `IN=`, is anywhere in text[from, to). Only for
   * lines whose header was not recognised (and whose message did not start with a prefix).
   */
  #prefixInside(text: string, from: number, to: number): boolean {
    for (
      let at = text.indexOf("IN=", from);
      at >= 0 && at + 3 <= to;
      at = text.indexOf("IN=", at + 1)
    ) {
      let end = at;
      while (end > from && isSpace(text.charCodeAt(end - 1))) end--;
      for (const prefix of this.#literal) {
        // The prefix as a whole word: not the end of another rule's (`FW-DROP:` for `DROP:`).
        const start = end - prefix.length;
        if (
          start >= from && text.startsWith(prefix, start) &&
          (start === from || isSpace(text.charCodeAt(start - 1)))
        ) {
          return true;
        }
      }
      if (this.#patternEnds.length > 0) {
        const before = text.slice(from, end);
        if (this.#patternEnds.some((pattern) => pattern.test(before))) return true;
      }
    }
    return false;
  }

  /** Parses a record whose text is the bare kernel message (journald MESSAGE, kmsg record). */
  parseMessage(text: string, time?: Date): ParseResult {
    const codes = lineCodes(text, 0, text.length);
    return this.#parseFrom(text, codes, 0, 0, text.length, 0, time ?? this.#now());
  }

  /**
   * Scans many newline-separated lines (a `lines` batch) and reports each result that is not
   * "ignored". Non-matching lines cost a substring search: candidates are found by searching
   * the whole text first, and only their lines are cut out and parsed. `cut` lists the ends
   * (index of "\n") of lines the reader cut at the length cap: those are `line_too_long`.
   * `bytes`, when given, are the text's bytes, one per character (see line_codes.ts); then each
   * candidate line of a length not refused is offered to `fastLine` first, if given: a line it
   * takes (returns true for) is not parsed here, and reported to it alone; it is given the
   * scan's `now` (the reference time of every line of the scan: year inference).
   */
  scan(
    text: string,
    onResult: (result: ParseResult) => void,
    cut?: readonly number[],
    bytes?: Uint8Array,
    fastLine?: (
      text: string,
      bytes: Uint8Array,
      lineStart: number,
      lineEnd: number,
      now: Date,
    ) => boolean,
  ): void {
    // Every LOG line has "IN=" right after its prefix: one pass for that anchor beats one
    // pass per prefix (it is rare in other lines, and V8 finds it at memory speed).
    const ctx = this.#context(this.#now());
    let at = text.indexOf("IN=");
    while (at >= 0) {
      const lineStart = text.lastIndexOf("\n", at) + 1;
      let lineEnd = text.indexOf("\n", at);
      if (lineEnd < 0) lineEnd = text.length;
      // A line the reader cut at its length cap is only the start of a longer one.
      const cutHere = cut !== undefined && cut.includes(lineEnd);
      if (cutHere || lineEnd - lineStart > this.#maxLineLength) {
        const result = this.#tooLong(text, lineStart, lineEnd, ctx);
        if (result.kind !== "ignored") onResult(result);
      } else if (
        bytes === undefined || fastLine === undefined ||
        !fastLine(text, bytes, lineStart, lineEnd, ctx.now)
      ) {
        const result = this.#parseSpan(text, lineStart, lineEnd, at, ctx, bytes);
        if (result.kind !== "ignored") onResult(result);
      }
      at = lineEnd < text.length ? text.indexOf("IN=", lineEnd + 1) : -1;
    }
  }

  #tooLong(text: string, lineStart: number, lineEnd: number, ctx: HeaderContext): ParseResult {
    // Only ours if the header and prefix say so; look at the line's beginning only.
    const headEnd = Math.min(lineEnd, lineStart + HEAD_LENGTH);
    const codes = lineCodes(text, lineStart, headEnd);
    const header = parseHeader(text, codes, lineStart, ctx, lineStart, headEnd);
    if (typeof header === "string") return IGNORED;
    return this.#findPrefix(text, codes, lineStart, header.messageStart, headEnd) < 0
      ? IGNORED
      : { kind: "error", reason: "line_too_long", detail: `longer than ${this.#maxLineLength}` };
  }

  /**
   * Finds the prefix: the text between `messageStart` and an `IN=` ending by `to`, trimmed,
   * equals one of the prefixes. Returns the index of that `IN=` (the prefix is left in
   * {@link #matched}), or -1. Compares in place: no string is cut for lines that match.
   */
  #findPrefix(
    line: string,
    codes: Uint8Array,
    base: number,
    messageStart: number,
    to: number,
  ): number {
    let start = messageStart;
    while (isSpace(codes[start - base])) start++;
    const first = codes[start - base];
    for (let k = 0; k < this.#literal.length; k++) {
      const prefix = this.#literal[k];
      if (first !== this.#literalFirst[k] || !line.startsWith(prefix, start)) continue;
      let at = start + prefix.length;
      while (isSpace(codes[at - base])) at++;
      const i = at - base;
      if (at + 3 <= to && codes[i] === 73 && codes[i + 1] === 78 && codes[i + 2] === 61) { // IN=
        this.#matched = prefix;
        return at;
      }
    }
    for (const pattern of this.#patterns) {
      pattern.lastIndex = start;
      const m = pattern.exec(line);
      if (m && start + m[0].length <= to) {
        this.#matched = m[1];
        return start + m[0].length - 3;
      }
    }
    return -1;
  }

  /**
   * Parses text[lineStart, lineEnd), whose header ends at `messageStart`; `codes[k]` is the code
   * of `text[base + k]` (see line_codes.ts).
   */
  #parseFrom(
    text: string,
    codes: Uint8Array,
    base: number,
    lineStart: number,
    lineEnd: number,
    messageStart: number,
    time: Date,
  ): ParseResult {
    const headEnd = Math.min(lineEnd, lineStart + HEAD_LENGTH);
    const payload = this.#findPrefix(text, codes, base, messageStart, headEnd);
    if (payload < 0) return IGNORED;
    if (lineEnd - lineStart > this.#maxLineLength) {
      return {
        kind: "error",
        reason: "line_too_long",
        detail: `longer than ${this.#maxLineLength}`,
      };
    }
    // Control and invisible formatting characters are refused anywhere in the line; tabs only
    // in the fields (a syslog header may carry one).
    let hostile = firstControlCode(codes, lineStart - base, lineEnd - base, payload - base);
    if (hostile >= 0) hostile += base;
    else if (hostile === NOT_ASCII) {
      hostile = firstUnsafeCharacter(text, lineStart, lineEnd);
      while (hostile >= 0 && hostile < payload && text.charCodeAt(hostile) === 9) {
        hostile = firstUnsafeCharacter(text, hostile + 1, lineEnd);
      }
    }
    if (hostile >= 0) return { kind: "error", ...hostileCharacter(text, hostile, lineStart) };
    const drop = parsePayload(
      text,
      codes,
      base,
      payload,
      lineEnd,
      time,
      this.#matched,
      this.#detach,
    );
    if ("reason" in drop) return { kind: "error", reason: drop.reason, detail: drop.detail };
    return { kind: "drop", drop };
  }
}
