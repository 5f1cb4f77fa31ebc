/**
 * The two hash functions of journal files: SipHash-2-4 keyed by the file id (files with the
 * KEYED_HASH flag) and Bob Jenkins' lookup3 `hashlittle2` folded to 64 bits (older files, and
 * every entry's `xor_hash`). The reader needs them to look a DATA object up in the file's hash
 * table, e.g. `_TRANSPORT=kernel`. Written from the published algorithm descriptions; checked
 * against the hashes systemd stores in real files (tests/sources/journal/hash_test.ts).
 *
 * @example
 * ```ts
 * const payload = new TextEncoder().encode("_TRANSPORT=kernel");
 * const hash = header.keyedHash ? siphash24(payload, header.fileIdBytes) : jenkinsHash64(payload);
 * ```
 * @module
 */

const MASK64 = (1n << 64n) - 1n;

function rotl64(x: bigint, bits: bigint): bigint {
  return ((x << bits) | (x >> (64n - bits))) & MASK64;
}

function le64(bytes: Uint8Array, offset: number): bigint {
  let value = 0n;
  for (let i = 7; i >= 0; i--) value = (value << 8n) | BigInt(bytes[offset + i]);
  return value;
}

/**
 * SipHash-2-4 of `data` with a 16-byte `key`, as an unsigned 64-bit bigint. Used for short lookup
 * keys only, so plain bigint arithmetic is fast enough.
 */
export function siphash24(data: Uint8Array, key: Uint8Array): bigint {
  if (key.length !== 16) throw new RangeError("siphash24 needs a 16-byte key");
  const k0 = le64(key, 0);
  const k1 = le64(key, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK64;
    v1 = rotl64(v1, 13n) ^ v0;
    v0 = rotl64(v0, 32n);
    v2 = (v2 + v3) & MASK64;
    v3 = rotl64(v3, 16n) ^ v2;
    v0 = (v0 + v3) & MASK64;
    v3 = rotl64(v3, 21n) ^ v0;
    v2 = (v2 + v1) & MASK64;
    v1 = rotl64(v1, 17n) ^ v2;
    v2 = rotl64(v2, 32n);
  };
  const whole = data.length - (data.length % 8);
  for (let offset = 0; offset < whole; offset += 8) {
    const m = le64(data, offset);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  // The last block holds the remaining bytes and the length in its top byte.
  let last = BigInt(data.length & 0xff) << 56n;
  for (let i = data.length - 1; i >= whole; i--) {
    last |= BigInt(data[i]) << BigInt((i - whole) * 8);
  }
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xffn;
  round();
  round();
  round();
  round();
  return (v0 ^ v1 ^ v2 ^ v3) & MASK64;
}

function rot32(x: number, bits: number): number {
  return (x << bits) | (x >>> (32 - bits));
}

/**
 * Jenkins lookup3 `hashlittle2` with both seeds 0, returned as systemd's `jenkins_hash64`:
 * the primary 32-bit result in the high half, the secondary in the low half.
 */
export function jenkinsHash64(data: Uint8Array): bigint {
  let length = data.length;
  let a = (0xdeadbeef + length) | 0;
  let b = a;
  let c = a;
  let k = 0;
  const u32 = (at: number) =>
    data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24);
  while (length > 12) {
    a = (a + u32(k)) | 0;
    b = (b + u32(k + 4)) | 0;
    c = (c + u32(k + 8)) | 0;
    // mix(a, b, c)
    a = (a - c) | 0;
    a ^= rot32(c, 4);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot32(a, 6);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot32(b, 8);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= rot32(c, 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot32(a, 19);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot32(b, 4);
    b = (b + a) | 0;
    length -= 12;
    k += 12;
  }
  if (length === 0) return (BigInt(c >>> 0) << 32n) | BigInt(b >>> 0);
  // The last 1..12 bytes, little endian into a, b, c.
  const tail = [0, 0, 0];
  for (let i = 0; i < length; i++) tail[i >> 2] += data[k + i] * 2 ** ((i & 3) * 8);
  a = (a + tail[0]) | 0;
  b = (b + tail[1]) | 0;
  c = (c + tail[2]) | 0;
  // final(a, b, c)
  c ^= b;
  c = (c - rot32(b, 14)) | 0;
  a ^= c;
  a = (a - rot32(c, 11)) | 0;
  b ^= a;
  b = (b - rot32(a, 25)) | 0;
  c ^= b;
  c = (c - rot32(b, 16)) | 0;
  a ^= c;
  a = (a - rot32(c, 4)) | 0;
  b ^= a;
  b = (b - rot32(a, 14)) | 0;
  c ^= b;
  c = (c - rot32(b, 24)) | 0;
  return (BigInt(c >>> 0) << 32n) | BigInt(b >>> 0);
}

/** The hash a file with these flags stores for a DATA payload (its hash table key). */
export function dataHash(payload: Uint8Array, keyedHash: boolean, fileId: Uint8Array): bigint {
  return keyedHash ? siphash24(payload, fileId) : jenkinsHash64(payload);
}
