/**
 * Output of drops: the NDJSON schema shared by `parse` and `run --dry-run`, and a table.
 *
 * NDJSON key order: `time` (RFC 3339, UTC, ms), `prefix`, `in`, `out`, `src`, `dst`, `proto`,
 * `spt`, `dpt`, `icmpType`, `icmpCode` (each absent where it does not apply), then the other
 * parsed fields.
 * @module
 */

import { ipFamily } from "./ip.ts";
import { asciiBytes, JsonBytes, putBytes, putString, putUint } from "./ndjson_writer.ts";
import type { PacketDrop } from "./types.ts";

/** RFC 3339 UTC to the second (`2026-11-25T07:58:47.`) of the last time written, as bytes. */
let cachedSecond = NaN;
const cachedPrefix = new Uint8Array(20);

/** Writes `value` as `width` decimal digits at buffer[at…]. */
function putDigits(buffer: Uint8Array, at: number, value: number, width: number): void {
  for (let i = at + width - 1; i >= at; i--) {
    buffer[i] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
}

/**
 * Writes the time `ms` (epoch milliseconds) as RFC 3339 UTC with milliseconds
 * (`2026-11-25T07:58:47.511Z`) at buffer[at…]; returns the end.
 */
export function putTime(buffer: Uint8Array, at: number, ms: number): number {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const other = cacheSecond(ms, second);
    if (other !== undefined) return putBytes(buffer, at, asciiBytes(other));
  }
  at = putBytes(buffer, at, cachedPrefix);
  putDigits(buffer, at, ms - second * 1000, 3);
  buffer[at + 3] = 90; // "Z"
  return at + 4;
}

/**
 * Makes {@link cachedPrefix} the text of `second` (of the time `ms`): consecutive drops mostly
 * share the second, and its text is made once (apart from putTime, which runs per drop). Returns
 * the whole text to write instead for a time that is not finite or not of years 0-9999.
 */
function cacheSecond(ms: number, second: number): string | undefined {
  if (!Number.isFinite(ms)) return "invalid";
  const time = new Date(ms);
  const year = time.getUTCFullYear();
  if (year < 0 || year > 9999) return time.toISOString();
  cachedSecond = second;
  const p = cachedPrefix;
  putDigits(p, 0, year, 4);
  p[4] = 45; // "-"
  putDigits(p, 5, time.getUTCMonth() + 1, 2);
  p[7] = 45;
  putDigits(p, 8, time.getUTCDate(), 2);
  p[10] = 84; // "T"
  putDigits(p, 11, time.getUTCHours(), 2);
  p[13] = 58; // ":"
  putDigits(p, 14, time.getUTCMinutes(), 2);
  p[16] = 58;
  putDigits(p, 17, time.getUTCSeconds(), 2);
  p[19] = 46; // "."
  return undefined;
}

/** The drop as a plain JSON object in schema order, undefined keys left out. */
export function dropToJson(
  drop: PacketDrop,
  extra?: Record<string, unknown>,
): Record<string, unknown> {
  return JSON.parse(dropToNdjson(drop, extra));
}

const decoder = new TextDecoder();

/**
 * One NDJSON line (with the newline): `time`, then the drop's fields in schema order, undefined
 * ones left out, then `extra` keys (e.g. endpoints).
 */
export function dropToNdjson(drop: PacketDrop, extra?: Record<string, unknown>): string {
  const w = new JsonBytes(undefined, 1024);
  writeDropNdjson(w, drop, extra);
  return decoder.decode(w.bytes);
}

/** `,"key":` as bytes, for every optional key of the schema (also for fast_ndjson.ts). */
export const KEY = Object.fromEntries(
  [
    "spt",
    "dpt",
    "icmpType",
    "icmpCode",
    "family",
    "physIn",
    "physOut",
    "mac",
    "macSrc",
    "macDst",
    "macProto",
    "len",
    "tos",
    "prec",
    "ttl",
    "id",
    "tc",
    "hopLimit",
    "flowLabel",
    "fragment",
    "flags",
    "seq",
    "ack",
    "window",
    "res",
    "urgp",
    "udpLen",
    "icmpId",
    "icmpSeq",
    "mtu",
    "gateway",
    "parameter",
    "spi",
    "uid",
    "gid",
    "mark",
    "ipOptions",
    "tcpOptions",
  ].map((key) => [key, asciiBytes(`,"${key}":`)]),
) as Record<string, Uint8Array>;
/** The keys every drop has, with what goes between them, as bytes. */
export const TIME_KEY = asciiBytes('{"time":"');
export const PREFIX_KEY = asciiBytes('","prefix":');
export const IN_KEY = asciiBytes(',"in":');
export const OUT_KEY = asciiBytes(',"out":');
export const SRC_KEY = asciiBytes(',"src":');
export const DST_KEY = asciiBytes(',"dst":');
export const PROTO_KEY = asciiBytes(',"proto":');

