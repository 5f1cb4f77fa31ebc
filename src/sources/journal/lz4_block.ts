/**
 * Decoding of one LZ4 block (the raw block format, no frame), as systemd's journal stores a DATA
 * payload with `COMPRESSED_LZ4` (the default of systemd before 246 where built with lz4, as on
 * RHEL 8): the uncompressed size as a little-endian 64-bit integer, then the block.
 *
 * A block is a run of sequences. Each starts with a token: its high four bits are the number of
 * literal bytes that follow, its low four bits the length of the match after them minus 4; 15
 * in either means more length bytes follow (each added, while it is 255). A match is a 2-byte
 * little-endian offset back into the output, then a copy of that many bytes from there (it may
 * overlap what it writes). The last sequence has literals only.
 *
 * @example
 * ```ts
 * const bytes = decodeLz4Block(block, 1024); // throws on damaged input or a larger output
 * ```
 * @module
 */

/** Decodes the LZ4 block `input` into exactly `size` bytes; throws when it is damaged. */
export function decodeLz4Block(input: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0; // in input
  let to = 0; // in out
  const damaged = (what: string): never => {
    throw new Error(`damaged LZ4 block: ${what} (at byte ${at} of ${input.length})`);
  };
  /** A length whose 4-bit start is `nibble`, extended by the bytes after it when 15. */
  const length = (nibble: number): number => {
    let n = nibble;
    if (nibble === 15) {
      for (;;) {
        if (at >= input.length) damaged("a length runs past the end");
        const more = input[at++];
        n += more;
        if (more !== 255) break;
      }
    }
    return n;
  };
  while (at < input.length) {
    const token = input[at++];
    const literals = length(token >> 4);
    if (at + literals > input.length) damaged("literals run past the end");
    if (to + literals > size) damaged("more bytes than its size says");
    out.set(input.subarray(at, at + literals), to);
    at += literals;
    to += literals;
    if (at === input.length) break; // the last sequence: literals only
    if (at + 2 > input.length) damaged("a match offset runs past the end");
    const offset = input[at] | (input[at + 1] << 8);
    at += 2;
    if (offset === 0 || offset > to) damaged(`match offset ${offset} before the start`);
    const match = length(token & 15) + 4;
    if (to + match > size) damaged("more bytes than its size says");
    // Byte by byte: a match may overlap the bytes it writes (offset < length repeats them).
    for (let from = to - offset, end = to + match; to < end;) out[to++] = out[from++];
  }
  if (to !== size) damaged(`${to} bytes where its size says ${size}`);
  return out;
}

/**
 * A journal DATA payload compressed with LZ4: its 64-bit uncompressed size, then the block.
 * Throws when it is damaged or its size exceeds `maxSize`.
 */
export function decodeJournalLz4(payload: Uint8Array, maxSize: number): Uint8Array {
  if (payload.length <= 8) throw new Error("LZ4 payload shorter than its size field");
  const view = new DataView(payload.buffer, payload.byteOffset, 8);
  const size = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (size > maxSize) throw new Error(`LZ4 field of ${size} bytes exceeds the limit ${maxSize}`);
  return decodeLz4Block(payload.subarray(8), size);
}
