/**
 * A 60 s API outage under a running daemon, in three kinds of 20 s each: every request answered
 * 503, every connection dropped without an answer, and nothing listening at all (a TCP proxy in
 * front of the emulator goes down and comes back on the same port with the state intact — the
 * emulator cannot restart with its state). Drops keep arriving throughout.
 *
 * What must hold: reading never stops (every line counted), the Events of the first
 * PACKET_DROP_CHANNEL_BUFFER_SIZE drops wait in the bounded queue and are all delivered after
 * the outage, once each; the drops beyond the bound are counted with their Events shed; the
 * process never exits, /healthz answers 200 the whole time, and the metrics show the failures.
 */
import assert from "node:assert/strict";
import {
  addShop,
  DB,
  kernelLine,
  portOf,
  shopMessages,
  tcpDrop,
  WEB,
} from "../support/faults/drops.ts";
import { byLabel, sumOf } from "../support/faults/metrics.ts";
import { TcpProxy } from "../support/faults/tcp_proxy.ts";
import { sleep, Tailer } from "../support/faults/tailer.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { logAndStateDirs, savedOffset } from "../support/faults/checkpoint.ts";

const BUFFER = 20;
const OUTAGE_DROPS = 2 * BUFFER;
const PHASE_MS = 20_000;

