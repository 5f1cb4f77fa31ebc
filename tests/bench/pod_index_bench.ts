/**
 * The pod index at scale, against the Kubernetes API emulator over real HTTP:
 *
 * - heap the index holds at 10 k and 100 k pods (target: < 100 MB at 100 k), measured in a
 *   child process of its own (`--expose-gc`, heap after GC minus the heap before the index
 *   started), so the emulator's objects are not counted;
 * - time to ready with 50 k pods, with the first list as the index makes it
 *   (`resourceVersion=0`, which the emulator, like the API server's watch cache, answers in one
 *   page) and paginated (`limit=500`, the latest state); the baseline is a raw
 *   `GET /api/v1/pods?limit=500` loop that only counts items (the fastest possible list);
 * - lookups per second (hits and misses) at 100 k pods.
 *
 * Run: `deno run -A tests/bench/main.ts pod_index`.
 * @module
 */

import { KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { PodIndex } from "../../src/kube/pods.ts";
import { silentLogger } from "../../src/log.ts";
import {
  type KubeEmulator,
  type PodInput,
  startKubeEmulator,
} from "../support/kube_emulator/mod.ts";
import type { BenchRow } from "./harness.ts";

/** What the child process reports. */
interface ChildReport {
  pods: number;
  heapBeforeMb: number;
  heapAfterMb: number;
  rssAfterMb: number;
  readyMs: number;
  hitsPerSecond: number;
  missesPerSecond: number;
}

const MB = 1024 * 1024;

function podInputs(count: number, from = 0): PodInput[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const app = `app-${i % 300}`;
    return {
      namespace: `ns-${i % 200}`,
      name: `${app}-7d9c8b6f5-${i.toString(36).padStart(5, "0")}`,
      nodeName: `node-${i % 500}`,
      // One pod in ten is dual-stack.
      podIPs: i % 10 === 0 ? [ipv4(i), `fd00:10::${i.toString(16)}`] : [ipv4(i)],
      labels: { app, "pod-template-hash": "7d9c8b6f5" },
      containers: ["app", "sidecar"],
    };
  });
}

