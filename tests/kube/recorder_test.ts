/** The Event recorder against the API emulator over real HTTP. */
import assert from "node:assert/strict";
import { KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import {
  type EventIntent,
  EventRecorder,
  MAX_EVENT_COUNT,
  RECENT_DROPS_ANNOTATION,
  type RecorderOptions,
} from "../../src/kube/recorder.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { sleep } from "../../src/timing.ts";
import type { PodRef } from "../../src/enrich/endpoints.ts";
import { type KubeEmulator, startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { until } from "../support/faults/tailer.ts";
import { startProxy } from "./pods_support.ts";

/** An intent whose drop identity defaults to its time (one drop per log time, as in most tests). */
type TestIntent = Omit<EventIntent, "dropId"> & { dropId?: string };

function recordOn(recorder: EventRecorder, intent: TestIntent) {
  return recorder.record({ ...intent, dropId: intent.dropId ?? `t${intent.time.getTime()}` });
}

interface Harness {
  api: KubeEmulator;
  recorder: EventRecorder;
  record: (intent: TestIntent) => ReturnType<EventRecorder["record"]>;
  metrics: Metrics;
  pod: PodRef;
  stop: () => Promise<void>;
}

/**
 * A recorder posting to `api` (or to `server`, a proxy in front of it) as node-1's program
 * would, with short test backoffs.
 */
function recorderOn(
  api: KubeEmulator,
  options: Partial<RecorderOptions> = {},
  metrics?: Metrics,
  server?: string,
): EventRecorder {
  const settings = {
    kubeconfig: api.kubeconfigPath,
    kubeApiServer: server,
    kubeApiQps: 1000,
    kubeApiBurst: 1000,
    kubeApiTimeoutSeconds: 1,
  };
  const client = new KubeClient(loadKubeConfig(settings, {}), settings, silentLogger, metrics);
  return new EventRecorder({
    client,
    log: Deno.env.get("DEBUG") ? createLogger({ level: "debug", format: "text" }) : silentLogger,
    metrics,
    component: "kube-iptables-tailer",
    host: "node-1",
    queueSize: 100,
    spamBurst: 25,
    spamRefillMs: 300_000,
    maxAgeMs: 600_000,
    minBackoffMs: 20,
    maxBackoffMs: 200,
    ...options,
  });
}

/** Adds `shop/web-1` to `api`; returns it as the recorder names Pods. */
function addWeb(api: KubeEmulator): PodRef {
  const created = api.addPod({ namespace: "shop", name: "web-1", podIPs: ["10.244.1.10"] });
  return {
    namespace: "shop",
    name: "web-1",
    uid: created.metadata.uid!,
    nodeName: "n1",
    hostNetwork: false,
  };
}

async function harness(
  options: Partial<RecorderOptions> = {},
  emulator: { tls?: boolean; token?: string } = {},
): Promise<Harness> {
  const api = await startKubeEmulator(emulator);
  const pod = addWeb(api);
  const metrics = new Metrics({ defaultMetrics: false });
  const recorder = recorderOn(api, options, metrics);
  const controller = new AbortController();
  const loop = recorder.run(controller.signal);
  return {
    api,
    recorder,
    record: (intent) => recordOn(recorder, intent),
    metrics,
    pod,
    stop: async () => {
      controller.abort();
      await recorder.close(100);
      await loop;
      await api.close();
    },
  };
}

const MESSAGE = "Packet dropped when receiving traffic from shop (10.244.1.11) on port 8080/TCP";

/** Records `n` Events on the harness's Pod, `MESSAGE #0` … `#n-1`, now. */
function numbered(h: Harness, n: number): ReturnType<Harness["record"]>[] {
  return Array.from(
    { length: n },
    (_, i) =>
      h.record({ pod: h.pod, reason: "PacketDrop", message: `${MESSAGE} #${i}`, time: new Date() }),
  );
}

async function counter(metrics: Metrics, result: string): Promise<number> {
  const values = (await metrics.events.get()).values;
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

Deno.test("recorder: an Event with every field, then the same again as a count update by PATCH", async () => {
  const h = await harness();
  try {
    const t1 = new Date("2026-11-25T07:58:47.511Z");
    assert.equal(
      await h.record({ pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t1 }),
      "created",
    );
    const [event] = h.api.events("shop");
    assert.equal(event.type, "Warning");
    assert.equal(event.reason, "PacketDrop");
    assert.equal(event.message, MESSAGE);
    assert.deepEqual(event.source, { component: "kube-iptables-tailer", host: "node-1" });
    assert.deepEqual(
      { ...event.involvedObject, resourceVersion: undefined, fieldPath: undefined },
      {
        kind: "Pod",
        apiVersion: "v1",
        namespace: "shop",
        name: "web-1",
        uid: h.pod.uid,
        resourceVersion: undefined,
        fieldPath: undefined,
      },
    );
    assert.equal(event.reportingComponent, "kube-iptables-tailer");
    assert.equal(event.reportingInstance, "kube-iptables-tailer-node-1");
    assert.equal(event.count, 1);
    assert.equal(event.firstTimestamp, "2026-11-25T07:58:47Z");
    assert.equal(event.lastTimestamp, "2026-11-25T07:58:47Z");

    const t2 = new Date("2026-11-25T08:01:00.000Z");
    assert.equal(
      await h.record({ pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t2 }),
      "updated",
    );
    const events = h.api.events("shop");
    assert.equal(events.length, 1);
    assert.equal(events[0].count, 2);
    assert.equal(events[0].firstTimestamp, "2026-11-25T07:58:47Z");
    assert.equal(events[0].lastTimestamp, "2026-11-25T08:01:00Z");
    const patches = h.api.requests.filter((r) => r.method === "PATCH");
    assert.equal(patches.length, 1);
    assert.equal(patches[0].headers["content-type"], "application/strategic-merge-patch+json");
    // A different message is a different Event.
    await h.record({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE.replace("8080", "9090"),
      time: t2,
    });
    assert.equal(h.api.events("shop").length, 2);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: after a restart, replayed drops are not counted twice and new ones continue the series", async () => {
  const h = await harness();
  try {
    const t1 = new Date("2026-11-25T07:58:47.511Z");
    const t2 = new Date("2026-11-25T08:01:00.000Z");
    await h.record({ pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t1 });
    await h.record({ pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t2 });
    // A second recorder (the restarted process) on the same API.
    const settings = {
      kubeconfig: h.api.kubeconfigPath,
      kubeApiQps: 1000,
      kubeApiBurst: 1000,
      kubeApiTimeoutSeconds: 1,
    };
    const client = new KubeClient(loadKubeConfig(settings, {}), settings, silentLogger);
    const metrics = new Metrics({ defaultMetrics: false });
    const restarted = new EventRecorder({
      client,
      log: silentLogger,
      metrics,
      component: "kube-iptables-tailer",
      host: "node-1",
      queueSize: 10,
      spamBurst: 25,
      spamRefillMs: 300_000,
      maxAgeMs: 600_000,
    });
    const controller = new AbortController();
    const loop = restarted.run(controller.signal);
    assert.equal(
      await recordOn(restarted, { pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t1 }),
      "already_recorded",
    );
    assert.equal(
      await recordOn(restarted, { pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t2 }),
      "already_recorded",
    );
    assert.equal(h.api.events("shop")[0].count, 2);
    const t3 = new Date("2026-11-25T08:04:00.000Z");
    assert.equal(
      await recordOn(restarted, { pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t3 }),
      "updated",
    );
    const [event] = h.api.events("shop");
    assert.equal(event.count, 3);
    assert.equal(
      event.metadata.annotations?.[RECENT_DROPS_ANNOTATION],
      [t1, t2, t3].map((t) => `t${t.getTime()}`).join(","),
    );
    controller.abort();
    await restarted.close(100);
    await loop;
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: identical drops at once (message repeated N times) are one write raising the count by N, recognised when replayed, one spam token", async () => {
  const h = await harness({ spamBurst: 2, spamRefillMs: 3_600_000 });
  try {
    const n = 999_999_999;
    const drop = (dropId: string, count: number) => ({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(),
      dropId,
      count,
    });
    assert.equal(await h.record(drop("line", n)), "created");
    assert.equal(h.api.events("shop")[0].count, n);
    // Read again (after a kill -9, the checkpoint before it): already in the Event.
    assert.equal(await h.record(drop("line", n)), "already_recorded");
    assert.equal(await h.record(drop("next", 3)), "updated");
    assert.equal(h.api.events("shop")[0].count, n + 3);
    assert.equal(
      h.api.requests.filter((r) => r.method === "POST" || r.method === "PATCH").length,
      2,
      "one write each",
    );
    // Two writes took the burst of 2, however many drops they counted.
    assert.equal(await h.record(drop("more", 1)), "suppressed");
    // A restarted process (no cache) recognises the line too.
    const restarted = recorderOn(h.api);
    const controller = new AbortController();
    const loop = restarted.run(controller.signal);
    assert.equal(await restarted.record(drop("line", n)), "already_recorded");
    controller.abort();
    await restarted.close(100);
    await loop;
    assert.equal(h.api.events("shop")[0].count, n + 3);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: an Event's count stops at the int32 maximum the API takes", async () => {
  const h = await harness();
  try {
    const results = [];
    for (const dropId of ["a", "b", "c", "d"]) {
      results.push(
        await h.record({
          pod: h.pod,
          reason: "PacketDrop",
          message: MESSAGE,
          time: new Date(),
          dropId,
          count: 999_999_999,
        }),
      );
    }
    assert.deepEqual(results, ["created", "updated", "updated", "updated"]);
    assert.equal(h.api.events("shop")[0].count, MAX_EVENT_COUNT);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: 500, 503, dropped connections and 429 with Retry-After are retried; nothing is posted twice", async () => {
  const h = await harness();
  try {
    h.api.faults.failNext({ count: 2, status: 500, method: "POST" });
    h.api.faults.failNext({ count: 1, status: 503, method: "POST" });
    h.api.faults.dropNext({ count: 1, method: "POST" });
    const t1 = new Date(Date.now() - 60_000);
    assert.equal(
      await h.record({ pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t1 }),
      "created",
    );
    assert.equal(h.api.events("shop").length, 1);
    const posts = h.api.requests.filter((r) => r.method === "POST");
    assert.equal(posts.length, 5, "four failures, then success");

    h.api.faults.failNext({ count: 1, status: 429, retryAfterSeconds: 1, method: "PATCH" });
    const t2 = new Date();
    assert.equal(
      await h.record({ pod: h.pod, reason: "PacketDrop", message: MESSAGE, time: t2 }),
      "updated",
    );
    // Retry-After honoured, as the API server saw it: the retry came a second after the 429
    // (our own backoff is 20-200 ms).
    const patches = h.api.requests.filter((r) => r.method === "PATCH");
    assert.deepEqual(patches.map((r) => r.status), [429, 200]);
    const gap = patches[1].startedAt - patches[0].startedAt;
    assert.ok(gap >= 900, `retried ${gap} ms after the 429`);
    assert.equal(h.api.events("shop")[0].count, 2);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: a PATCH whose answer is lost is retried without a second increment", async () => {
  const h = await harness({}, {});
  try {
    await h.record({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(Date.now() - 60_000),
    });
    // Slow the server past the client's 1 s timeout for one PATCH: it applies, the client gives up.
    h.api.faults.latencyMs = 1500;
    const update = h.record({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(),
    });
    await new Promise((r) => setTimeout(r, 1200));
    h.api.faults.latencyMs = 0;
    assert.equal(await update, "updated");
    assert.equal(h.api.events("shop")[0].count, 2, "applied once, although sent twice");
    assert.ok(
      h.api.requests.filter((r) => r.method === "PATCH").length >= 2,
      "the PATCH was retried",
    );
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: 4xx other than conflicts are not retried; a deleted namespace drops its Events", async () => {
  const h = await harness();
  try {
    h.api.faults.failNext({ count: 1, status: 400, method: "POST" });
    h.api.faults.failNext({ count: 1, status: 403, method: "POST" });
    for (const status of [400, 403]) {
      const bad = await h.record({
        pod: h.pod,
        reason: "PacketDrop",
        message: MESSAGE,
        time: new Date(),
      });
      assert.equal(bad, "rejected", `status ${status}`);
    }
    assert.equal(h.api.requests.filter((r) => r.method === "POST").length, 2, "not retried");
    assert.equal(h.api.events("shop").length, 0);
    // Terminating: the API server refuses new content with a 403 that says so.
    const deleted = h.api.deleteNamespace("shop", { graceMs: 2_000 });
    const terminating = await h.record({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(),
    });
    assert.equal(terminating, "namespace_gone");
    const refusal = h.api.requests.filter((r) => r.method === "POST").at(-1)!;
    assert.equal(refusal.status, 403, "refused as terminating, not retried");
    // Gone: 404 for the namespace.
    await deleted;
    const gone = await h.record({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(Date.now() + 1),
    });
    assert.equal(gone, "namespace_gone");
    assert.equal(h.api.requests.filter((r) => r.method === "POST").at(-1)!.status, 404);
    assert.equal(await counter(h.metrics, "namespace_gone"), 2);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: drops found already recorded (replays after a restart) give their spam token back", async () => {
  const h = await harness({ spamBurst: 3, spamRefillMs: 3_600_000 });
  try {
    const drop = (dropId: string) => ({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(),
      dropId,
    });
    assert.equal(await h.record(drop("d1")), "created");
    // Read again after a kill -9: already in the Event, nothing posted.
    for (let i = 0; i < 3; i++) assert.equal(await h.record(drop("d1")), "already_recorded");
    // The Pod's new drops still have the two tokens d1 left.
    assert.equal(await h.record(drop("d2")), "updated");
    assert.equal(await h.record(drop("d3")), "updated");
    assert.equal(await h.record(drop("d4")), "suppressed", "the burst still holds");
    assert.equal(h.api.events("shop")[0].count, 3);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: the per-Pod spam filter (burst, then one per refill interval)", async () => {
  let now = Date.parse("2026-11-25T08:00:00Z");
  const h = await harness({ spamBurst: 3, spamRefillMs: 60_000, now: () => now });
  try {
    const results: string[] = [];
    for (let i = 0; i < 5; i++) {
      results.push(
        await h.record({
          pod: h.pod,
          reason: "PacketDrop",
          message: `${MESSAGE} #${i}`,
          time: new Date(now),
        }),
      );
    }
    assert.deepEqual(results, ["created", "created", "created", "suppressed", "suppressed"]);
    now += 60_000;
    assert.equal(
      await h.record({
        pod: h.pod,
        reason: "PacketDrop",
        message: `${MESSAGE} #5`,
        time: new Date(now),
      }),
      "created",
    );
    assert.equal(
      await h.record({
        pod: h.pod,
        reason: "PacketDrop",
        message: `${MESSAGE} #6`,
        time: new Date(now),
      }),
      "suppressed",
    );
    const other = { ...h.pod, uid: "another-pod", name: "web-2" };
    h.api.addPod({ namespace: "shop", name: "web-2", uid: "another-pod" });
    assert.equal(
      await h.record({
        pod: other,
        reason: "PacketDrop",
        message: MESSAGE,
        time: new Date(now),
      }),
      "created",
      "per Pod",
    );
    assert.equal(await counter(h.metrics, "suppressed"), 3);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: a full queue sheds Events instead of growing", async () => {
  const h = await harness({ queueSize: 3 });
  try {
    h.api.faults.latencyMs = 200;
    const pending = numbered(h, 10);
    const results = await Promise.all(pending);
    assert.ok(h.recorder.queueDepth === 0);
    const shed = results.filter((r) => r === "shed").length;
    assert.ok(shed >= 6 && shed <= 7, `shed ${shed} of 10 with a queue of 3 (+1 being sent)`);
    assert.equal(h.api.events("shop").length, 10 - shed);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: Events go out concurrently, but one Event's updates never race", async () => {
  const h = await harness({ concurrency: 4 });
  try {
    h.api.faults.latencyMs = 100;
    const now = Date.now();
    const event = (i: number, later = 0) =>
      h.record({
        pod: h.pod,
        reason: "PacketDrop",
        message: `${MESSAGE} #${i}`,
        time: new Date(now + later),
      });
    // #0's repeats come right behind its create, while that is still in flight: they must wait
    // for it (else a second create, or a PATCH of an Event that is not there yet).
    const results = await Promise.all([
      event(0),
      event(0, 1000),
      event(0, 2000),
      ...Array.from({ length: 7 }, (_, i) => event(i + 1)),
    ]);
    assert.deepEqual(results, ["created", "updated", "updated", ...Array(7).fill("created")]);
    const posts = h.api.requests.filter((r) => r.method === "POST");
    assert.equal(posts.length, 8, "one create per Event, the repeats are PATCHes");
    const first = h.api.events("shop").find((e) => e.message === `${MESSAGE} #0`);
    assert.equal(first?.count, 3);
    // Concurrent, within the limit: how many requests were in flight at once, as the API
    // server saw them.
    const writes = h.api.requests.filter((r) => r.method === "POST" || r.method === "PATCH");
    const inFlight = writes.map((r) =>
      writes.filter((o) =>
        o.startedAt < r.startedAt + r.durationMs && r.startedAt < o.startedAt + o.durationMs
      ).length
    );
    assert.ok(Math.max(...inFlight) >= 2, `concurrent: ${inFlight}`);
    assert.ok(Math.max(...inFlight) <= 4, `at most 4 at once: ${inFlight}`);
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: drops are told apart by identity, not by time: same millisecond, out of order, replayed", async () => {
  const h = await harness({ spamBurst: 1000 });
  try {
    const t = new Date(Date.now() - 30_000);
    const earlier = new Date(t.getTime() - 5_000);
    const intent = { pod: h.pod, reason: "PacketDrop", message: MESSAGE };
    assert.equal(await h.record({ ...intent, time: t, dropId: "a" }), "created");
    assert.equal(
      await h.record({ ...intent, time: t, dropId: "b" }),
      "updated",
      "same ms, another packet",
    );
    assert.equal(
      await h.record({ ...intent, time: earlier, dropId: "c" }),
      "updated",
      "older, but new",
    );
    assert.equal(
      await h.record({ ...intent, time: t, dropId: "a" }),
      "already_recorded",
      "a replay",
    );
    const [event] = h.api.events("shop");
    assert.equal(event.count, 3);
    assert.equal(
      event.lastTimestamp,
      t.toISOString().replace(/\.\d{3}Z$/, "Z"),
      "never moves backwards",
    );
    assert.equal(event.metadata.annotations?.[RECENT_DROPS_ANNOTATION], "a,b,c");
    // The memory of an Event is bounded.
    for (let i = 0; i < 40; i++) await h.record({ ...intent, time: t, dropId: `x${i}` });
    const ids =
      h.api.events("shop")[0].metadata.annotations?.[RECENT_DROPS_ANNOTATION]?.split(",") ?? [];
    assert.equal(ids.length, 32);
    assert.equal(ids.at(-1), "x39");
  } finally {
    await h.stop();
  }
});

Deno.test("recorder: another writer updated the Event since we cached it: the conflict is read and the count goes on from there", async () => {
  const h = await harness({ maxAgeMs: 5_000 });
  // A second recorder on the same API server (another instance of the program, one restarted
  // meanwhile): same component and host, so the same Event.
  const other = recorderOn(h.api, { maxAgeMs: 5_000 });
  const stopOther = new AbortController();
  const otherLoop = other.run(stopOther.signal);
  try {
    const now = Date.now();
    const drop = (dropId: string) => ({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(now),
      dropId,
    });
    assert.equal(await h.record(drop("d1")), "created");
    assert.equal(await recordOn(other, drop("d2")), "updated"); // learns it by its 409
    // Ours still caches the Event as it was after d1: the PATCH meets a conflict.
    assert.equal(await h.record(drop("d3")), "updated");
    const [event] = h.api.events("shop");
    assert.equal(event.count, 3, "no update lost");
    const recent = event.metadata.annotations?.[RECENT_DROPS_ANNOTATION] ?? "";
    assert.deepEqual(recent.split(",").sort(), ["d1", "d2", "d3"]);
    const conflicts = h.api.requests.filter((r) => r.method === "PATCH" && r.status === 409);
    assert.equal(conflicts.length, 1, "one conflict, then the update on the fresh copy");
  } finally {
    stopOther.abort();
    await other.close(100);
    await otherLoop;
    await h.stop();
  }
});

Deno.test("recorder: Events still queued at the shutdown deadline settle as unsent, not shed or failed", async () => {
  const h = await harness({ concurrency: 1 });
  h.api.faults.latencyMs = 300;
  const pending = numbered(h, 5);
  await sleep(50);
  await h.stop(); // a deadline of 100 ms: the first Event is still waiting for its answer
  const results = await Promise.race([
    Promise.all(pending),
    sleep(2000).then(() => "still pending"),
  ]);
  // The one in flight still gets its answer (the server finishes it before closing).
  assert.deepEqual(results, ["created", "unsent", "unsent", "unsent", "unsent"]);
  assert.equal(
    await h.record({
      pod: h.pod,
      reason: "PacketDrop",
      message: MESSAGE,
      time: new Date(),
    }),
    "unsent",
    "closed: nothing more is taken",
  );
  assert.equal(await counter(h.metrics, "unsent"), 5);
  assert.equal(await counter(h.metrics, "shed"), 0);
  assert.equal(await counter(h.metrics, "failed"), 0);
});

/** A recorder and its loop on a fresh emulator, shut down by the test itself. */
/**
 * A recorder running on the emulator (through a rewriting proxy when `proxied`), driven by hand;
 * `stop(ms)` aborts its loop, closes it with that drain deadline and the rest.
 */
async function manual(options: Partial<RecorderOptions> = {}, proxied = false) {
  const api = await startKubeEmulator({});
  const pod = addWeb(api);
  const metrics = new Metrics({ defaultMetrics: false });
  const proxy = proxied ? startProxy(api.url) : undefined;
  const recorder = recorderOn(api, options, metrics, proxy?.url);
  const controller = new AbortController();
  const loop = recorder.run(controller.signal);
  const intent = (message: string, time = new Date()) => ({
    pod,
    reason: "PacketDrop",
    message,
    time,
  });
  const stop = async (drainMs: number) => {
    controller.abort();
    await recorder.close(drainMs);
    await loop;
    await proxy?.[Symbol.asyncDispose]();
    await api.close();
  };
  return { api, pod, proxy, recorder, metrics, controller, loop, intent, stop };
}

Deno.test("recorder: a retry waiting when the shutdown signal comes still goes out while draining", async () => {
  const m = await manual({ minBackoffMs: 300, maxBackoffMs: 300 });
  try {
    m.api.faults.failNext({ count: 1, status: 503, method: "POST" });
    const result = recordOn(m.recorder, m.intent(MESSAGE));
    await until("the first try failed", () => m.api.requests.some((r) => r.status === 503));
    m.controller.abort(); // the signal comes during the wait before the retry
    await sleep(20); // the daemon stops reading before it closes the recorder
    await m.recorder.close(2000);
    assert.equal(await result, "created");
    assert.equal(m.api.events("shop").length, 1);
  } finally {
    await m.recorder.close(0);
    await m.loop;
    await m.api.close();
  }
});

Deno.test("recorder: an Event recorded after the signal left the loop idle is drained by close()", async () => {
  const m = await manual();
  try {
    m.controller.abort();
    await m.loop; // idle at the signal: the loop returned
    const result = recordOn(m.recorder, m.intent(MESSAGE)); // a drop that finished resolving late
    const start = performance.now();
    await m.recorder.close(2000);
    assert.equal(await result, "created");
    assert.ok(performance.now() - start < 1500, "close() returned once drained");
  } finally {
    await m.api.close();
  }
});

Deno.test("recorder: an Event whose log time is ahead of our clock still gives up after the maximum age", async () => {
  const m = await manual({ maxAgeMs: 300, minBackoffMs: 20, maxBackoffMs: 50 });
  try {
    m.api.faults.failNext({ count: 1_000_000, status: 500, method: "POST" });
    const hourAhead = new Date(Date.now() + 3_600_000);
    const result = await Promise.race([
      recordOn(m.recorder, m.intent(MESSAGE, hourAhead)),
      sleep(5000).then(() => "still retrying"),
    ]);
    assert.equal(result, "failed");
  } finally {
    await m.stop(0);
  }
});

Deno.test("recorder: a 2xx answer that is not an Event (a proxy's page) is retried, not taken for the Event", async () => {
  const { api, proxy, recorder, intent, stop } = await manual({}, true);
  const page = () =>
    new Response("<html><body>Welcome</body></html>", {
      status: 200,
      headers: { "Content-Type": "text/html" },
    });
  try {
    const drop = (dropId: string) => ({ ...intent(MESSAGE), dropId });
    // The proxy answers the create with its own page: nothing was created.
    proxy!.rules.push({ match: (url) => url.pathname.endsWith("/events"), respond: page });
    assert.equal(await recorder.record(drop("a")), "created");
    assert.equal(api.events("shop").length, 1, "the Event exists");
    // An update that did apply, answered with the page: retried without a second increment.
    proxy!.rules.push({
      match: (url) => url.pathname.includes("/events/"),
      respond: async (upstream) => (await (await upstream()).body?.cancel(), page()),
    });
    assert.equal(await recorder.record(drop("b")), "updated");
    assert.equal(await recorder.record(drop("c")), "updated");
    assert.equal(api.events("shop")[0].count, 3);
    assert.equal(api.events("shop")[0].metadata.annotations?.[RECENT_DROPS_ANNOTATION], "a,b,c");
  } finally {
    await stop(100);
  }
});

Deno.test("recorder: a Retry-After given as an HTTP-date (by a proxy in front of the API) is honoured", async () => {
  const { api, proxy, recorder, intent, stop } = await manual({}, true);
  const refusals: number[] = [];
  proxy!.rules.push({
    match: (url) => url.pathname.endsWith("/events"),
    respond: () => {
      refusals.push(Date.now());
      // Two seconds ahead, to the second: a wait of one to two seconds.
      const date = new Date(Date.now() + 2000).toUTCString();
      return new Response("<html>503 Service Unavailable</html>", {
        status: 503,
        headers: { "Content-Type": "text/html", "Retry-After": date },
      });
    },
  });
  try {
    const result = await recorder.record({ ...intent(MESSAGE), dropId: "a" });
    assert.equal(result, "created");
    const [posted] = api.requests.filter((r) => r.method === "POST");
    const gap = posted.startedAt - refusals[0];
    assert.ok(gap >= 900, `retried ${gap} ms after the 503 (our own backoff is 20-200 ms)`);
  } finally {
    await stop(100);
  }
});
