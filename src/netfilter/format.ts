/**
 * Output of drops: the NDJSON schema shared by `parse` and `run --dry-run`, and a table.
 *
 * NDJSON key order: `time` (RFC 3339, UTC, ms), `prefix`, `in`, `out`, `src`, `dst`, `proto`,
 * `spt`, `dpt`, `icmpType`, `icmpCode` (each absent where it does not apply), then the other
 * parsed fields.
 * @module
 */

import { ipFamily } from "./ip.ts";
import { JsonBytes } from "./ndjson_writer.ts";
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

/**
 * Writes one NDJSON line for `drop` into `w`, field by field: `parse` prints a line per drop on
 * its hot path, so no intermediate string or object is made.
 */
export function writeDropNdjson(
  w: JsonBytes,
  d: PacketDrop,
  extra?: Record<string, unknown>,
): void {
  w.raw(`{"time":"${isoTime(d.time)}","prefix":`);
  w.string(d.prefix);
  w.raw(',"in":');
  w.string(d.in);
  w.raw(',"out":');
  w.string(d.out);
  w.raw(',"src":');
  w.string(d.src);
  w.raw(',"dst":');
  w.string(d.dst);
  w.raw(',"proto":');
  w.string(d.proto);
  const num = (key: string, value: number | undefined) => {
    if (value === undefined) return;
    w.raw(key);
    w.number(value);
  };
  const str = (key: string, value: string | undefined) => {
    if (value === undefined) return;
    w.raw(key);
    w.string(value);
  };
  num(',"spt":', d.spt);
  num(',"dpt":', d.dpt);
  num(',"icmpType":', d.icmpType);
  num(',"icmpCode":', d.icmpCode);
  num(',"family":', d.family);
  str(',"physIn":', d.physIn);
  str(',"physOut":', d.physOut);
  str(',"mac":', d.mac);
  str(',"macSrc":', d.macSrc);
  str(',"macDst":', d.macDst);
  str(',"macProto":', d.macProto);
  num(',"len":', d.len);
  num(',"tos":', d.tos);
  num(',"prec":', d.prec);
  num(',"ttl":', d.ttl);
  num(',"id":', d.id);
  num(',"tc":', d.tc);
  num(',"hopLimit":', d.hopLimit);
  num(',"flowLabel":', d.flowLabel);
  num(',"fragment":', d.fragment);
  if (d.flags !== undefined) {
    w.raw(',"flags":[');
    d.flags.forEach((flag, i) => {
      if (i > 0) w.raw(",");
      w.string(flag);
    });
    w.raw("]");
  }
  num(',"seq":', d.seq);
  num(',"ack":', d.ack);
  num(',"window":', d.window);
  num(',"res":', d.res);
  num(',"urgp":', d.urgp);
  num(',"udpLen":', d.udpLen);
  num(',"icmpId":', d.icmpId);
  num(',"icmpSeq":', d.icmpSeq);
  num(',"mtu":', d.mtu);
  str(',"gateway":', d.gateway);
  num(',"parameter":', d.parameter);
  num(',"spi":', d.spi);
  num(',"uid":', d.uid);
  num(',"gid":', d.gid);
  num(',"mark":', d.mark);
  str(',"ipOptions":', d.ipOptions);
  str(',"tcpOptions":', d.tcpOptions);
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