function ipv4(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function settingsFor(kubeconfig: string) {
  return { kubeconfig, kubeApiQps: 50, kubeApiBurst: 100, kubeApiTimeoutSeconds: 30 };
}

/** Lists and watches in this process until ready; returns the time to ready in ms. */
async function timeToReady(api: KubeEmulator, paginated: boolean): Promise<number> {
  const settings = settingsFor(api.kubeconfigPath);
  const client = new KubeClient(loadKubeConfig(settings, {}), settings, silentLogger);
  const index = new PodIndex({ client, log: silentLogger, minBackoffMs: 0, maxBackoffMs: 0 });
  // A 410 on the resourceVersion=0 list makes the index list the latest state, paginated.
  if (paginated) api.faults.failNext({ status: 410, method: "GET", pathPattern: "/api/v1/pods" });
  const controller = new AbortController();
  const started = performance.now();
  const done = index.run(controller.signal);
  await index.whenReady();
  const ms = performance.now() - started;
  controller.abort();
  await done;
  return ms;
}

/** The fastest possible list: pages of 500, parsed, items counted. */
async function rawList(api: KubeEmulator): Promise<{ ms: number; items: number }> {
  const started = performance.now();
  let items = 0;
  let token = "";
  do {
    const url = `${api.url}/api/v1/pods?limit=500${token ? `&continue=${token}` : ""}`;
    const body = await (await fetch(url)).json();
    items += body.items.length;
    token = body.metadata.continue ?? "";
  } while (token);
  return { ms: performance.now() - started, items };
}

async function measureInChild(api: KubeEmulator): Promise<ChildReport> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      "--v8-flags=--expose-gc,--max-old-space-size=4096",
      new URL(import.meta.url).pathname,
      "child",
      api.kubeconfigPath,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const output = await command.output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(`child failed: ${new TextDecoder().decode(output.stderr).slice(-2000)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!);
}

/** Heap used after full collections. */
function settledHeap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run the child with --v8-flags=--expose-gc");
  for (let i = 0; i < 3; i++) gc();
  return Deno.memoryUsage().heapUsed;
}

/** The child: builds the index against the emulator, reports heap and lookup speed. */
async function child(kubeconfig: string): Promise<void> {
  const settings = settingsFor(kubeconfig);
  const client = new KubeClient(loadKubeConfig(settings, {}), settings, silentLogger);
  // Warm the client (credentials, agent, first connection) before the baseline heap.
  await client.request("GET", "/version");
  const before = settledHeap();
  const index = new PodIndex({ client, log: silentLogger });
  const controller = new AbortController();
  const started = performance.now();
  const done = index.run(controller.signal);
  await index.whenReady();
  const readyMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 200)); // the watch is up
  const after = settledHeap();
  const pods = index.size;
  // Probe texts built beforehand: the parser hands lookups ready-made strings.
  const hits = Array.from({ length: 65_536 }, (_, n) => ipv4(n % pods));
  const misses = Array.from({ length: 65_536 }, (_, n) => `192.168.${n >> 8}.${n & 255}`);
  const probes = 2_000_000;
  let found = 0;
  let t = performance.now();
  for (let n = 0; n < probes; n++) if (index.lookup(hits[n & 65_535])) found++;
  const hitsPerSecond = probes / ((performance.now() - t) / 1000);
  if (found !== probes) throw new Error(`only ${found} of ${probes} lookups hit`);
  t = performance.now();
  for (let n = 0; n < probes; n++) if (index.lookup(misses[n & 65_535])) found++;
  const missesPerSecond = probes / ((performance.now() - t) / 1000);
  if (found !== probes) throw new Error("a lookup outside the pod range hit");
  const report: ChildReport = {
    pods,
    heapBeforeMb: before / MB,
    heapAfterMb: after / MB,
    rssAfterMb: Deno.memoryUsage().rss / MB,
    readyMs,
    hitsPerSecond,
    missesPerSecond,
  };
  controller.abort();
  await done;
  console.log(JSON.stringify(report));
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  await using api = await startKubeEmulator({ maxRecordedRequests: 100 });
  let loaded = 0;
  for (const target of [10_000, 100_000]) {
    api.addPods(podInputs(target - loaded, loaded));
    loaded = target;
    await rawList(api); // warm the emulator's serialisation cache
    const report = await measureInChild(api);
    const heapMb = report.heapAfterMb - report.heapBeforeMb;
    rows.push({
      name: `pod index: heap at ${target / 1000}k pods`,
      value: heapMb,
      unit: "MB",
      target: target === 100_000 ? "< 100 MB" : undefined,
      met: target === 100_000 ? heapMb < 100 : undefined,
      note:
        `${report.pods} pods indexed (10% dual-stack); ${
          ((heapMb * MB) / report.pods).toFixed(0)
        } B/pod; child RSS after ready ${report.rssAfterMb.toFixed(0)} MB (the first list is one ` +
        `resourceVersion=0 answer); ready in ${(report.readyMs / 1000).toFixed(1)} s`,
    });
    if (target === 100_000) {
      rows.push({
        name: "pod index: lookups at 100k pods (hit)",
        value: report.hitsPerSecond,
        unit: "lookups/s",
      });
      rows.push({
        name: "pod index: lookups at 100k pods (miss)",
        value: report.missesPerSecond,
        unit: "lookups/s",
      });
    }
  }

  await using api50 = await startKubeEmulator({ maxRecordedRequests: 100 });
  api50.addPods(podInputs(50_000));
  await rawList(api50);
  const baseline = await rawList(api50);
  const whole = await timeToReady(api50, false);
  const paged = await timeToReady(api50, true);
  rows.push({
    name: "pod index: time to ready, 50k pods (resourceVersion=0, one page)",
    value: whole / 1000,
    unit: "s",
    baseline: { name: "raw limit=500 list loop", value: baseline.ms / 1000 },
    note: `${baseline.items} items; same process as the emulator`,
  });
  rows.push({
    name: "pod index: time to ready, 50k pods (latest state, limit=500)",
    value: paged / 1000,
    unit: "s",
    baseline: { name: "raw limit=500 list loop", value: baseline.ms / 1000 },
    note: "100 pages; includes one 410 answer that redirects the list",
  });
  return rows;
}

if (import.meta.main) {
  if (Deno.args[0] === "child") await child(Deno.args[1]);
  else {
    const { renderTable } = await import("./harness.ts");
    console.log(renderTable(await run()));
  }
}
