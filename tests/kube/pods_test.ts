/**
 * PodIndex against the Kubernetes API emulator over real HTTP: lists (paginated), watch
 * events, IP ownership rules, readiness.
 */
import assert from "node:assert/strict";
import { canonicalIp } from "../../src/netfilter/ip.ts";
import {
  converge,
  ipv4,
  listRequests,
  ready,
  restarts,
  sizeGauge,
  startHarness,
  waitFor,
  watchRequests,
} from "./pods_support.ts";

Deno.test("pod index: lists 1 234 pods in pages of 100 (continue pages skip the rate limit), then watches from the list's version", async () => {
  await using h = await startHarness({
    index: { pageSize: 100 },
    // Two tokens and nearly no refill: a third rate-limited request would wait for ages, so
    // the list only completes if its continuation pages skip the limiter.
    client: { qps: 0.0001, burst: 2 },
    before(api) {
      api.addPods(Array.from({ length: 1234 }, (_, i) => ({
        namespace: `ns-${i % 7}`,
        name: `pod-${i}`,
        nodeName: `node-${i % 3}`,
        podIPs: [ipv4(i + 1)],
      })));
      // The emulator (like kube-apiserver's watch cache) ignores `limit` with
      // resourceVersion=0; a 410 on that first list makes the index list the latest state,
      // which is paginated.
      api.faults.failNext({ status: 410, method: "GET", pathPattern: "/api/v1/pods" });
    },
  });
  const { api, index } = h;
  await ready(index);
  assert.equal(index.size, 1234);
  const lists = listRequests(api);
  assert.equal(lists.length, 14, "the 410 answer, then 13 pages");
  assert.deepEqual(lists[0].query, { limit: "100", resourceVersion: "0" });
  assert.equal(lists[0].status, 410);
  assert.deepEqual(lists[1].query, { limit: "100" }, "the latest state, first page");
  for (const page of lists.slice(2)) {
    assert.equal(page.status, 200);
    assert.equal(page.query.limit, "100");
    assert.ok(page.query.continue, "continuation pages carry the token");
    assert.equal(page.query.resourceVersion, undefined, "and no resourceVersion");
  }
  assert.equal(new Set(lists.slice(2).map((r) => r.query.continue)).size, 12);
  await waitFor("the watch", () => watchRequests(api).length > 0);
  const watch = watchRequests(api)[0];
  assert.equal(watch.query.resourceVersion, api.resourceVersion);
  assert.equal(watch.query.allowWatchBookmarks, "true");
  const timeout = Number(watch.query.timeoutSeconds);
  assert.ok(timeout >= 300 && timeout < 600, `timeoutSeconds ${timeout} in 5–10 min`);
  assert.equal(await restarts(h.metrics, "expired"), 1);
  assert.equal(await sizeGauge(h.metrics), 1234);
  for (const i of [0, 617, 1233]) {
    const pod = index.lookup(ipv4(i + 1));
    assert.equal(pod?.name, `pod-${i}`);
    assert.equal(pod?.namespace, `ns-${i % 7}`);
    assert.equal(pod?.nodeName, `node-${i % 3}`);
  }
  await converge(index, api);
});

Deno.test("pod index: the first list asks the watch cache (resourceVersion=0) with a limit", async () => {
  await using h = await startHarness({
    index: { pageSize: 50 },
    before: (api) => void api.addPod({ namespace: "a", name: "p", podIPs: ["10.1.0.1"] }),
  });
  await ready(h.index);
  const [first] = listRequests(h.api);
  assert.deepEqual(first.query, { limit: "50", resourceVersion: "0" });
  assert.equal(h.index.lookup("10.1.0.1")?.name, "p");
});

