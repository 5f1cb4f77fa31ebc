/**
 * Small non-cryptographic hashes (FNV-1a) for stable short names: checkpoint files, file-position
 * fingerprints, deterministic Event names.
 *
 * @example
 * ```ts
 * fnv1a32("/var/log/kern.log"); // 8 hex digits
 * fnv1a64("pod-uid\0PacketDrop\0message"); // 16 hex digits
 * ```
 * @module
 */

/** FNV-1a, 32 bit, over UTF-16 code units, as 8 hex digits. */
export function fnv1a32(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** FNV-1a, 64 bit (BigInt-free: two 32-bit halves), as 16 hex digits. */
export function fnv1a64(text: string): string {
  // 64-bit FNV: offset 0xcbf29ce484222325, prime 0x100000001b3 (= 2^40 + 0x1b3).
  let hi = 0xcbf29ce4, lo = 0x84222325;
  for (let i = 0; i < text.length; i++) {
    lo = (lo ^ text.charCodeAt(i)) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    const newLo = loMul >>> 0;
    const newHi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    hi = newHi;
    lo = newLo;
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}
