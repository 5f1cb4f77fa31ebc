/**
 * The Kubernetes API emulator against the real clients: @kubernetes/client-node (HTTP and
 * HTTPS with a token) and, in system tests, the real kubectl.
 */

import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { type KubeEmulator, startKubeEmulator, type Status } from "./kube_emulator/mod.ts";
import { systemTest } from "./system.ts";
import { issueClientCertificate, testCertificates } from "./kube_emulator/tls.ts";

// client-node keeps pooled sockets and timers that outlive a test.
const loose = { sanitizeResources: false, sanitizeOps: false };

function clientFor(api: KubeEmulator) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api) };
}

interface Failure {
  code: number;
  status: Status;
  headers: Record<string, string>;
}

/** The ApiException a client-node call rejects with, its body parsed as a Status. */
async function failureOf(call: Promise<unknown>): Promise<Failure> {
  try {
    await call;
  } catch (error) {
    if (error instanceof k8s.ApiException) {
      const body = typeof error.body === "string" && error.body !== ""
        ? JSON.parse(error.body)
        : error.body;
      return { code: error.code, status: body as Status, headers: error.headers };
    }
    throw error;
  }
  throw new assert.AssertionError({ message: "expected the call to fail" });
}

interface SeenEvent {
  type: string;
  // deno-lint-ignore no-explicit-any
  object: any;
}

/** A client-node Watch that records what it receives. */
class WatchRecorder {
  readonly events: SeenEvent[] = [];
  doneWith: unknown = "not done";
  #controller?: AbortController;

  static async start(
    kc: k8s.KubeConfig,
    path: string,
    query: Record<string, string | number | boolean | undefined>,
  ) {
    const recorder = new WatchRecorder();
    recorder.#controller = await new k8s.Watch(kc).watch(
      path,
      query,
      (type, object) => recorder.events.push({ type, object }),
      (error) => {
        recorder.doneWith = error ?? null;
      },
    );
    return recorder;
  }

  /** Waits until `predicate` holds (fails after a generous guard time). */
  async until(predicate: (events: SeenEvent[]) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(this.summary())}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async ended(): Promise<unknown> {
    const deadline = Date.now() + 10_000;
    while (this.doneWith === "not done") {
      if (Date.now() > deadline) throw new Error("the watch did not end");
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.doneWith;
  }

  summary(): string[] {
    return this.events.map((e) =>
      `${e.type} ${e.object?.metadata?.name ?? e.object?.metadata?.resourceVersion ?? ""}`
    );
  }

  stop(): void {
    this.#controller?.abort();
  }
}

function addPods(api: KubeEmulator, count: number, namespaces: string[]) {
  for (let i = 0; i < count; i++) {
    api.addPod({
      namespace: namespaces[i % namespaces.length],
      name: `pod-${String(i).padStart(4, "0")}`,
      nodeName: `node-${i % 4}`,
      podIPs: [`10.244.${i >> 8}.${i & 255}`],
      labels: { app: i % 2 === 0 ? "web" : "api", shard: String(i % 3) },
    });
  }
}

function podEvent(
  namespace: string,
  pod: string,
  uid: string,
  extra: Record<string, unknown> = {},
) {
  const now = Date.now();
  return {
    metadata: { generateName: `${pod}.` },
    involvedObject: { kind: "Pod", namespace, name: pod, uid, apiVersion: "v1" },
    reason: "PacketDrop",
    message: "Packet dropped when receiving traffic from 10.244.9.9",
    type: "Warning",
    source: { component: "kube-iptables-tailer", host: "node-a" },
    count: 1,
    firstTimestamp: new Date(now),
    lastTimestamp: new Date(now),
    ...extra,
  } as k8s.CoreV1Event;
}

