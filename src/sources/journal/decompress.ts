/**
 * Decompression of DATA object payloads. systemd 252 writes zstd (payloads over 512 bytes), which
 * `node:zlib` decodes; XZ and LZ4 (older systemd) have no decoder here, so such fields are
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
