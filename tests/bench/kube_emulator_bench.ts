/**
 * The Kubernetes API emulator at the scale the benchmarks of the product need: 100 k pods
 * loaded, listed in pages of 500 (raw HTTP and through client-node, which also deserialises),
 * one whole `resourceVersion=0` list, pod changes fanned out to a watch, and Event creates
 * through client-node. Baseline for the paginated list: `JSON.parse` of the same bytes in this
 * process (what any client pays at least).
 */
import * as k8s from "@kubernetes/client-node";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import type { BenchRow } from "./harness.ts";

const PODS = 100_000;

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  await using api = await startKubeEmulator();
  let t = performance.now();
  api.addPods(
    Array.from({ length: PODS }, (_, i) => ({
      namespace: `ns-${i % 50}`,
      name: `pod-${i}`,
      nodeName: `node-${i % 100}`,
      podIPs: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
      labels: { app: `app-${i % 10}` },
    })),
  );
  rows.push({ name: "emulator: load 100k pods", value: performance.now() - t, unit: "ms" });

  // Warm the per-object JSON cache once, as a long-running emulator would have it.
  const pages: string[] = [];
  let cont = "";
  do {
    const text =
      await (await fetch(`${api.url}/api/v1/pods?limit=500${cont ? `&continue=${cont}` : ""}`))
        .text();
    pages.push(text);
    cont = JSON.parse(text).metadata.continue ?? "";
  } while (cont);
  const bytes = pages.reduce((n, p) => n + p.length, 0);

  t = performance.now();
  let items = 0;
  cont = "";
  do {
    const body =
      await (await fetch(`${api.url}/api/v1/pods?limit=500${cont ? `&continue=${cont}` : ""}`))
        .json();
    items += body.items.length;
    cont = body.metadata.continue ?? "";
  } while (cont);
  const listMs = performance.now() - t;
  t = performance.now();
  for (const page of pages) JSON.parse(page);
  const parseMs = performance.now() - t;
  rows.push({
    name: "emulator: list 100k pods, limit 500 (fetch)",
    value: listMs,
    unit: "ms",
    baseline: { name: "JSON.parse of the same pages", value: parseMs },
    note: `${items} items, ${pages.length} pages, ${(bytes / 1e6).toFixed(0)} MB`,
  });

  const kc = new k8s.KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  t = performance.now();
  let continueToken: string | undefined;
  items = 0;
  do {
    const page = await core.listPodForAllNamespaces({ limit: 500, _continue: continueToken });
    items += page.items.length;
    continueToken = page.metadata?._continue;
  } while (continueToken);
  rows.push({
    name: "emulator: list 100k pods, limit 500 (client-node)",
    value: performance.now() - t,
    unit: "ms",
    note: `${items} items, with client-node's model deserialisation`,
  });

  t = performance.now();
  const whole = await (await fetch(`${api.url}/api/v1/pods?resourceVersion=0`)).text();
  rows.push({
    name: "emulator: one resourceVersion=0 list of 100k pods",
    value: performance.now() - t,
    unit: "ms",
    note: `${(whole.length / 1e6).toFixed(0)} MB`,
  });

  const changes = 20_000;
  const response = await fetch(
    `${api.url}/api/v1/pods?watch=1&resourceVersion=${api.resourceVersion}`,
  );
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  t = performance.now();
  for (let i = 0; i < changes; i++) {
    api.updatePod(`ns-${i % 50}`, `pod-${i}`, { labels: { app: "changed" } });
  }
  let lines = 0;
  while (lines < changes) {
    const { value, done } = await reader.read();
    if (done) break;
    for (const ch of value) if (ch === "\n") lines++;
  }
  const watchMs = performance.now() - t;
  await reader.cancel();
  rows.push({
    name: "emulator: pod updates delivered to a watch",
    value: (lines / watchMs) * 1000,
    unit: "events/s",
    note: `${lines} MODIFIED events`,
  });

  api.addNamespace("bench");
  const creates = 500;
  t = performance.now();
  for (let i = 0; i < creates; i++) {
    await core.createNamespacedEvent({
      namespace: "bench",
      body: {
        metadata: { generateName: "pod." },
        involvedObject: { kind: "Pod", namespace: "bench", name: "pod" },
        reason: "PacketDrop",
        message: "bench",
        type: "Warning",
        source: { component: "bench" },
        count: 1,
        firstTimestamp: new Date(),
        lastTimestamp: new Date(),
      },
    });
  }
  rows.push({
    name: "emulator: Event creates via client-node (sequential)",
    value: (creates / (performance.now() - t)) * 1000,
    unit: "events/s",
  });
  return rows;
}