Deno.test({
  name:
    "client-node pages through 1 200 pods in pages of 500 over HTTPS with a token, as one snapshot",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator({ tls: true, token: "s3cret" });
    assert.match(api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(api.caCertPem ?? "", /BEGIN CERTIFICATE/);
    addPods(api, 1200, ["ns-a", "ns-b", "ns-c"]);
    const { core } = clientFor(api);

    const first = await core.listPodForAllNamespaces({ limit: 500 });
    assert.equal(first.items.length, 500);
    assert.equal(first.metadata?.remainingItemCount, 700);
    const snapshot = first.metadata?.resourceVersion;
    assert.ok(first.metadata?._continue);

    // Changes after the first page must not show in the later pages of the same list.
    api.deletePod("ns-c", "pod-1199");
    api.addPod({ namespace: "zz", name: "late" });
    api.updatePod("ns-b", "pod-0601", { phase: "Succeeded" });

    const second = await core.listPodForAllNamespaces({
      limit: 500,
      _continue: first.metadata?._continue,
    });
    const third = await core.listPodForAllNamespaces({
      limit: 500,
      _continue: second.metadata?._continue,
    });
    assert.equal(second.items.length, 500);
    assert.equal(third.items.length, 200);
    assert.equal(third.metadata?._continue, undefined);
    for (const page of [second, third]) assert.equal(page.metadata?.resourceVersion, snapshot);
    const all = [...first.items, ...second.items, ...third.items].map((p) =>
      `${p.metadata?.namespace}/${p.metadata?.name}`
    );
    assert.equal(new Set(all).size, 1200);
    assert.deepEqual(all, [...all].sort(), "items come in key order");
    assert.ok(all.includes("ns-c/pod-1199"), "deleted after the snapshot: still listed");
    assert.ok(!all.includes("zz/late"), "created after the snapshot: not listed");
    const updated = [...second.items, ...third.items].find((p) => p.metadata?.name === "pod-0601");
    assert.equal(updated?.status?.phase, "Running");

    const fresh = await core.listPodForAllNamespaces({});
    assert.equal(fresh.items.length, 1200);
    assert.ok(Number(fresh.metadata?.resourceVersion) > Number(snapshot));
    assert.equal(
      fresh.items.find((p) => p.metadata?.name === "pod-0601")?.status?.phase,
      "Succeeded",
    );

    let pages = 0;
    let names: string[] = [];
    let cont: string | undefined;
    do {
      const page = await core.listNamespacedPod({ namespace: "ns-b", limit: 150, _continue: cont });
      names = names.concat(page.items.map((p) => p.metadata!.name!));
      cont = page.metadata?._continue;
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.equal(names.length, 400);
    assert.ok(api.requests.every((r) => r.headers["authorization"] === "Bearer s3cret"));
  },
});

Deno.test({
  name: "lists filter with field selectors (=, ==, !=, comma) and label selectors",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    assert.match(api.url, /^http:\/\//);
    addPods(api, 40, ["shop", "lab"]);
    api.updatePod("shop", "pod-0000", { phase: "Failed" });
    api.addPod({ namespace: "shop", name: "pending", phase: "Pending" });
    const { core } = clientFor(api);
    const names = async (fieldSelector?: string, labelSelector?: string, namespace?: string) => {
      const list = namespace
        ? await core.listNamespacedPod({ namespace, fieldSelector, labelSelector })
        : await core.listPodForAllNamespaces({ fieldSelector, labelSelector });
      return list.items.map((p) => p.metadata!.name!).sort();
    };
    assert.equal((await names("spec.nodeName=node-1")).length, 10);
    assert.deepEqual(await names("spec.nodeName=", undefined, "shop"), ["pending"]);
    assert.deepEqual(await names("status.phase!=Running"), ["pending", "pod-0000"]);
    assert.deepEqual(await names("metadata.name==pod-0003"), ["pod-0003"]);
    assert.deepEqual(
      await names("metadata.namespace=lab,spec.nodeName=node-3"),
      await names("spec.nodeName=node-3"),
    );
    assert.equal((await names(undefined, "app=web")).length, 20);
    assert.equal(
      (await names(undefined, "app!=web")).length,
      21,
      "!= also matches pods without the label",
    );
    assert.equal((await names(undefined, "shard in (0,1),app notin (api)")).length, 13);
    assert.deepEqual(await names(undefined, "!app"), ["pending"]);
    assert.equal((await names(undefined, "shard")).length, 40);
    const unsupported = await failureOf(
      core.listPodForAllNamespaces({ fieldSelector: "spec.image=x" }),
    );
    assert.equal(unsupported.code, 400);
    assert.equal(unsupported.status.reason, "BadRequest");
    assert.equal(unsupported.status.message, "field label not supported: spec.image");
    const malformed = await failureOf(
      core.listPodForAllNamespaces({ labelSelector: "app in web" }),
    );
    assert.equal(malformed.code, 400);
  },
});

Deno.test({
  name: "watch delivers ADDED, MODIFIED, DELETED and BOOKMARK events from a resourceVersion",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator({ bookmarkIntervalMs: 50, tls: true, token: "w" });
    api.addPod({ namespace: "w", name: "before" });
    const { kc } = clientFor(api);
    const from = api.resourceVersion;
    const watch = await WatchRecorder.start(kc, "/api/v1/namespaces/w/pods", {
      resourceVersion: from,
      allowWatchBookmarks: true,
    });
    api.addPod({ namespace: "w", name: "web", nodeName: "node-a" });
    api.addPod({ namespace: "other", name: "elsewhere" });
    api.updatePod("w", "web", { podIPs: ["10.244.0.7"] });
    api.deletePod("w", "web");
    await watch.until((e) => e.some((x) => x.type === "DELETED"), "DELETED");
    await watch.until((e) => e.some((x) => x.type === "BOOKMARK"), "a BOOKMARK");
    watch.stop();
    const changes = watch.events.filter((e) => e.type !== "BOOKMARK");
    assert.deepEqual(changes.map((e) => `${e.type} ${e.object.metadata.name}`), [
      "ADDED web",
      "MODIFIED web",
      "DELETED web",
    ]);
    const rvs = changes.map((e) => Number(e.object.metadata.resourceVersion));
    assert.ok(rvs[0] > Number(from) && rvs[0] < rvs[1] && rvs[1] < rvs[2], `increasing: ${rvs}`);
    assert.equal(changes[1].object.status.podIP, "10.244.0.7");
    const bookmark = watch.events.find((e) => e.type === "BOOKMARK")!;
    assert.equal(bookmark.object.kind, "Pod");
    assert.ok(Number(bookmark.object.metadata.resourceVersion) >= rvs[2]);
    // The cacher's bookmark: a zero Pod with a resourceVersion, written as Go writes it.
    assert.deepEqual(bookmark.object, {
      kind: "Pod",
      apiVersion: "v1",
      metadata: {
        resourceVersion: bookmark.object.metadata.resourceVersion,
        creationTimestamp: null,
      },
      spec: { containers: null },
      status: {},
    });
    assert.ok(watch.events.every((e) => e.object.metadata?.namespace !== "other"));
  },
});

Deno.test({
  name:
    "watch without resourceVersion starts with ADDED for every object; selectors turn moves into ADDED/DELETED",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    api.addPod({ namespace: "s", name: "a", nodeName: "node-a" });
    api.addPod({ namespace: "s", name: "b", nodeName: "node-b" });
    const { kc } = clientFor(api);
    const all = await WatchRecorder.start(kc, "/api/v1/pods", {});
    await all.until((e) => e.length === 2, "two initial ADDED");
    assert.deepEqual(all.summary().sort(), ["ADDED a", "ADDED b"]);
    all.stop();

    const onA = await WatchRecorder.start(kc, "/api/v1/pods", {
      resourceVersion: api.resourceVersion,
      fieldSelector: "spec.nodeName=node-a",
    });
    api.updatePod("s", "b", { nodeName: "node-a" }); // enters the selection
    api.updatePod("s", "a", { nodeName: "node-c" }); // leaves it
    api.updatePod("s", "b", { labels: { moved: "yes" } });
    await onA.until((e) => e.length === 3, "three events");
    onA.stop();
    assert.deepEqual(onA.summary(), ["ADDED b", "DELETED a", "MODIFIED b"]);
    assert.equal(onA.events[1].object.spec.nodeName, "node-c", "DELETED carries the new state");
  },
});

