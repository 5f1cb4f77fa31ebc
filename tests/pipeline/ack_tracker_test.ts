import assert from "node:assert/strict";
import { AckTracker } from "../../src/pipeline/ack_tracker.ts";

function deferred() {
  let resolve!: () => void, reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("ack: a cursor commits only when its batch and all earlier ones are done", async () => {
  const committed: unknown[] = [];
  const t = new AckTracker((c) => committed.push(c));
  const a = t.begin("a");
  const workA = deferred();
  a.track(workA.promise);
  a.seal();
  const b = t.begin("b");
  b.seal(); // no work
  const c = t.begin("c");
  const workC = deferred();
  c.track(workC.promise);
  await tick();
  assert.deepEqual(committed, [], "a is still pending; b must wait for it");
  workC.resolve();
  await tick();
  assert.deepEqual(committed, [], "c is done but not sealed and a is pending");
  c.seal();
  workA.reject(new Error("failed work counts as handled"));
  await tick();
  assert.deepEqual(committed, ["c"], "a, b and c complete: the newest cursor commits once");
  assert.equal(t.inFlight, 0);
});

Deno.test("ack: an unsealed batch holds back later ones", async () => {
  const committed: unknown[] = [];
  const t = new AckTracker((c) => committed.push(c));
  const a = t.begin(1);
  t.begin(2).seal();
  await tick();
  assert.deepEqual(committed, []);
  a.seal();
  assert.deepEqual(committed, [2]);
});

Deno.test("ack: freeze tells what was read after the committed cursor and which of it is finished", async () => {
  const committed: unknown[] = [];
  const t = new AckTracker((c) => committed.push(c));
  const a = t.begin("a");
  a.track(Promise.resolve(), a.count(() => "a1"));
  a.seal();
  await tick();
  assert.deepEqual(committed, ["a"]);
  const b = t.begin("b");
  const held = deferred();
  b.track(held.promise, b.count(() => "b1")); // never settles: an Event left unposted
  b.count(() => "b2"); // filtered out: no work
  b.track(Promise.resolve(), b.count(() => "b3"));
  b.seal();
  const c = t.begin("c");
  c.track(Promise.resolve(), c.count(() => "c1"));
  c.seal();
  const d = t.begin("d"); // not sealed: its output was not delivered
  d.count(() => "d1");
  await tick();
  assert.deepEqual(committed, ["a"], "b holds the checkpoint back");
  assert.deepEqual(t.freeze(), { items: 4, finished: ["b2", "b3", "c1"] });
  held.resolve();
  await tick();
  assert.deepEqual(committed, ["a"], "frozen: nothing more is committed");
});

Deno.test("ack: beyond maxKept items held back, freeze tells nothing; keys are asked only while kept", async () => {
  const t = new AckTracker(() => {}, 3);
  const held = deferred();
  const a = t.begin("a");
  a.track(held.promise, a.count(() => "a1"));
  a.seal();
  const b = t.begin("b");
  const asked: string[] = [];
  for (const key of ["b1", "b2", "b3"]) b.count(() => (asked.push(key), key)); // the 4th: over
  b.seal();
  assert.deepEqual(asked, ["b1", "b2"], "not asked once over");
  assert.equal(t.freeze(), undefined);

  const u = new AckTracker(() => {}, 3);
  for (const name of ["x", "y", "z"]) {
    const batch = u.begin(name);
    batch.count(() => `${name}1`);
    batch.count(() => `${name}2`);
    batch.seal(); // committed at once: its keys are let go
  }
  await tick();
  const w = u.begin("w");
  assert.equal(w.count(() => "w1"), 0, "kept again");
  assert.deepEqual(u.freeze(), { items: 0, finished: [] }, "w is not sealed");
});
