import assert from "node:assert/strict";
import {
  compareLocations,
  type EntryLocation,
  formatJournaldCursor,
  parseCursor,
  parseJournaldCursor,
  toCursor,
} from "../../../src/sources/journal/location.ts";

const S1 = "11111111111111111111111111111111";
const S2 = "22222222222222222222222222222222";
const B1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

function at(partial: Partial<EntryLocation>): EntryLocation {
  return {
    seqnumId: S1,
    seqnum: 10,
    bootId: B1,
    monotonic: 1_000,
    realtime: 1_700_000_000_000_000,
    xorHash: 5n,
    ...partial,
  };
}

Deno.test("same seqnum source: seqnum decides, even against time", () => {
  const a = at({ seqnum: 10, realtime: 2_000_000_000_000_000 });
  const b = at({ seqnum: 11, realtime: 1_000 });
  assert(compareLocations(a, b) < 0);
  assert(compareLocations(b, a) > 0);
});

Deno.test("different seqnum sources in one boot: monotonic time decides", () => {
  const a = at({ seqnumId: S1, seqnum: 99, monotonic: 5, realtime: 900 });
  const b = at({ seqnumId: S2, seqnum: 1, monotonic: 6, realtime: 100 });
  assert(compareLocations(a, b) < 0);
});

Deno.test("different seqnum sources and boots: realtime, then content hash", () => {
  const a = at({ seqnumId: S1, bootId: B1, monotonic: 999, realtime: 100 });
  const b = at({ seqnumId: S2, bootId: B2, monotonic: 1, realtime: 200 });
  assert(compareLocations(a, b) < 0);
  const c = at({ seqnumId: S2, bootId: B2, realtime: 100, xorHash: 4n });
  assert(compareLocations(a, c) > 0);
});

Deno.test("the same entry seen in two files compares equal", () => {
  assert.equal(compareLocations(at({}), at({})), 0);
  // Same seqnum but different content: the writer is broken; time and hash still order them.
  assert(compareLocations(at({ xorHash: 1n }), at({ xorHash: 2n })) < 0);
});

Deno.test("cursors survive JSON and restore the exact location", () => {
  const location = at({ seqnum: 123456, xorHash: 0xfedcba9876543210n });
  const saved = JSON.parse(JSON.stringify(toCursor(location)));
  assert.deepEqual(parseCursor(saved), location);
});

Deno.test("parseCursor explains what is wrong with a cursor", () => {
  const good = toCursor(at({}));
  assert.match(String(parseCursor(null)), /not an object/);
  assert.match(String(parseCursor({ ...good, v: 2 })), /version/);
  assert.match(String(parseCursor({ ...good, seqnumId: "xyz" })), /seqnumId/);
  assert.match(String(parseCursor({ ...good, bootId: 3 })), /bootId/);
  assert.match(String(parseCursor({ ...good, seqnum: -1 })), /seqnum/);
  assert.match(String(parseCursor({ ...good, realtime: 1.5 })), /realtime/);
  assert.match(String(parseCursor({ ...good, xorHash: "0x12" })), /xorHash/);
  assert.match(String(parseCursor("s=1;i=2")), /cursor/);
});

Deno.test("journald cursor strings are printed like journalctl and read back", () => {
  const location = at({ seqnum: 0x1004, monotonic: 0x38e406ea, realtime: 0x6611593694691 });
  const text = formatJournaldCursor({ ...location, xorHash: 0x16b1edf9a4ea06f4n });
  assert.equal(
    text,
    `s=${S1};i=1004;b=${B1};m=38e406ea;t=6611593694691;x=16b1edf9a4ea06f4`,
  );
  assert.deepEqual(parseJournaldCursor(text), { ...location, xorHash: 0x16b1edf9a4ea06f4n });
  assert.deepEqual(parseCursor(text), parseJournaldCursor(text));
  assert.equal(typeof parseJournaldCursor(`s=${S1};i=zz;b=${B1};m=1;t=1;x=1`), "string");
  assert.equal(typeof parseJournaldCursor(`s=${S1};b=${B1};m=1;t=1;x=1`), "string");
});
