/**
 * The LZ4 block decoder against the real `lz4` tool: what it compresses (the blocks of its frame
 * format, which are the raw blocks systemd's journal stores) decodes to the same bytes.
 */
import assert from "node:assert/strict";
import { decodeJournalLz4, decodeLz4Block } from "../../../src/sources/journal/lz4_block.ts";
import { decompressPayload } from "../../../src/sources/journal/decompress.ts";
import { ObjectFlag } from "../../../src/sources/journal/format.ts";
import { systemTest } from "../../support/system.ts";

/** The single block of the LZ4 frame `lz4` makes of `data` (up to 64 KiB: one block). */
async function lz4Block(data: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("lz4", {
    args: ["-c", "-q", "-B4", "--no-frame-crc"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(data);
  await writer.close();
  const frame = (await child.output()).stdout;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  assert.equal(view.getUint32(0, true), 0x184d2204, "LZ4 frame magic");
  const flags = frame[4];
  let at = 7 + ((flags & 8) ? 8 : 0) + ((flags & 1) ? 4 : 0); // FLG, BD, [size], [dict], HC
  const blockSize = view.getUint32(at, true);
  assert.equal(blockSize >>> 31, 0, "a compressed block (not stored as it is)");
  at += 4;
  return frame.subarray(at, at + blockSize);
}

/** systemd's DATA payload: the uncompressed size (64-bit little-endian), then the block. */
function journalPayload(size: number, block: Uint8Array): Uint8Array {
  const payload = new Uint8Array(8 + block.length);
  new DataView(payload.buffer).setUint32(0, size, true);
  payload.set(block, 8);
  return payload;
}

const encoder = new TextEncoder();

systemTest("LZ4 blocks made by the lz4 tool decode to what it was given", {
  needs: ["lz4"],
}, async () => {
  const message = "MESSAGE=kube-iptables-tailer: IN=cali1 OUT=cali2 MAC=5a:bc:58:67:a6:b3:ea:8d:" +
    "a9:26:6a:43:86:dd SRC=fd00:0244:0000:0000:0000:0000:0000:0011 DST=fd00:0244:0000:0000:" +
    "0000:0000:0000:0010 LEN=80 TC=0 HOPLIMIT=63 FLOWLBL=291613 PROTO=TCP SPT=60378 DPT=8080 ";
  const inputs = [
    encoder.encode(message.repeat(3)), // matches far back, and literals between them
    encoder.encode("a".repeat(5000)), // one long overlapping match (offset 1), long lengths
    encoder.encode(`${"x".repeat(300)}${message}${"y".repeat(300)}`), // long literal runs
    Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 251), // little to match
  ];
  for (const data of inputs) {
    const block = await lz4Block(data);
    assert.deepEqual(decodeLz4Block(block, data.length), data);
    // As the journal stores it, through the reader's decompression.
    const decoded = decompressPayload(
      ObjectFlag.COMPRESSED_LZ4,
      journalPayload(data.length, block),
      1 << 20,
    );
    assert.deepEqual(decoded, data);
  }
});

Deno.test("LZ4: damaged blocks and sizes are errors, never a wrong result or a hang", () => {
  const literalsOnly = Uint8Array.of(0x50, 104, 101, 108, 108, 111); // 5 literals: "hello"
  assert.equal(new TextDecoder().decode(decodeLz4Block(literalsOnly, 5)), "hello");
  assert.throws(() => decodeLz4Block(literalsOnly, 4), /more bytes than its size says/);
  assert.throws(() => decodeLz4Block(literalsOnly, 6), /5 bytes where its size says 6/);
  assert.throws(() => decodeLz4Block(literalsOnly.subarray(0, 4), 5), /literals run past/);
  // "a", then a match 1 back for 4+3 bytes, then one literal: "aaaaaaaab".
  const overlap = Uint8Array.of(0x13, 97, 1, 0, 0x10, 98);
  assert.equal(new TextDecoder().decode(decodeLz4Block(overlap, 9)), "aaaaaaaab");
  assert.throws(() => decodeLz4Block(Uint8Array.of(0x13, 97, 2, 0, 0x10, 98), 9), /offset 2/);
  assert.throws(() => decodeLz4Block(Uint8Array.of(0x13, 97, 0, 0, 0x10, 98), 9), /offset 0/);
  assert.throws(() => decodeLz4Block(Uint8Array.of(0xf0, 255, 255), 600), /length runs past/);
  // The journal's size field: beyond the limit, or no block at all.
  assert.throws(() => decodeJournalLz4(journalPayload(5, literalsOnly), 4), /exceeds the limit/);
  assert.throws(() => decodeJournalLz4(new Uint8Array(8), 100), /shorter than its size field/);
  assert.match(
    String(decompressPayload(ObjectFlag.COMPRESSED_LZ4, journalPayload(9, overlap), 4)),
    /^lz4: .*exceeds the limit/,
  );
});
