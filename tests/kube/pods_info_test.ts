/** podInfoOf: what is kept of a Pod object, and what is rejected. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  describeObject,
  Interner,
  podInfoOf,
  resourceVersionOf,
  uidOf,
} from "../../src/kube/pods_info.ts";

function podObject(overrides: { metadata?: object; spec?: object; status?: object } = {}) {
  return {
    metadata: {
      name: "web-0",
      namespace: "shop",
      uid: "u-1",
      resourceVersion: "42",
      creationTimestamp: "2024-05-01T10:00:00Z",
      labels: { app: "web" },
      annotations: { big: "x".repeat(1000) },
      ...overrides.metadata,
    },
    spec: { nodeName: "node-a", containers: [{ name: "app" }], ...overrides.spec },
    status: {
      phase: "Running",
      podIP: "10.1.2.3",
      podIPs: [{ ip: "10.1.2.3" }, { ip: "fd00:0:0:0:0:0:0:a" }],
      ...overrides.status,
    },
  };
}

Deno.test("pod info: keeps exactly the fields lookups need, IPs canonical", () => {
  const result = podInfoOf(podObject(), { labelKey: "app" });
  assert.ok("pod" in result);
  assert.deepEqual(result.pod, {
    namespace: "shop",
    name: "web-0",
    uid: "u-1",
    nodeName: "node-a",
    hostNetwork: false,
    phase: "Running",
    ips: ["10.1.2.3", "fd00::a"],
    label: "web",
    createdMs: Date.parse("2024-05-01T10:00:00Z"),
  });
  assert.equal(result.badIps, undefined);
});

Deno.test("pod info: podIP is the fallback; IPv4-mapped IPs index as IPv4; duplicates once", () => {
  const fallback = podInfoOf(podObject({ status: { podIPs: undefined, podIP: "10.9.9.9" } }));
  assert.ok("pod" in fallback);
  assert.deepEqual(fallback.pod.ips, ["10.9.9.9"]);
  const mapped = podInfoOf(
    podObject({ status: { podIPs: [{ ip: "::ffff:10.0.0.5" }, { ip: "10.0.0.5" }] } }),
  );
  assert.ok("pod" in mapped);
  assert.deepEqual(mapped.pod.ips, ["10.0.0.5"]);
  const none = podInfoOf(podObject({ status: { podIPs: [], podIP: undefined } }));
  assert.ok("pod" in none);
  assert.deepEqual(none.pod.ips, []);
});

Deno.test("pod info: Succeeded and Failed pods own no IP", () => {
  for (const phase of ["Succeeded", "Failed"]) {
    const result = podInfoOf(podObject({ status: { phase } }));
    assert.ok("pod" in result);
    assert.deepEqual(result.pod.ips, []);
    assert.equal(result.pod.phase, phase);
  }
  for (const phase of ["Pending", "Running", "Unknown", ""]) {
    const result = podInfoOf(podObject({ status: { phase } }));
    assert.ok("pod" in result && result.pod.ips.length === 2, phase);
  }
});

Deno.test("pod info: hostNetwork, missing spec/status, label absent or not a string", () => {
  const host = podInfoOf(podObject({ spec: { hostNetwork: true } }), { labelKey: "app" });
  assert.ok("pod" in host && host.pod.hostNetwork);
  const bare = podInfoOf({ metadata: { name: "n", namespace: "ns", uid: "u" } }, {
    labelKey: "app",
  });
  assert.ok("pod" in bare);
  assert.deepEqual(bare.pod, {
    namespace: "ns",
    name: "n",
    uid: "u",
    nodeName: "",
    hostNetwork: false,
    phase: "",
    ips: [],
    createdMs: 0,
  });
  const odd = podInfoOf(podObject({ metadata: { labels: { app: 7 } } }), { labelKey: "app" });
  assert.ok("pod" in odd && !("label" in odd.pod));
  const noKey = podInfoOf(podObject());
  assert.ok("pod" in noKey && !("label" in noKey.pod), "no label without a label key");
  const badTime = podInfoOf(podObject({ metadata: { creationTimestamp: "yesterday" } }));
  assert.ok("pod" in badTime && badTime.pod.createdMs === 0);
});

Deno.test("pod info: IPs that are not IPs are left out and reported", () => {
  const result = podInfoOf(
    podObject({ status: { podIPs: [{ ip: "10.0.0.1" }, { ip: "300.1.1.1" }, { nope: 1 }, 5] } }),
  );
  assert.ok("pod" in result);
  assert.deepEqual(result.pod.ips, ["10.0.0.1"]);
  assert.deepEqual(result.badIps, ["300.1.1.1", "undefined", "5"]);
});

Deno.test("pod info: objects that are not usable pods are rejected with a reason", () => {
  const cases: [unknown, string][] = [
    [null, "not_an_object"],
    ["pod", "not_an_object"],
    [[], "not_an_object"],
    [{}, "no_metadata"],
    [{ metadata: [] }, "no_metadata"],
    [{ metadata: { namespace: "a", uid: "u" } }, "no_name"],
    [{ metadata: { name: "", namespace: "a", uid: "u" } }, "no_name"],
    [{ metadata: { name: "n", uid: "u" } }, "no_namespace"],
    [{ metadata: { name: "n", namespace: "a" } }, "no_uid"],
    [{ metadata: { name: "n", namespace: "a", uid: 5 } }, "no_uid"],
  ];
  for (const [raw, reason] of cases) {
    assert.deepEqual(podInfoOf(raw), { reason }, JSON.stringify(raw));
  }
});

Deno.test("pod info: never throws on arbitrary JSON", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      podInfoOf(value, { labelKey: "app" });
      podInfoOf({ metadata: { name: "n", namespace: "a", uid: "u" }, spec: value, status: value });
      podInfoOf({
        metadata: { name: "n", namespace: "a", uid: "u", labels: value },
        status: { podIPs: value, podIP: value, phase: value },
      }, { labelKey: "app" });
      uidOf(value);
      resourceVersionOf(value);
      describeObject(value);
    }),
    { numRuns: 500 },
  );
});

Deno.test("pod info: helpers for events and log lines", () => {
  assert.equal(uidOf(podObject()), "u-1");
  assert.equal(uidOf({ metadata: {} }), undefined);
  assert.equal(resourceVersionOf(podObject()), "42");
  assert.equal(resourceVersionOf({ metadata: { resourceVersion: "" } }), undefined);
  assert.equal(describeObject(podObject()), "shop/web-0");
  assert.equal(describeObject({ kind: "Pod" }), "?/?");
  assert.equal(describeObject(null), "null");
});

Deno.test("pod info: the interner shares equal strings and forgets when it outgrows its limit", () => {
  const interner = new Interner(() => 3);
  const a1 = ["name", "space"].join("-");
  const a2 = ["name", "space"].join("-");
  assert.equal(interner.intern(a1), a1);
  assert.equal(interner.intern(a2), a1);
  interner.intern("b");
  interner.intern("c");
  assert.equal(interner.size, 3);
  interner.intern("d");
  assert.equal(interner.size, 1, "started over");
  const viaPods = new Interner();
  const x = podInfoOf(podObject(), { intern: viaPods.intern });
  const y = podInfoOf(podObject({ metadata: { name: "web-1", uid: "u-2" } }), {
    intern: viaPods.intern,
  });
  assert.ok("pod" in x && "pod" in y);
  assert.equal(viaPods.size, 3, "namespace, node name and phase");
});