Deno.test({
  name:
    "compact(): an old continue token answers 410 Expired with a fresh token, an old watch gets ERROR 410",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    addPods(api, 10, ["c"]);
    const { kc, core } = clientFor(api);
    const first = await core.listNamespacedPod({ namespace: "c", limit: 4 });
    const oldRv = first.metadata!.resourceVersion!;
    api.compact();

    const gone = await failureOf(
      core.listNamespacedPod({ namespace: "c", limit: 4, _continue: first.metadata?._continue }),
    );
    assert.equal(gone.code, 410);
    assert.equal(gone.status.reason, "Expired");
    assert.match(gone.status.message!, /^The provided continue parameter is too old/);
    const inconsistent = gone.status.metadata.continue;
    assert.ok(inconsistent, "a token to continue at the latest revision");
    const rest = await core.listNamespacedPod({
      namespace: "c",
      limit: 100,
      _continue: inconsistent,
    });
    assert.deepEqual(rest.items.map((p) => p.metadata?.name), [
      "pod-0004",
      "pod-0005",
      "pod-0006",
      "pod-0007",
      "pod-0008",
      "pod-0009",
    ]);

    const exact = await failureOf(core.listNamespacedPod({
      namespace: "c",
      resourceVersion: oldRv,
      resourceVersionMatch: "Exact",
    }));
    assert.equal(exact.code, 410);
    assert.equal(exact.status.message, "The resourceVersion for the provided list is too old.");

    const watch = await WatchRecorder.start(kc, "/api/v1/namespaces/c/pods", {
      resourceVersion: oldRv,
    });
    await watch.until((e) => e.length === 1, "the ERROR event");
    const error = watch.events[0];
    assert.equal(error.type, "ERROR");
    assert.equal(error.object.kind, "Status");
    assert.equal(error.object.code, 410);
    assert.equal(error.object.reason, "Expired");
    assert.match(
      error.object.message,
      new RegExp(`^too old resource version: ${oldRv} \\(\\d+\\)$`),
    );
    assert.equal(await watch.ended(), null, "the server ends the stream after the error");
  },
});

Deno.test({
  name:
    "a bounded watch cache: a watch from before the last watchCacheSize changes is too old; ListWatch relists",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator({ watchCacheSize: 3 });
    api.addPod({ namespace: "h", name: "p0" });
    const { kc, core } = clientFor(api);
    const early = api.resourceVersion;
    for (let i = 1; i <= 5; i++) api.addPod({ namespace: "h", name: `p${i}` });
    const watch = await WatchRecorder.start(kc, "/api/v1/namespaces/h/pods", {
      resourceVersion: early,
    });
    await watch.until((e) => e.length === 1, "ERROR");
    assert.equal(watch.events[0].object.code, 410);

    const informer = new k8s.ListWatch<k8s.V1Pod>(
      "/api/v1/namespaces/h/pods",
      new k8s.Watch(kc),
      () => core.listNamespacedPod({ namespace: "h" }),
      false,
    );
    await informer.start();
    assert.equal(informer.list("h").length, 6);
    api.addPod({ namespace: "h", name: "p6" });
    const deadline = Date.now() + 10_000;
    while (informer.list("h").length !== 7 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(informer.list("h").length, 7);
    await informer.stop();
  },
});

Deno.test({
  name:
    "resourceVersion=0 lists are served whole; future resourceVersions answer 504 after waiting",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    addPods(api, 30, ["z"]);
    const whole = await (await fetch(`${api.url}/api/v1/pods?resourceVersion=0&limit=5`)).json();
    assert.equal(whole.items.length, 30, "the watch cache ignores limit");
    assert.equal(whole.metadata.continue, undefined);
    const then = whole.metadata.resourceVersion;
    api.addPod({ namespace: "z", name: "newer" });
    api.deletePod("z", "pod-0000");
    const list = async (query: string) =>
      (await fetch(`${api.url}/api/v1/namespaces/z/pods?${query}`)).json();
    const exact = await list(`resourceVersion=${then}&resourceVersionMatch=Exact`);
    assert.equal(exact.metadata.resourceVersion, then);
    assert.equal(exact.items.length, 30);
    assert.equal(exact.items[0].metadata.name, "pod-0000", "as it was at that revision");
    const legacyPaged = await list(`resourceVersion=${then}&limit=10`);
    assert.equal(
      legacyPaged.metadata.resourceVersion,
      then,
      "legacy rv + limit reads at that revision",
    );
    const notOlder = await list(`resourceVersion=${then}&resourceVersionMatch=NotOlderThan`);
    assert.equal(notOlder.metadata.resourceVersion, api.resourceVersion);
    assert.ok(notOlder.items.some((p: k8s.V1Pod) => p.metadata?.name === "newer"));
    assert.equal(notOlder.items.length, 30);
    const future = Number(api.resourceVersion) + 1000;
    const response = await fetch(
      `${api.url}/api/v1/pods?resourceVersion=${future}&resourceVersionMatch=NotOlderThan`,
    );
    const status = await response.json();
    assert.equal(response.status, 504);
    assert.equal(status.reason, "Timeout");
    assert.match(status.message, /Too large resource version/);
    const invalid = await fetch(`${api.url}/api/v1/pods?resourceVersionMatch=Exact`);
    assert.equal(invalid.status, 422);
    assert.match(
      (await invalid.json()).message,
      /resourceVersionMatch is forbidden unless resourceVersion is provided/,
    );
  },
});

