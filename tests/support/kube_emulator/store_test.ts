import assert from "node:assert/strict";
import fc from "fast-check";
import { RevisionClock, type StoreEvent, TooOldError, VersionedStore } from "./store.ts";
import type { KubeObject } from "./types.ts";

function obj(name: string, rv: number, value = 0): KubeObject {
  return { metadata: { name, resourceVersion: String(rv) }, value };
}

function newStore(historySize = 100) {
  const clock = new RevisionClock(1);
  return { clock, store: new VersionedStore<KubeObject>({ clock, historySize }) };
}

Deno.test("store: pages in key order with prefix, from-key and limit", () => {
  const { clock, store } = newStore();
  for (const key of ["b/2", "a/2", "b/1", "a/1", "c/1", "b/3"]) {
    store.create(key, (rv) => obj(key, rv));
  }
  const all = store.list({ rv: clock.current, prefix: "", limit: 0 });
  assert.deepEqual(all.items.map((o) => o.metadata.name), [
    "a/1",
    "a/2",
    "b/1",
    "b/2",
    "b/3",
    "c/1",
  ]);
  const first = store.list({ rv: clock.current, prefix: "b/", limit: 2 });
  assert.deepEqual(first.items.map((o) => o.metadata.name), ["b/1", "b/2"]);
  assert.equal(first.lastKey, "b/2");
  assert.equal(first.remaining, 1);
  const second = store.list({ rv: clock.current, prefix: "b/", from: "b/2\u0000", limit: 2 });
  assert.deepEqual(second.items.map((o) => o.metadata.name), ["b/3"]);
  assert.equal(second.lastKey, undefined);
});

Deno.test("store: a list at an older revision sees that revision's objects (snapshot reads)", () => {
  const { clock, store } = newStore();
  store.create("a", (rv) => obj("a", rv, 1));
  store.create("b", (rv) => obj("b", rv, 1));
  const snapshot = clock.current;
  store.update("a", (rv) => obj("a", rv, 2));
  store.delete(
    "b",
    (rv, current) => ({
      ...current,
      metadata: { ...current.metadata, resourceVersion: String(rv) },
    }),
  );
  store.create("c", (rv) => obj("c", rv, 1));
  const then = store.list({ rv: snapshot, prefix: "", limit: 0 }).items;
  assert.deepEqual(then.map((o) => [o.metadata.name, o.value]), [["a", 1], ["b", 1]]);
  const now = store.list({ rv: clock.current, prefix: "", limit: 0 }).items;
  assert.deepEqual(now.map((o) => [o.metadata.name, o.value]), [["a", 2], ["c", 1]]);
});

Deno.test("store: history is bounded; older revisions are too old, compaction forgets everything", () => {
  const { clock, store } = newStore(3);
  const start = clock.current;
  for (let i = 0; i < 5; i++) store.create(`k${i}`, (rv) => obj(`k${i}`, rv));
  assert.throws(() => store.eventsSince(start), TooOldError);
  const recent = store.eventsSince(clock.current - 3);
  assert.deepEqual(recent.map((e) => e.key), ["k2", "k3", "k4"]);
  store.compact();
  assert.throws(
    () => store.eventsSince(clock.current - 1),
    (e: TooOldError) => e.oldest === clock.current,
  );
  assert.throws(() => store.list({ rv: clock.current - 1, prefix: "", limit: 0 }), TooOldError);
  assert.equal(store.list({ rv: clock.current, prefix: "", limit: 0 }).items.length, 5);
  assert.deepEqual(store.eventsSince(clock.current), []);
});

Deno.test("store: subscribers get every change with the previous state", () => {
  const { store } = newStore();
  const seen: StoreEvent<KubeObject>[] = [];
  const stop = store.subscribe((e) => seen.push(e));
  store.create("a", (rv) => obj("a", rv, 1));
  store.update("a", (rv) => obj("a", rv, 2));
  store.delete(
    "a",
    (rv, cur) => ({ ...cur, metadata: { ...cur.metadata, resourceVersion: String(rv) } }),
  );
  stop();
  store.create("b", (rv) => obj("b", rv));
  assert.deepEqual(seen.map((e) => [e.type, e.prev?.value ?? null, e.obj.value]), [
    ["ADDED", null, 1],
    ["MODIFIED", 1, 2],
    ["DELETED", 2, 2],
  ]);
  assert.equal(seen[2].obj.metadata.resourceVersion, String(seen[2].rv));
  assert.ok(Object.isFrozen(seen[0].obj.metadata));
});

Deno.test("store: after random writes, every list equals a model map at the current revision", () => {
  const ops = fc.array(
    fc.record({
      kind: fc.constantFrom("put", "del"),
      key: fc.constantFrom("a/1", "a/2", "b/1", "b/2", "c", "a/3"),
    }),
    { maxLength: 60 },
  );
  fc.assert(
    fc.property(
      ops,
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 10 }),
      (steps, historySize, limit) => {
        const { clock, store } = newStore(historySize);
        const model = new Map<string, number>();
        let n = 0;
        for (const step of steps) {
          n++;
          if (step.kind === "put") {
            if (model.has(step.key)) store.update(step.key, (rv) => obj(step.key, rv, n));
            else store.create(step.key, (rv) => obj(step.key, rv, n));
            model.set(step.key, n);
          } else if (model.delete(step.key)) {
            store.delete(
              step.key,
              (rv, cur) => ({ ...cur, metadata: { ...cur.metadata, resourceVersion: String(rv) } }),
            );
          }
        }
        const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
        const got: [string, unknown][] = [];
        let from: string | undefined;
        do {
          const page = store.list({ rv: clock.current, prefix: "", from, limit });
          got.push(...page.items.map((o): [string, unknown] => [o.metadata.name!, o.value]));
          from = page.lastKey === undefined ? undefined : `${page.lastKey}\u0000`;
        } while (from !== undefined);
        assert.deepEqual(got, expected);
        assert.equal(store.size, model.size);
      },
    ),
  );
});
