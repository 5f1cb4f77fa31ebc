/**
 * PodIndex fed answers a healthy API server never gives (through a rewriting HTTP proxy in
 * front of the emulator): garbage JSON, lists without an items array, pods without metadata,
 * undecodable watch lines, unknown event types, error answers that are not Statuses. Each is
 * logged and counted; none crashes the loop or corrupts the index.
 */
import assert from "node:assert/strict";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import {
  converge,
  ipv4,
  isList,
  isWatch,
  jsonResponse,
  listRequests,
  ready,
  rejectedMetric,
  startHarness,
  startProxy,
  waitFor,
  watchRequests,
  watchWithPrefix,
} from "./pods_support.ts";

async function setup(pods = 20) {
  const api = await startKubeEmulator();
  api.addPods(Array.from({ length: pods }, (_, i) => ({
    namespace: `ns-${i % 3}`,
    name: `pod-${i}`,
    podIPs: [ipv4(i + 1)],
  })));
  const proxy = startProxy(api.url);
  return { api, proxy };
}

Deno.test("pod index bad answers: garbage JSON, items not an array, no resourceVersion → counted, retried, then listed", async () => {
  const { api, proxy } = await setup();
  await using _api = api;
  await using _proxy = proxy;
  proxy.rules.push(
    { match: isList, respond: () => jsonResponse('{"kind":"PodList","items":[{') },
    {
      match: isList,
      respond: () => jsonResponse({ metadata: { resourceVersion: "5" }, items: {} }),
    },
    { match: isList, respond: () => jsonResponse({ metadata: {}, items: [] }) },
    { match: isList, respond: () => jsonResponse([1, 2, 3]) },
    {
      match: isList,
      respond: () => new Response("<html>bad gateway</html>", { status: 502 }),
    },
  );
  await using h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  assert.equal(proxy.rules.length, 0, "every bad answer was served");
  assert.equal(h.index.stats.rejected.bad_list, 4);
  assert.deepEqual(await rejectedMetric(h.metrics), h.index.stats.rejected);
  assert.equal(h.index.stats.restarts.error, 5);
  const warnings = h.lines.filter((l) => l.includes("pod list answer unusable"));
  assert.equal(warnings.length, 4);
  assert.ok(warnings.some((l) => l.includes("not a JSON object")));
  assert.ok(warnings.some((l) => l.includes("items") && l.includes("not an array")));
  assert.ok(warnings.some((l) => l.includes("no metadata.resourceVersion")));
  assert.ok(h.lines.some((l) => l.includes("pod list failed") && l.includes("HTTP 502")));
  await converge(h.index, api);
});

Deno.test("pod index bad answers: unusable items in a list page are skipped and counted; the rest is indexed", async () => {
  const { api, proxy } = await setup();
  await using _api = api;
  await using _proxy = proxy;
  proxy.rules.push({
    match: isList,
    async respond(upstream) {
      const list = await (await upstream()).json();
      list.items.push(
        {},
        { metadata: { name: "x", namespace: "y" } },
        "a string",
        null,
        {
          metadata: { name: "odd-ip", namespace: "y", uid: "u-odd" },
          status: { phase: "Running", podIPs: [{ ip: "10.250.0.1" }, { ip: "10.250.0.300" }] },
        },
      );
      return jsonResponse(list);
    },
  });
  await using h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  assert.deepEqual(h.index.stats.rejected, {
    no_metadata: 1,
    no_uid: 1,
    not_an_object: 2,
    bad_ip: 1,
  });
  assert.deepEqual(await rejectedMetric(h.metrics), h.index.stats.rejected);
  assert.equal(h.index.lookup("10.250.0.1")?.name, "odd-ip", "its good IP is indexed");
  assert.equal(h.index.size, 21);
  const logged = h.lines.filter((l) => l.includes("unusable pod object"));
  assert.equal(logged.length, 5);
  assert.ok(logged.some((l) => l.includes("reason=no_uid") && l.includes("pod=y/x")));
  assert.ok(logged.some((l) => l.includes("reason=bad_ip") && l.includes("10.250.0.300")));
  // The next list (after a compaction) drops what is not in the cluster.
  api.compact();
  api.faults.closeWatches();
  await waitFor("the new list", () => h.index.stats.lists === 2);
  await converge(h.index, api);
});

