/**
 * Decompression of DATA object payloads (systemd compresses those over 512 bytes). zstd (systemd
 * 246 and later) is decoded by `node:zlib`, LZ4 (earlier systemd built with lz4, as on RHEL 8 and
 * Ubuntu 20.04) by lz4_block.ts; XZ (older still) has no decoder here, so such fields are
 * reported as undecodable and skipped.
 *
 * @example
 * ```ts
 * const result = decompressPayload(ObjectFlag.COMPRESSED_ZSTD, compressed, 1 << 20);
 * if (typeof result === "string") console.warn(result);
 * ```
 * @module
 */

import { zstdDecompressSync } from "node:zlib";
import { ObjectFlag } from "./format.ts";
import { decodeJournalLz4 } from "./lz4_block.ts";

/** Name of the compression of an object with these flags. */
export function compressionName(flags: number): string {
  if (flags & ObjectFlag.COMPRESSED_ZSTD) return "zstd";
  if (flags & ObjectFlag.COMPRESSED_XZ) return "xz";
  if (flags & ObjectFlag.COMPRESSED_LZ4) return "lz4";
  return "none";
}

/**
 * Decompresses `payload` compressed as `flags` says; returns the bytes, or a reason string when
 * the compression is unsupported, the data is damaged, or the result exceeds `maxSize`.
 */
export function decompressPayload(
  flags: number,
  payload: Uint8Array,
  maxSize: number,
): Uint8Array | string {
  if (flags === ObjectFlag.COMPRESSED_LZ4) {
    try {
      return decodeJournalLz4(payload, maxSize);
    } catch (error) {
      return `lz4: ${(error as Error).message}`;
    }
  }
  if (flags !== ObjectFlag.COMPRESSED_ZSTD) {
    return `unsupported compression ${compressionName(flags)} (flags 0x${flags.toString(16)})`;
  }
  try {
    const out = zstdDecompressSync(payload, { maxOutputLength: maxSize });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    return `zstd: ${(error as Error).message}`;
  }
}
