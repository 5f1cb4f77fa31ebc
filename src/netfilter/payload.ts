/**
 * The part of a netfilter LOG message from `IN=` on, as written by the kernel's nf_log_syslog:
 * `IN= OUT= [PHYSIN= PHYSOUT=] [MAC=|MACSRC= MACDST= MACPROTO=] SRC= DST= LEN= …ip fields… [flags]
 * [OPT (…)] PROTO=… …transport fields… [UID= GID=] [MARK=]`.
 *
 * Keys repeat with different meanings: the first `LEN=`/`ID=` belong to IP, the ones after
 * `PROTO=` to UDP/ICMP; the packet embedded in an ICMP error (`[SRC=… ]`) never overrides the
 * outer fields. IPv6 extension headers (`OPT ( FRAG:1448 INCOMPLETE ID:0000abcd ) `, with
 * `--log-ip-options`) are read word by word, not as IPv4's hex options. The kernel prints no
 * `PROTO=` for IPv6 ESP, for what follows a non-first IPv6 fragment or an unknown extension
 * header, and for IPv4 AH fragments: such a drop has the protocol `ESP` or `AH` when the
 * extension headers named it, else `unknown`.
 *
 * This is the hot path for drop lines, so it walks the line by character codes and cuts out
 * only the strings it keeps; numbers are read in place.
 * @module
 */

import { sliceApart as keep } from "../text.ts";
import { canonicalIp, canonicalIpFromCodes, ipFamily } from "./ip.ts";
import { codesStartWith, hexDigit } from "./line_codes.ts";
import type { EmbeddedPacket, PacketDrop, ParseErrorReason } from "./types.ts";

/** A payload parse failure. */
export interface PayloadError {
  reason: ParseErrorReason;
  detail: string;
}

const MAX_U32 = 4294967295;
const SPACE = 32;
const EQUALS = 61;

/** Reads an unsigned decimal in codes[from, to); -1 when it is not one or exceeds `max`. */
export function readUint(codes: Uint8Array, from: number, to: number, max: number): number {
  if (to <= from || to - from > 10) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = codes[i] - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= max ? n : -1;
}

/** Reads hex (with or without 0x) in codes[from, to); -1 when invalid or above `max`. */
export function readHex(codes: Uint8Array, from: number, to: number, max: number): number {
  let i = from;
  if (codes[i] === 48 && (codes[i + 1] | 32) === 120) i += 2;
  if (to <= i || to - i > 8) return -1;
  let n = 0;
  for (; i < to; i++) {
    const d = hexDigit(codes[i]);
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n <= max ? n : -1;
}

/** Whether codes[from, to) are hex digits only (and not none). */
export function isHexDigits(codes: Uint8Array, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) if (hexDigit(codes[i]) < 0) return false;
  return true;
}

/** Whether codes[from, to) are ASCII letters and digits only. */
export function isAlphanumeric(codes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = codes[i];
    const lower = c | 32;
    if (!((c >= 48 && c <= 57) || (lower >= 97 && lower <= 122))) return false;
  }
  return true;
}

/** The `invalid_ip` error for the field text[tokenStart, to) whose value starts at `from`. */
function ipError(line: string, tokenStart: number, from: number, to: number): PayloadError {
  return { reason: "invalid_ip", detail: line.slice(tokenStart, Math.min(to, from + 60)) };
}

function numberError(line: string, from: number, to: number): PayloadError {
  return { reason: "invalid_number", detail: line.slice(from - 1, Math.min(to, from + 40)) };
}

/** The error for a hostile character at `at`. */
export function hostileCharacter(line: string, at: number, lineStart: number): PayloadError {
  const c = line.charCodeAt(at);
  const where = `at ${at - lineStart} in the line`;
  if (c === 0xfffd) return { reason: "invalid_utf8", detail: where };
  return {
    reason: "control_characters",
    detail: `U+${c.toString(16).padStart(4, "0")} ${where}`,
  };
}

/** Where the first malformed number of the payload being parsed starts and ends (-1: none). */
let badFrom = -1;
let badTo = -1;

/** Reads a decimal field value; a malformed one is remembered in {@link badFrom}. */
function uint(codes: Uint8Array, from: number, to: number, max: number): number {
  const v = readUint(codes, from, to, max);
  if (v < 0 && badFrom < 0) {
    badFrom = from;
    badTo = to;
  }
  return v;
}