Deno.test("pod index: ADDED, MODIFIED and DELETED through the watch; IP changes move ownership", async () => {
  await using h = await startHarness({
    before: (api) => void api.addPod({ namespace: "shop", name: "web-0", podIPs: ["10.2.0.1"] }),
  });
  const { api, index } = h;
  await ready(index);
  const created = api.addPod({
    namespace: "shop",
    name: "web-1",
    nodeName: "node-b",
    podIPs: ["10.2.0.2"],
  });
  await waitFor("ADDED web-1", () => index.lookup("10.2.0.2") !== undefined);
  const added = index.lookup("10.2.0.2")!;
  assert.equal(added.uid, created.metadata.uid);
  assert.equal(added.nodeName, "node-b");
  assert.equal(added.phase, "Running");
  assert.equal(added.createdMs, Date.parse(created.metadata.creationTimestamp!));

  api.updatePod("shop", "web-1", { podIPs: ["10.2.0.3"] });
  await waitFor("web-1 to move", () => index.lookup("10.2.0.3") !== undefined);
  assert.equal(index.lookup("10.2.0.2"), undefined, "the old IP is free");
  assert.equal(index.lookup("10.2.0.3")?.name, "web-1");

  api.updatePod("shop", "web-1", { nodeName: "node-c" });
  await waitFor("MODIFIED node", () => index.lookup("10.2.0.3")?.nodeName === "node-c");

  api.deletePod("shop", "web-0");
  await waitFor("DELETED web-0", () => index.lookup("10.2.0.1") === undefined);
  assert.equal(index.size, 1);
  assert.equal(await sizeGauge(h.metrics), 1);
  await converge(index, api);
  assert.equal(listRequests(api).length, 1, "all through one list and the watch");
});

Deno.test("pod index: dual-stack pods are found by either IP, also by the kernel's expanded IPv6 and IPv4-mapped forms", async () => {
  await using h = await startHarness({
    before: (api) =>
      void api.addPod({
        namespace: "net",
        name: "dual",
        podIPs: ["10.3.0.7", "fd00:244:0:1::7"],
      }),
  });
  const { api, index } = h;
  await ready(index);
  const expanded = "fd00:0244:0000:0001:0000:0000:0000:0007";
  assert.equal(index.lookup(canonicalIp(expanded)!)?.name, "dual");
  assert.equal(index.lookup("10.3.0.7")?.name, "dual");
  assert.equal(index.lookup("::ffff:10.3.0.7")?.name, "dual");
  assert.deepEqual(index.lookup("10.3.0.7")?.ips, ["10.3.0.7", "fd00:244:0:1::7"]);
  // A pod added later through the watch, its IPv6 written in a non-canonical form.
  api.addPod({ namespace: "net", name: "v6", podIPs: ["FD00:0244:0:1:0:0:0:00A0"] });
  await waitFor("v6 pod", () => index.lookup("fd00:244:0:1::a0") !== undefined);
  assert.equal(index.lookup(canonicalIp("fd00:0244:0000:0001:0000:0000:0000:00a0")!)?.name, "v6");
  assert.equal(index.lookup("fd00:244:0:1::8"), undefined);
  assert.equal(index.size, 2);
});

Deno.test("pod index: Succeeded and Failed pods own no IP; pods without an IP are not held", async () => {
  await using h = await startHarness({
    before(api) {
      api.addPod({ namespace: "jobs", name: "done", phase: "Succeeded", podIPs: ["10.4.0.1"] });
      api.addPod({ namespace: "jobs", name: "pending", phase: "Pending" });
      api.addPod({ namespace: "jobs", name: "run", podIPs: ["10.4.0.2"] });
    },
  });
  const { api, index } = h;
  await ready(index);
  assert.equal(index.lookup("10.4.0.1"), undefined, "a finished pod from the list");
  assert.equal(index.size, 1);
  api.updatePod("jobs", "pending", { podIPs: ["10.4.0.3"] });
  await waitFor("pending gets an IP", () => index.lookup("10.4.0.3")?.name === "pending");
  assert.equal(index.lookup("10.4.0.3")?.phase, "Pending");
  api.updatePod("jobs", "run", { phase: "Succeeded" });
  await waitFor("run finished", () => index.lookup("10.4.0.2") === undefined);
  api.updatePod("jobs", "pending", { phase: "Failed" });
  await waitFor("pending failed", () => index.lookup("10.4.0.3") === undefined);
  assert.equal(index.size, 0);
  assert.equal(await sizeGauge(h.metrics), 0);
  await converge(index, api);
});

