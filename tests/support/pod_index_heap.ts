/**
 * Run as a child with `--v8-flags=--expose-gc` and a kubeconfig path: builds a pod index against
 * that API server and prints, as one JSON line, what the index holds in V8's heap (after full
 * collections, so only live objects count):
 *
 * - `pods`: Pods indexed;
 * - `bytesPerPod`: the heap the ready index holds, per Pod;
 * - `heldAtListEnd`: bytes the first list holds on top of the index when it ends (measured when
 *   the index logs "listed pods", while the list's own state is still in scope).
 *
 * Used by tests/kube/pods_memory_test.ts; a process of its own keeps the emulator's objects and
 * the test runner's out of the numbers.
 * @module
 */

import { KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { PodIndex } from "../../src/kube/pods.ts";
import { createLogger, silentLogger } from "../../src/log.ts";

/** What the child prints. */
export interface PodIndexHeap {
  pods: number;
  bytesPerPod: number;
  heldAtListEnd: number;
}

function settledHeap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --v8-flags=--expose-gc");
  for (let i = 0; i < 3; i++) gc();
  return Deno.memoryUsage().heapUsed;
}

if (import.meta.main) {
  const settings = {
    kubeconfig: Deno.args[0],
    kubeApiQps: 50,
    kubeApiBurst: 100,
    kubeApiTimeoutSeconds: 30,
  };
  const client = new KubeClient(loadKubeConfig(settings, {}), settings, silentLogger);
  await client.request("GET", "/version"); // credentials, connection: not the index's
  let atListEnd: number | undefined;
  const log = createLogger({
    level: "info",
    format: "text",
    write: (line) => {
      if (atListEnd === undefined && line.includes("listed pods")) atListEnd = settledHeap();
    },
  });
  const before = settledHeap();
  const index = new PodIndex({ client, log });
  const controller = new AbortController();
  const done = index.run(controller.signal);
  await index.whenReady();
  const after = settledHeap();
  controller.abort();
  await done;
  client.close();
  const report: PodIndexHeap = {
    pods: index.size,
    bytesPerPod: Math.round((after - before) / index.size),
    heldAtListEnd: atListEnd! - after,
  };
  console.log(JSON.stringify(report));
}