Deno.test("pod index bad answers: an undecodable watch line ends the watch; it resumes from the last good version and loses nothing", async () => {
  const { api, proxy } = await setup();
  await using _api = api;
  await using _proxy = proxy;
  await using h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  await waitFor("the watch", () => watchRequests(api).length === 1);
  const lastSeen = api.resourceVersion;
  proxy.rules.push({
    match: isWatch,
    respond: (upstream) => watchWithPrefix(upstream, ['{"type":"ADDED","object":{"metad']),
  });
  api.faults.closeWatches();
  // Made while disconnected: the garbled stream would carry it, the next one must.
  api.addPod({ namespace: "late", name: "p", podIPs: ["10.251.0.1"] });
  await waitFor("the pod", () => h.index.lookup("10.251.0.1") !== undefined);
  const resumed = watchRequests(api).slice(1).map((r) => r.query.resourceVersion);
  assert.deepEqual(resumed, [lastSeen, lastSeen], "twice from the same version");
  assert.equal(h.index.stats.rejected.bad_json, 1);
  assert.deepEqual(await rejectedMetric(h.metrics), { bad_json: 1 });
  assert.ok(h.lines.some((l) => l.includes("undecodable pod watch event")));
  assert.equal(listRequests(api).length, 1);
  await converge(h.index, api);
});

Deno.test("pod index bad answers: unusable watch events are skipped and counted; the watch goes on", async () => {
  const { api, proxy } = await setup();
  await using _api = api;
  await using _proxy = proxy;
  await using h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  await waitFor("the watch", () => watchRequests(api).length === 1);
  proxy.rules.push({
    match: isWatch,
    respond: (upstream) =>
      watchWithPrefix(upstream, [
        '{"type":"ADDED","object":{"kind":"Pod"}}',
        '{"type":"MODIFIED","object":{"metadata":{"name":"n","namespace":"a"}}}',
        '{"type":"DELETED","object":{"metadata":{"name":"pod-0","namespace":"ns-0"}}}',
        '{"type":"SURPRISE","object":{"metadata":{"resourceVersion":"1"}}}',
        '{"type":"BOOKMARK","object":{"metadata":{}}}',
        '{"object":{}}',
      ]),
  });
  const watches = watchRequests(api).length;
  api.faults.closeWatches();
  api.addPod({ namespace: "late", name: "p", podIPs: ["10.252.0.1"] });
  await waitFor("the pod", () => h.index.lookup("10.252.0.1") !== undefined);
  assert.equal(watchRequests(api).length, watches + 1, "one watch carried it all");
  assert.deepEqual(h.index.stats.rejected, {
    no_metadata: 1,
    no_uid: 2,
    bad_event: 3,
  });
  assert.deepEqual(await rejectedMetric(h.metrics), h.index.stats.rejected);
  assert.equal(h.index.lookup(ipv4(1))?.name, "pod-0", "a DELETED without uid removes nothing");
  await converge(h.index, api);
});

Deno.test("pod index bad answers: watch ERROR events and refusals → resume or list again as they say", async () => {
  const { api, proxy } = await setup();
  await using _api = api;
  await using _proxy = proxy;
  await using h = await startHarness({ api, client: { server: proxy.url } });
  await ready(h.index);
  await waitFor("the watch", () => watchRequests(api).length === 1);
  const lastSeen = api.resourceVersion;
  // An internal error Status on the stream: resume from the same version.
  proxy.rules.push({
    match: isWatch,
    respond: (upstream) =>
      watchWithPrefix(upstream, [
        JSON.stringify({
          type: "ERROR",
          object: { kind: "Status", status: "Failure", code: 500, message: "etcd hiccup" },
        }),
      ]),
  });
  api.faults.closeWatches();
  await waitFor("the resumed watch", () => watchRequests(api).length >= 3);
  assert.deepEqual(watchRequests(api).slice(1, 3).map((r) => r.query.resourceVersion), [
    lastSeen,
    lastSeen,
  ]);
  assert.ok(h.lines.some((l) => l.includes("etcd hiccup")));
  assert.equal(listRequests(api).length, 1);
  // A refusal that is not a Status (a proxy's error page), then HTTP 410 on the watch request.
  proxy.rules.push({
    match: isWatch,
    respond: () => new Response("upstream connect error", { status: 503 }),
  });
  api.faults.failNext({ status: 410, method: "GET", pathPattern: "/api/v1/pods" });
  const before = watchRequests(api).length;
  api.faults.closeWatches();
  await waitFor("a new list", () => listRequests(api).length === 2);
  assert.ok(h.lines.some((l) => l.includes("pod watch refused") && l.includes("HTTP 503")));
  assert.equal(watchRequests(api)[before].status, 410);
  assert.equal(h.index.stats.restarts.expired, 1);
  await converge(h.index, api);
});
