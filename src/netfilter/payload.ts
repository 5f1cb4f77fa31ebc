/**
 * The part of a netfilter LOG message from `IN=` on, as written by the kernel's nf_log_syslog:
 * `IN= OUT= [PHYSIN= PHYSOUT=] [MAC=|MACSRC= MACDST= MACPROTO=] SRC= DST= LEN= …ip fields… [flags]
 * [OPT (…)] PROTO=… …transport fields… [UID= GID=] [MARK=]`.
 *
 * Keys repeat with different meanings: the first `LEN=`/`ID=` belong to IP, the ones after
 * `PROTO=` to UDP/ICMP; the packet embedded in an ICMP error (`[SRC=… ]`) never overrides the
 * outer fields.
 * @module
 */

import { canonicalIp } from "./ip.ts";
import type { EmbeddedPacket, PacketDrop, ParseErrorReason } from "./types.ts";

/** A payload parse failure. */
export interface PayloadError {
  reason: ParseErrorReason;
  detail: string;
}

/** Fields of a drop that the payload yields (time and prefix come from elsewhere). */
export type PayloadFields = Omit<PacketDrop, "time" | "prefix">;

const MAX_U32 = 4294967295;

function parseUint(value: string, max: number): number | undefined {
  if (value.length === 0 || value.length > 10) return undefined;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n <= max ? n : undefined;
}

function parseHex(value: string, max: number): number | undefined {
  const digits = value.startsWith("0x") || value.startsWith("0X") ? value.slice(2) : value;
  if (digits.length === 0 || digits.length > 8 || !/^[0-9a-fA-F]+$/.test(digits)) return undefined;
  const n = parseInt(digits, 16);
  return n <= max ? n : undefined;
}

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

/**
 * Parses the payload of `line` starting at `start` (the `I` of `IN=`).
 * Returns the fields or an error; never throws.
 */
