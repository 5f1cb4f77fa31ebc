/**
 * The part of a netfilter LOG message from `IN=` on, as written by the kernel's nf_log_syslog:
 * `IN= OUT= [PHYSIN= PHYSOUT=] [MAC=|MACSRC= MACDST= MACPROTO=] SRC= DST= LEN= …ip fields… [flags]
 * [OPT (…)] PROTO=… …transport fields… [UID= GID=] [MARK=]`.
 *
 * Keys repeat with different meanings: the first `LEN=`/`ID=` belong to IP, the ones after
 * `PROTO=` to UDP/ICMP; the packet embedded in an ICMP error (`[SRC=… ]`) never overrides the
 * outer fields.
 *
 * This is the hot path for drop lines, so it walks the line by character codes and cuts out
 * only the strings it keeps; numbers are read in place.
 * @module
 */

import { isHostileCharacter, isInvisibleFormat } from "../text.ts";
import { canonicalIp, ipFamily } from "./ip.ts";
import type { EmbeddedPacket, PacketDrop, ParseErrorReason } from "./types.ts";

/** A payload parse failure. */
export interface PayloadError {
  reason: ParseErrorReason;
  detail: string;
}

const MAX_U32 = 4294967295;
const SPACE = 32;
const EQUALS = 61;

/** Bare words the kernel prints: IP flags and TCP flags. */
const FLAG_WORDS = new Set([
  "CE",
  "DF",
  "MF",
  "CWR",
  "ECE",
  "URG",
  "ACK",
  "PSH",
  "RST",
  "SYN",
  "FIN",
]);

/** Reads an unsigned decimal in line[from, to); -1 when it is not one or exceeds `max`. */
function readUint(line: string, from: number, to: number, max: number): number {
  if (to <= from || to - from > 10) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= max ? n : -1;
}

/** Reads hex (with or without 0x) in line[from, to); -1 when invalid or above `max`. */
function readHex(line: string, from: number, to: number, max: number): number {
  let i = from;
  if (line.charCodeAt(i) === 48 && (line.charCodeAt(i + 1) | 32) === 120) i += 2;
  if (to <= i || to - i > 8) return -1;
  let n = 0;
  for (; i < to; i++) {
    const c = line.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if ((c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
    else return -1;
    n = n * 16 + d;
  }
  return n <= max ? n : -1;
}

/**
 * A value cut from the text that the drop keeps. V8 copies short substrings but makes longer
 * ones views into the whole text — here a chunk of up to a megabyte that a queued drop would
 * pin — so those are copied.
 */
function keep(text: string, from: number, to: number): string {
  const value = text.slice(from, to);
  return to - from < 13 ? value : (" " + value).slice(1);
}

/** Whether line[from, to) is ASCII letters and digits only. */
function isAlphanumeric(line: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    const lower = c | 32;
    if (!((c >= 48 && c <= 57) || (lower >= 97 && lower <= 122))) return false;
  }
  return true;
}

function numberError(line: string, from: number, to: number): PayloadError {
  return { reason: "invalid_number", detail: line.slice(from - 1, Math.min(to, from + 40)) };
}

/**
 * The index of the first control character (C0 but tab, DEL, C1), invisible formatting
 * character (bidi controls, zero-width characters, line separators) or U+FFFD (left by invalid
 * UTF-8) in line[from, to), or -1.
 */
export function firstHostileCharacter(line: string, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    if (isHostileCharacter(c)) return i;
  }
  return -1;
}

/** The error for a hostile character at `at`. */
export function hostileCharacter(
  line: string,
  at: number,
  from = 0,
  part = "line",
): PayloadError {
  const c = line.charCodeAt(at);
  const where = `at ${at - from} in the ${part}`;
  if (c === 0xfffd) return { reason: "invalid_utf8", detail: where };
  return {
    reason: "control_characters",
    detail: `U+${c.toString(16).padStart(4, "0")} ${where}`,
  };
}

/**
 * Parses the payload of `line` starting at `start` (the `I` of `IN=`) into a drop with the given
 * time and prefix; every key of the drop is present (undefined when not printed).
 * Returns the drop or an error; never throws.
 */