Deno.test({
  name:
    "Events through client-node: create with generateName, select by involvedObject, patch three ways, update, delete",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator({ tls: true, token: "tok" });
    const pod = api.addPod({
      namespace: "shop",
      name: "web-0",
      nodeName: "node-a",
      podIPs: ["10.244.1.10"],
    });
    const uid = pod.metadata.uid!;
    const { core } = clientFor(api);

    const created = await core.createNamespacedEvent({
      namespace: "shop",
      body: podEvent("shop", "web-0", uid),
    });
    const name = created.metadata!.name!;
    assert.match(name, /^web-0\.[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.ok(created.metadata?.uid);
    assert.ok(created.metadata?.creationTimestamp instanceof Date);
    assert.equal(created.eventTime, null);
    const post = api.requests.find((r) => r.method === "POST")!;
    assert.equal(post.status, 201);
    assert.equal((post.body as { reason: string }).reason, "PacketDrop");

    await core.createNamespacedEvent({
      namespace: "shop",
      body: { ...podEvent("shop", "web-1", "u1"), metadata: { name: "other" } },
    });
    const selected = await core.listNamespacedEvent({
      namespace: "shop",
      fieldSelector:
        `involvedObject.name=web-0,involvedObject.namespace=shop,involvedObject.uid=${uid},involvedObject.kind=Pod`,
    });
    assert.deepEqual(selected.items.map((e) => e.metadata?.name), [name]);
    for (const selector of ["reason=PacketDrop", "type=Warning", "source=kube-iptables-tailer"]) {
      const list = await core.listEventForAllNamespaces({ fieldSelector: selector });
      assert.equal(list.items.length, 2, selector);
    }

    const jsonPatched = await core.patchNamespacedEvent({
      name,
      namespace: "shop",
      body: [{ op: "replace", path: "/count", value: 2 }],
    });
    assert.equal(jsonPatched.count, 2);
    const later = new Date(Date.now() + 5000);
    const merged = await core.patchNamespacedEvent(
      { name, namespace: "shop", body: { count: 3, lastTimestamp: later } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    assert.equal(merged.count, 3);
    assert.equal(
      merged.lastTimestamp?.getTime(),
      Math.floor(later.getTime() / 1000) * 1000,
      "Time has second precision",
    );
    const strategic = await core.patchNamespacedEvent(
      {
        name,
        namespace: "shop",
        body: { message: "now 3 drops", metadata: { labels: { seen: "yes" } } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch),
    );
    assert.equal(strategic.message, "now 3 drops");
    assert.equal(strategic.metadata?.labels?.seen, "yes");
    const rvs = [created, jsonPatched, merged, strategic].map((e) =>
      Number(e.metadata?.resourceVersion)
    );
    assert.deepEqual([...rvs].sort((a, b) => a - b), rvs);

    const stale = await failureOf(
      core.replaceNamespacedEvent({ name, namespace: "shop", body: { ...created, count: 9 } }),
    );
    assert.equal(stale.code, 409);
    assert.equal(stale.status.reason, "Conflict");
    assert.equal(
      stale.status.message,
      `Operation cannot be fulfilled on events "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    );
    const replaced = await core.replaceNamespacedEvent({
      name,
      namespace: "shop",
      body: { ...strategic, count: 4 },
    });
    assert.equal(replaced.count, 4);

    const duplicate = await failureOf(core.createNamespacedEvent({
      namespace: "shop",
      body: { ...podEvent("shop", "web-0", uid), metadata: { name } },
    }));
    assert.equal(duplicate.code, 409);
    assert.equal(duplicate.status.reason, "AlreadyExists");
    assert.equal(duplicate.status.message, `events "${name}" already exists`);

    const deleted = await core.deleteNamespacedEvent({ name, namespace: "shop" });
    assert.equal(deleted.status, "Success");
    const missing = await failureOf(core.readNamespacedEvent({ name, namespace: "shop" }));
    assert.equal(missing.code, 404);
    assert.equal(missing.status.message, `events "${name}" not found`);
    assert.deepEqual(api.events("shop").map((e) => e.metadata.name), ["other"]);
  },
});

Deno.test({
  name:
    "Events expire after their TTL (watchers see DELETED); deletecollection by selector; pods delete over HTTP",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator({ eventTtlMs: 150 });
    const pod = api.addPod({ namespace: "ttl", name: "p" });
    const { kc, core } = clientFor(api);
    const watch = await WatchRecorder.start(kc, "/api/v1/namespaces/ttl/events", {
      resourceVersion: api.resourceVersion,
    });
    const made = await core.createNamespacedEvent({
      namespace: "ttl",
      body: podEvent("ttl", "p", pod.metadata.uid!),
    });
    await watch.until((e) => e.some((x) => x.type === "DELETED"), "the expiry");
    watch.stop();
    assert.deepEqual(watch.summary(), [
      `ADDED ${made.metadata?.name}`,
      `DELETED ${made.metadata?.name}`,
    ]);
    assert.deepEqual(api.events("ttl"), []);

    await using keep = await startKubeEmulator();
    keep.addNamespace("dc");
    const other = clientFor(keep).core;
    for (const reason of ["A", "B", "A"]) {
      await other.createNamespacedEvent({
        namespace: "dc",
        body: { ...podEvent("dc", "p", "u"), reason },
      });
    }
    const removed = await other.deleteCollectionNamespacedEvent({
      namespace: "dc",
      fieldSelector: "reason=A",
    });
    assert.equal(removed.kind, "EventList", "the real server answers with the deleted items");
    assert.deepEqual(keep.events("dc").map((e) => e.reason), ["B"]);

    keep.addPod({ namespace: "dc", name: "gone" });
    const deleted = await other.deleteNamespacedPod({ namespace: "dc", name: "gone" });
    assert.equal(deleted.metadata?.name, "gone");
    assert.deepEqual(keep.pods("dc"), []);
    assert.equal(
      (await failureOf(other.deleteNamespacedPod({ namespace: "dc", name: "gone" }))).code,
      404,
    );
  },
});

Deno.test({
  name:
    "watch options: sendInitialEvents ends with an annotated BOOKMARK; timeoutSeconds ends the stream",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    api.addPod({ namespace: "o", name: "a" });
    api.addPod({ namespace: "o", name: "b" });
    const response = await fetch(
      `${api.url}/api/v1/namespaces/o/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1`,
    );
    assert.equal(response.headers.get("content-type"), "application/json");
    const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.type), ["ADDED", "ADDED", "BOOKMARK"]);
    assert.equal(lines[2].object.metadata.annotations["k8s.io/initial-events-end"], "true");
    assert.equal(lines[2].object.metadata.resourceVersion, api.resourceVersion);
    const invalid = await fetch(`${api.url}/api/v1/pods?watch=1&sendInitialEvents=true`);
    assert.equal(invalid.status, 422);
    assert.match(
      (await invalid.json()).message,
      /sendInitialEvents requires setting resourceVersionMatch to NotOlderThan/,
    );
  },
});

Deno.test({
  name: "Event validation answers like kube-apiserver: 422 with causes, 400 for undecodable bodies",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    api.addNamespace("shop");
    const { core } = clientFor(api);
    const create = (body: Record<string, unknown>) =>
      failureOf(
        core.createNamespacedEvent({ namespace: "shop", body: body as unknown as k8s.CoreV1Event }),
      );

    const mismatch = await create({ ...podEvent("other", "web-0", "u"), metadata: { name: "e1" } });
    assert.equal(mismatch.code, 422);
    assert.equal(mismatch.status.reason, "Invalid");
    assert.equal(
      mismatch.status.message,
      'Event "e1" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace',
    );
    assert.deepEqual(mismatch.status.details, {
      name: "e1",
      kind: "Event",
      causes: [{
        reason: "FieldValueInvalid",
        message: 'Invalid value: "other": does not match event.namespace',
        field: "involvedObject.namespace",
      }],
    });

    const unnamed = await create({ ...podEvent("shop", "web-0", "u"), metadata: {} });
    assert.equal(
      unnamed.status.message,
      'Event "" is invalid: metadata.name: Required value: name or generateName is required',
    );

    const slash = await create({ ...podEvent("shop", "web-0", "u"), metadata: { name: "a/b" } });
    assert.equal(
      slash.status.details?.causes?.[0].message,
      `Invalid value: "a/b": may not contain '/'`,
    );

    // client-node writes a plain Date with milliseconds; MicroTime needs V1MicroTime.
    const plainDate = await create({
      ...podEvent("shop", "web-0", "u"),
      eventTime: new Date("2024-05-01T10:00:00.123Z"),
    });
    assert.equal(plainDate.code, 400);
    assert.equal(
      plainDate.status.message,
      'Event in version "v1" cannot be handled as a Event: parsing time "2024-05-01T10:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"',
    );

    const series = await create({
      ...podEvent("shop", "web-0", "u"),
      eventTime: new k8s.V1MicroTime("2024-05-01T10:00:00.123Z"),
    });
    assert.equal(series.code, 422);
    assert.deepEqual(
      series.status.details?.causes?.map((c) => `${c.field}: ${c.reason}`),
      [
        "reportingComponent: FieldValueRequired",
        "reportingComponent: FieldValueInvalid",
        "reportingComponent: FieldValueInvalid",
        "reportingInstance: FieldValueRequired",
        "action: FieldValueRequired",
      ],
    );
    const complete = await core.createNamespacedEvent({
      namespace: "shop",
      body: {
        ...podEvent("shop", "web-0", "u"),
        eventTime: new k8s.V1MicroTime("2024-05-01T10:00:00.123Z"),
        reportingComponent: "kube-iptables-tailer",
        reportingInstance: "node-a",
        action: "Drop",
      },
    });
    // client-node has no deserializer for MicroTime: it hands back the wire string.
    assert.equal(String(complete.eventTime), "2024-05-01T10:00:00.123000Z");
    const raw = api.events("shop").find((e) => e.metadata.name === complete.metadata?.name)!;
    assert.equal(raw.eventTime, "2024-05-01T10:00:00.123000Z");

    const longReason = await create({
      ...podEvent("shop", "web-0", "u"),
      eventTime: new k8s.V1MicroTime(),
      reportingComponent: "c",
      reportingInstance: "i",
      action: "a",
      reason: "R".repeat(129),
    });
    assert.equal(
      longReason.status.details?.causes?.[0].message,
      'Invalid value: "": can have at most 128 characters',
    );

    // The legacy API does not restrict type (only events.k8s.io/v1 does).
    const odd = await core.createNamespacedEvent({
      namespace: "shop",
      body: { ...podEvent("shop", "web-0", "u"), type: "Odd" },
    });
    assert.equal(odd.type, "Odd");

    const post = (body: unknown) =>
      fetch(`${api.url}/api/v1/namespaces/shop/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    const wrongType = await post({
      metadata: { name: "t" },
      involvedObject: { namespace: "shop" },
      count: "three",
    });
    assert.equal(wrongType.status, 400);
    assert.match(
      (await wrongType.json()).message,
      /cannot unmarshal string into Go struct field Event.count of type int32/,
    );
    const notJson = await post("{nope");
    assert.equal(notJson.status, 400);
    await notJson.body?.cancel();
    const elsewhere = await post({
      metadata: { name: "t", namespace: "default" },
      involvedObject: {},
    });
    assert.equal(
      (await elsewhere.json()).message,
      "the namespace of the provided object does not match the namespace sent on the request",
    );
    const withRv = await post({
      metadata: { name: "t", resourceVersion: "5" },
      involvedObject: { namespace: "shop" },
    });
    assert.equal(withRv.status, 500);
    assert.equal(
      (await withRv.json()).message,
      "resourceVersion should not be set on objects to be created",
    );
    const strict = await fetch(`${api.url}/api/v1/namespaces/shop/events?fieldValidation=Strict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        metadata: { name: "s" },
        involvedObject: { namespace: "shop" },
        colour: "red",
      }),
    });
    assert.equal(strict.status, 400);
    assert.equal((await strict.json()).message, 'strict decoding error: unknown field "colour"');
    const warned = await post({
      metadata: { name: "w" },
      involvedObject: { namespace: "shop" },
      colour: "red",
    });
    assert.equal(warned.status, 201);
    assert.equal(warned.headers.get("warning"), '299 - "unknown field \\"colour\\""');
    await warned.body?.cancel();

    // Content types as the real handlers read them: a body's media type must name a
    // serializer (`*/*` does not); a patch's is compared exactly (case and spaces count).
    const anyType = await fetch(`${api.url}/api/v1/namespaces/shop/events`, {
      method: "POST",
      headers: { "content-type": "*/*" },
      body: JSON.stringify({ metadata: { name: "any" }, involvedObject: { namespace: "shop" } }),
    });
    assert.equal(anyType.status, 415);
    await anyType.body?.cancel();
    for (
      const type of [
        "Application/Strategic-Merge-Patch+Json",
        "application/merge-patch+json ; charset=utf-8",
      ]
    ) {
      const patched = await fetch(`${api.url}/api/v1/namespaces/shop/events/w`, {
        method: "PATCH",
        headers: { "content-type": type },
        body: JSON.stringify({ count: 2 }),
      });
      assert.equal(patched.status, 415, type);
      await patched.body?.cancel();
    }
    const charset = await fetch(`${api.url}/api/v1/namespaces/shop/events/w`, {
      method: "PATCH",
      headers: { "content-type": "application/strategic-merge-patch+json; charset=utf-8" },
      body: JSON.stringify({ count: 2 }),
    });
    assert.equal(charset.status, 200);
    await charset.body?.cancel();
  },
});

Deno.test({
  name: "namespaces: 404 when missing, 403 while Terminating, then gone with their pods and events",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    const pod = api.addPod({ namespace: "doomed", name: "p" });
    const { core } = clientFor(api);
    const missing = await failureOf(
      core.createNamespacedEvent({ namespace: "nope", body: podEvent("nope", "p", "u") }),
    );
    assert.equal(missing.code, 404);
    assert.equal(missing.status.message, 'namespaces "nope" not found');
    assert.deepEqual(missing.status.details, { name: "nope", kind: "namespaces" });

    await core.createNamespacedEvent({
      namespace: "doomed",
      body: { ...podEvent("doomed", "p", pod.metadata.uid!), metadata: { name: "p.1" } },
    });
    const gone = api.deleteNamespace("doomed", { graceMs: 200 });
    const terminating = await core.readNamespace({ name: "doomed" });
    assert.equal(terminating.status?.phase, "Terminating");
    assert.ok(terminating.metadata?.deletionTimestamp);
    const refused = await failureOf(core.createNamespacedEvent({
      namespace: "doomed",
      body: { ...podEvent("doomed", "p", "u"), metadata: { name: "p.2" } },
    }));
    assert.equal(refused.code, 403);
    assert.equal(refused.status.reason, "Forbidden");
    assert.equal(
      refused.status.message,
      'events "p.2" is forbidden: unable to create new content in namespace doomed because it is being terminated',
    );
    assert.deepEqual(refused.status.details?.causes, [{
      reason: "NamespaceTerminating",
      message: "namespace doomed is being terminated",
      field: "metadata.namespace",
    }]);
    assert.equal(
      (await core.listNamespacedPod({ namespace: "doomed" })).items.length,
      1,
      "content stays while terminating",
    );
    await gone;
    assert.equal((await failureOf(core.readNamespace({ name: "doomed" }))).code, 404);
    assert.deepEqual(api.pods("doomed"), []);
    assert.deepEqual(api.events("doomed"), []);

    const immortal = await failureOf(core.deleteNamespace({ name: "default" }));
    assert.equal(immortal.code, 403);
    assert.equal(
      immortal.status.message,
      'namespaces "default" is forbidden: this namespace may not be deleted',
    );
    const made = await core.createNamespace({ body: { metadata: { name: "fresh" } } });
    assert.equal(made.status?.phase, "Active");
    assert.equal(made.metadata?.labels?.["kubernetes.io/metadata.name"], "fresh");
    const bad = await failureOf(core.createNamespace({ body: { metadata: { name: "Bad_Name" } } }));
    assert.equal(bad.code, 422);
    assert.match(
      bad.status.message!,
      /^Namespace "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 label/,
    );
  },
});

Deno.test({
  name: "bearer tokens: 401 Status without the token or with a wrong one; setToken rotates",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator({ token: "first" });
    const bare = await fetch(`${api.url}/api/v1/pods`);
    assert.equal(bare.status, 401);
    assert.deepEqual(await bare.json(), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Unauthorized",
      reason: "Unauthorized",
      code: 401,
    });
    const wrong = await fetch(`${api.url}/api/v1/pods`, {
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const before = clientFor(api).core;
    assert.equal((await before.listNamespace()).items.length, 4);
    assert.equal(await Deno.readTextFile(api.tokenPath!), "first");

    await api.setToken("second");
    assert.equal((await failureOf(before.listNamespace())).code, 401);
    assert.equal(await Deno.readTextFile(api.tokenPath!), "second");
    const after = clientFor(api).core;
    assert.equal((await after.listNamespace()).items.length, 4);
  },
});

Deno.test({
  name: "faults: failNext (503 and 429 with Retry-After, 500), dropNext, latency, closeWatches",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    api.addPod({ namespace: "f", name: "p" });
    const { kc, core } = clientFor(api);

    api.faults.failNext({
      status: 503,
      retryAfterSeconds: 2,
      method: "GET",
      pathPattern: "/namespaces/f/pods",
    });
    const other = await fetch(`${api.url}/api/v1/namespaces`);
    assert.equal(other.status, 200, "only matching requests fail");
    await other.body?.cancel();
    const unavailable = await fetch(`${api.url}/api/v1/namespaces/f/pods`);
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get("retry-after"), "2");
    const body = await unavailable.json();
    assert.equal(body.reason, "ServiceUnavailable");
    assert.equal(body.details.retryAfterSeconds, 2);
    assert.equal(
      (await core.listNamespacedPod({ namespace: "f" })).items.length,
      1,
      "one failure only",
    );

    // 429 as API Priority and Fairness answers it: Go's http.Error, plain text, no Status.
    api.faults.failNext({ status: 429, pathPattern: /\/pods$/ });
    const throttled = await fetch(`${api.url}/api/v1/namespaces/f/pods`);
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get("retry-after"), "1");
    assert.equal(throttled.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await throttled.text(), "Too many requests, please try again later.\n");

    api.faults.failNext({ status: 403 });
    const refused = await failureOf(core.listNamespace());
    assert.deepEqual([refused.code, refused.status.reason], [403, "Forbidden"]);

    api.faults.failNext({ status: 500, count: 2 });
    assert.equal((await failureOf(core.listNamespace())).status.reason, "InternalError");
    assert.equal((await failureOf(core.listNamespace())).code, 500);
    assert.equal((await core.listNamespace()).items.length, 5);

    api.faults.dropNext({ method: "GET", pathPattern: "/api/v1/namespaces/f/pods" });
    await assert.rejects(
      core.listNamespacedPod({ namespace: "f" }),
      (e: Error) => !(e instanceof k8s.ApiException),
    );
    const dropped = api.requests.at(-1)!;
    assert.equal(dropped.dropped, true);
    assert.equal(dropped.status, 0);
    assert.equal(
      (await core.listNamespacedPod({ namespace: "f" })).items.length,
      1,
      "the next one is served",
    );

    api.faults.latencyMs = 150;
    const started = performance.now();
    await core.listNamespacedPod({ namespace: "f" });
    assert.ok(performance.now() - started >= 150, "the answer waited for the injected latency");
    api.faults.latencyMs = 0;

    const watch = await WatchRecorder.start(kc, "/api/v1/namespaces/f/pods", {
      resourceVersion: api.resourceVersion,
    });
    api.addPod({ namespace: "f", name: "q" });
    await watch.until((e) => e.length === 1, "ADDED");
    assert.equal(api.faults.closeWatches(), 1);
    const ended = await watch.ended();
    assert.ok(ended !== "not done");
    api.addPod({ namespace: "f", name: "r" });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(watch.summary(), ["ADDED q"], "nothing arrives after the cut");
    const record = api.requests.find((r) => r.watch)!;
    assert.equal(record.status, 200);
    assert.ok(record.durationMs >= 0, "the watch's duration is recorded when it ends");
  },
});