Deno.test("API outage of 60 s (503s, dropped connections, refused connections): Events queue, bounded, and arrive after it, once", async () => {
  const api = await startKubeEmulator({});
  addShop(api);
  const proxy = await TcpProxy.start(api.port);
  const dir = await Deno.makeTempDir({ prefix: "kit-faults-outage-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const tailer = await Tailer.start({
    log,
    kubeconfig: api.kubeconfigPath,
    args: [
      `--kube-api-server=http://127.0.0.1:${proxy.port}`,
      "--kube-api-qps=100",
      "--kube-api-burst=100",
      "--event-spam-burst=1000",
      "--repeated-events-interval-minutes=0",
    ],
    env: { PACKET_DROP_CHANNEL_BUFFER_SIZE: String(BUFFER) },
    waitFor: "ready",
  });
  const append = (port: number) =>
    Deno.writeTextFile(log, kernelLine(tcpDrop(WEB, DB, port)), { append: true });
  try {
    // Before: the path works.
    for (let port = 1; port <= 5; port++) await append(port);
    await tailer.until("the first 10 Events", () => api.events().length === 10);

    // The outage, with a drop every 1.5 s and a health probe every second.
    const health: number[] = [];
    const ready: number[] = [];
    let probing = true;
    const probes = (async () => {
      while (probing) {
        health.push((await tailer.get("/healthz")).status);
        ready.push((await tailer.get("/readyz")).status);
        await sleep(1000);
      }
    })();
    const outageStart = performance.now();
    const phase = async (index: number) => {
      const end = outageStart + (index + 1) * PHASE_MS;
      while (performance.now() < end) await sleep(Math.min(100, end - performance.now()));
    };
    const writing = (async () => {
      for (let i = 0; i < OUTAGE_DROPS; i++) {
        await sleep(outageStart + 500 + i * 1500 - performance.now());
        await append(101 + i);
      }
    })();
    api.faults.failNext({ count: 1e9, status: 503 });
    api.faults.closeWatches();
    await phase(0);
    api.faults.clear();
    api.faults.dropNext({ count: 1e9 });
    api.faults.closeWatches();
    await phase(1);
    api.faults.clear();
    await proxy.down();
    await phase(2);
    await writing;
    const during = await tailer.metrics();
    await proxy.up();
    const outageSeconds = (performance.now() - outageStart) / 1000;

    assert.equal(api.events().length, 10, "nothing got through during the outage");
    assert.equal(
      sumOf(during, "kube_iptables_tailer_log_lines_total"),
      5 + OUTAGE_DROPS,
      "every line was read during the outage",
    );
    assert.equal(sumOf(during, "packet_drops_count"), 5 + OUTAGE_DROPS, "every drop counted");
    assert.equal(
      sumOf(during, "kube_iptables_tailer_drops_skipped_total", { reason: "shed" }),
      OUTAGE_DROPS - BUFFER,
      "the drops beyond the buffer have their Events shed",
    );
    // Drops waiting (at most BUFFER) and their Events (at most twice that).
    const depth = sumOf(during, "kube_iptables_tailer_event_queue_depth");
    assert.ok(depth >= BUFFER && depth <= 3 * BUFFER, `queue depth ${depth} is bounded`);

    // After: everything queued arrives, once.
    const recovered = performance.now();
    await tailer.until("the queued Events", () => api.events().length === 10 + 2 * BUFFER, 60_000);
    const recoverySeconds = (performance.now() - recovered) / 1000;
    for (let port = 201; port <= 205; port++) await append(port);
    await tailer.until("Events of new drops", () => api.events().length === 20 + 2 * BUFFER);
    probing = false;
    await probes;

    const events = api.events();
    const ports = new Set(events.map((e) => portOf(e.message ?? "")));
    const expected = [1, 2, 3, 4, 5, 201, 202, 203, 204, 205];
    for (let i = 0; i < BUFFER; i++) expected.push(101 + i);
    assert.deepEqual(
      [...ports].sort((a, b) => a! - b!),
      expected.sort((a, b) => a - b),
      "the Events of the drops before and after, and of the first BUFFER drops during the outage",
    );
    for (const port of expected) {
      const messages = events.filter((e) => portOf(e.message ?? "") === port).map((e) => e.message);
      assert.deepEqual(messages.sort(), [...shopMessages(port)].sort(), `port ${port}`);
    }
    assert.ok(events.every((e) => e.count === 1), "no Event counted twice");

    await tailer.settled();
    const after = await tailer.metrics();
    const results = byLabel(after, "kube_iptables_tailer_events_total", "result");
    assert.deepEqual(results, { created: 20 + 2 * BUFFER }, "every Event created once, none lost");
    const codes = byLabel(after, "kube_iptables_tailer_api_requests_total", "code");
    assert.ok((codes["5xx"] ?? 0) > 0, `503s counted: ${JSON.stringify(codes)}`);
    assert.ok((codes["error"] ?? 0) > 0, `transport errors counted: ${JSON.stringify(codes)}`);
    const restarts = sumOf(after, "kube_iptables_tailer_watch_restarts_total");
    assert.ok(restarts >= 3, `the pod watch restarted after each cut: ${restarts}`);
    assert.equal(sumOf(after, "kube_iptables_tailer_log_lines_total"), 10 + OUTAGE_DROPS);
    assert.equal(tailer.exited, undefined, "still running");
    assert.ok(health.length >= 55, `${health.length} health probes`);
    assert.deepEqual(health.filter((s) => s !== 200), [], "/healthz answered 200 throughout");
    assert.deepEqual(ready.filter((s) => s !== 200), [], "/readyz stayed ready (index kept)");
    assert.equal(tailer.logged("unexpected error"), 0);

    const { code } = await tailer.stop();
    assert.equal(code, 0);
    const failures = (codes["5xx"] ?? 0) + (codes["error"] ?? 0) + (codes["timeout"] ?? 0);
    console.log(
      `held: ${outageSeconds.toFixed(0)} s API outage (503 / dropped / refused) — ${
        5 + OUTAGE_DROPS
      } drops read, ${OUTAGE_DROPS - BUFFER} shed beyond the buffer of ${BUFFER}, ${
        2 * BUFFER
      } queued Events delivered ${recoverySeconds.toFixed(1)} s after recovery, ` +
        `queue depth ${depth} at its end, 0 duplicates, 0 lines lost; ${failures} failed API requests ${
          JSON.stringify(codes)
        }, ${restarts} watch restarts, /healthz 200 in ${health.length}/${health.length} probes`,
    );
  } finally {
    await tailer.kill();
    await proxy.close();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kill -9 while Events wait on a failing API: the checkpoint stayed before their drops, so the restart posts them", async () => {
  await using api = await startKubeEmulator({});
  addShop(api);
  const { dir, log, state } = await logAndStateDirs("kit-outage-kill-");
  const start = () =>
    Tailer.start({
      log,
      kubeconfig: api.kubeconfigPath,
      stateDirectory: state,
      args: ["--kube-api-qps=100", "--kube-api-burst=100", "--repeated-events-interval-minutes=0"],
      waitFor: "ready",
    });
  let tailer = await start();
  try {
    await Deno.writeTextFile(log, kernelLine(tcpDrop(WEB, DB, 100)), { append: true });
    await tailer.until("the first drop's Events", () => api.events().length === 2);
    const handled = (await Deno.stat(log)).size;
    await tailer.until("its checkpoint", async () => await savedOffset(state) === handled);

    api.faults.failNext({ count: 1e9, status: 503, method: "POST" });
    for (let port = 1; port <= 3; port++) {
      await Deno.writeTextFile(log, kernelLine(tcpDrop(WEB, DB, port)), { append: true });
    }
    const refused = () => api.requests.filter((r) => r.method === "POST" && r.status === 503);
    await tailer.until("the new drops' Events being refused", () => refused().length >= 6);
    // Read, and waiting on the API: longer than the checkpoint interval (1 s) passes, and the
    // checkpoint must not pass drops whose Events are not posted.
    await sleep(1500);
    assert.equal(await savedOffset(state), handled, "the checkpoint waits for the Events");

    await tailer.kill();
    api.faults.clear();
    tailer = await start();
    await tailer.until("every drop's two Events", () => api.events().length === 8);
    assert.deepEqual(
      api.events().map((e) => portOf(e.message ?? "")).sort((a, b) => a! - b!),
      [1, 1, 2, 2, 3, 3, 100, 100],
    );
    await tailer.stop();
  } finally {
    await tailer.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
