/**
 * 410 storms: for 8 s the emulator compacts its history and cuts the open watches five times a
 * second while Pods churn (deleted and replaced by new Pods on the same IP, moved to other IPs)
 * and drops keep coming. Every re-watch from the last seen resourceVersion meets 410 Gone and
 * must list again.
 *
 * What must hold: no Event lands on a Pod that never owned the drop's source IP; after the
 * storm the pod index converges (a drop from each IP lands on its current owner, the index
 * holds exactly the Pods that exist), and the restarts are counted as `expired`.
 */
import assert from "node:assert/strict";
import { kernelLine, portOf, SEQ_HOST, tcpDrop } from "../support/faults/drops.ts";
import { byLabel, sumOf } from "../support/faults/metrics.ts";
import { sleep, Tailer } from "../support/faults/tailer.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";

const IPS = Array.from({ length: 20 }, (_, i) => `10.244.9.${i + 1}`);
const PODS = 12;
const STORM_MS = 8000;
const TICK_MS = 200;

Deno.test("410 storm while Pods churn: Events only on owners, the index converges, restarts counted", async () => {
  const api = await startKubeEmulator({});
  api.addPod({
    namespace: "kube-system",
    name: "agent-h",
    podIPs: [SEQ_HOST],
    hostNetwork: true,
    nodeName: "node-h",
  });
  /** Every uid that ever owned an IP, and the current owner's name by IP. */
  const owners = new Map<string, Set<string>>();
  const current = new Map<string, string>();
  let serial = 0;
  const add = (ip: string) => {
    const name = `churn-${serial++}`;
    const pod = api.addPod({ namespace: "churn", name, podIPs: [ip], nodeName: "node-1" });
    if (!owners.has(ip)) owners.set(ip, new Set());
    owners.get(ip)!.add(pod.metadata.uid!);
    current.set(ip, name);
  };
  for (const ip of IPS.slice(0, PODS)) add(ip);

  const dir = await Deno.makeTempDir({ prefix: "kit-faults-410-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const tailer = await Tailer.start({
    log,
    kubeconfig: api.kubeconfigPath,
    args: [
      "--kube-api-qps=200",
      "--kube-api-burst=200",
      "--event-spam-burst=1000",
      "--repeated-events-interval-minutes=0",
    ],
    waitFor: "ready",
  });
  const sourceOf = new Map<number, string>();
  let port = 0;
  const drop = (ip: string) => {
    port++;
    sourceOf.set(port, ip);
    return Deno.writeTextFile(log, kernelLine(tcpDrop(ip, SEQ_HOST, port)), { append: true });
  };
  const random = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)];
  try {
    let compactions = 0;
    let cut = 0;
    const stormStart = performance.now();
    while (performance.now() - stormStart < STORM_MS) {
      // Replace a Pod by a new one on the same IP.
      const reused = random([...current.keys()]);
      api.deletePod("churn", current.get(reused)!);
      add(reused);
      // Move a Pod to a free IP.
      const moved = random([...current.keys()]);
      const free = random(IPS.filter((ip) => !current.has(ip)));
      const name = current.get(moved)!;
      const pod = api.updatePod("churn", name, { podIPs: [free] });
      current.delete(moved);
      current.set(free, name);
      if (!owners.has(free)) owners.set(free, new Set());
      owners.get(free)!.add(pod.metadata.uid!);
      await drop(random([...current.keys()]));
      api.compact();
      compactions++;
      cut += api.faults.closeWatches();
      await sleep(TICK_MS);
    }
    const stormPorts = port;
    // The storm's last blow: after it the index can only go on by listing again, and the list
    // (logged with its resourceVersion) shows it has caught up with the cluster.
    const stormEnd = Date.now();
    const finalVersion = Number(api.resourceVersion);
    api.compact();
    api.faults.closeWatches();
    const listedAt = () =>
      tailer.stderrLines.map((l) => /listed pods .*resourceVersion=(\d+)/.exec(l)?.[1])
        .filter((v) => v !== undefined).map(Number);
    await tailer.until(
      "the pod index to list the cluster as it is after the storm",
      () => listedAt().some((v) => v >= finalVersion),
      45_000,
    );
    await tailer.until(
      "the index size to match the cluster",
      async () =>
        sumOf(await tailer.metrics(), "kube_iptables_tailer_pod_index_size") === api.pods().length,
    );
    const converged = (Date.now() - stormEnd) / 1000;

    // Every storm-time Event is on a Pod that owned its source IP at some point.
    await tailer.until("the storm's drops to be handled", async () => {
      const m = await tailer.metrics();
      return sumOf(m, "packet_drops_count") === stormPorts &&
        sumOf(m, "kube_iptables_tailer_event_queue_depth") === 0;
    });
    for (const event of api.events("churn")) {
      const ip = sourceOf.get(portOf(event.message ?? "")!)!;
      assert.ok(
        owners.get(ip)?.has(event.involvedObject.uid!),
        `${event.involvedObject.name} never owned ${ip} (${event.message})`,
      );
    }
    const stormEvents = api.events("churn").length;

    // After the storm: a drop from each IP lands on its current owner.
    const probes = new Map<number, string>();
    for (const [ip, name] of current) {
      await drop(ip);
      probes.set(port, name);
    }
    await tailer.until(
      "the probe Events",
      () => api.events("churn").length === stormEvents + probes.size,
    );
    const uids = new Map(api.pods("churn").map((p) => [p.metadata.name, p.metadata.uid]));
    for (const event of api.events("churn")) {
      const expected = probes.get(portOf(event.message ?? "")!);
      if (expected === undefined) continue;
      assert.equal(event.involvedObject.name, expected, event.message);
      assert.equal(event.involvedObject.uid, uids.get(expected));
    }
    const metrics = await tailer.metrics();
    const restarts = byLabel(metrics, "kube_iptables_tailer_watch_restarts_total", "reason");
    assert.ok((restarts.expired ?? 0) >= 1, `410s counted as expired: ${JSON.stringify(restarts)}`);
    assert.equal(tailer.logged("unexpected error"), 0);
    assert.equal(tailer.exited, undefined);
    const lists = api.requests.filter((r) =>
      r.path === "/api/v1/pods" && r.query.watch !== "true" && r.status === 200
    ).length;
    const gone = api.requests.filter((r) =>
      r.path === "/api/v1/pods" && r.status === 410
    ).length;
    const { code } = await tailer.stop();
    assert.equal(code, 0);
    console.log(
      `held: 410 storm — ${compactions} compactions and ${cut} cut watches in ${
        STORM_MS / 1000
      } s while ${serial - PODS} Pods were replaced on their IPs and as many moved; ` +
        `restarts ${JSON.stringify(restarts)}, ${lists} lists, ${gone} 410 answers; ` +
        `${stormEvents} storm Events all on an owner of their IP; converged ${
          converged.toFixed(1)
        } s after the storm, ${probes.size}/${probes.size} probe Events on the current owner`,
    );
  } finally {
    await tailer.kill();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