/** Bytes `writeDropNdjson` needs at most for the fixed part of a drop (keys, numbers). */
const FIXED_ROOM = 2048;

/** Room a drop's strings need at most (6 bytes a character when escaped, and quotes). */
function stringRoom(d: PacketDrop): number {
  let n = d.prefix.length + d.in.length + d.out.length + d.src.length + d.dst.length +
    d.proto.length + (d.mac?.length ?? 0) + (d.physIn?.length ?? 0) +
    (d.physOut?.length ?? 0) + (d.macSrc?.length ?? 0) + (d.macDst?.length ?? 0) +
    (d.macProto?.length ?? 0) + (d.gateway?.length ?? 0) + (d.ipOptions?.length ?? 0) +
    (d.tcpOptions?.length ?? 0);
  if (d.flags !== undefined) n += 4 * d.flags.length;
  return 6 * n;
}

/**
 * Writes one NDJSON line for `drop` into `w`, field by field into room reserved once: `parse`
 * prints a line per drop on its hot path, so no intermediate string or object is made.
 */
export function writeDropNdjson(
  w: JsonBytes,
  d: PacketDrop,
  extra?: Record<string, unknown>,
): void {
  const b = w.reserve(FIXED_ROOM + stringRoom(d));
  let at = putBytes(b, w.end, TIME_KEY);
  at = putTime(b, at, d.time.getTime());
  at = putString(b, putBytes(b, at, PREFIX_KEY), d.prefix);
  at = putString(b, putBytes(b, at, IN_KEY), d.in);
  at = putString(b, putBytes(b, at, OUT_KEY), d.out);
  at = putString(b, putBytes(b, at, SRC_KEY), d.src);
  at = putString(b, putBytes(b, at, DST_KEY), d.dst);
  at = putString(b, putBytes(b, at, PROTO_KEY), d.proto);
  if (d.spt !== undefined) at = putUint(b, putBytes(b, at, KEY.spt), d.spt);
  if (d.dpt !== undefined) at = putUint(b, putBytes(b, at, KEY.dpt), d.dpt);
  if (d.icmpType !== undefined) at = putUint(b, putBytes(b, at, KEY.icmpType), d.icmpType);
  if (d.icmpCode !== undefined) at = putUint(b, putBytes(b, at, KEY.icmpCode), d.icmpCode);
  if (d.family !== undefined) at = putUint(b, putBytes(b, at, KEY.family), d.family);
  if (d.physIn !== undefined) at = putString(b, putBytes(b, at, KEY.physIn), d.physIn);
  if (d.physOut !== undefined) at = putString(b, putBytes(b, at, KEY.physOut), d.physOut);
  if (d.mac !== undefined) at = putString(b, putBytes(b, at, KEY.mac), d.mac);
  if (d.macSrc !== undefined) at = putString(b, putBytes(b, at, KEY.macSrc), d.macSrc);
  if (d.macDst !== undefined) at = putString(b, putBytes(b, at, KEY.macDst), d.macDst);
  if (d.macProto !== undefined) at = putString(b, putBytes(b, at, KEY.macProto), d.macProto);
  if (d.len !== undefined) at = putUint(b, putBytes(b, at, KEY.len), d.len);
  if (d.tos !== undefined) at = putUint(b, putBytes(b, at, KEY.tos), d.tos);
  if (d.prec !== undefined) at = putUint(b, putBytes(b, at, KEY.prec), d.prec);
  if (d.ttl !== undefined) at = putUint(b, putBytes(b, at, KEY.ttl), d.ttl);
  if (d.id !== undefined) at = putUint(b, putBytes(b, at, KEY.id), d.id);
  if (d.tc !== undefined) at = putUint(b, putBytes(b, at, KEY.tc), d.tc);
  if (d.hopLimit !== undefined) at = putUint(b, putBytes(b, at, KEY.hopLimit), d.hopLimit);
  if (d.flowLabel !== undefined) at = putUint(b, putBytes(b, at, KEY.flowLabel), d.flowLabel);
  if (d.fragment !== undefined) at = putUint(b, putBytes(b, at, KEY.fragment), d.fragment);
  if (d.flags !== undefined) {
    at = putBytes(b, at, KEY.flags);
    b[at++] = 91; // "["
    for (let i = 0; i < d.flags.length; i++) {
      if (i > 0) b[at++] = 44; // ","
      at = putString(b, at, d.flags[i]);
    }
    b[at++] = 93; // "]"
  }
  if (d.seq !== undefined) at = putUint(b, putBytes(b, at, KEY.seq), d.seq);
  if (d.ack !== undefined) at = putUint(b, putBytes(b, at, KEY.ack), d.ack);
  if (d.window !== undefined) at = putUint(b, putBytes(b, at, KEY.window), d.window);
  if (d.res !== undefined) at = putUint(b, putBytes(b, at, KEY.res), d.res);
  if (d.urgp !== undefined) at = putUint(b, putBytes(b, at, KEY.urgp), d.urgp);
  if (d.udpLen !== undefined) at = putUint(b, putBytes(b, at, KEY.udpLen), d.udpLen);
  if (d.icmpId !== undefined) at = putUint(b, putBytes(b, at, KEY.icmpId), d.icmpId);
  if (d.icmpSeq !== undefined) at = putUint(b, putBytes(b, at, KEY.icmpSeq), d.icmpSeq);
  if (d.mtu !== undefined) at = putUint(b, putBytes(b, at, KEY.mtu), d.mtu);
  if (d.gateway !== undefined) at = putString(b, putBytes(b, at, KEY.gateway), d.gateway);
  if (d.parameter !== undefined) at = putUint(b, putBytes(b, at, KEY.parameter), d.parameter);
  if (d.spi !== undefined) at = putUint(b, putBytes(b, at, KEY.spi), d.spi);
  if (d.uid !== undefined) at = putUint(b, putBytes(b, at, KEY.uid), d.uid);
  if (d.gid !== undefined) at = putUint(b, putBytes(b, at, KEY.gid), d.gid);
  if (d.mark !== undefined) at = putUint(b, putBytes(b, at, KEY.mark), d.mark);
  if (d.ipOptions !== undefined) at = putString(b, putBytes(b, at, KEY.ipOptions), d.ipOptions);
  if (d.tcpOptions !== undefined) at = putString(b, putBytes(b, at, KEY.tcpOptions), d.tcpOptions);
  w.commit(at);
  if (d.embedded !== undefined) {
    w.raw(',"embedded":');
    w.value(d.embedded);
  }
  if (extra) {
    for (const [key, value] of Object.entries(extra)) {
      if (value === undefined) continue;
      w.raw(",");
      w.value(key);
      w.raw(":");
      w.value(value);
    }
  }
  w.raw("}\n");
}

/** Column headings of {@link dropToTableRow}. */
export const TABLE_HEADER = ["TIME", "PREFIX", "PROTO", "SOURCE", "DESTINATION", "IN", "OUT"];

/** Where a packet came from / went to: `ip:port`, `[ipv6]:port`, or the ICMP type. */
function endpoint(ip: string, port: number | undefined): string {
  if (port === undefined) return ip;
  return ipFamily(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** A table row for `drop`. */
export function dropToTableRow(drop: PacketDrop): string[] {
  const proto = drop.icmpType !== undefined
    ? `${drop.proto} ${drop.icmpType}/${drop.icmpCode ?? 0}`
    : drop.proto;
  return [
    drop.time.toISOString(),
    drop.prefix,
    proto,
    endpoint(drop.src, drop.spt),
    endpoint(drop.dst, drop.dpt),
    drop.in || "-",
    drop.out || "-",
  ];
}

/** Pads rows into aligned columns (the first row is the header). */
export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n") +
    "\n";
}