Deno.test("pod index: when two pods claim one IP the newer owns it; when it goes away the other owns it again", async () => {
  await using h = await startHarness({
    before(api) {
      api.addPod({
        namespace: "a",
        name: "old",
        podIPs: ["10.5.0.1"],
        creationTimestamp: "2024-01-01T00:00:00Z",
      });
      api.addPod({
        namespace: "a",
        name: "new",
        podIPs: ["10.5.0.1"],
        creationTimestamp: "2024-06-01T00:00:00Z",
      });
    },
  });
  const { api, index } = h;
  await ready(index);
  assert.equal(index.lookup("10.5.0.1")?.name, "new");
  assert.equal(index.size, 2);
  api.deletePod("a", "new");
  await waitFor("old owns it again", () => index.lookup("10.5.0.1")?.name === "old");
  // A newer claimant through the watch takes over; when it finishes, the old one is back.
  api.addPod({
    namespace: "b",
    name: "newest",
    podIPs: ["10.5.0.1"],
    creationTimestamp: "2025-01-01T00:00:00Z",
  });
  await waitFor("newest owns it", () => index.lookup("10.5.0.1")?.name === "newest");
  api.updatePod("b", "newest", { phase: "Failed" });
  await waitFor("old owns it again", () => index.lookup("10.5.0.1")?.name === "old");
  // Same creation second: the tie is broken by namespace/name, the same way every time.
  api.addPod({
    namespace: "a",
    name: "twin",
    podIPs: ["10.5.0.2"],
    creationTimestamp: "2024-03-01T00:00:00Z",
  });
  api.addPod({
    namespace: "a",
    name: "twim",
    podIPs: ["10.5.0.2"],
    creationTimestamp: "2024-03-01T00:00:00Z",
  });
  await waitFor("both twins", () => index.size === 3);
  assert.equal(index.lookup("10.5.0.2")?.name, "twin");
  api.deletePod("a", "old");
  await waitFor("old gone", () => index.lookup("10.5.0.1") === undefined);
  await converge(index, api);
});

Deno.test("pod index: hostNetwork pods are indexed and say so; the label value is captured", async () => {
  await using h = await startHarness({
    index: { labelKey: "app.kubernetes.io/name" },
    before(api) {
      api.addPod({
        namespace: "kube-system",
        name: "kube-proxy-x",
        nodeName: "node-a",
        hostNetwork: true,
        podIPs: ["192.168.10.5"],
        labels: { "app.kubernetes.io/name": "kube-proxy" },
      });
      api.addPod({
        namespace: "shop",
        name: "web",
        podIPs: ["10.6.0.1"],
        labels: { "app.kubernetes.io/name": "web", other: "x" },
      });
      api.addPod({ namespace: "shop", name: "nolabel", podIPs: ["10.6.0.2"] });
    },
  });
  const { api, index } = h;
  await ready(index);
  const host = index.lookup("192.168.10.5")!;
  assert.equal(host.hostNetwork, true);
  assert.equal(host.nodeName, "node-a");
  assert.equal(host.label, "kube-proxy");
  assert.equal(index.lookup("10.6.0.1")?.hostNetwork, false);
  assert.equal(index.lookup("10.6.0.1")?.label, "web");
  assert.equal(index.lookup("10.6.0.2")?.label, undefined);
  assert.ok(!("label" in index.lookup("10.6.0.2")!), "no label key without a label");
  api.updatePod("shop", "nolabel", { labels: { "app.kubernetes.io/name": "late" } });
  await waitFor("label through the watch", () => index.lookup("10.6.0.2")?.label === "late");
});

