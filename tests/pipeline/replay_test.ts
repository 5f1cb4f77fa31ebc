/** Replay: which drops a clean restart acts on again, from the note saved at the stop. */
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

Deno.test("replay: of the noted drops only the unfinished are acted on; after them, every drop", () => {
  const read = [drop(1), drop(2), drop(3), drop(4)];
  const note = replayNote({ items: 4, unsettled: [read[1], read[3]], last: read[3] }, "p")!;
  assert.deepEqual(note, {
    drops: 4,
    pending: [dropIdentity(read[1]), dropIdentity(read[3])],
    last: dropIdentity(read[3]),
    parser: "p",
  });
  const lines: string[] = [];
  const replay = Replay.from(JSON.parse(JSON.stringify(note)), "p", logger(lines))!;
  assert.match(lines[0], /acting on the rest read=4 unfinished=2/);
  assert.deepEqual([...read, drop(5)].map((d) => replay.shouldAct(d)), [
    false,
    true,
    false,
    true,
    true,
  ]);
  assert.ok(replay.done);
  assert.equal(lines.length, 1, "the log read the same: nothing to warn about");
});

Deno.test("replay: an unfinished drop is acted on wherever it comes; a different last drop is warned about", () => {
  const a = drop(1), b = drop(2), c = drop(3);
  const note = replayNote({ items: 2, unsettled: [b], last: b }, "p")!;
  const lines: string[] = [];
  const replay = Replay.from(note, "p", logger(lines))!;
  // The log reads differently: b comes third.
  assert.deepEqual([a, c, b].map((d) => replay.shouldAct(d)), [false, false, true]);
  assert.match(lines[1], /WARN .*read differently/);
});

Deno.test("replay: identical drops noted twice are both acted on", () => {
  const twin = drop(7);
  const note = replayNote({ items: 2, unsettled: [twin, { ...twin }], last: twin }, "p")!;
  const replay = Replay.from(note, "p", logger([]))!;
  assert.deepEqual([drop(7), drop(7)].map((d) => replay.shouldAct(d)), [true, true]);
});

Deno.test("replay: cancelled (the log changed while stopped), every drop is acted on", () => {
  const note = replayNote({ items: 3, unsettled: [], last: drop(3) }, "p")!;
  const lines: string[] = [];
  const replay = Replay.from(note, "p", logger(lines))!;
  assert.equal(replay.shouldAct(drop(1)), false);
  replay.cancel("gap");
  assert.equal(replay.shouldAct(drop(2)), true);
  assert.ok(replay.done);
  assert.match(lines[1], /WARN .*log changed while stopped.* reason=gap stillToRead=2/);
});

Deno.test("replay: no note, another parser setting, or a damaged note: no replay (every drop acted on)", () => {
  const note = replayNote({ items: 1, unsettled: [], last: drop(1) }, "p")!;
  const lines: string[] = [];
  assert.equal(Replay.from(undefined, "p", logger(lines)), undefined);
  assert.equal(Replay.from(note, "other prefixes", logger(lines)), undefined);
  assert.match(lines[0], /prefixes or time layout changed/);
  for (
    const bad of [null, [], { ...note, drops: 0 }, { ...note, pending: [1] }, { ...note, last: 5 }]
  ) {
    assert.ok(replayNoteProblem(bad), JSON.stringify(bad));
    assert.equal(Replay.from(bad, "p", logger(lines)), undefined);
  }
  assert.match(lines.at(-1)!, /note of handled drops is damaged/);
  assert.equal(replayNote({ items: 0, unsettled: [], last: undefined }, "p"), undefined);
});
