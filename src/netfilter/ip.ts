/**
 * Canonical IP address text: dotted quad for IPv4, RFC 5952 for IPv6 (lower case, no leading
 * zeros, the longest run of two or more zero groups as `::`, IPv4-mapped addresses in mixed
 * notation). The kernel prints IPv6 fully expanded (`fd00:0244:0000:…:0010`); pods list
 * `fd00:244::10`; both must meet in one form.
 *
 * @example
 * ```ts
 * canonicalIp("fd00:0244:0000:0000:0000:0000:0000:0010"); // "fd00:244::10"
 * canonicalIp("10.244.1.10");                               // "10.244.1.10"
 * canonicalIp("::FFFF:0a00:0001");                          // "::ffff:10.0.0.1"
 * canonicalIp("10.1");                                      // undefined
 * ```
 * @module
 */

import { sliceApart } from "../text.ts";
import { hexDigit, OTHER } from "./line_codes.ts";

/** Codes (see line_codes.ts) of a short text, in a buffer of this module's own. */
const ipScratch = new Uint8Array(64);
function ipCodes(text: string): Uint8Array {
  const n = Math.min(text.length, ipScratch.length);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    ipScratch[i] = c < 0x80 ? c : OTHER;
  }
  return ipScratch;
}

/** Parses a dotted-quad IPv4 address into 4 bytes, or undefined. */
export function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (part.length === 0 || part.length > 3) return undefined;
    let value = 0;
    for (let i = 0; i < part.length; i++) {
      const c = part.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return undefined;
      value = value * 10 + c;
    }
    if (value > 255 || (part.length > 1 && part[0] === "0")) return undefined;
    bytes.push(value);
  }
  return bytes;
}

/** Parses IPv6 text (any valid form, including embedded IPv4) into 8 groups, or undefined. */
export function parseIpv6(text: string): number[] | undefined {
  if (text.length === 39) {
    const expanded = parseExpandedIpv6(ipCodes(text), 0);
    if (expanded) return expanded;
  }
  if (text.length < 2 || text.length > 45) return undefined;
  let head = text;
  let tail = "";
  const double = text.indexOf("::");
  if (double >= 0) {
    if (text.indexOf("::", double + 1) >= 0) return undefined;
    head = text.slice(0, double);
    tail = text.slice(double + 2);
  }
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const groups: number[] = [];
  const all = [...headGroups, ...tailGroups];
  const readGroups = (list: string[], out: number[], allowV4Last: boolean): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i];
      if (allowV4Last && i === list.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (!v4) return false;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (g.length === 0 || g.length > 4 || !/^[0-9a-fA-F]+$/.test(g)) return false;
      out.push(parseInt(g, 16));
    }
    return true;
  };
  const headOut: number[] = [];
  const tailOut: number[] = [];
  const v4InHead = double < 0;
  if (!readGroups(headGroups, headOut, v4InHead)) return undefined;
  if (!readGroups(tailGroups, tailOut, true)) return undefined;
  if (double < 0) {
    if (headOut.length !== 8) return undefined;
    return headOut;
  }
  const fill = 8 - headOut.length - tailOut.length;
  if (fill < 1 || all.length > 8) return undefined;
  groups.push(...headOut);
  for (let i = 0; i < fill; i++) groups.push(0);
  groups.push(...tailOut);
  return groups;
}

/** The kernel's form, at `from` in `codes`: 8 groups of exactly 4 hex digits. */
function parseExpandedIpv6(codes: Uint8Array, from: number): number[] | undefined {
  const groups = new Array<number>(8);
  for (let g = 0; g < 8; g++) {
    const at = from + g * 5;
    if (g < 7 && codes[at + 4] !== 58) return undefined;
    let value = 0;
    for (let k = 0; k < 4; k++) {
      const d = hexDigit(codes[at + k]);
      if (d < 0) return undefined;
      value = value * 16 + d;
    }
    groups[g] = value;
  }
  return groups;
}

