import assert from "node:assert/strict";
import fc from "fast-check";
import { JsonBytes } from "../../src/netfilter/ndjson_writer.ts";

const decoder = new TextDecoder();

Deno.test("JsonBytes writes what JSON.stringify writes, for any string and number", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme-composite" }),
      fc.oneof(
        fc.nat(),
        fc.maxSafeNat(),
        fc.double(),
        // Digit-count and int32 boundaries.
        fc.constantFrom(0, 9, 10, 99, 100, 999999999, 1e9, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1),
      ),
      (s, n) => {
        const w = new JsonBytes(undefined, 8); // tiny: forces growth
        w.raw("[");
        w.string(s);
        w.raw(",");
        w.number(n);
        w.raw("]");
        assert.equal(decoder.decode(w.bytes), JSON.stringify([s, n]));
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("JsonBytes hands full buffers to its drain, in order", () => {
  const chunks: string[] = [];
  const w = new JsonBytes((bytes) => chunks.push(decoder.decode(bytes)), 16);
  for (let i = 0; i < 20; i++) w.string(`line ${i}`);
  w.flush();
  assert.equal(chunks.join(""), Array.from({ length: 20 }, (_, i) => `"line ${i}"`).join(""));
  assert.ok(chunks.length > 1);
  w.text("héllo\n");
  w.flush();
  assert.equal(chunks.at(-1), "héllo\n");
});
