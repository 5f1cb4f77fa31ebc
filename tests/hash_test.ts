import assert from "node:assert/strict";
import { fnv1a32, fnv1a64 } from "../src/hash.ts";

Deno.test("FNV-1a test vectors (32 and 64 bit)", () => {
  // Published vectors (Fowler/Noll/Vo): "", "a", "foobar".
  assert.equal(fnv1a32(""), "811c9dc5");
  assert.equal(fnv1a32("a"), "e40c292c");
  assert.equal(fnv1a32("foobar"), "bf9cf968");
  assert.equal(fnv1a64(""), "cbf29ce484222325");
  assert.equal(fnv1a64("a"), "af63dc4c8601ec8c");
  assert.equal(fnv1a64("foobar"), "85944171f73967e8");
});
