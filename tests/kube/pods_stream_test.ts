/**
 * PodIndex reading list pages as they arrive (over real HTTP, the emulator behind a rewriting
 * proxy): the one-page first list is indexed item by item before the answer ends; a page cut
 * halfway is retried; an oversized Pod is skipped and counted; the list's metadata may come
 * after its items; a 200 that is not JSON is a bad answer.
 */
import assert from "node:assert/strict";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import {
  converge,
  type Harness,
  ipv4,
  isList,
  jsonResponse,
  listRequests,
  ready,
  rejectedMetric,
  startHarness,
  startProxy,
  waitFor,
  watchRequests,
} from "./pods_support.ts";

const encoder = new TextEncoder();

async function setup(pods: number) {
  const api = await startKubeEmulator();
  api.addPods(Array.from({ length: pods }, (_, i) => ({
    namespace: `ns-${i % 3}`,
    name: `pod-${i}`,
    podIPs: [ipv4(i + 1)],
  })));
  const proxy = startProxy(api.url);
  return { api, proxy };
}

/** The upstream list's text split after its `n`th item (its items as separate strings). */
async function splitAfter(upstream: () => Promise<Response>, n: number) {
  const list = await (await upstream()).json();
  const items: string[] = list.items.map((item: unknown) => JSON.stringify(item));
  const head = `{"kind":"PodList","apiVersion":"v1","metadata":${
    JSON.stringify(list.metadata)
  },"items":[${items.slice(0, n).join(",")},`;
  const tail = `${items.slice(n).join(",")}]}`;
  return { head, tail, count: items.length };
}

Deno.test("pod index streaming: the first list's one page is indexed while it arrives", async () => {
  const { api, proxy } = await setup(300);
  await using _api = api;
  await using _proxy = proxy;
  const started: { h?: Harness } = {};
  let heldBack = "";
  const sizeMidway: number[] = [];
  proxy.rules.push({
    match: isList,
    async respond(upstream) {
      const { head, tail } = await splitAfter(upstream, 200);
      heldBack = tail;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(head));
        },
        async pull(controller) {
          // The rest only once the index holds the first 200 Pods of the unfinished answer.
          await waitFor("the first 200 pods", () => (started.h?.index.size ?? 0) >= 200);
          sizeMidway.push(started.h!.index.size);
          assert.equal(started.h!.index.ready, false, "not ready in the middle of the list");
          controller.enqueue(encoder.encode(tail));
          controller.close();
        },
      });
      return new Response(body, { headers: { "Content-Type": "application/json" } });
    },
  });
  await using h = started.h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  assert.ok(heldBack.length > 0);
  assert.deepEqual(sizeMidway, [200], "exactly the items that had arrived were indexed");
  assert.equal(h.index.size, 300);
  assert.equal(listRequests(api).length, 1, "one list, one page");
  assert.equal(h.index.stats.listPages, 1);
  await converge(h.index, api);
});

Deno.test("pod index streaming: a page cut halfway is a transport failure; the list is retried and replaces the index", async () => {
  const { api, proxy } = await setup(120);
  await using _api = api;
  await using _proxy = proxy;
  proxy.rules.push({
    match: isList,
    async respond(upstream) {
      const { head } = await splitAfter(upstream, 60);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(head));
        },
        pull(controller) {
          controller.error(new Error("upstream reset"));
        },
      });
      return new Response(body, { headers: { "Content-Type": "application/json" } });
    },
  });
  await using h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  assert.equal(h.index.stats.restarts.error, 1);
  assert.equal(h.index.stats.lists, 1);
  assert.ok(
    h.lines.some((l) => l.includes("pod list failed") && l.includes("first page: answer cut")),
    h.lines.join("\n"),
  );
  assert.deepEqual(h.index.stats.rejected, {}, "a cut is not a bad answer");
  await converge(h.index, api);
});