/** Formats 8 IPv6 groups per RFC 5952. */
export function formatIpv6(groups: number[]): string {
  // IPv4-mapped (::ffff:a.b.c.d): mixed notation, as RFC 5952 section 5 recommends.
  if (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    return `::ffff:${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = "";
  for (let g = 0; g < 8; g++) {
    if (g === bestStart && bestLen >= 2) {
      out += g === 0 ? "::" : ":";
      g += bestLen - 1;
      continue;
    }
    out += groups[g].toString(16);
    if (g < 7) out += ":";
  }
  return out;
}

/** Whether `text` is a dotted quad in canonical form (no leading zeros). */
export function isCanonicalIpv4(text: string): boolean {
  return text.length >= 7 && text.length <= 15 &&
    isCanonicalIpv4Codes(ipCodes(text), 0, text.length);
}

/** Whether codes[from, to) is a dotted quad in canonical form, without allocating. */
export function isCanonicalIpv4Codes(codes: Uint8Array, from: number, to: number): boolean {
  if (to - from < 7 || to - from > 15) return false;
  let parts = 0, value = 0, digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? codes[i] : 46;
    if (c === 46) {
      if (digits === 0 || value > 255) return false;
      parts++;
      value = 0;
      digits = 0;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return false;
    if (digits === 1 && value === 0) return false; // leading zero
    value = value * 10 + d;
    digits++;
  }
  return parts === 4;
}

/** The canonical text of an IPv4 or IPv6 address, or undefined when `text` is not one. */
export function canonicalIp(text: string): string | undefined {
  if (text.indexOf(":") < 0) return isCanonicalIpv4(text) ? text : undefined;
  const groups = parseIpv6(text);
  return groups ? formatIpv6(groups) : undefined;
}

/**
 * {@link canonicalIp} of the address whose codes (see line_codes.ts) are codes[from, to) and
 * whose text starts at index `base + from` of `text`: the kernel's dotted quads and expanded
 * IPv6 addresses are checked in the codes, without cutting the text first.
 */
export function canonicalIpFromCodes(
  codes: Uint8Array,
  from: number,
  to: number,
  text: string,
  base: number,
  apart = true,
): string | undefined {
  if (isCanonicalIpv4Codes(codes, from, to)) {
    return sliceApart(text, base + from, base + to, apart);
  }
  if (to - from === 39) {
    // Drops come in floods between a few addresses: the last few expanded ones are remembered.
    for (let k = 0; k < EXPANDED_CACHE; k++) {
      if (sameCodes(codes, from, expandedCodes[k])) return expandedCanonical[k];
    }
    const groups = parseExpandedIpv6(codes, from);
    if (groups) {
      const canonical = formatIpv6(groups);
      expandedCodes[expandedNext].set(codes.subarray(from, to));
      expandedCanonical[expandedNext] = canonical;
      expandedNext = (expandedNext + 1) % EXPANDED_CACHE;
      return canonical;
    }
  }
  return canonicalIp(text.slice(base + from, base + to));
}

/** How many expanded IPv6 addresses {@link canonicalIpFromCodes} remembers. */
const EXPANDED_CACHE = 4;
// Codes no address has (zeros) until a slot is used.
const expandedCodes = Array.from({ length: EXPANDED_CACHE }, () => new Uint8Array(39));
const expandedCanonical: string[] = new Array(EXPANDED_CACHE).fill("");
let expandedNext = 0;

/** Whether codes[from, from + known.length) equal `known`. */
function sameCodes(codes: Uint8Array, from: number, known: Uint8Array): boolean {
  for (let i = 0; i < known.length; i++) if (codes[from + i] !== known[i]) return false;
  return true;
}

/** The IP family of canonical address text. */
export function ipFamily(ip: string): 4 | 6 {
  return ip.indexOf(":") >= 0 ? 6 : 4;
}

/** For an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), the IPv4 address; else undefined. */
export function unmapIpv4(ip: string): string | undefined {
  return ip.startsWith("::ffff:") && ip.indexOf(".") > 0 ? ip.slice(7) : undefined;
}
