import assert from "node:assert/strict";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from "./patch.ts";

const doc = {
  metadata: {
    name: "e",
    labels: { a: "1", b: "2" },
    finalizers: ["x"],
    ownerReferences: [{ uid: "u1", name: "one" }],
  },
  count: 1,
  source: { component: "c", host: "h" },
};

Deno.test("merge patch: objects merge, null deletes, lists and scalars replace", () => {
  assert.deepEqual(
    applyMergePatch(doc, {
      count: 2,
      source: { host: null },
      metadata: { labels: { b: null, c: "3" }, finalizers: ["y"] },
    }),
    {
      metadata: {
        name: "e",
        labels: { a: "1", c: "3" },
        finalizers: ["y"],
        ownerReferences: [{ uid: "u1", name: "one" }],
      },
      count: 2,
      source: { component: "c" },
    },
  );
});

Deno.test("strategic merge patch: set-merged finalizers, keyed ownerReferences and directives", () => {
  const patched = applyStrategicMergePatch(doc, {
    metadata: {
      finalizers: ["y"],
      ownerReferences: [{ uid: "u1", name: "renamed" }, { uid: "u2", name: "two" }],
      "$setElementOrder/finalizers": ["x", "y"],
    },
    source: { $patch: "replace", component: "new" },
  }) as typeof doc;
  assert.deepEqual(patched.metadata.finalizers, ["x", "y"]);
  assert.deepEqual(patched.metadata.ownerReferences, [{ uid: "u1", name: "renamed" }, {
    uid: "u2",
    name: "two",
  }]);
  assert.deepEqual(patched.source, { component: "new" });
  const removed = applyStrategicMergePatch(doc, {
    metadata: {
      "$deleteFromPrimitiveList/finalizers": ["x"],
      ownerReferences: [{ uid: "u1", $patch: "delete" }],
    },
    source: { $patch: "delete" },
  }) as Partial<typeof doc>;
  assert.deepEqual(removed.metadata?.finalizers, []);
  assert.deepEqual(removed.metadata?.ownerReferences, []);
  assert.equal(removed.source, undefined);
  assert.throws(() => applyStrategicMergePatch(doc, [1]), PatchError);
});

Deno.test("JSON patch: add, remove, replace, move, copy, test", () => {
  const patched = applyJsonPatch(doc, [
    { op: "replace", path: "/count", value: 5 },
    { op: "add", path: "/metadata/labels/c", value: "3" },
    { op: "remove", path: "/metadata/labels/a" },
    { op: "add", path: "/metadata/finalizers/-", value: "z" },
    { op: "copy", from: "/source/host", path: "/source/copy" },
    { op: "move", from: "/source/component", path: "/source/moved" },
    { op: "test", path: "/count", value: 5 },
  ]);
  assert.deepEqual(patched, {
    metadata: {
      name: "e",
      labels: { b: "2", c: "3" },
      finalizers: ["x", "z"],
      ownerReferences: [{ uid: "u1", name: "one" }],
    },
    count: 5,
    source: { host: "h", copy: "h", moved: "c" },
  });
  assert.equal(doc.count, 1, "the input is not modified");
  assert.throws(
    () => applyJsonPatch(doc, [{ op: "test", path: "/count", value: 2 }]),
    /testing value \/count failed/,
  );
  assert.throws(
    () => applyJsonPatch(doc, [{ op: "remove", path: "/nope" }]),
    /Unable to remove nonexistent key: nope/,
  );
  assert.throws(
    () => applyJsonPatch(doc, [{ op: "replace", path: "/a/b", value: 1 }]),
    /doc is missing path/,
  );
  assert.throws(() => applyJsonPatch(doc, { op: "add" }), (e: PatchError) => e.malformed);
});