/** Reads a hex field value; a malformed one is remembered in {@link badFrom}. */
function hex(codes: Uint8Array, from: number, to: number, max: number): number {
  const v = readHex(codes, from, to, max);
  if (v < 0 && badFrom < 0) {
    badFrom = from;
    badTo = to;
  }
  return v;
}

/** The index of the first `code` in codes[from, to), or `to`. */
function find(codes: Uint8Array, from: number, to: number, code: number): number {
  let i = from;
  while (i < to && codes[i] !== code) i++;
  return i;
}

/**
 * Parses the payload of `line` starting at `start` (the `I` of `IN=`) into a drop with the given
 * time and prefix; every key of the drop is present (undefined when not printed).
 * Returns the drop or an error; never throws. The caller has refused lines with control or
 * invisible formatting characters, and gives the line's codes (see line_codes.ts): `codes[k]`
 * is the code of `line[base + k]`. The loops read codes; only kept values are cut from `line`,
 * as strings of their own unless `apart` is false (see sliceApart).
 *
 * Keys and flag words are recognised by their length and their first eight characters packed
 * into two integers while the token is scanned, so no string is cut for a key.
 */
export function parsePayload(
  line: string,
  codes: Uint8Array,
  base: number,
  start: number,
  end: number,
  time: Date,
  prefix: string,
  apart = true,
): PacketDrop | PayloadError {
  let inIf: string | undefined, outIf: string | undefined;
  let physIn: string | undefined, physOut: string | undefined;
  let mac: string | undefined, macSrc: string | undefined, macDst: string | undefined;
  let macProto: string | undefined;
  let src: string | undefined, dst: string | undefined, proto: string | undefined;
  let len = -1, tos = -1, prec = -1, ttl = -1, id = -1, tc = -1, hopLimit = -1, flowLabel = -1;
  let fragment = -1, spt = -1, dpt = -1, seq = -1, ack = -1, window = -1, res = -1, urgp = -1;
  let udpLen = -1, icmpId = -1, icmpSeq = -1, icmpType = -1, icmpCode = -1, mtu = -1;
  let parameter = -1, spi = -1, uid = -1, gid = -1, mark = -1;
  let gateway: string | undefined, ipOptions: string | undefined, tcpOptions: string | undefined;
  let flags: string[] | undefined;
  /** `AH` or `ESP` when IPv6 extension headers named one (they then print no `PROTO=`). */
  let ipsec: string | undefined;
  let embedded: EmbeddedPacket | undefined;
  let depth = 0;
  badFrom = -1;
  // Indexes below are in `codes`; `base +` makes them indexes in `line`.
  const n = end - base;
  let i = start - base;

  while (i < n) {
    if (codes[i] === SPACE) {
      i++;
      continue;
    }
    // Find the token's end and its "=", packing its key (up to "=") into k1 and k2 (its first
    // eight characters), `bits` telling whether they are all ASCII.
    let tokenStart = i;
    let eq = -1;
    let k1 = 0, k2 = 0, bits = 0;
    let end = i;
    for (; end < n; end++) {
      const c = codes[end];
      if (c === SPACE || c === EQUALS) break;
      bits |= c;
      if (end - i < 4) k1 = (k1 << 8) | c;
      else if (end - i < 8) k2 = (k2 << 8) | c;
    }
    if (end < n && codes[end] === EQUALS) {
      // The value: a loop of its own, kept small (it reads most of the line).
      eq = end++;
      while (end < n && codes[end] !== SPACE) end++;
    }
    let tokenEnd = end;
    i = end + 1;
    const first = codes[tokenStart];

    // `OPT (hex)` and `INCOMPLETE [n bytes]` carry spaces; read them as one unit.
    if (
      k1 === 0x4f5054 && bits < 128 && tokenEnd - tokenStart === 3 && end < n &&
      codes[end + 1] === 40
    ) { // "OPT ("
      // IPv6's "OPT ( …words… )": go on with the words (the parentheses are words too).
      if (codes[end + 2] === SPACE) continue;
      const close = find(codes, tokenEnd, n, 41); // ")"
      // Hex only: "OPT (TRUNCATED)" says the options could not be read.
      if (depth === 0 && isHexDigits(codes, end + 2, close)) {
        const hex = keep(line, base + end + 2, base + close, apart);
        if (proto === undefined) ipOptions ??= hex;
        else tcpOptions ??= hex;
      }
      i = close + 1;
      continue;
    }
    if (first === 73 && codesStartWith(codes, tokenStart, "INCOMPLETE [")) {
      const close = find(codes, tokenEnd, n, 93); // "]"
      i = close + 1;
      continue;
    }
    if (first === 91 || depth > 0) {
      // "[SRC=…": the packet that caused an ICMP error, up to the matching "]". (Outside it a
      // "]" belongs to the value: interface names may end in one.)
      let closes = 0;
      while (tokenEnd > tokenStart && codes[tokenEnd - 1] === 93) {
        tokenEnd--;
        closes++;
      }
      if (first === 91) {
        depth++;
        tokenStart++;
        embedded ??= {};
      }
      if (eq > tokenStart && eq < tokenEnd && embedded) {
        readEmbedded(
          embedded,
          line.slice(base + tokenStart, base + eq),
          keep(line, base + eq + 1, base + tokenEnd, apart),
        );
      }
      depth = depth > closes ? depth - closes : 0;
      continue;
    }
    if (tokenEnd <= tokenStart) continue;
    if (eq >= tokenEnd) eq = -1;
    if (eq < 0) {
      // Bare words: IP and TCP flags, and the fragment offset.
      const length = tokenEnd - tokenStart;
      let flag: string | undefined;
      if (bits > 127) {
        // No flag word has other characters.
      } else if (length === 2) {
        flag = k1 === 0x4446
          ? "DF"
          : k1 === 0x4d46
          ? "MF"
          : k1 === 0x4345
          ? "CE"
          : k1 === 0x4145
          ? "AE" // TCP's AccECN flag (Linux 6.x)
          : undefined;
        if (k1 === 0x4148) ipsec ??= "AH";
      } else if (length === 3) {
        if (k1 === 0x455350) ipsec ??= "ESP";
        switch (k1) {
          case 0x53594e:
            flag = "SYN";
            break;
          case 0x41434b:
            flag = "ACK";
            break;
          case 0x46494e:
            flag = "FIN";
            break;
          case 0x525354:
            flag = "RST";
            break;
          case 0x505348:
            flag = "PSH";
            break;
          case 0x555247:
            flag = "URG";
            break;
          case 0x454345:
            flag = "ECE";
            break;
          case 0x435752:
            flag = "CWR";
            break;
        }
      }
      if (k1 === 0x46524147 && fragment < 0 && codes[tokenStart + 4] === 58) { // "FRAG:"
        fragment = uint(codes, tokenStart + 5, tokenEnd, 65535);
      }
      if (flag !== undefined) (flags ??= []).push(flag);
      continue;
    }
    if (bits > 127) continue; // no key has other characters
    const v = eq + 1;
    switch (eq - tokenStart) {
      case 2:
        if (k1 === 0x494e) inIf ??= keep(line, base + v, base + tokenEnd, apart); // IN
        else if (k1 === 0x4944) { // ID
          if (proto === undefined) { if (id < 0) id = uint(codes, v, tokenEnd, MAX_U32); }
          else if (icmpId < 0) icmpId = uint(codes, v, tokenEnd, MAX_U32);
        } else if (k1 === 0x5443 && tc < 0) tc = uint(codes, v, tokenEnd, 255); // TC
        break;
      case 3:
        switch (k1) {
          case 0x4f5554: // OUT
            outIf ??= keep(line, base + v, base + tokenEnd, apart);
            break;
          case 0x4d4143: // MAC
            mac ??= keep(line, base + v, base + tokenEnd, apart);
            break;
          case 0x535243: // SRC
            if (src === undefined) {
              src = canonicalIpFromCodes(codes, v, tokenEnd, line, base, apart);
              if (src === undefined) {
                return ipError(line, base + tokenStart, base + v, base + tokenEnd);
              }
            }
            break;
          case 0x445354: // DST
            if (dst === undefined) {
              dst = canonicalIpFromCodes(codes, v, tokenEnd, line, base, apart);
              if (dst === undefined) {
                return ipError(line, base + tokenStart, base + v, base + tokenEnd);
              }
            }
            break;
          case 0x4c454e: // LEN
            if (proto === undefined) { if (len < 0) len = uint(codes, v, tokenEnd, 1048575); }
            else if (udpLen < 0) udpLen = uint(codes, v, tokenEnd, 1048575);
            break;
          case 0x544f53: // TOS
            if (tos < 0) tos = hex(codes, v, tokenEnd, 255);
            break;
          case 0x54544c: // TTL
            if (ttl < 0) ttl = uint(codes, v, tokenEnd, 255);
            break;
          case 0x535054: // SPT
            if (spt < 0) spt = uint(codes, v, tokenEnd, 65535);
            break;
          case 0x445054: // DPT
            if (dpt < 0) dpt = uint(codes, v, tokenEnd, 65535);
            break;
          case 0x534551: // SEQ
            if (proto === "TCP") { if (seq < 0) seq = uint(codes, v, tokenEnd, MAX_U32); }
            else if (icmpSeq < 0) icmpSeq = uint(codes, v, tokenEnd, MAX_U32);
            break;
          case 0x41434b: // ACK
            if (ack < 0) ack = uint(codes, v, tokenEnd, MAX_U32);
            break;
          case 0x524553: // RES
            if (res < 0) res = hex(codes, v, tokenEnd, 255);
            break;
          case 0x4d5455: // MTU
            if (mtu < 0) mtu = uint(codes, v, tokenEnd, MAX_U32);
            break;
          case 0x535049: // SPI
            if (spi < 0) spi = hex(codes, v, tokenEnd, MAX_U32);
            break;
          case 0x554944: // UID
            if (uid < 0) uid = uint(codes, v, tokenEnd, MAX_U32);
            break;
          case 0x474944: // GID
            if (gid < 0) gid = uint(codes, v, tokenEnd, MAX_U32);
            break;
        }
        break;
      case 4:
        switch (k1) {
          case 0x50524543: // PREC
            if (prec < 0) prec = hex(codes, v, tokenEnd, 255);
            break;
          case 0x54595045: // TYPE
            if (icmpType < 0) icmpType = uint(codes, v, tokenEnd, 255);
            break;
          case 0x434f4445: // CODE
            if (icmpCode < 0) icmpCode = uint(codes, v, tokenEnd, 255);
            break;
          case 0x4d41524b: // MARK
            if (mark < 0) mark = hex(codes, v, tokenEnd, MAX_U32);
            break;
          case 0x55524750: // URGP
            if (urgp < 0) urgp = uint(codes, v, tokenEnd, 65535);
            break;
        }
        break;
      case 5:
        if (k1 === 0x50524f54 && k2 === 0x4f && proto === undefined) { // PROTO
          // The kernel prints a name (TCP, ICMPv6, …) or a number: letters and digits.
          if (tokenEnd === v || tokenEnd - v > 16 || !isAlphanumeric(codes, v, tokenEnd)) {
            return {
              reason: "malformed",
              detail: line.slice(base + tokenStart, base + Math.min(tokenEnd, v + 20)),
            };
          }
          proto = keep(line, base + v, base + tokenEnd, apart);
        }
        break;
      case 6:
        if (k1 === 0x57494e44 && k2 === 0x4f57) { // WINDOW
          if (window < 0) window = uint(codes, v, tokenEnd, 65535);
        } else if (k1 === 0x50485953 && k2 === 0x494e) {
          physIn ??= keep(line, base + v, base + tokenEnd, apart); // PHYSIN
        } else if (k1 === 0x4d414353 && k2 === 0x5243) {
          macSrc ??= keep(line, base + v, base + tokenEnd, apart); // MACSRC
        } else if (k1 === 0x4d414344 && k2 === 0x5354) {
          macDst ??= keep(line, base + v, base + tokenEnd, apart); // MACDST
        }
        break;
      case 7:
        if (k1 === 0x464c4f57 && k2 === 0x4c424c) { // FLOWLBL
          if (flowLabel < 0) flowLabel = uint(codes, v, tokenEnd, 0xfffff);
        } else if (k1 === 0x50485953 && k2 === 0x4f5554) {
          physOut ??= keep(line, base + v, base + tokenEnd, apart); // PHYSOUT
        } else if (k1 === 0x47415445 && k2 === 0x574159) { // GATEWAY
          gateway ??= canonicalIpFromCodes(codes, v, tokenEnd, line, base, apart);
        } else if (k1 === 0x504f494e && k2 === 0x544552 && parameter < 0) { // POINTER
          parameter = hex(codes, v, tokenEnd, MAX_U32); // ICMPv6 prints it as %08x
        }
        break;
      case 8:
        if (k1 === 0x484f504c && k2 === 0x494d4954) { // HOPLIMIT
          if (hopLimit < 0) hopLimit = uint(codes, v, tokenEnd, 255);
        } else if (k1 === 0x4d414350 && k2 === 0x524f544f) { // MACPROTO
          macProto ??= keep(line, base + v, base + tokenEnd, apart);
        }
        break;
      case 9:
        if (
          k1 === 0x50415241 && k2 === 0x4d455445 && codes[tokenStart + 8] === 82 &&
          parameter < 0
        ) { // PARAMETER
          parameter = uint(codes, v, tokenEnd, MAX_U32);
        }
        break;
    }
  }

  if (inIf === undefined || outIf === undefined) {
    return { reason: "malformed", detail: inIf === undefined ? "no IN=" : "no OUT=" };
  }
  if (src === undefined && dst === undefined) {
    return { reason: "not_ip", detail: "no SRC= and no DST= (ARP or another non-IP packet)" };
  }
  if (src === undefined) return { reason: "missing_src", detail: "no SRC=" };
  if (dst === undefined) return { reason: "missing_dst", detail: "no DST=" };
  if (badFrom >= 0) return numberError(line, base + badFrom, base + badTo);
  const family = ipFamily(src);
  // IPv4 prints the fragment offset in 8-byte units, IPv6 in bytes: bytes for both.
  if (family === 4 && fragment > 0) fragment *= 8;
  if (family !== ipFamily(dst)) {
    return { reason: "invalid_ip", detail: `SRC=${src} and DST=${dst} differ in family` };
  }
  const opt = (x: number) => (x < 0 ? undefined : x);
  // One object shape for every drop (cheap to build, cheap to read).
  return {
    time,
    prefix,
    in: inIf,
    out: outIf,
    src,
    dst,
    proto: proto ?? ipsec ?? "unknown",
    spt: opt(spt),
    dpt: opt(dpt),
    icmpType: opt(icmpType),
    icmpCode: opt(icmpCode),
    family,
    physIn,
    physOut,
    mac,
    macSrc,
    macDst,
    macProto,
    len: opt(len),
    tos: opt(tos),
    prec: opt(prec),
    ttl: opt(ttl),
    id: opt(id),
    tc: opt(tc),
    hopLimit: opt(hopLimit),
    flowLabel: opt(flowLabel),
    fragment: opt(fragment),
    flags,
    seq: opt(seq),
    ack: opt(ack),
    window: opt(window),
    res: opt(res),
    urgp: opt(urgp),
    udpLen: opt(udpLen),
    icmpId: opt(icmpId),
    icmpSeq: opt(icmpSeq),
    mtu: opt(mtu),
    gateway,
    parameter: opt(parameter),
    spi: opt(spi),
    uid: opt(uid),
    gid: opt(gid),
    mark: opt(mark),
    ipOptions,
    tcpOptions,
    embedded,
  };
}

function readEmbedded(packet: EmbeddedPacket, key: string, value: string): void {
  const uint = (max: number) => {
    // Rare (ICMP errors): read from the text.
    if (!/^[0-9]{1,10}$/.test(value)) return undefined;
    const v = Number(value);
    return v <= max ? v : undefined;
  };
  switch (key) {
    case "SRC":
      packet.src ??= canonicalIp(value);
      break;
    case "DST":
      packet.dst ??= canonicalIp(value);
      break;
    case "PROTO":
      packet.proto ??= value.slice(0, 16);
      break;
    case "SPT":
      packet.spt ??= uint(65535);
      break;
    case "DPT":
      packet.dpt ??= uint(65535);
      break;
    case "LEN":
      if (packet.proto === undefined) packet.len ??= uint(1048575);
      break;
    case "TTL":
      packet.ttl ??= uint(255);
      break;
    case "ID":
      if (packet.proto === undefined) packet.id ??= uint(MAX_U32);
      break;
  }
}
