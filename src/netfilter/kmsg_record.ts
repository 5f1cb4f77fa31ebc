/**
 * `/dev/kmsg` record syntax (Documentation/ABI/testing/dev-kmsg):
 * `prio,seq,usec,flags[,…];message` followed by optional continuation lines that start with a
 * space and carry `KEY=value` dictionary entries. Non-printable bytes in the message arrive
 * escaped as `\xNN`.
 *
 * @example
 * ```ts
 * parseKmsgHeader("4,352,252707962,-;kube-iptables-tailer: IN=cali1 …");
 * // { priority: 4, facility: 0, level: 4, seq: 352, usec: 252707962, flags: "-", messageStart: 21 }
 * ```
 * @module
 */

import { hexDigit } from "./line_codes.ts";

/** The fields of a kmsg record header, and where its message starts in the line. */
export interface KmsgHeader {
  /** The raw priority: facility * 8 + level. */
  priority: number;
  facility: number;
  level: number;
  /** The kernel's record sequence number (64-bit; safe as a number for ~285 years at 1 M/s). */
  seq: number;
  /** Microseconds since boot (the kernel's local clock). */
  usec: number;
  /** "-" (whole record), "c" (continuation starts) or "+" (continuation). */
  flags: string;
  /** Index in the line where the message begins (just after `;`). */
  messageStart: number;
}

function readUint(line: string, start: number, end: number): number {
  if (start >= end || end - start > 20) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return Number.isSafeInteger(value) ? value : -1;
}

/**
 * Parses the header of a kmsg record line, or returns undefined when the line is not one.
 * Cheap enough to try on every line: it rejects at the first non-digit.
 */
export function parseKmsgHeader(line: string, from = 0): KmsgHeader | undefined {
  const semi = line.indexOf(";", from);
  if (semi < 0 || semi - from > 64) return undefined;
  const c1 = line.indexOf(",", from);
  if (c1 < 0 || c1 > semi) return undefined;
  const c2 = line.indexOf(",", c1 + 1);
  if (c2 < 0 || c2 > semi) return undefined;
  const c3 = line.indexOf(",", c2 + 1);
  if (c3 < 0 || c3 > semi) return undefined;
  const c4 = line.indexOf(",", c3 + 1);
  const flagsEnd = c4 >= 0 && c4 < semi ? c4 : semi;
  const priority = readUint(line, from, c1);
  const seq = readUint(line, c1 + 1, c2);
  const usec = readUint(line, c2 + 1, c3);
  const flags = line.slice(c3 + 1, flagsEnd);
  if (priority < 0 || seq < 0 || usec < 0 || !/^[-c+]$/.test(flags)) return undefined;
  return {
    priority,
    facility: priority >> 3,
    level: priority & 7,
    seq,
    usec,
    flags,
    messageStart: semi + 1,
  };
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Undoes the kernel's `\xNN` escaping of the bytes of a kmsg message that are not printable
 * ASCII (and of `\`): the bytes are put back and read as UTF-8, so a prefix such as `drøp:`
 * (logged as `dr\xc3\xb8p:`) reads as written; invalid UTF-8 becomes U+FFFD.
 */
export function unescapeKmsg(message: string): string {
  if (message.indexOf("\\x") < 0) return message;
  const bytes = encoder.encode(message);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const hi = bytes[i] === 92 && bytes[i + 1] === 120 ? hexDigit(bytes[i + 2] ?? 0) : -1;
    const lo = hi >= 0 ? hexDigit(bytes[i + 3] ?? 0) : -1;
    if (lo >= 0) {
      bytes[n++] = hi * 16 + lo;
      i += 3;
    } else {
      bytes[n++] = bytes[i];
    }
  }
  return utf8.decode(bytes.subarray(0, n));
}
