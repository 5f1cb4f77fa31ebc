import assert from "node:assert/strict";
import { zstdDecompressSync } from "node:zlib";
import { jenkinsHash64, siphash24 } from "../../../src/sources/journal/hash.ts";
import { systemTest } from "../../support/system.ts";
import { listObjects, rawHeader } from "../../support/journal/objects.ts";
import { JOURNAL_REMOTE, mixedEntries, writeJournal } from "../../support/journal/tools.ts";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);
const text = (s: string) => new TextEncoder().encode(s);

Deno.test("siphash24 matches the reference vector of the SipHash paper", () => {
  // Key 00 01 … 0f, message 00 01 … 0e (15 bytes): 0xa129ca6149be45e5.
  assert.equal(siphash24(bytes(15), bytes(16)), 0xa129ca6149be45e5n);
});

Deno.test("siphash24 differs with the key and covers every tail length", () => {
  const key = bytes(16);
  const seen = new Set<bigint>();
  for (let n = 0; n <= 17; n++) seen.add(siphash24(bytes(n), key));
  assert.equal(seen.size, 18);
  assert.notEqual(
    siphash24(text("MESSAGE=x"), key),
    siphash24(text("MESSAGE=x"), bytes(16).reverse()),
  );
  assert.throws(() => siphash24(text("x"), bytes(8)), RangeError);
});

Deno.test("jenkinsHash64 matches lookup3's published hashlittle2 values", () => {
  // hashlittle2 of nothing with zero seeds leaves both words at 0xdeadbeef.
  assert.equal(jenkinsHash64(new Uint8Array(0)), 0xdeadbeefdeadbeefn);
  // lookup3.c driver5: "Four score and seven years ago", seeds 0,0 → 17770551 ce7226e6.
  assert.equal(jenkinsHash64(text("Four score and seven years ago")), 0x17770551ce7226e6n);
});

/** Checks every DATA object's stored hash, and every ENTRY's xor_hash, against our functions. */
async function checkStoredHashes(path: string): Promise<{ data: number; entries: number }> {
  const file = await Deno.readFile(path);
  const view = new DataView(file.buffer);
  const header = rawHeader(file);
  const compact = (header.incompatibleFlags & 16) !== 0;
  const keyed = (header.incompatibleFlags & 4) !== 0;
  const fileId = file.slice(24, 40);
  const jenkinsOf = new Map<number, bigint>();
  let data = 0, entries = 0;
  for (const o of listObjects(file)) {
    if (o.type === 1) {
      let payload = file.subarray(o.offset + (compact ? 72 : 64), o.offset + o.size);
      if (o.flags & 4) payload = new Uint8Array(zstdDecompressSync(payload));
      const stored = view.getBigUint64(o.offset + 16, true);
      assert.equal(keyed ? siphash24(payload, fileId) : jenkinsHash64(payload), stored);
      jenkinsOf.set(o.offset, jenkinsHash64(payload));
      data++;
    } else if (o.type === 3) {
      let xor = 0n;
      for (let p = o.offset + 64; p < o.offset + o.size; p += compact ? 4 : 16) {
        const item = compact ? view.getUint32(p, true) : Number(view.getBigUint64(p, true));
        xor ^= jenkinsOf.get(item)!;
      }
      assert.equal(xor, view.getBigUint64(o.offset + 56, true));
      entries++;
    }
  }
  return { data, entries };
}

systemTest("stored hashes of files systemd wrote match siphash24 / lookup3", {
  needs: [JOURNAL_REMOTE],
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const entries = mixedEntries({ count: 300, longEvery: 25 });
    for (const keyedHash of [true, false]) {
      const path = `${dir}/keyed-${keyedHash}.journal`;
      await writeJournal(path, entries, { keyedHash });
      const counts = await checkStoredHashes(path);
      assert.equal(counts.entries, 300);
      assert(counts.data > 300, `only ${counts.data} data objects`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
