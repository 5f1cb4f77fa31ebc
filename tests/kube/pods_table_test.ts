/** PodTable: ownership rules, against a straightforward model under random operations. */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { PodInfo } from "../../src/kube/pods_info.ts";
import { outranks, PodTable } from "../../src/kube/pods_table.ts";

function pod(name: string, ips: string[], createdMs = 0, extra: Partial<PodInfo> = {}): PodInfo {
  return {
    namespace: "ns",
    name,
    uid: `uid-${name}`,
    nodeName: "node",
    hostNetwork: false,
    phase: "Running",
    ips,
    createdMs,
    ...extra,
  };
}

Deno.test("pod table: upsert, lookup, replace with new IPs, remove", () => {
  const table = new PodTable();
  table.upsert(pod("a", ["10.0.0.1", "fd00::1"]));
  assert.equal(table.size, 1);
  assert.equal(table.ipCount, 2);
  assert.equal(table.lookup("10.0.0.1")?.name, "a");
  assert.equal(table.lookup("fd00::1")?.name, "a");
  assert.equal(table.lookup("::ffff:10.0.0.1")?.name, "a", "IPv4-mapped finds the IPv4 owner");
  assert.equal(table.lookup("::ffff:10.0.0.2"), undefined);
  assert.equal(table.lookup("fd00::2"), undefined);
  table.upsert(pod("a", ["10.0.0.2"], 0, { nodeName: "other" }));
  assert.equal(table.lookup("10.0.0.1"), undefined);
  assert.equal(table.lookup("10.0.0.2")?.nodeName, "other");
  assert.equal(table.ipCount, 1);
  assert.equal(table.remove("uid-a"), true);
  assert.equal(table.remove("uid-a"), false);
  assert.equal(table.size, 0);
  assert.equal(table.ipCount, 0);
});

Deno.test("pod table: a pod without IPs is not held, and storing one drops its earlier state", () => {
  const table = new PodTable();
  table.upsert(pod("a", []));
  assert.equal(table.size, 0);
  table.upsert(pod("a", ["10.0.0.1"]));
  table.upsert(pod("a", []));
  assert.equal(table.size, 0);
  assert.equal(table.lookup("10.0.0.1"), undefined);
});

Deno.test("pod table: the newest claimant owns an IP; ties by namespace, name, uid", () => {
  const table = new PodTable();
  table.upsert(pod("old", ["10.0.0.1"], 1000));
  table.upsert(pod("new", ["10.0.0.1"], 2000));
  table.upsert(pod("mid", ["10.0.0.1"], 1500));
  assert.equal(table.lookup("10.0.0.1")?.name, "new");
  assert.deepEqual(table.claimants("10.0.0.1").map((p) => p.name), ["new", "mid", "old"]);
  table.remove("uid-new");
  assert.equal(table.lookup("10.0.0.1")?.name, "mid");
  table.upsert(pod("mid", ["10.0.0.9"], 1500));
  assert.equal(table.lookup("10.0.0.1")?.name, "old");
  assert.deepEqual(table.claimants("10.0.0.1").map((p) => p.name), ["old"]);
  assert.ok(outranks(pod("b", [], 5), pod("a", [], 5)));
  assert.ok(outranks(pod("a", [], 5, { namespace: "z" }), pod("b", [], 5)));
  assert.ok(outranks(pod("a", [], 5, { uid: "2" }), pod("a", [], 5, { uid: "1" })));
  assert.ok(!outranks(pod("a", [], 4), pod("a", [], 5)));
});

Deno.test("pod table: matches a model under random upserts and removes", () => {
  const names = ["a", "b", "c", "d", "e"];
  const ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1"];
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("upsert" as const),
      name: fc.constantFrom(...names),
      ips: fc.uniqueArray(fc.constantFrom(...ips), { maxLength: 3 }),
      createdMs: fc.integer({ min: 0, max: 3 }),
    }),
    fc.record({ kind: fc.constant("remove" as const), name: fc.constantFrom(...names) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const table = new PodTable();
      const model = new Map<string, PodInfo>();
      for (const o of ops) {
        if (o.kind === "upsert") {
          const p = pod(o.name, o.ips, o.createdMs);
          table.upsert(p);
          if (p.ips.length > 0) model.set(p.uid, p);
          else model.delete(p.uid);
        } else {
          assert.equal(table.remove(`uid-${o.name}`), model.delete(`uid-${o.name}`));
        }
        assert.equal(table.size, model.size);
        for (const ip of ips) {
          const claimants = [...model.values()].filter((p) => p.ips.includes(ip));
          const owner = claimants.reduce<PodInfo | undefined>(
            (best, p) => (best === undefined || outranks(p, best) ? p : best),
            undefined,
          );
          assert.equal(table.lookup(ip), owner, `owner of ${ip}`);
          assert.equal(table.claimants(ip).length, claimants.length);
        }
        assert.equal(
          table.ipCount,
          new Set([...model.values()].flatMap((p) => p.ips)).size,
        );
      }
    }),
    { numRuns: 300 },
  );
});
