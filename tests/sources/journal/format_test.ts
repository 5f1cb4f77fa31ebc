import assert from "node:assert/strict";
import {
  checkObjectSize,
  FileState,
  HEADER_MAX_SIZE,
  IncompatibleFlag,
  ObjectType,
  parseHeader,
  readU64,
  toHex,
} from "../../../src/sources/journal/format.ts";

/** A header as systemd 252 writes it (264 bytes), with fields we can recognise. */
function craftHeader(overrides: { flags?: number; state?: number; headerSize?: number } = {}) {
  const bytes = new Uint8Array(HEADER_MAX_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode("LPKSHHRH"), 0);
  view.setUint32(8, 2, true); // TAIL_ENTRY_BOOT_ID
  view.setUint32(12, overrides.flags ?? 0x1c, true);
  bytes[16] = overrides.state ?? FileState.ONLINE;
  for (let i = 0; i < 16; i++) {
    bytes[24 + i] = i; // file id 000102…0f
    bytes[40 + i] = 0xa0 + i; // machine id
    bytes[72 + i] = 0xf0 - i; // seqnum id
  }
  const u64 = (offset: number, value: number | bigint) =>
    view.setBigUint64(offset, BigInt(value), true);
  u64(88, overrides.headerSize ?? 264);
  u64(96, 8388344);
  u64(104, 280);
  u64(112, 233016);
  u64(136, 4096);
  u64(144, 37);
  u64(152, 6);
  u64(160, 6);
  u64(168, 1);
  u64(176, 1234 * 8);
  u64(184, 1764057527512188);
  u64(192, 1764057527514189);
  u64(200, 270680972);
  return bytes;
}

Deno.test("parseHeader decodes the fields of a systemd 252 header", () => {
  const header = parseHeader(craftHeader());
  assert(typeof header !== "string", String(header));
  assert.equal(header.compatibleFlags, 2);
  assert.equal(header.incompatibleFlags, 0x1c);
  assert.equal(header.compact, true);
  assert.equal(header.keyedHash, true);
  assert.equal(header.state, FileState.ONLINE);
  assert.equal(header.fileId, "000102030405060708090a0b0c0d0e0f");
  assert.equal(header.machineId, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  assert.equal(header.seqnumId, "f0efeeedecebeae9e8e7e6e5e4e3e2e1");
  assert.equal(header.headerSize, 264);
  assert.equal(header.arenaSize, 8388344);
  assert.equal(header.dataHashTableOffset, 280);
  assert.equal(header.dataHashTableSize, 233016);
  assert.equal(header.tailObjectOffset, 4096);
  assert.equal(header.nObjects, 37);
  assert.equal(header.nEntries, 6);
  assert.equal(header.tailEntrySeqnum, 6);
  assert.equal(header.headEntrySeqnum, 1);
  assert.equal(header.entryArrayOffset, 1234 * 8);
  assert.equal(header.headEntryRealtime, 1764057527512188);
  assert.equal(header.tailEntryRealtime, 1764057527514189);
  assert.equal(header.tailEntryMonotonic, 270680972);
  assert.deepEqual([...header.fileIdBytes], Array.from({ length: 16 }, (_, i) => i));
});

Deno.test("parseHeader: regular layout and unkeyed hash when the flags say so", () => {
  const header = parseHeader(craftHeader({ flags: IncompatibleFlag.COMPRESSED_ZSTD }));
  assert(typeof header !== "string");
  assert.equal(header.compact, false);
  assert.equal(header.keyedHash, false);
});

Deno.test("parseHeader rejects what is not a usable header, with a reason", () => {
  const notJournal = craftHeader();
  notJournal[0] = 0x4d;
  assert.match(String(parseHeader(notJournal)), /signature/);
  assert.match(String(parseHeader(craftHeader().subarray(0, 100))), /too short/);
  assert.match(String(parseHeader(craftHeader({ flags: 0x1c | 0x40 }))), /unsupported.*0x40/);
  assert.match(String(parseHeader(craftHeader({ state: 7 }))), /state 7/);
  assert.match(String(parseHeader(craftHeader({ headerSize: 100 }))), /header_size/);
  assert.match(String(parseHeader(craftHeader({ headerSize: 265 }))), /header_size/);
  const huge = craftHeader();
  new DataView(huge.buffer).setBigUint64(152, 1n << 60n, true);
  assert.match(String(parseHeader(huge)), /nEntries/);
  assert.equal(typeof parseHeader(new Uint8Array(0)), "string");
});

Deno.test("readU64 returns numbers up to 2^53 and -1 beyond", () => {
  const view = new DataView(new ArrayBuffer(16));
  view.setBigUint64(0, (1n << 53n) - 1n, true);
  view.setBigUint64(8, 1n << 53n, true);
  assert.equal(readU64(view, 0), Number.MAX_SAFE_INTEGER);
  assert.equal(readU64(view, 8), -1);
});

Deno.test("toHex prints bytes as systemd prints 128-bit ids", () => {
  assert.equal(toHex(new Uint8Array([0, 1, 0xab, 0xff])), "0001abff");
  assert.equal(toHex(new Uint8Array([9, 8, 7, 6]), 1, 2), "0807");
});

Deno.test("checkObjectSize knows the compact and regular item sizes", () => {
  // Entry: 64 bytes of fixed fields, then 4-byte (compact) or 16-byte (regular) items.
  assert.equal(checkObjectSize(ObjectType.ENTRY, 64 + 4 * 3, true), undefined);
  assert.match(String(checkObjectSize(ObjectType.ENTRY, 64 + 4 * 5, false)), /whole number/);
  assert.equal(checkObjectSize(ObjectType.ENTRY, 64 + 16 * 2, false), undefined);
  assert.match(String(checkObjectSize(ObjectType.ENTRY, 64, true)), /too small/);
  // Entry array: 24 bytes, then 4-byte or 8-byte items.
  assert.equal(checkObjectSize(ObjectType.ENTRY_ARRAY, 24 + 4 * 5, true), undefined);
  assert.match(String(checkObjectSize(ObjectType.ENTRY_ARRAY, 24 + 4 * 5, false)), /whole/);
  // Data: the payload starts at 64 (regular) or 72 (compact).
  assert.equal(checkObjectSize(ObjectType.DATA, 65, false), undefined);
  assert.match(String(checkObjectSize(ObjectType.DATA, 72, true)), /too small/);
  assert.equal(checkObjectSize(ObjectType.DATA, 73, true), undefined);
});
