/**
 * What the pod index holds in memory, measured in a child process of its own (see
 * tests/support/pod_index_heap.ts): the heap per indexed Pod, and what the first list holds
 * besides the index. `deno task bench pod_index` measures the same at 100 k Pods, with RSS.
 */
import assert from "node:assert/strict";
import { type PodInput, startKubeEmulator } from "../support/kube_emulator/mod.ts";
import type { PodIndexHeap } from "../support/pod_index_heap.ts";

const PODS = 20_000;

function pods(): PodInput[] {
  return Array.from({ length: PODS }, (_, i) => ({
    namespace: `ns-${i % 50}`,
    name: `web-7d9c8b6f5-${i.toString(36).padStart(5, "0")}`,
    nodeName: `node-${i % 100}`,
    podIPs: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
  }));
}

async function measure(kubeconfig: string): Promise<PodIndexHeap> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
      "--v8-flags=--expose-gc",
      new URL("../support/pod_index_heap.ts", import.meta.url).pathname,
      kubeconfig,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.ok(output.success, decoder.decode(output.stderr));
  return JSON.parse(decoder.decode(output.stdout).trim().split("\n").at(-1)!);
}

Deno.test("pod index memory: a Pod costs its strings, one record, an exact IP list and its table slots; the first list holds nothing more", async () => {
  await using api = await startKubeEmulator({ maxRecordedRequests: 10 });
  api.addPods(pods());
  const heap = await measure(api.kubeconfigPath);
  assert.equal(heap.pods, PODS);
  // ~400 B: name, uid and IP texts, the record, its IP list, two map slots. An IP list grown by
  // `push` keeps room for 17 IPs (530 B a Pod).
  assert.ok(heap.bytesPerPod < 460, `${heap.bytesPerPod} B per Pod`);
  // A set of the uids the list named would hold 33 B a Pod (660 kB here).
  assert.ok(heap.heldAtListEnd < 250_000, `${heap.heldAtListEnd} B held at the list's end`);
});
