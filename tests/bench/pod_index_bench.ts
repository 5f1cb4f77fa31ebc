/**
 * The pod index at scale, against the Kubernetes API emulator over real HTTP:
 *
 * - heap the index holds at 10 k and 100 k pods (target: < 100 MB at 100 k), measured in a
 *   child process of its own (`--expose-gc`, heap after GC minus the heap before the index
 *   started), so the emulator's objects are not counted;
 * - peak resident memory (VmHWM of `/proc/self/status`) of such a child through the first list
 *   (`resourceVersion=0`: one page of every Pod), streamed as the index reads it, against a
 *   child that reads the same answer whole with `KubeClient.request` and `JSON.parse`s it (how
 *   the index read it before); at 10 k and 100 k emulator Pods (~1.5 KB of JSON each) and at
 *   20 k fat Pods (~10 KB each, like real Pods with managedFields);
 * - peak resident memory of the real program (`main.ts run`) until ready with 100 k Pods
 *   (target: < 256 MB, half the DaemonSet's 512 Mi limit), against the same with no Pods, and
 *   with V8's young generation capped (`--max-semi-space-size=2`: the list's garbage is
 *   short-lived, and V8 otherwise grows that generation to 3 × 16 MB under its allocation rate);
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
import { DaemonProcess } from "../support/daemon.ts";
import type { BenchRow } from "./harness.ts";

/** Resident memory of a child around its first list. */
interface MemoryReport {
  /** Before the list, the client loaded and connected. */
  rssIdleMb: number;
  /** VmHWM after the list: the peak over the process's life, so through the list. */
  peakMb: number;
  /** After the list, its garbage collected. */
  rssAfterMb: number;
}

/** What the index child reports. */
interface ChildReport extends MemoryReport {
  pods: number;
  heapBeforeMb: number;
  heapAfterMb: number;
  readyMs: number;
  hitsPerSecond: number;
  missesPerSecond: number;
}

/** What the buffered-read child reports. */
interface BufferedReport extends MemoryReport {
  items: number;
  bodyMb: number;
}

const MB = 1024 * 1024;

/** A managedFields-sized annotation: real Pods are 5–20 KB of JSON, the emulator's 1.5 KB. */
const FAT = { "example.com/managed-fields-stand-in": "f:".repeat(4_000) };