Deno.test({
  name:
    "discovery: /version, /api, /api/v1 resources with verbs and short names, /apis; unknown paths 404",
  ...loose,
  async fn() {
    await using api = await startKubeEmulator();
    const get = async (path: string) => {
      const response = await fetch(`${api.url}${path}`);
      return {
        status: response.status,
        type: response.headers.get("content-type"),
        text: await response.text(),
      };
    };
    assert.equal(JSON.parse((await get("/version")).text).gitVersion, "v1.32.0");
    const versions = JSON.parse((await get("/api")).text);
    assert.deepEqual(versions.versions, ["v1"]);
    assert.equal(versions.serverAddressByClientCIDRs[0].serverAddress, `127.0.0.1:${api.port}`);
    const resources = JSON.parse((await get("/api/v1")).text);
    assert.equal(resources.kind, "APIResourceList");
    const byName = Object.fromEntries(
      resources.resources.map((r: { name: string }) => [r.name, r]),
    );
    assert.deepEqual(byName.pods.shortNames, ["po"]);
    assert.equal(byName.events.kind, "Event");
    assert.ok(byName.events.verbs.includes("patch"));
    assert.equal(byName.namespaces.namespaced, false);
    assert.equal(JSON.parse((await get("/apis")).text).kind, "APIGroupList");
    const unknownResource = await get("/api/v1/secrets");
    assert.equal(unknownResource.status, 404);
    assert.equal(
      JSON.parse(unknownResource.text).message,
      "the server could not find the requested resource",
    );
    const unknownPath = await get("/metrics-nope");
    assert.equal(unknownPath.status, 404);
    assert.equal(unknownPath.text, "404 page not found\n");
    const table = await fetch(`${api.url}/api/v1/namespaces`, {
      headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" },
    });
    const tableBody = await table.json();
    assert.equal(tableBody.kind, "Table");
    assert.deepEqual(tableBody.columnDefinitions.map((c: { name: string }) => c.name), [
      "Name",
      "Status",
      "Age",
    ]);
    assert.equal(tableBody.rows[0].object.kind, "PartialObjectMetadata");
    const protobufOnly = await fetch(`${api.url}/api/v1/namespaces`, {
      headers: { accept: "application/vnd.kubernetes.protobuf" },
    });
    assert.equal(protobufOnly.status, 406);
    await protobufOnly.body?.cancel();
  },
});