export function parsePayload(line: string, start: number): PayloadFields | PayloadError {
  let inIf: string | undefined;
  let outIf: string | undefined;
  let src: string | undefined;
  let dst: string | undefined;
  let proto: string | undefined;
  const fields: Partial<PayloadFields> = {};
  const flags: string[] = [];
  let embedded: EmbeddedPacket | undefined;
  let depth = 0;
  const n = line.length;
  let i = start;
  let bad: PayloadError | undefined;

  const number = (key: string, value: string, max: number, hex = false): number | undefined => {
    const parsed = hex ? parseHex(value, max) : parseUint(value, max);
    if (parsed === undefined && !bad) {
      bad = { reason: "invalid_number", detail: `${key}=${value.slice(0, 40)}` };
    }
    return parsed;
  };

  while (i < n) {
    while (i < n && line.charCodeAt(i) === 32) i++;
    if (i >= n) break;
    let end = line.indexOf(" ", i);
    if (end < 0) end = n;
    let token = line.slice(i, end);
    i = end + 1;

    // `OPT (hex)` and `INCOMPLETE [n bytes]` carry spaces; read them as one unit.
    if (token === "OPT" && line.charCodeAt(end + 1) === 40) {
      const close = line.indexOf(")", end + 1);
      const hex = line.slice(end + 2, close < 0 ? n : close);
      if (depth === 0) {
        if (proto === undefined) fields.ipOptions ??= hex;
        else fields.tcpOptions ??= hex;
      }
      i = close < 0 ? n : close + 1;
      continue;
    }
    if (token === "INCOMPLETE" && line.charCodeAt(end + 1) === 91) {
      const close = line.indexOf("]", end + 1);
      i = close < 0 ? n : close + 1;
      continue;
    }
    if (token.charCodeAt(0) === 91) {
      // "[SRC=…": the packet that caused an ICMP error.
      depth++;
      token = token.slice(1);
      embedded ??= {};
      if (token === "") continue;
    }
    let closes = 0;
    while (token.length > 0 && token.charCodeAt(token.length - 1) === 93) {
      token = token.slice(0, -1);
      closes++;
    }
    if (token.length > 0) {
      const eq = token.indexOf("=");
      if (eq < 0) {
        if (depth === 0) {
          if (FLAG_WORDS.has(token)) flags.push(token);
          else if (token.startsWith("FRAG:")) {
            fields.fragment ??= number("FRAG", token.slice(5), 65535);
          }
        }
      } else if (depth > 0) {
        if (embedded) readEmbedded(embedded, token.slice(0, eq), token.slice(eq + 1));
      } else {
        const key = token.slice(0, eq);
        const value = token.slice(eq + 1);
        switch (key) {
          case "IN":
            inIf ??= value;
            break;
          case "OUT":
            outIf ??= value;
            break;
          case "PHYSIN":
            fields.physIn ??= value;
            break;
          case "PHYSOUT":
            fields.physOut ??= value;
            break;
          case "MAC":
            fields.mac ??= value;
            break;
          case "MACSRC":
            fields.macSrc ??= value;
            break;
          case "MACDST":
            fields.macDst ??= value;
            break;
          case "MACPROTO":
            fields.macProto ??= value;
            break;
          case "SRC":
            if (src === undefined) {
              src = canonicalIp(value);
              if (src === undefined) {
                return { reason: "invalid_ip", detail: `SRC=${value.slice(0, 60)}` };
              }
            }
            break;
          case "DST":
            if (dst === undefined) {
              dst = canonicalIp(value);
              if (dst === undefined) {
                return { reason: "invalid_ip", detail: `DST=${value.slice(0, 60)}` };
              }
            }
            break;
          case "LEN":
            if (proto === undefined) fields.len ??= number(key, value, 65535 * 16);
            else if (fields.udpLen === undefined) fields.udpLen = number(key, value, 65535 * 16);
            break;
          case "TOS":
            fields.tos ??= number(key, value, 255, true);
            break;
          case "PREC":
            fields.prec ??= number(key, value, 255, true);
            break;
          case "TTL":
            fields.ttl ??= number(key, value, 255);
            break;
          case "ID":
            if (proto === undefined) fields.id ??= number(key, value, MAX_U32);
            else fields.icmpId ??= number(key, value, MAX_U32);
            break;
          case "TC":
            fields.tc ??= number(key, value, 255);
            break;
          case "HOPLIMIT":
            fields.hopLimit ??= number(key, value, 255);
            break;
          case "FLOWLBL":
            fields.flowLabel ??= number(key, value, 0xfffff);
            break;
          case "PROTO":
            if (proto === undefined) {
              if (value === "" || value.length > 16) {
                return { reason: "malformed", detail: `PROTO=${value.slice(0, 20)}` };
              }
              proto = value;
            }
            break;
          case "SPT":
            fields.spt ??= number(key, value, 65535);
            break;
          case "DPT":
            fields.dpt ??= number(key, value, 65535);
            break;
          case "SEQ":
            if (proto === "TCP") fields.seq ??= number(key, value, MAX_U32);
            else fields.icmpSeq ??= number(key, value, MAX_U32);
            break;
          case "ACK":
            fields.ack ??= number(key, value, MAX_U32);
            break;
          case "WINDOW":
            fields.window ??= number(key, value, 65535);
            break;
          case "RES":
            fields.res ??= number(key, value, 255, true);
            break;
          case "URGP":
            fields.urgp ??= number(key, value, 65535);
            break;
          case "TYPE":
            fields.icmpType ??= number(key, value, 255);
            break;
          case "CODE":
            fields.icmpCode ??= number(key, value, 255);
            break;
          case "MTU":
            fields.mtu ??= number(key, value, MAX_U32);
            break;
          case "PARAMETER":
          case "POINTER":
            fields.parameter ??= number(key, value, MAX_U32);
            break;
          case "GATEWAY":
            fields.gateway ??= canonicalIp(value);
            break;
          case "SPI":
            fields.spi ??= number(key, value, MAX_U32, true);
            break;
          case "UID":
            fields.uid ??= number(key, value, MAX_U32);
            break;
          case "GID":
            fields.gid ??= number(key, value, MAX_U32);
            break;
          case "MARK":
            fields.mark ??= number(key, value, MAX_U32, true);
            break;
          default:
            // Unknown keys (newer kernels, other families) are tolerated.
            break;
        }
      }
    }
    depth = Math.max(0, depth - closes);
  }

  if (inIf === undefined || outIf === undefined) {
    return { reason: "malformed", detail: inIf === undefined ? "no IN=" : "no OUT=" };
  }
  if (src === undefined) return { reason: "missing_src", detail: "no SRC=" };
  if (dst === undefined) return { reason: "missing_dst", detail: "no DST=" };
  if (proto === undefined) return { reason: "missing_proto", detail: "no PROTO=" };
  if (bad) return bad;
  const family = src.indexOf(":") >= 0 ? 6 : 4;
  if ((dst.indexOf(":") >= 0 ? 6 : 4) !== family) {
    return { reason: "invalid_ip", detail: `SRC=${src} and DST=${dst} differ in family` };
  }
  const result: PayloadFields = { ...fields, in: inIf, out: outIf, src, dst, family, proto };
  if (flags.length > 0) result.flags = flags;
  if (embedded) result.embedded = embedded;
  return result;
}

function readEmbedded(packet: EmbeddedPacket, key: string, value: string): void {
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
      packet.spt ??= parseUint(value, 65535);
      break;
    case "DPT":
      packet.dpt ??= parseUint(value, 65535);
      break;
    case "LEN":
      if (packet.proto === undefined) packet.len ??= parseUint(value, 65535 * 16);
      break;
    case "TTL":
      packet.ttl ??= parseUint(value, 255);
      break;
    case "ID":
      if (packet.proto === undefined) packet.id ??= parseUint(value, MAX_U32);
      break;
  }
}
