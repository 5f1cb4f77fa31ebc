/**
 * Output of drops: the NDJSON schema shared by `parse` and `run --dry-run`, and a table.
 *
 * NDJSON key order: `time` (RFC 3339, UTC, ms), `prefix`, `in`, `out`, `src`, `dst`, `proto`,
 * `spt`, `dpt`, `icmpType`, `icmpCode` (each absent where it does not apply), then the other
 * parsed fields.
 * @module
 */

import type { PacketDrop } from "./types.ts";

const LEADING = [
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
];
const LEADING_SET = new Set(["time", ...LEADING]);

/** The drop as a plain object in schema order (extra keys, e.g. endpoints, appended). */
export function dropToJson(
  drop: PacketDrop,
  extra?: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { time: drop.time.toISOString() };
  const record = drop as unknown as Record<string, unknown>;
  for (const key of LEADING) if (record[key] !== undefined) out[key] = record[key];
  for (const [key, value] of Object.entries(record)) {
    if (!LEADING_SET.has(key) && value !== undefined) out[key] = value;
  }
  if (extra) Object.assign(out, extra);
  return out;
}

/** One NDJSON line (with the newline). */
export function dropToNdjson(drop: PacketDrop, extra?: Record<string, unknown>): string {
  return JSON.stringify(dropToJson(drop, extra)) + "\n";
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