Deno.test({
  name: "the CLI serves pods.json and prints its URL and kubeconfig; SIGTERM stops it",
  ...loose,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const podsFile = `${dir}/pods.json`;
      await Deno.writeTextFile(
        podsFile,
        JSON.stringify([
          { namespace: "shop", name: "web-0", nodeName: "node-a", podIPs: ["10.244.1.10"] },
          {
            namespace: "kube-system",
            name: "proxy",
            nodeName: "node-a",
            hostNetwork: true,
            podIPs: ["192.168.0.10"],
          },
        ]),
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./kube_emulator/main.ts", import.meta.url).pathname,
          "--port",
          "0",
          "--pods",
          podsFile,
          "--token",
          "cli",
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const info = JSON.parse(text.split("\n")[0]);
      assert.equal(info.pods, 2);
      assert.match(await Deno.readTextFile(info.kubeconfig), /token: "cli"/);
      const response = await fetch(`${info.url}/api/v1/pods`, {
        headers: { authorization: "Bearer cli" },
      });
      const list = await response.json();
      assert.deepEqual(list.items.map((p: k8s.V1Pod) => p.metadata?.name), ["proxy", "web-0"]);
      assert.equal(list.items[0].spec.hostNetwork, true);
      child.kill("SIGTERM");
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      assert.equal((await child.status).code, 0);
      await assert.rejects(Deno.stat(info.kubeconfig), Deno.errors.NotFound);
      const bad = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./kube_emulator/main.ts", import.meta.url).pathname,
          "--port",
          "x",
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(bad.code, 2);
      assert.match(new TextDecoder().decode(bad.stderr), /--port: not a port number: x/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("client certificates: a valid one of the test CA authenticates the user its CN names; an expired one or none is refused (401)", async () => {
  await using api = await startKubeEmulator({ clientCertificates: true });
  const ca = await testCertificates();
  const rotated = await issueClientCertificate("system:node:node-b");
  const expired = await issueClientCertificate("system:node:node-old", { expired: true });
  const status = async (options: { cert?: string; key?: string }) => {
    using client = Deno.createHttpClient({ caCerts: [ca.caCertPem], ...options });
    const response = await fetch(`${api.url}/api/v1/pods`, { client });
    await response.body?.cancel();
    return [response.status, api.requests.at(-1)?.user];
  };
  assert.deepEqual(
    await status({ cert: ca.clientCertPem, key: ca.clientKeyPem }),
    [200, "kubernetes-admin"],
  );
  assert.deepEqual(await status({ cert: rotated.certPem, key: rotated.keyPem }), [
    200,
    "system:node:node-b",
  ]);
  assert.deepEqual(await status({ cert: expired.certPem, key: expired.keyPem }), [401, undefined]);
  assert.deepEqual(await status({}), [401, undefined]);
});

async function kubectl(api: KubeEmulator, cacheDir: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("kubectl", {
    args: [
      "--kubeconfig",
      api.kubeconfigPath,
      "--cache-dir",
      cacheDir,
      "--request-timeout",
      "20s",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (output.code !== 0) {
    throw new Error(`kubectl ${args.join(" ")} exited ${output.code}: ${stderr}`);
  }
  return stdout;
}

systemTest(
  "kubectl get pods -A lists every pod over HTTPS with a token",
  { needs: ["kubectl"] },
  async () => {
    await using api = await startKubeEmulator({ tls: true, token: "kubectl-token" });
    api.addPod({ namespace: "shop", name: "web-0", nodeName: "node-a", podIPs: ["10.244.1.10"] });
    api.addPod({
      namespace: "shop",
      name: "web-1",
      nodeName: "node-b",
      podIPs: ["10.244.2.11"],
      phase: "Pending",
    });
    api.addPod({
      namespace: "kube-system",
      name: "proxy",
      nodeName: "node-a",
      hostNetwork: true,
      podIPs: ["192.168.0.10"],
    });
    const cache = await Deno.makeTempDir();
    try {
      const out = await kubectl(api, cache, "get", "pods", "-A", "-o", "wide");
      const lines = out.trim().split("\n").map((l) => l.split(/\s{2,}/));
      assert.deepEqual(lines[0].slice(0, 9), [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
      ]);
      assert.deepEqual(lines.slice(1).map((l) => [l[0], l[1], l[2], l[3], l[6], l[7]]), [
        ["kube-system", "proxy", "1/1", "Running", "192.168.0.10", "node-a"],
        ["shop", "web-0", "1/1", "Running", "10.244.1.10", "node-a"],
        ["shop", "web-1", "0/1", "ContainerCreating", "10.244.2.11", "node-b"],
      ]);
      const list = api.requests.find((r) => r.path === "/api/v1/pods")!;
      assert.equal(list.query.limit, "500");
      assert.match(list.headers["accept"], /as=Table/);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
);

systemTest(
  "kubectl authenticates with the kubeconfig's client certificate; a token in its place is refused",
  { needs: ["kubectl"] },
  async () => {
    await using api = await startKubeEmulator({ clientCertificates: true });
    api.addPod({ namespace: "shop", name: "web-0", nodeName: "node-a", podIPs: ["10.244.1.10"] });
    const text = await Deno.readTextFile(api.kubeconfigPath);
    assert.match(text, /client-certificate-data: /);
    assert.match(text, /client-key-data: /);
    const cache = await Deno.makeTempDir();
    try {
      assert.equal(await kubectl(api, cache, "get", "pods", "-A", "-o", "name"), "pod/web-0\n");
      // The same kubeconfig with a token in place of the certificate (with no credentials at all
      // kubectl would prompt for a password): refused.
      await Deno.writeTextFile(
        api.kubeconfigPath,
        text.replace(/^ {4}client-key-data: .*\n/m, "").replace(
          /^ {4}client-certificate-data: .*$/m,
          '    token: "not-a-certificate"',
        ),
      );
      await assert.rejects(
        () => kubectl(api, cache, "get", "pods", "-A", "-o", "name"),
        /must be logged in/,
      );
      assert.equal(api.requests.at(-1)?.status, 401);
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
);

systemTest(
  "kubectl get pods -w prints rows for changes as they happen",
  { needs: ["kubectl"] },
  async () => {
    await using api = await startKubeEmulator();
    api.addPod({ namespace: "w", name: "first", nodeName: "node-a", podIPs: ["10.244.1.1"] });
    const cache = await Deno.makeTempDir();
    const child = new Deno.Command("kubectl", {
      args: [
        "--kubeconfig",
        api.kubeconfigPath,
        "--cache-dir",
        cache,
        "get",
        "pods",
        "-n",
        "w",
        "-w",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`kubectl ended before ${pattern}: ${text}`);
        text += value;
      }
    };
    try {
      await readUntil(/^first\s+1\/1\s+Running/m);
      api.addPod({ namespace: "w", name: "second", nodeName: "node-a", phase: "Pending" });
      api.updatePod("w", "first", { phase: "Failed" });
      await readUntil(/^first\s+0\/1\s+Error/m);
      assert.match(text, /^second\s+0\/1\s+ContainerCreating/m);
      assert.equal(
        text.match(/^NAME\s+READY/gm)?.length,
        1,
        "one header: later Tables carry no columns",
      );
      const watch = api.requests.find((r) => r.watch)!;
      assert.match(watch.headers["accept"], /as=Table/);
    } finally {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(cache, { recursive: true });
    }
  },
);

systemTest(
  "kubectl describe pod shows an Event posted through client-node (type, reason, age with count, from, message)",
  { needs: ["kubectl"] },
  async () => {
    await using api = await startKubeEmulator({ tls: true, token: "describe" });
    const pod = api.addPod({
      namespace: "shop",
      name: "web-0",
      nodeName: "node-a",
      podIPs: ["10.244.1.10"],
    });
    const { core } = clientFor(api);
    const now = Date.now();
    await core.createNamespacedEvent({
      namespace: "shop",
      body: podEvent("shop", "web-0", pod.metadata.uid!, {
        count: 3,
        firstTimestamp: new Date(now - 10 * 60_000),
        lastTimestamp: new Date(now - 30_000),
      }),
    });
    // An event about another pod must not show.
    await core.createNamespacedEvent({
      namespace: "shop",
      body: podEvent("shop", "web-9", "other-uid", { reason: "Elsewhere" }),
    });
    const cache = await Deno.makeTempDir();
    try {
      const out = await kubectl(api, cache, "describe", "pod", "-n", "shop", "web-0");
      assert.match(out, /^Name:\s+web-0$/m);
      assert.match(out, /^IP:\s+10\.244\.1\.10$/m);
      const events = out.slice(out.indexOf("Events:"));
      assert.match(events, /Type\s+Reason\s+Age\s+From\s+Message/);
      assert.match(
        events,
        /Warning\s+PacketDrop\s+\d+s \(x3 over 1\dm\)\s+kube-iptables-tailer\s+Packet dropped when receiving traffic from 10\.244\.9\.9/,
      );
      assert.doesNotMatch(events, /Elsewhere/);
      const search = api.requests.find((r) =>
        r.method === "GET" && r.path === "/api/v1/namespaces/shop/events"
      )!;
      assert.match(search.query.fieldSelector, /involvedObject\.name=web-0/);
      assert.match(
        search.query.fieldSelector,
        new RegExp(`involvedObject\\.uid=${pod.metadata.uid}`),
      );
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
);

systemTest(
  "kubectl get events shows Events with their count and source",
  { needs: ["kubectl"] },
  async () => {
    await using api = await startKubeEmulator();
    const pod = api.addPod({ namespace: "shop", name: "web-0", nodeName: "node-a" });
    const { core } = clientFor(api);
    await core.createNamespacedEvent({
      namespace: "shop",
      body: {
        ...podEvent("shop", "web-0", pod.metadata.uid!, { count: 7 }),
        metadata: { name: "web-0.drop" },
      },
    });
    const cache = await Deno.makeTempDir();
    try {
      const all = await kubectl(api, cache, "get", "events", "-A");
      assert.match(all, /^NAMESPACE\s+LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/m);
      assert.match(all, /^shop\s+\d+s\s+Warning\s+PacketDrop\s+pod\/web-0\s+Packet dropped/m);
      const wide = await kubectl(api, cache, "get", "events", "-n", "shop", "-o", "wide");
      assert.match(
        wide,
        /kube-iptables-tailer, node-a\s+Packet dropped when receiving traffic from 10\.244\.9\.9\s+\d+s\s+7\s+web-0\.drop/,
      );
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
);
