/**
 * PodIndex under API faults, against the emulator over real HTTP: compaction (410), watches cut
 * mid-stream, dropped connections, 5xx answers, expired continue tokens, an API server that
 * comes back with older state, and shutdown at any point. The index must end up holding exactly
 * the emulator's pods.
 */
import assert from "node:assert/strict";
import type { PodInfo } from "../../src/kube/pods.ts";
import { outranks } from "../../src/kube/pods_table.ts";
import { canonicalIp } from "../../src/netfilter/ip.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import type { KubeEmulator } from "../support/kube_emulator/mod.ts";
import {
  converge,
  ipv4,
  listRequests,
  ready,
  restarts,
  startHarness,
  waitFor,
  watchRequests,
} from "./pods_support.ts";

function addMany(api: KubeEmulator, count: number, from = 0): void {
  api.addPods(Array.from({ length: count }, (_, i) => ({
    namespace: `ns-${(from + i) % 5}`,
    name: `pod-${from + i}`,
    nodeName: `node-${(from + i) % 4}`,
    podIPs: [ipv4(from + i + 1)],
  })));
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("pod index faults: 410 on the watch (compaction) → a new list, not older than the last version, paginated; vanished pods are dropped", async () => {
  await using h = await startHarness({
    index: { pageSize: 25 },
    before: (api) => addMany(api, 100),
  });
  const { api, index } = h;
  await ready(index);
  api.updatePod("ns-1", "pod-1", { nodeName: "moved" });
  await waitFor("the MODIFIED event", () => index.lookup(ipv4(2))?.nodeName === "moved");
  const lastSeen = api.resourceVersion;
  // All of this happens before the index reconnects: the resumed watch gets 410.
  api.faults.closeWatches();
  api.compact();
  for (let i = 0; i < 10; i++) api.deletePod(`ns-${i % 5}`, `pod-${i}`);
  addMany(api, 10, 500);
  api.updatePod("ns-3", "pod-13", { podIPs: ["10.99.0.13"] });
  await waitFor("the new list", () => listRequests(api).length >= 2 && index.size === 100);
  await converge(index, api);
  const watches = watchRequests(api);
  assert.equal(watches[1].query.resourceVersion, lastSeen, "resumed from the last version");
  const relist = listRequests(api).slice(1);
  assert.deepEqual(relist[0].query, {
    limit: "25",
    resourceVersion: lastSeen,
    resourceVersionMatch: "NotOlderThan",
  });
  assert.equal(relist.length, 4, "100 pods in pages of 25");
  assert.ok(relist.slice(1).every((r) => r.query.continue && !r.query.resourceVersion));
  assert.equal(index.lookup(ipv4(1)), undefined, "deleted while compacted away");
  assert.equal(index.lookup("10.99.0.13")?.name, "pod-13");
  assert.equal(index.lookup(ipv4(14)), undefined);
  assert.equal(await restarts(h.metrics, "expired"), 1);
  assert.equal(index.stats.lists, 2);
  // And the watch goes on from the new list.
  api.deletePod("ns-0", "pod-500");
  await waitFor("a DELETED after the new list", () => index.lookup(ipv4(501)) === undefined);
});

Deno.test("pod index faults: a watch cut mid-stream resumes from the last resourceVersion without a new list", async () => {
  await using h = await startHarness({ before: (api) => addMany(api, 50) });
  const { api, index } = h;
  await ready(index);
  for (let round = 0; round < 3; round++) {
    api.addPod({ namespace: "cut", name: `p-${round}`, podIPs: [`10.50.0.${round}`] });
    await waitFor("the ADDED event", () => index.lookup(`10.50.0.${round}`) !== undefined);
    const lastSeen = api.resourceVersion;
    const watchesBefore = watchRequests(api).length;
    assert.equal(api.faults.closeWatches(), 1);
    // Changes while the index is disconnected arrive through the resumed watch.
    api.deletePod("cut", `p-${round}`);
    api.updatePod("ns-0", "pod-0", { podIPs: [`10.60.0.${round}`] });
    await waitFor("the resumed watch", () => watchRequests(api).length > watchesBefore);
    assert.equal(watchRequests(api).at(-1)!.query.resourceVersion, lastSeen);
    await waitFor("the changes", () => index.lookup(`10.60.0.${round}`)?.name === "pod-0");
    assert.equal(index.lookup(`10.50.0.${round}`), undefined);
  }
  assert.equal(listRequests(api).length, 1, "never listed again");
  assert.equal(await restarts(h.metrics, "closed"), 3);
  assert.equal(await restarts(h.metrics, "expired"), 0);
  await converge(index, api);
});

Deno.test("pod index faults: a watch gone silent (a connection dead without FIN or RST) ends at the idle limit and resumes from the last version without a new list", async () => {
  await using h = await startHarness({
    index: { watchIdleMs: 600 },
    emulator: { bookmarkIntervalMs: 100 },
    before: (api) => addMany(api, 10),
  });
  const { api, index } = h;
  await ready(index);
  await waitFor("the watch", () => watchRequests(api).length === 1);
  const lastSeen = api.resourceVersion;
  assert.equal(api.faults.silenceWatches(), 1);
  const silencedAt = performance.now();
  // Never delivered on the silent watch: only a new watch brings it.
  api.addPod({ namespace: "late", name: "new-owner", podIPs: ["10.70.0.1"] });
  await waitFor(
    "the Pod added while the watch was silent",
    () => index.lookup("10.70.0.1")?.name === "new-owner",
    10_000,
  );
  const after = performance.now() - silencedAt;
  // Bookmarks came every 100 ms until the silence: the limit ran out 500 to 600 ms after it.
  assert.ok(
    after >= 450,
    `the watch ended ${after.toFixed(0)} ms into the silence, not at the limit`,
  );
  const watches = watchRequests(api);
  assert.equal(watches.length, 2);
  assert.equal(watches[1].query.resourceVersion, lastSeen, "resumed from the last version");
  assert.equal(listRequests(api).length, 1, "no new list");
  assert.equal(await restarts(h.metrics, "idle"), 1);
  assert.deepEqual(index.stats.restarts, { idle: 1 });
  const logged = h.lines.find((l) => l.includes("pod watch received nothing"));
  assert.ok(logged?.includes("idleSeconds="), `logged with the idle time: ${logged}`);
  await waitFor("the silent watch's connection closed", () => watches[0].durationMs >= 0);
});

Deno.test("pod index faults: a watch that hears bookmarks or events regularly is not ended by the idle limit", async () => {
  // Bookmarks only (no Pod changes), every 100 ms against a 500 ms limit, for 2 s.
  {
    await using h = await startHarness({
      index: { watchIdleMs: 500 },
      emulator: { bookmarkIntervalMs: 100 },
      before: (api) => addMany(api, 10),
    });
    await ready(h.index);
    await delay(2_000);
    assert.equal(watchRequests(h.api).length, 1, "one watch all along");
    assert.equal(await restarts(h.metrics, "idle"), 0);
    assert.ok(h.index.stats.watchEvents >= 10, `bookmarks heard: ${h.index.stats.watchEvents}`);
  }
  // Events only (the server sends no bookmarks), one every 100 ms, for 2 s.
  {
    await using h = await startHarness({
      index: { watchIdleMs: 500 },
      emulator: { bookmarkIntervalMs: 0 },
      before: (api) => addMany(api, 10),
    });
    const { api, index } = h;
    await ready(index);
    for (let i = 0; i < 20; i++) {
      api.updatePod("ns-1", "pod-1", { podIPs: [`10.80.0.${i}`] });
      await delay(100);
    }
    await waitFor("the last change", () => index.lookup("10.80.0.19")?.name === "pod-1");
    assert.equal(watchRequests(api).length, 1, "one watch all along");
    assert.equal(await restarts(h.metrics, "idle"), 0);
    assert.deepEqual(index.stats.restarts, {});
  }
});

Deno.test("pod index faults: a watch the server ends (timeoutSeconds) is resumed", async () => {
  await using h = await startHarness({
    index: { watchTimeoutSeconds: 1 },
    emulator: { bookmarkIntervalMs: 100 },
    before: (api) => addMany(api, 10),
  });
  const { api, index } = h;
  await ready(index);
  await waitFor("two watches", () => watchRequests(api).length >= 2, 10_000);
  const [first, second] = watchRequests(api);
  const timeout = Number(first.query.timeoutSeconds);
  assert.ok(timeout >= 1 && timeout <= 2, `timeoutSeconds ${timeout}`);
  // The second watch resumes where the first ended (no pod changed: the same version or, after
  // a bookmark, a newer one), not from a new list.
  assert.ok(Number(second.query.resourceVersion) >= Number(first.query.resourceVersion));
  assert.notEqual(second.query.resourceVersion, "0", "not a list from the cache");
  assert.equal(listRequests(api).length, 1);
  assert.ok(await restarts(h.metrics, "closed") >= 1);
  api.addPod({ namespace: "late", name: "p", podIPs: ["10.70.0.1"] });
  await waitFor("an event on a later watch", () => index.lookup("10.70.0.1") !== undefined);
});

Deno.test("pod index faults: dropped connections and 500s on list and watch → backoff and recovery", async () => {
  await using h = await startHarness({
    before(api) {
      addMany(api, 40);
      api.faults.dropNext({ count: 2, method: "GET", pathPattern: "/api/v1/pods" });
      api.faults.failNext({ status: 500, count: 2, method: "GET", pathPattern: "/api/v1/pods" });
    },
  });
  const { api, index } = h;
  await ready(index);
  const lists = listRequests(api);
  assert.deepEqual(lists.map((r) => r.status), [0, 0, 500, 500, 200]);
  assert.ok(lists[0].dropped && lists[1].dropped);
  assert.equal(await restarts(h.metrics, "error"), 4);
  assert.ok(h.lines.some((l) => l.includes("pod list failed") && l.includes("500")));

  // Now the watch: cut it, and make the next attempts fail the same ways.
  const watchesBefore = watchRequests(api).length;
  api.faults.dropNext({ count: 1, method: "GET", pathPattern: "/api/v1/pods" });
  api.faults.failNext({ status: 503, count: 1, method: "GET", pathPattern: "/api/v1/pods" });
  api.faults.closeWatches();
  api.deletePod("ns-0", "pod-0");
  await waitFor("the DELETED event", () => index.lookup(ipv4(1)) === undefined);
  const watches = watchRequests(api).slice(watchesBefore);
  assert.deepEqual(watches.map((r) => r.status), [0, 503, 200]);
  assert.equal(listRequests(api).length, 5, "no new list: the version was still good");
  await converge(index, api);
});

Deno.test("pod index faults: 429 with Retry-After on the list is honoured", async () => {
  await using h = await startHarness({
    before(api) {
      addMany(api, 5);
      api.faults.failNext({
        status: 429,
        retryAfterSeconds: 1,
        method: "GET",
        pathPattern: "/api/v1/pods",
      });
    },
  });
  const { api, index } = h;
  await ready(index);
  const [refused, listed] = listRequests(api);
  assert.equal(refused.status, 429);
  // The index waited at least the second the server asked for (backoff alone is ≤ 100 ms).
  assert.ok(listed.startedAt - refused.startedAt >= 1000, "Retry-After honoured");
});

Deno.test("pod index faults: a continue token that expires mid-list falls back to one list without limit", async () => {
  await using h = await startHarness({
    index: { pageSize: 10 },
    before(api) {
      addMany(api, 60);
      // The first list then goes to the (paginated) latest state.
      api.faults.failNext({ status: 410, method: "GET", pathPattern: "/api/v1/pods" });
      api.faults.latencyMs = 150;
    },
  });
  const { api, index } = h;
  // Compact while the first continuation page waits in the emulator's latency.
  await waitFor("a continuation page", () => listRequests(api).some((r) => r.query.continue));
  api.compact();
  await ready(index);
  api.faults.latencyMs = 0;
  const lists = listRequests(api);
  const expired = lists.findIndex((r) => r.query.continue && r.status === 410);
  assert.ok(expired > 0, `a continue answered 410: ${JSON.stringify(lists.map((r) => r.status))}`);
  assert.deepEqual(lists[expired + 1].query, {}, "then everything at once, latest state");
  assert.equal(lists.length, expired + 2);
  assert.equal(await restarts(h.metrics, "expired"), 2);
  await converge(index, api);
});

Deno.test("pod index faults: an API server back with older state (resourceVersion too large) → list the latest", async () => {
  const first = await startKubeEmulator();
  addMany(first, 30);
  for (let i = 0; i < 200; i++) first.updatePod("ns-1", "pod-1", { nodeName: `n-${i}` });
  const port = first.port;
  await using h = await startHarness({ api: first });
  await ready(h.index);
  await waitFor("the watch", () => watchRequests(first).length > 0);
  await first.close();
  // Same address, fresh store: its versions are far behind the index's (like an etcd restore).
  await using second = await startKubeEmulator({ port });
  addMany(second, 7, 1000);
  await waitFor("the second server's pods", () => h.index.lookup(ipv4(1001)) !== undefined);
  await converge(h.index, second);
  const watch = watchRequests(second)[0];
  assert.equal(watch.status, 200);
  assert.ok(h.lines.some((l) => l.includes("behind our resourceVersion")));
  assert.deepEqual(listRequests(second)[0].query, { limit: "500" }, "the latest state");
  await h.stop();
});

Deno.test("pod index faults: shutdown is prompt while a list is in flight, during backoff and while watching", async () => {
  const settlesWithin = async (what: string, promise: Promise<void>, ms: number) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), ms));
    const result = await Promise.race([promise.then(() => "done" as const), late]);
    clearTimeout(timer);
    assert.equal(result, "done", `${what}: run() returned within ${ms} ms`);
  };
  {
    await using h = await startHarness({
      before(api) {
        addMany(api, 3);
        api.faults.latencyMs = 3000;
      },
    });
    await waitFor("the list request", () => listRequests(h.api).length > 0);
    const stopping = h.stop();
    await settlesWithin("list in flight", stopping, 1500);
    assert.equal(h.index.ready, false);
    assert.match(h.index.readyDetail(), /stopped before the first list/);
    await delay(3000); // the emulator's own latency timer
  }
  {
    await using h = await startHarness({
      index: { minBackoffMs: 60_000, maxBackoffMs: 60_000 },
      before(api) {
        api.faults.failNext({ status: 500, method: "GET", pathPattern: "/api/v1/pods" });
      },
    });
    await waitFor("the backoff", () => /retrying in/.test(h.index.readyDetail()));
    await settlesWithin("backoff", h.stop(), 5000);
  }
  {
    await using h = await startHarness({ before: (api) => addMany(api, 3) });
    await ready(h.index);
    await waitFor("the watch", () => watchRequests(h.api).length > 0);
    await settlesWithin("watching", h.stop(), 5000);
    await waitFor("the watch to be closed", () => watchRequests(h.api)[0].durationMs >= 0);
    assert.match(h.index.readyDetail(), /stopped with 3 pods/);
    assert.equal(h.index.lookup(ipv4(1))?.name, "pod-0", "lookups still answer after stop");
  }
});