export function parsePayload(
  line: string,
  start: number,
  end: number,
  time: Date,
  prefix: string,
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
  let embedded: EmbeddedPacket | undefined;
  let depth = 0;
  let bad: PayloadError | undefined;
  const n = end;
  let i = start;

  /** Reads a number field; a malformed value is remembered as the error. */
  const num = (from: number, to: number, max: number, hex: boolean): number => {
    const v = hex ? readHex(line, from, to, max) : readUint(line, from, to, max);
    if (v < 0) bad ??= numberError(line, from, to);
    return v;
  };

  while (i < n) {
    while (line.charCodeAt(i) === SPACE) i++;
    if (i >= n) break;
    // One pass over the token: find its end and its "=", and refuse hostile characters.
    let tokenStart = i;
    let eq = -1;
    let end = i;
    for (; end < n; end++) {
      const c = line.charCodeAt(end);
      if (c === SPACE) break;
      if (c === EQUALS) {
        if (eq < 0) eq = end;
      } else if (c < 32 || (c >= 127 && c <= 159) || (c >= 0x061c && isInvisibleFormat(c))) {
        return hostileCharacter(line, end, start, "fields");
      }
    }
    let tokenEnd = end;
    i = end + 1;
    const first = line.charCodeAt(tokenStart);

    // `OPT (hex)` and `INCOMPLETE [n bytes]` carry spaces; read them as one unit.
    if (first === 79 && tokenEnd - tokenStart === 3 && line.startsWith("OPT (", tokenStart)) {
      let close = line.indexOf(")", tokenEnd);
      if (close < 0 || close > n) close = n;
      const hostile = firstHostileCharacter(line, end, close);
      if (hostile >= 0) return hostileCharacter(line, hostile, start, "fields");
      if (depth === 0) {
        const hex = keep(line, end + 2, close);
        if (proto === undefined) ipOptions ??= hex;
        else tcpOptions ??= hex;
      }
      i = close + 1;
      continue;
    }
    if (first === 73 && line.startsWith("INCOMPLETE [", tokenStart)) {
      let close = line.indexOf("]", tokenEnd);
      if (close < 0 || close > n) close = n;
      const hostile = firstHostileCharacter(line, end, close);
      if (hostile >= 0) return hostileCharacter(line, hostile, start, "fields");
      i = close + 1;
      continue;
    }
    if (first === 91) {
      // "[SRC=…": the packet that caused an ICMP error.
      depth++;
      tokenStart++;
      embedded ??= {};
    }
    let closes = 0;
    while (tokenEnd > tokenStart && line.charCodeAt(tokenEnd - 1) === 93) {
      tokenEnd--;
      closes++;
    }
    if (tokenEnd > tokenStart) {
      if (eq >= tokenEnd) eq = -1;
      if (eq < 0) {
        if (depth === 0) {
          const word = line.slice(tokenStart, tokenEnd);
          if (FLAG_WORDS.has(word)) (flags ??= []).push(word);
          else if (word.startsWith("FRAG:") && fragment < 0) {
            fragment = num(tokenStart + 5, tokenEnd, 65535, false);
          }
        }
      } else if (depth > 0) {
        if (embedded) {
          readEmbedded(embedded, line.slice(tokenStart, eq), keep(line, eq + 1, tokenEnd));
        }
      } else {
        const v = eq + 1;
        const keyLength = eq - tokenStart;
        const c0 = line.charCodeAt(tokenStart);
        const c1 = line.charCodeAt(tokenStart + 1);
        switch (keyLength) {
          case 2:
            if (c0 === 73 && c1 === 78) inIf ??= keep(line, v, tokenEnd); // IN
            else if (c0 === 73 && c1 === 68) { // ID
              if (proto === undefined) { if (id < 0) id = num(v, tokenEnd, MAX_U32, false); }
              else if (icmpId < 0) icmpId = num(v, tokenEnd, MAX_U32, false);
            } else if (c0 === 84 && c1 === 67) { if (tc < 0) tc = num(v, tokenEnd, 255, false); } // TC
            break;
          case 3:
            switch ((c0 << 16) | (c1 << 8) | line.charCodeAt(tokenStart + 2)) {
              case 0x4f5554: // OUT
                outIf ??= keep(line, v, tokenEnd);
                break;
              case 0x4d4143: // MAC
                mac ??= keep(line, v, tokenEnd);
                break;
              case 0x535243: // SRC
                if (src === undefined) {
                  src = canonicalIp(keep(line, v, tokenEnd));
                  if (src === undefined) {
                    return {
                      reason: "invalid_ip",
                      detail: line.slice(tokenStart, Math.min(tokenEnd, v + 60)),
                    };
                  }
                }
                break;
              case 0x445354: // DST
                if (dst === undefined) {
                  dst = canonicalIp(keep(line, v, tokenEnd));
                  if (dst === undefined) {
                    return {
                      reason: "invalid_ip",
                      detail: line.slice(tokenStart, Math.min(tokenEnd, v + 60)),
                    };
                  }
                }
                break;
              case 0x4c454e: // LEN
                if (proto === undefined) { if (len < 0) len = num(v, tokenEnd, 1048575, false); }
                else if (udpLen < 0) udpLen = num(v, tokenEnd, 1048575, false);
                break;
              case 0x544f53: // TOS
                if (tos < 0) tos = num(v, tokenEnd, 255, true);
                break;
              case 0x54544c: // TTL
                if (ttl < 0) ttl = num(v, tokenEnd, 255, false);
                break;
              case 0x535054: // SPT
                if (spt < 0) spt = num(v, tokenEnd, 65535, false);
                break;
              case 0x445054: // DPT
                if (dpt < 0) dpt = num(v, tokenEnd, 65535, false);
                break;
              case 0x534551: // SEQ
                if (proto === "TCP") { if (seq < 0) seq = num(v, tokenEnd, MAX_U32, false); }
                else if (icmpSeq < 0) icmpSeq = num(v, tokenEnd, MAX_U32, false);
                break;
              case 0x41434b: // ACK
                if (ack < 0) ack = num(v, tokenEnd, MAX_U32, false);
                break;
              case 0x524553: // RES
                if (res < 0) res = num(v, tokenEnd, 255, true);
                break;
              case 0x4d5455: // MTU
                if (mtu < 0) mtu = num(v, tokenEnd, MAX_U32, false);
                break;
              case 0x535049: // SPI
                if (spi < 0) spi = num(v, tokenEnd, MAX_U32, true);
                break;
              case 0x554944: // UID
                if (uid < 0) uid = num(v, tokenEnd, MAX_U32, false);
                break;
              case 0x474944: // GID
                if (gid < 0) gid = num(v, tokenEnd, MAX_U32, false);
                break;
            }
            break;
          default:
            switch (line.slice(tokenStart, eq)) {
              case "PREC":
                if (prec < 0) prec = num(v, tokenEnd, 255, true);
                break;
              case "PROTO":
                if (proto === undefined) {
                  // The kernel prints a name (TCP, ICMPv6, …) or a number: letters and digits.
                  if (tokenEnd === v || tokenEnd - v > 16 || !isAlphanumeric(line, v, tokenEnd)) {
                    return {
                      reason: "malformed",
                      detail: line.slice(tokenStart, Math.min(tokenEnd, v + 20)),
                    };
                  }
                  proto = keep(line, v, tokenEnd);
                }
                break;
              case "HOPLIMIT":
                if (hopLimit < 0) hopLimit = num(v, tokenEnd, 255, false);
                break;
              case "FLOWLBL":
                if (flowLabel < 0) flowLabel = num(v, tokenEnd, 0xfffff, false);
                break;
              case "WINDOW":
                if (window < 0) window = num(v, tokenEnd, 65535, false);
                break;
              case "URGP":
                if (urgp < 0) urgp = num(v, tokenEnd, 65535, false);
                break;
              case "TYPE":
                if (icmpType < 0) icmpType = num(v, tokenEnd, 255, false);
                break;
              case "CODE":
                if (icmpCode < 0) icmpCode = num(v, tokenEnd, 255, false);
                break;
              case "MARK":
                if (mark < 0) mark = num(v, tokenEnd, MAX_U32, true);
                break;
              case "PHYSIN":
                physIn ??= keep(line, v, tokenEnd);
                break;
              case "PHYSOUT":
                physOut ??= keep(line, v, tokenEnd);
                break;
              case "MACSRC":
                macSrc ??= keep(line, v, tokenEnd);
                break;
              case "MACDST":
                macDst ??= keep(line, v, tokenEnd);
                break;
              case "MACPROTO":
                macProto ??= keep(line, v, tokenEnd);
                break;
              case "GATEWAY":
                gateway ??= canonicalIp(keep(line, v, tokenEnd));
                break;
              case "PARAMETER":
              case "POINTER":
                if (parameter < 0) parameter = num(v, tokenEnd, MAX_U32, false);
                break;
            }
        }
      }
    }
    depth = depth > closes ? depth - closes : 0;
  }

  if (inIf === undefined || outIf === undefined) {
    return { reason: "malformed", detail: inIf === undefined ? "no IN=" : "no OUT=" };
  }
  if (src === undefined) return { reason: "missing_src", detail: "no SRC=" };
  if (dst === undefined) return { reason: "missing_dst", detail: "no DST=" };
  if (proto === undefined) return { reason: "missing_proto", detail: "no PROTO=" };
  if (bad) return bad;
  const family = ipFamily(src);
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
    proto,
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
    const v = readUint(value, 0, value.length, max);
    return v < 0 ? undefined : v;
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
