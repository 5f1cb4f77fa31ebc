import assert from "node:assert/strict";
import type { EntryLocation } from "../../../src/sources/journal/location.ts";
import { Interleaver, type MergeStream } from "../../../src/sources/journal/merge.ts";
import { compareLocations } from "../../../src/sources/journal/location.ts";

/** A file's entries in memory, with sd-journal's "skip what is not after" behaviour. */
class ArrayStream implements MergeStream {
  index = 0;
  blockedAt = -1;
  constructor(readonly name: string, readonly entries: EntryLocation[]) {}
  head(after: EntryLocation | undefined) {
    for (; this.index < this.entries.length; this.index++) {
      if (this.index === this.blockedAt) return "blocked" as const;
      const e = this.entries[this.index];
      if (after === undefined || compareLocations(e, after) > 0) return e;
    }
    return undefined;
  }
  take() {
    this.index++;
  }
}

const S1 = "11111111111111111111111111111111";
const S2 = "22222222222222222222222222222222";
const BOOT = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

function entry(seqnumId: string, seqnum: number, realtime: number, xorHash = BigInt(seqnum)) {
  return { seqnumId, seqnum, bootId: BOOT, monotonic: realtime, realtime, xorHash };
}

function drain(merge: Interleaver<ArrayStream>, streams: ArrayStream[]) {
  const out: string[] = [];
  for (;;) {
    const s = merge.next(streams);
    if (s === undefined || s === "blocked") return { out, end: s };
    out.push(`${s.name}:${merge.location!.seqnum}`);
  }
}

Deno.test("files of one journald interleave by seqnum (archived + current)", () => {
  const archived = new ArrayStream("a", [entry(S1, 1, 10), entry(S1, 3, 30), entry(S1, 5, 50)]);
  const user = new ArrayStream("u", [entry(S1, 2, 20), entry(S1, 4, 40)]);
  const current = new ArrayStream("c", [entry(S1, 6, 60), entry(S1, 7, 70)]);
  const { out, end } = drain(new Interleaver(), [current, user, archived]);
  assert.deepEqual(out, ["a:1", "u:2", "a:3", "u:4", "a:5", "c:6", "c:7"]);
  assert.equal(end, undefined);
});

Deno.test("an entry present in two files is shown once", () => {
  const shared = entry(S1, 2, 20);
  const a = new ArrayStream("a", [entry(S1, 1, 10), shared, entry(S1, 3, 30)]);
  const b = new ArrayStream("b", [{ ...shared }, entry(S1, 4, 40)]);
  const { out } = drain(new Interleaver(), [a, b]);
  assert.deepEqual(out, ["a:1", "a:2", "a:3", "b:4"]);
});

Deno.test("different seqnum sources interleave by time", () => {
  const a = new ArrayStream("a", [entry(S1, 100, 10), entry(S1, 101, 40)]);
  const b = new ArrayStream("b", [entry(S2, 1, 20), entry(S2, 2, 30), entry(S2, 3, 50)]);
  const { out } = drain(new Interleaver(), [a, b]);
  assert.deepEqual(out, ["a:100", "b:1", "b:2", "a:101", "b:3"]);
});

Deno.test("after a location, older entries of every file are passed over", () => {
  const a = new ArrayStream("a", [entry(S1, 1, 10), entry(S1, 3, 30), entry(S1, 5, 50)]);
  const b = new ArrayStream("b", [entry(S1, 2, 20), entry(S1, 6, 60)]);
  const { out } = drain(new Interleaver(entry(S1, 3, 30)), [a, b]);
  assert.deepEqual(out, ["a:5", "b:6"]);
});

Deno.test("a blocked stream stops the merge until it can tell", () => {
  const a = new ArrayStream("a", [entry(S1, 1, 10), entry(S1, 3, 30)]);
  const b = new ArrayStream("b", [entry(S1, 2, 20), entry(S1, 4, 40)]);
  b.blockedAt = 1;
  const merge = new Interleaver<ArrayStream>();
  const first = drain(merge, [a, b]);
  assert.deepEqual(first.out, ["a:1", "b:2"]);
  assert.equal(first.end, "blocked");
  b.blockedAt = -1;
  assert.deepEqual(drain(merge, [a, b]).out, ["a:3", "b:4"]);
});
