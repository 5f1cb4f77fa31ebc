/**
 * Output of drops: the NDJSON schema shared by `parse` and `run --dry-run`, and a table.
 *
 * NDJSON key order: `time` (RFC 3339, UTC, ms), `prefix`, `in`, `out`, `src`, `dst`, `proto`,
 * `spt`, `dpt`, `icmpType`, `icmpCode` (each absent where it does not apply), then the other
 * parsed fields.
 * @module
 */

import type { PacketDrop } from "./types.ts";

/** Keys after `time`, in schema order (the order payload.ts builds drops in). */
const KEYS: readonly (keyof PacketDrop)[] = [
  "prefix",
  "in",
  "out",
  "src",
  "dst",
  "proto",
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
  "embedded",
];

/** RFC 3339 UTC with milliseconds; the text up to the second is reused while it repeats. */
let cachedSecond = NaN;
let cachedPrefix = "";
function isoTime(time: Date): string {
  const ms = time.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    if (!Number.isFinite(ms)) return "invalid";
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const frac = ms - second * 1000;
  return cachedPrefix + (frac < 10 ? "00" : frac < 100 ? "0" : "") + frac + "Z";
}

/** The drop as a plain JSON object in schema order, undefined keys left out. */
export function dropToJson(
  drop: PacketDrop,
  extra?: Record<string, unknown>,
): Record<string, unknown> {
  return JSON.parse(dropToNdjson(drop, extra));
}

/**
 * One NDJSON line (with the newline): `time`, then the drop's keys in schema order, undefined
 * ones left out, then `extra` keys (e.g. endpoints). Hand-written because `parse` prints a
 * line per drop on the hot path.
 */
export function dropToNdjson(drop: PacketDrop, extra?: Record<string, unknown>): string {
  let out = `{"time":"${isoTime(drop.time)}"`;
  for (let k = 0; k < KEYS.length; k++) {
    const key = KEYS[k];
    const value = drop[key];
    if (value === undefined) continue;
    out += typeof value === "number" ? `,"${key}":${value}` : `,"${key}":${JSON.stringify(value)}`;
  }
  if (extra) {
    for (const [key, value] of Object.entries(extra)) {
      if (value !== undefined) out += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
    }
  }
  return out + "}\n";
}

/** Column headings of {@link dropToTableRow}. */
export const TABLE_HEADER = ["TIME", "PREFIX", "PROTO", "SOURCE", "DESTINATION", "IN", "OUT"];

/** Where a packet came from / went to: `ip:port`, `[ipv6]:port`, or the ICMP type. */
function endpoint(ip: string, port: number | undefined): string {
  if (port === undefined) return ip;
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
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
