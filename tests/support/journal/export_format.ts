/**
 * Writes systemd's Journal Export Format (docs/JOURNAL_EXPORT_FORMATS.md), the input of
 * `systemd-journal-remote`: one `FIELD=value` line per field, entries separated by an empty
 * line; a value holding a newline (or any binary data) is written as `FIELD\n`, its length as
 * a little-endian 64-bit integer, the bytes, and `\n`.
 *
 * @example
 * ```ts
 * const bytes = toExportFormat([{ realtime: 1, monotonic: 1, bootId: "…", fields: { MESSAGE: "hi" } }]);
 * ```
 * @module
 */

/** One entry to export. */
export interface ExportEntry {
  /** `__REALTIME_TIMESTAMP`, microseconds since the epoch. */
  realtime: number;
  /** `__MONOTONIC_TIMESTAMP`, microseconds since boot. */
  monotonic: number;
  /** `_BOOT_ID`, 32 hex digits. */
  bootId: string;
  /** The entry's fields (`MESSAGE`, `_TRANSPORT`, …); repeated fields as arrays. */
  fields: Record<string, string | Uint8Array | Array<string | Uint8Array>>;
}

const encoder = new TextEncoder();

function needsBinary(value: Uint8Array): boolean {
  for (const byte of value) {
    if (byte === 0x0a || byte < 0x09 || (byte > 0x0d && byte < 0x20 && byte !== 0x1b)) {
      return true;
    }
  }
  return false;
}

/** Serialises entries in journal export format. */
export function toExportFormat(entries: Iterable<ExportEntry>): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const push = (bytes: Uint8Array) => {
    chunks.push(bytes);
    total += bytes.length;
  };
  for (const entry of entries) {
    push(encoder.encode(
      `__REALTIME_TIMESTAMP=${entry.realtime}\n__MONOTONIC_TIMESTAMP=${entry.monotonic}\n` +
        `_BOOT_ID=${entry.bootId}\n`,
    ));
    for (const [name, raw] of Object.entries(entry.fields)) {
      for (const value of Array.isArray(raw) ? raw : [raw]) {
        const bytes = typeof value === "string" ? encoder.encode(value) : value;
        if (needsBinary(bytes)) {
          const length = new Uint8Array(8);
          new DataView(length.buffer).setBigUint64(0, BigInt(bytes.length), true);
          push(encoder.encode(`${name}\n`));
          push(length);
          push(bytes);
          push(encoder.encode("\n"));
        } else {
          push(encoder.encode(`${name}=`));
          push(bytes);
          push(encoder.encode("\n"));
        }
      }
    }
    push(encoder.encode("\n"));
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
