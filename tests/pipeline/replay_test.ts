/** Replay: which drops a clean restart passes over, from the note saved at the stop. */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { DropParser } from "../../src/netfilter/parser.ts";
import type { PacketDrop } from "../../src/netfilter/types.ts";
import { dropIdentity } from "../../src/pipeline/filters.ts";
import { Replay, replayNote, replayNoteProblem } from "../../src/pipeline/replay.ts";

const parser = new DropParser({ prefixes: ["calico-packet:"] });

function drop(id: number, dpt = 80): PacketDrop {
  const r = parser.parseLine(
    `2026-11-25T07:58:51.523218+00:00 vm kernel: calico-packet: IN=cali1 OUT=cali2 ` +
      `SRC=10.244.1.10 DST=10.244.2.20 LEN=60 TTL=63 ID=${id} PROTO=TCP SPT=40000 DPT=${dpt} SYN`,
  );
  if (r.kind !== "drop") throw new Error(JSON.stringify(r));
  return r.drop;
}

function logger(lines: string[]) {
  return createLogger({ level: "info", format: "text", write: (l) => lines.push(l) });
}

Deno.test("replay: of the noted drops the handled are passed over, the others acted on; after them, as usual", () => {
  const read = [drop(1), drop(2), drop(3), drop(4)];
  const note = replayNote({ items: 4, finished: [read[0], read[2]].map(dropIdentity) }, "p")!;
  assert.deepEqual(note, {
    drops: 4,
    handled: [dropIdentity(read[0]), dropIdentity(read[2])],
    parser: "p",
  });
  const lines: string[] = [];
  const replay = Replay.from(JSON.parse(JSON.stringify(note)), "p", logger(lines))!;
  assert.match(lines[0], /acting on the rest read=4 handled=2/);
  assert.deepEqual(
    [...read, drop(5)].map((d) => replay.verdict(dropIdentity(d))),
    ["pass", "act", "pass", "act", "usual"],
  );
  assert.ok(replay.done);
});

Deno.test("replay: a drop that reads differently after the restart is acted on again, never passed over", () => {
  const before = drop(1);
  const note = replayNote({ items: 2, finished: [before, drop(2)].map(dropIdentity) }, "p")!;
  const replay = Replay.from(note, "p", logger([]))!;
  // Its time now comes out otherwise (taken from the clock, another boot's estimate).
  const differently = { ...before, time: new Date(before.time.getTime() + 3) };
  assert.deepEqual([differently, drop(2)].map((d) => replay.verdict(dropIdentity(d))), [
    "act",
    "pass",
  ]);
});

Deno.test("replay: identical drops are passed over as many times as they were handled", () => {
  const twin = drop(7);
  const note = replayNote({ items: 3, finished: [twin, { ...twin }].map(dropIdentity) }, "p")!;
  const replay = Replay.from(note, "p", logger([]))!;
  assert.deepEqual([drop(7), drop(7), drop(7)].map((d) => replay.verdict(dropIdentity(d))), [
    "pass",
    "pass",
    "act",
  ]);
});

Deno.test("replay: cancelled (the log changed while stopped), every drop is as usual", () => {
  const note = replayNote(
    { items: 3, finished: [drop(1), drop(2), drop(3)].map(dropIdentity) },
    "p",
  )!;
  const lines: string[] = [];
  const replay = Replay.from(note, "p", logger(lines))!;
  assert.equal(replay.verdict(dropIdentity(drop(1))), "pass");
  replay.cancel("gap");
  assert.equal(replay.verdict(dropIdentity(drop(2))), "usual");
  assert.ok(replay.done);
  assert.match(lines[1], /WARN .*log changed while stopped.* reason=gap stillToRead=2/);
});

Deno.test("replay: no note, another parser setting, a damaged note, or too much read: no replay", () => {
  const note = replayNote({ items: 1, finished: [dropIdentity(drop(1))] }, "p")!;
  const lines: string[] = [];
  assert.equal(Replay.from(undefined, "p", logger(lines)), undefined);
  assert.equal(Replay.from(note, "other prefixes", logger(lines)), undefined);
  assert.match(lines[0], /prefixes or time layout changed/);
  for (
    const bad of [null, [], { ...note, drops: 0 }, { ...note, handled: [1] }, {
      ...note,
      parser: 5,
    }]
  ) {
    assert.ok(replayNoteProblem(bad), JSON.stringify(bad));
    assert.equal(Replay.from(bad, "p", logger(lines)), undefined);
  }
  assert.match(lines.at(-1)!, /note of handled drops is damaged/);
  assert.equal(replayNote({ items: 0, finished: [] }, "p"), undefined);
  assert.equal(replayNote(undefined, "p"), undefined);
});
