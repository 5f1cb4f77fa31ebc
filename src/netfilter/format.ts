/**
 * Output of drops: the NDJSON schema shared by `parse` and `run --dry-run`, and a table.
 *
 * NDJSON key order: `time` (RFC 3339, UTC, ms), `prefix`, `in`, `out`, `src`, `dst`, `proto`,
 * `spt`, `dpt`, `icmpType`, `icmpCode` (each absent where it does not apply), then the other
 * parsed fields.
 * @module
 */

import type { PacketDrop } from "./types.ts";

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

/** A JSON string literal; plain text (the usual case) needs no escaping. */
function str(value: string): string {
  return value.indexOf('"') < 0 && value.indexOf("\\") < 0 ? `"${value}"` : JSON.stringify(value);
}

/**
 * One NDJSON line (with the newline): `time`, then the drop's fields in schema order, undefined
 * ones left out, then `extra` keys (e.g. endpoints). Written out field by field because `parse`
 * prints a line per drop on the hot path (a generic loop over keys cost a third of its time).
 */
export function dropToNdjson(d: PacketDrop, extra?: Record<string, unknown>): string {
  let o = `{"time":"${isoTime(d.time)}","prefix":${str(d.prefix)},"in":${str(d.in)},"out":${
    str(d.out)
  },"src":"${d.src}","dst":"${d.dst}","proto":${str(d.proto)}`;
  if (d.spt !== undefined) o += `,"spt":${d.spt}`;
  if (d.dpt !== undefined) o += `,"dpt":${d.dpt}`;
  if (d.icmpType !== undefined) o += `,"icmpType":${d.icmpType}`;
  if (d.icmpCode !== undefined) o += `,"icmpCode":${d.icmpCode}`;
  o += `,"family":${d.family}`;
  if (d.physIn !== undefined) o += `,"physIn":${str(d.physIn)}`;
  if (d.physOut !== undefined) o += `,"physOut":${str(d.physOut)}`;
  if (d.mac !== undefined) o += `,"mac":${str(d.mac)}`;
  if (d.macSrc !== undefined) o += `,"macSrc":${str(d.macSrc)}`;
  if (d.macDst !== undefined) o += `,"macDst":${str(d.macDst)}`;
  if (d.macProto !== undefined) o += `,"macProto":${str(d.macProto)}`;
  if (d.len !== undefined) o += `,"len":${d.len}`;
  if (d.tos !== undefined) o += `,"tos":${d.tos}`;
  if (d.prec !== undefined) o += `,"prec":${d.prec}`;
  if (d.ttl !== undefined) o += `,"ttl":${d.ttl}`;
  if (d.id !== undefined) o += `,"id":${d.id}`;
  if (d.tc !== undefined) o += `,"tc":${d.tc}`;
  if (d.hopLimit !== undefined) o += `,"hopLimit":${d.hopLimit}`;
  if (d.flowLabel !== undefined) o += `,"flowLabel":${d.flowLabel}`;
  if (d.fragment !== undefined) o += `,"fragment":${d.fragment}`;
  if (d.flags !== undefined) o += `,"flags":${JSON.stringify(d.flags)}`;
  if (d.seq !== undefined) o += `,"seq":${d.seq}`;
  if (d.ack !== undefined) o += `,"ack":${d.ack}`;
  if (d.window !== undefined) o += `,"window":${d.window}`;
  if (d.res !== undefined) o += `,"res":${d.res}`;
  if (d.urgp !== undefined) o += `,"urgp":${d.urgp}`;
  if (d.udpLen !== undefined) o += `,"udpLen":${d.udpLen}`;
  if (d.icmpId !== undefined) o += `,"icmpId":${d.icmpId}`;
  if (d.icmpSeq !== undefined) o += `,"icmpSeq":${d.icmpSeq}`;
  if (d.mtu !== undefined) o += `,"mtu":${d.mtu}`;
  if (d.gateway !== undefined) o += `,"gateway":"${d.gateway}"`;
  if (d.parameter !== undefined) o += `,"parameter":${d.parameter}`;
  if (d.spi !== undefined) o += `,"spi":${d.spi}`;
  if (d.uid !== undefined) o += `,"uid":${d.uid}`;
  if (d.gid !== undefined) o += `,"gid":${d.gid}`;
  if (d.mark !== undefined) o += `,"mark":${d.mark}`;
  if (d.ipOptions !== undefined) o += `,"ipOptions":${str(d.ipOptions)}`;
  if (d.tcpOptions !== undefined) o += `,"tcpOptions":${str(d.tcpOptions)}`;
  if (d.embedded !== undefined) o += `,"embedded":${JSON.stringify(d.embedded)}`;
  if (extra) {
    for (const [key, value] of Object.entries(extra)) {
      if (value !== undefined) o += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
    }
  }
  return o + "}\n";
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