/** A small deterministic random source (xorshift32). */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

Deno.test("pod index faults: random churn with cut watches, compactions, drops and 500s converges exactly, IP ownership included", async () => {
  const seed = Number(Deno.env.get("POD_INDEX_SEED") ?? Date.now() % 100_000);
  const random = seeded(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  await using h = await startHarness({
    index: { pageSize: 30 },
    emulator: { watchCacheSize: 200, bookmarkIntervalMs: 50 },
    before: (api) => addMany(api, 120),
  });
  const { api, index } = h;
  await ready(index);
  // A small IP pool so that pods often claim the same IP; whole-second creation times tie.
  const pool = Array.from({ length: 40 }, (_, i) => `10.200.0.${i}`);
  let next = 0;
  for (let step = 0; step < 600; step++) {
    const pods = api.pods();
    const roll = random();
    const victim = pods.length > 0 ? pick(pods) : undefined;
    const ns = victim?.metadata.namespace ?? "";
    const name = victim?.metadata.name ?? "";
    if (roll < 0.3 || !victim) {
      api.addPod({
        namespace: `churn-${next % 3}`,
        name: `c-${next++}`,
        podIPs: random() < 0.2 ? [pick(pool), "fd00::" + next.toString(16)] : [pick(pool)],
        creationTimestamp: new Date(Date.UTC(2024, 0, 1, 0, 0, Math.floor(random() * 5))),
        phase: random() < 0.1 ? "Pending" : "Running",
      });
    } else if (roll < 0.5) api.deletePod(ns, name);
    else if (roll < 0.65) api.updatePod(ns, name, { podIPs: [pick(pool)] });
    else if (roll < 0.72) api.updatePod(ns, name, { phase: pick(["Succeeded", "Failed"]) });
    else if (roll < 0.8) api.updatePod(ns, name, { nodeName: `node-${step}` });
    else if (roll < 0.84) api.faults.closeWatches();
    else if (roll < 0.86) {
      api.compact();
      api.faults.closeWatches();
    } else if (roll < 0.88) {
      api.faults.dropNext({ method: "GET", pathPattern: "/api/v1/pods" });
      api.faults.closeWatches();
    } else if (roll < 0.9) {
      api.faults.failNext({ status: 500, method: "GET", pathPattern: "/api/v1/pods" });
      api.faults.closeWatches();
    }
    if (step % 10 === 0) await delay(random() * 20);
  }
  await converge(index, api);
  // Every IP is owned by the claimant the rules choose.
  const infos: PodInfo[] = [...index.pods()];
  const expectedOwner = new Map<string, PodInfo>();
  for (const pod of infos) {
    for (const ip of pod.ips) {
      const best = expectedOwner.get(ip);
      if (!best || outranks(pod, best)) expectedOwner.set(ip, pod);
    }
  }
  for (const p of api.pods()) {
    for (const { ip } of p.status.podIPs ?? []) {
      const owner = index.lookup(canonicalIp(ip)!);
      if (p.status.phase === "Succeeded" || p.status.phase === "Failed") continue;
      assert.equal(owner, expectedOwner.get(canonicalIp(ip)!), `owner of ${ip} (seed ${seed})`);
      assert.ok(owner, `${ip} has an owner (seed ${seed})`);
    }
  }
  const stats = index.stats;
  assert.deepEqual(stats.rejected, {}, `nothing rejected (seed ${seed})`);
  assert.ok(
    (stats.restarts.closed ?? 0) + (stats.restarts.error ?? 0) > 0,
    `the faults restarted watches (seed ${seed})`,
  );
});
