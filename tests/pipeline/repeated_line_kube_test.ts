/**
 * rsyslog's `message repeated N times` line through the whole Kubernetes half: pipeline, sink,
 * recorder, and the API emulator over real HTTP, with the repeat filter off (each of the N drops
 * is acted on).
 */
import assert from "node:assert/strict";
import type { PodRef } from "../../src/enrich/endpoints.ts";
import { KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { KubeEventSink } from "../../src/kube/event_sink.ts";
import { EventRecorder } from "../../src/kube/recorder.ts";
import { silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { DropParser } from "../../src/netfilter/parser.ts";
import { ExpiryFilter, RepeatFilter } from "../../src/pipeline/filters.ts";
import { Pipeline } from "../../src/pipeline/pipeline.ts";
import type { LogSource } from "../../src/sources/source.ts";
import { type KubeEmulator, startKubeEmulator } from "../support/kube_emulator/mod.ts";

const COUNT = 999_999_999;

/** A Pod of `api` as the pod index names it. */
function podOf(api: KubeEmulator, namespace: string, name: string, ip: string): PodRef {
  const pod = api.addPod({ namespace, name, podIPs: [ip] });
  return { namespace, name, uid: pod.metadata.uid!, nodeName: "node-1", hostNetwork: false };
}

/** The lines: a drop from shop/web-1 to data/db-0, then rsyslog's line for COUNT more of it. */
function lines(): string {
  const header = `${new Date().toISOString().replace("Z", "000+00:00")} node-1 kernel:`;
  const body = "p: IN=eth0 OUT=eth1 SRC=10.244.1.10 DST=10.244.2.20 LEN=60 TTL=63 ID=7 " +
    "PROTO=TCP SPT=40000 DPT=5432 WINDOW=1 RES=0x00 SYN URGP=0";
  return `${header} ${body}\n${header} message repeated ${COUNT} times: [ ${body}]\n`;
}

/** The lines run through a pipeline into a Kubernetes sink on `api`; its metrics. */
async function run(api: KubeEmulator, maxInFlight: number): Promise<Metrics> {
  const pods = new Map([
    ["10.244.1.10", podOf(api, "shop", "web-1", "10.244.1.10")],
    ["10.244.2.20", podOf(api, "data", "db-0", "10.244.2.20")],
  ]);
  const metrics = new Metrics({ defaultMetrics: false });
  const settings = {
    kubeconfig: api.kubeconfigPath,
    kubeApiQps: 1000,
    kubeApiBurst: 1000,
    kubeApiTimeoutSeconds: 5,
  };
  const client = new KubeClient(loadKubeConfig(settings, {}), settings, silentLogger, metrics);
  const recorder = new EventRecorder({
    client,
    log: silentLogger,
    metrics,
    component: "kube-iptables-tailer",
    host: "node-1",
    queueSize: 100,
    spamBurst: 25,
    spamRefillMs: 300_000,
    maxAgeMs: 600_000,
  });
  const controller = new AbortController();
  const sink = new KubeEventSink({
    pods: {
      ready: true,
      readyDetail: () => "",
      whenReady: () => Promise.resolve(),
      lookup: (ip) => pods.get(ip),
    },
    dns: { lookup: () => Promise.resolve(undefined) },
    recorder,
    metrics,
    log: silentLogger,
    reason: "PacketDrop",
    naming: { podIdentifier: "namespace", showPrefix: false },
    maxInFlight,
    signal: controller.signal,
    tasks: [recorder.run(controller.signal)],
    client,
  });
  // The sink's work, to wait for (the checkpoint waits for the same).
  const work: Promise<void>[] = [];
  const text = lines();
  const source: LogSource = {
    kind: "test",
    id: "test",
    async *read() {
      yield { kind: "lines", text, lineCount: 2, cursor: 1 };
    },
  };
  await new Pipeline({
    source,
    parser: new DropParser({ prefixes: ["p:"] }),
    expiry: new ExpiryFilter(10 * 60_000),
    repeat: new RepeatFilter({ intervalMs: 0 }),
    sink: {
      handle(drop, count) {
        const done = sink.handle(drop, count);
        if (done) work.push(done);
        return done;
      },
    },
    metrics,
    log: silentLogger,
  }).run(controller.signal);
  await Promise.all(work);
  controller.abort();
  await sink.close(1_000);
  return metrics;
}

/** The value of `name{labels}` in the metrics exposition (0 when absent). */
async function sample(metrics: Metrics, name: string, labels: string): Promise<number> {
  const { body } = await metrics.render();
  const line = body.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** Event writes (creates and count updates) the API received. */
function writes(api: KubeEmulator): number {
  return api.requests.filter((r) => r.method === "POST" || r.method === "PATCH").length;
}

Deno.test("message repeated 999 999 999 times, repeat filter off: one Event update per Pod counts them all", async () => {
  await using api = await startKubeEmulator();
  const metrics = await run(api, 100);
  const events = [...api.events("shop"), ...api.events("data")];
  assert.deepEqual(
    events.map((e) => e.count),
    [COUNT + 1, COUNT + 1],
    "the sender's, the receiver's",
  );
  assert.equal(writes(api), 4, "per Pod: the line's create, the repeats' update");
  assert.equal(
    await sample(metrics, "packet_drops_count", 'src="shop",dst="data"'),
    COUNT + 1,
  );
  assert.equal(
    await sample(metrics, "kube_iptables_tailer_drops_parsed_total", 'prefix="p:"'),
    COUNT + 1,
  );
  assert.equal(await sample(metrics, "kube_iptables_tailer_events_total", 'result="updated"'), 2);
});

Deno.test("message repeated 999 999 999 times, its Events shed (queue full): every drop still counted", async () => {
  await using api = await startKubeEmulator();
  // One drop in flight at most: the line takes the place, its repeats come while it is taken.
  const metrics = await run(api, 1);
  assert.deepEqual([...api.events("shop"), ...api.events("data")].map((e) => e.count), [1, 1]);
  assert.equal(
    await sample(metrics, "packet_drops_count", 'src="shop",dst="data"'),
    COUNT + 1,
  );
  assert.equal(
    await sample(metrics, "kube_iptables_tailer_drops_skipped_total", 'reason="shed"'),
    COUNT,
  );
});