function podInputs(count: number, from = 0, fat = false): PodInput[] {
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
      ...(fat ? { annotations: FAT } : {}),
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

/** Runs this module as a child in `mode` against `api`; returns its last stdout line. */
async function measureInChild(api: KubeEmulator, mode: "index"): Promise<ChildReport>;
async function measureInChild(api: KubeEmulator, mode: "buffered"): Promise<BufferedReport>;
async function measureInChild(api: KubeEmulator, mode: string): Promise<unknown> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      // V8's default heap limit (a few GB here): what the buffered read needs at 100 k.
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      mode,
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

/** Resident memory of this process (kB lines of /proc/self/status) in MB. */
function procStatusMb(field: "VmRSS" | "VmHWM", pid: number | "self" = "self"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1];
  if (kb === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

/** A client warmed up (credentials, agent, first connection) before anything is measured. */
async function warmClient(kubeconfig: string): Promise<KubeClient> {
  const settings = settingsFor(kubeconfig);
  const client = new KubeClient(loadKubeConfig(settings, {}), settings, silentLogger);
  await client.request("GET", "/version");
  return client;
}

/** The baseline child: the first list read whole and parsed, as the index read it before. */
async function bufferedChild(kubeconfig: string): Promise<void> {
  const client = await warmClient(kubeconfig);
  settledHeap();
  const rssIdleMb = procStatusMb("VmRSS");
  // What KubeClient.request does (readBody), inline to count the answer's bytes.
  const response = await client.stream("GET", "/api/v1/pods", {
    query: { resourceVersion: "0", limit: 500 },
    timeoutMs: 300_000,
  });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    chunks.push(chunk.slice()); // the next chunk may reuse its bytes
    size += chunk.length;
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((at, chunk) => (bytes.set(chunk, at), at + chunk.length), 0);
  chunks.length = 0;
  let list = JSON.parse(new TextDecoder().decode(bytes));
  const items = list.items.length;
  const peakMb = procStatusMb("VmHWM");
  list = undefined;
  settledHeap();
  const report: BufferedReport = {
    items,
    bodyMb: size / MB,
    rssIdleMb,
    peakMb,
    rssAfterMb: procStatusMb("VmRSS"),
  };
  console.log(JSON.stringify(report));
}

/** The index child: builds the index against the emulator, reports memory and lookup speed. */
async function child(kubeconfig: string): Promise<void> {
  const client = await warmClient(kubeconfig);
  const before = settledHeap();
  const rssIdleMb = procStatusMb("VmRSS");
  const index = new PodIndex({ client, log: silentLogger });
  const controller = new AbortController();
  const started = performance.now();
  const done = index.run(controller.signal);
  await index.whenReady();
  const readyMs = performance.now() - started;
  const peakMb = procStatusMb("VmHWM");
  await new Promise((resolve) => setTimeout(resolve, 200)); // the watch is up
  const after = settledHeap();
  const rssAfterMb = procStatusMb("VmRSS");
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
    rssIdleMb,
    peakMb,
    rssAfterMb,
    readyMs,
    hitsPerSecond,
    missesPerSecond,
  };
  controller.abort();
  await done;
  console.log(JSON.stringify(report));
}

/** The row comparing the streamed first list's peak RSS with the read-whole baseline. */
function peakRow(what: string, streamed: ChildReport, whole: BufferedReport): BenchRow {
  const mb = (value: number) => `${value.toFixed(0)} MB`;
  return {
    name: `pod index: peak RSS through the first list, ${what}`,
    value: streamed.peakMb,
    unit: "MB",
    baseline: { name: "read whole + JSON.parse", value: whole.peakMb },
    note: `one ${whole.bodyMb.toFixed(0)} MB answer of ${whole.items} pods; RSS idle ` +
      `${mb(streamed.rssIdleMb)}, after ${mb(streamed.rssAfterMb)} (read whole: idle ` +
      `${mb(whole.rssIdleMb)}, after ${mb(whole.rssAfterMb)}); index ready in ` +
      `${(streamed.readyMs / 1000).toFixed(1)} s`,
  };
}

/**
 * The real program against `api` until /readyz passes; its peak and final RSS in MB.
 * `v8Flags` are passed to Deno as `--v8-flags`.
 */
async function daemonPeak(
  api: KubeEmulator,
  v8Flags?: string,
): Promise<{ peakMb: number; rssMb: number; ms: number }> {
  const dir = await Deno.makeTempDir({ prefix: "kit-bench-pod-index-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const started = performance.now();
  const daemon = new DaemonProcess(
    [
      "run",
      `--iptables-log-path=${log}`,
      "--iptables-log-prefix=calico-packet:",
      `--kubeconfig=${api.kubeconfigPath}`,
      "--metrics-server-port=0",
      `--state-directory=${dir}`,
    ],
    {},
    { denoArgs: ["-A", ...(v8Flags ? [`--v8-flags=${v8Flags}`] : [])] },
  );
  try {
    await daemon.waitFor(
      () => daemon.stderrLines.some((l) => l.includes("serving metrics")),
      30_000,
      "the metrics server",
    );
    const port = Number(
      /port=(\d+)/.exec(daemon.stderrLines.find((l) => l.includes("serving metrics"))!)![1],
    );
    for (let ready = false; !ready;) {
      if (performance.now() - started > 300_000) throw new Error("not ready after 300 s");
      const answer = await fetch(`http://127.0.0.1:${port}/readyz`);
      await answer.body?.cancel();
      ready = answer.ok;
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ms = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the watch is up, GC has run
    const pid = daemon.child.pid;
    return { peakMb: procStatusMb("VmHWM", pid), rssMb: procStatusMb("VmRSS", pid), ms };
  } finally {
    await daemon.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  await using api = await startKubeEmulator({ maxRecordedRequests: 100 });
  let loaded = 0;
  for (const target of [10_000, 100_000]) {
    api.addPods(podInputs(target - loaded, loaded));
    loaded = target;
    await rawList(api); // warm the emulator's serialisation cache
    const report = await measureInChild(api, "index");
    const whole = await measureInChild(api, "buffered");
    const heapMb = report.heapAfterMb - report.heapBeforeMb;
    rows.push({
      name: `pod index: heap at ${target / 1000}k pods`,
      value: heapMb,
      unit: "MB",
      baseline: { name: "the pod list as JSON", value: whole.bodyMb },
      target: target === 100_000 ? "< 100 MB" : undefined,
      met: target === 100_000 ? heapMb < 100 : undefined,
      note: `${report.pods} pods indexed (10% dual-stack); ${
        ((heapMb * MB) / report.pods).toFixed(0)
      } B/pod; ready in ${(report.readyMs / 1000).toFixed(1)} s`,
    });
    rows.push(peakRow(`${target / 1000}k pods`, report, whole));
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
  const daemon = await daemonPeak(api);
  // V8 grows its young generation to 3 × 16 MB under the list's allocation rate.
  const smallYoung = await daemonPeak(api, "--max-semi-space-size=2");
  await api.close();
  const idle = await (async () => {
    await using empty = await startKubeEmulator({ maxRecordedRequests: 100 });
    return await daemonPeak(empty);
  })();
  rows.push({
    name: "daemon: peak RSS until ready, 100k pods",
    value: daemon.peakMb,
    unit: "MB",
    baseline: { name: "the same with no pods", value: idle.peakMb },
    target: "< 256 MB (limit 512 Mi)",
    met: daemon.peakMb < 256,
    note: `the real program (main.ts run, default V8 heap sizing); RSS ${
      daemon.rssMb.toFixed(0)
    } MB once ready; ready in ${(daemon.ms / 1000).toFixed(1)} s`,
  });
  rows.push({
    name: "daemon: peak RSS until ready, 100k pods, --max-semi-space-size=2",
    value: smallYoung.peakMb,
    unit: "MB",
    baseline: { name: "default young generation", value: daemon.peakMb },
    target: "< 256 MB (limit 512 Mi)",
    met: smallYoung.peakMb < 256,
    note: `young generation capped at 2 MB semi-spaces; ready in ${
      (smallYoung.ms / 1000).toFixed(1)
    } s`,
  });

  {
    await using fat = await startKubeEmulator({ maxRecordedRequests: 100 });
    fat.addPods(podInputs(20_000, 0, true));
    await rawList(fat);
    const report = await measureInChild(fat, "index");
    const whole = await measureInChild(fat, "buffered");
    rows.push(peakRow("20k fat pods (~10 KB each)", report, whole));
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
  if (Deno.args[0] === "index") await child(Deno.args[1]);
  else if (Deno.args[0] === "buffered") await bufferedChild(Deno.args[1]);
  else {
    const { renderTable } = await import("./harness.ts");
    console.log(renderTable(await run()));
  }
}