Deno.test("pod index streaming: a Pod over maxItemBytes is skipped, counted and logged; the rest is indexed", async () => {
  const { api, proxy } = await setup(50);
  await using _api = api;
  await using _proxy = proxy;
  api.addPod({
    namespace: "fat",
    name: "managed-fields",
    podIPs: ["10.200.0.1"],
    annotations: { big: "x".repeat(20_000) },
  });
  await using h = await startHarness({
    api,
    client: { server: proxy.url },
    index: { maxItemBytes: 16_000 },
  });
  await ready(h.index);
  assert.equal(h.index.size, 50);
  assert.equal(h.index.lookup("10.200.0.1"), undefined);
  assert.deepEqual(h.index.stats.rejected, { oversized: 1 });
  assert.deepEqual(await rejectedMetric(h.metrics), { oversized: 1 });
  const logged = h.lines.filter((l) => l.includes("reason=oversized"));
  assert.equal(logged.length, 1);
  // The emulator lists in key order: fat/… before ns-0/….
  assert.match(logged[0], /item 0 of page 1 has 2\d{4} bytes/);
  // Its watch events are another matter: small again, it is indexed.
  api.updatePod("fat", "managed-fields", { annotations: {} });
  await waitFor("the slimmed pod", () => h.index.lookup("10.200.0.1") !== undefined);
});

Deno.test("pod index streaming: metadata after the items; a 200 that is not JSON is a bad answer", async () => {
  const { api, proxy } = await setup(30);
  await using _api = api;
  await using _proxy = proxy;
  proxy.rules.push(
    {
      match: isList,
      respond: () =>
        new Response("<html>maintenance</html>", { headers: { "Content-Type": "text/html" } }),
    },
    {
      match: isList,
      async respond(upstream) {
        const list = await (await upstream()).json();
        const reordered = `{"items":${JSON.stringify(list.items)},"metadata":${
          JSON.stringify(list.metadata)
        },"apiVersion":"v1","kind":"PodList"}`;
        return jsonResponse(reordered);
      },
    },
  );
  await using h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  assert.equal(proxy.rules.length, 0);
  assert.deepEqual(h.index.stats.rejected, { bad_list: 1 });
  assert.ok(h.lines.some((l) => l.includes("not JSON (Content-Type text/html)")));
  await waitFor("the watch", () => watchRequests(api).length > 0);
  assert.equal(
    watchRequests(api)[0].query.resourceVersion,
    api.resourceVersion,
    "the watch starts at the version the metadata gave, after the items",
  );
  await converge(h.index, api);
});

Deno.test("pod index streaming: an over-long watch line is skipped and counted; the same watch goes on", async () => {
  const { api, proxy } = await setup(5);
  await using _api = api;
  await using _proxy = proxy;
  await using h = await startHarness({ api, index: { maxItemBytes: 16_000 } });
  await ready(h.index);
  await waitFor("the watch", () => watchRequests(api).length === 1);
  // 40 000 characters: over the limit, split over several chunks of the stream.
  api.updatePod("ns-0", "pod-0", { annotations: { big: "y".repeat(40_000) } });
  api.addPod({ namespace: "late", name: "after", podIPs: ["10.201.0.1"] });
  await waitFor("the pod after it", () => h.index.lookup("10.201.0.1") !== undefined);
  assert.deepEqual(h.index.stats.rejected, { oversized: 1 });
  assert.deepEqual(await rejectedMetric(h.metrics), { oversized: 1 });
  assert.ok(
    h.lines.some((l) => /reason=oversized where="watch event" detail="a line of 4\d{4} /.test(l)),
  );
  assert.equal(watchRequests(api).length, 1, "no new watch");
  assert.equal(listRequests(api).length, 1, "no new list");
  // Small again: the next event brings it up to date.
  api.updatePod("ns-0", "pod-0", { annotations: {}, nodeName: "node-x" });
  await waitFor("the slimmed pod", () => h.index.lookup(ipv4(1))?.nodeName === "node-x");
});