Deno.test("pod index: not ready until the first list completes; whenReady resolves after", async () => {
  await using h = await startHarness({
    before(api) {
      api.addPod({ namespace: "a", name: "p", podIPs: ["10.7.0.1"] });
      api.faults.latencyMs = 400;
    },
  });
  const { api, index } = h;
  assert.equal(index.ready, false);
  assert.match(index.readyDetail(), /listing pods|not started/);
  let resolvedEarly = false;
  const whenReady = index.whenReady().then(() => {
    resolvedEarly = !index.ready;
  });
  await waitFor("the list request", () => listRequests(api).length > 0);
  assert.equal(index.ready, false, "the list is still being answered");
  assert.equal(index.lookup("10.7.0.1"), undefined);
  await ready(index);
  await whenReady;
  api.faults.latencyMs = 0;
  assert.equal(resolvedEarly, false);
  assert.equal(index.ready, true);
  assert.equal(index.lookup("10.7.0.1")?.name, "p");
  assert.match(index.readyDetail(), /ready with 1 pods/);
});

Deno.test("pod index: while the API refuses, readyDetail says why and whenReady(signal) rejects on abort", async () => {
  await using h = await startHarness({
    before: (api) =>
      api.faults.failNext({ status: 403, count: 1000, method: "GET", pathPattern: "/api/v1/pods" }),
  });
  const { api, index } = h;
  await waitFor("two refused lists", () => listRequests(api).length >= 2);
  assert.equal(index.ready, false);
  await waitFor("the detail", () => /HTTP 403/.test(index.readyDetail()));
  assert.match(index.readyDetail(), /listing pods failed .*HTTP 403.*retrying in/);
  const controller = new AbortController();
  const waiting = index.whenReady(controller.signal);
  controller.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
  api.faults.clear();
  await ready(index);
  assert.ok(h.lines.some((l) => l.includes("pod list failed") && l.includes("403")));
});

Deno.test("pod index: BOOKMARKs move the version a resumed watch starts from", async () => {
  await using h = await startHarness({
    emulator: { bookmarkIntervalMs: 20 },
    before: (api) => void api.addPod({ namespace: "a", name: "p", podIPs: ["10.8.0.1"] }),
  });
  const { api, index } = h;
  await ready(index);
  await waitFor("the watch", () => watchRequests(api).length === 1);
  const listed = Number(watchRequests(api)[0].query.resourceVersion);
  // Other resources move the cluster's version; the pod watch sees it only in BOOKMARKs.
  for (let i = 0; i < 5; i++) api.addNamespace(`other-${i}`);
  const current = api.resourceVersion;
  assert.ok(Number(current) > listed);
  await waitFor("bookmarks", () => index.stats.watchEvents >= 3);
  api.faults.closeWatches();
  await waitFor("the resumed watch", () => watchRequests(api).length === 2);
  assert.equal(watchRequests(api)[1].query.resourceVersion, current);
});

Deno.test("pod index: over HTTPS with a bearer token (list and watch)", async () => {
  await using h = await startHarness({
    emulator: { tls: true, token: "s3cret-token" },
    before: (api) => void api.addPod({ namespace: "tls", name: "a", podIPs: ["10.9.0.1"] }),
  });
  const { api, index } = h;
  await ready(index);
  assert.equal(index.lookup("10.9.0.1")?.name, "a");
  api.addPod({ namespace: "tls", name: "b", podIPs: ["10.9.0.2"] });
  await waitFor("the watch event", () => index.lookup("10.9.0.2") !== undefined);
  const watch = watchRequests(api)[0];
  assert.equal(watch.headers.authorization, "Bearer s3cret-token");
  assert.ok(api.requests.every((r) => r.status !== 401));
});
