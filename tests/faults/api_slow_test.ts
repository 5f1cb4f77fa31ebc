/**
 * A slow API server: for 6 s every answer takes 1.5 s while the client gives up after 0.5 s.
 * The server still carries out what the client gave up on, so a retried create meets the
 * Event it already made: the recorder must recognise it (409, read, same drop time) instead of
 * counting it again. After the slow spell everything recovers.
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
import { byLabel } from "../support/faults/metrics.ts";
import { sleep, Tailer } from "../support/faults/tailer.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";

Deno.test("slow API (answers after 1.5 s, client timeout 0.5 s): retries, no duplicates, recovery", async () => {
  const api = await startKubeEmulator({});
  addShop(api);
  const dir = await Deno.makeTempDir({ prefix: "kit-faults-slow-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const tailer = await Tailer.start({
    log,
    kubeconfig: api.kubeconfigPath,
    args: [
      "--kube-api-timeout-seconds=0.5",
      "--kube-api-qps=100",
      "--kube-api-burst=100",
      "--repeated-events-interval-minutes=0",
    ],
    waitFor: "ready",
  });
  const append = (port: number) =>
    Deno.writeTextFile(log, kernelLine(tcpDrop(WEB, DB, port)), { append: true });
  try {
    api.faults.latencyMs = 1500;
    const slowStart = performance.now();
    for (let port = 1; port <= 5; port++) {
      await append(port);
      await sleep(1000);
    }
    await sleep(6000 - (performance.now() - slowStart));
    api.faults.latencyMs = 0;
    await tailer.until("10 Events", () => api.events().length === 10, 60_000);
    // Let any retry still in flight land before counting.
    await tailer.until("the recorder to settle", async () => {
      const results = byLabel(
        await tailer.metrics(),
        "kube_iptables_tailer_events_total",
        "result",
      );
      return (results.created ?? 0) + (results.already_recorded ?? 0) === 10;
    }, 30_000);

    for (let port = 6; port <= 8; port++) await append(port);
    await tailer.until("Events of new drops", () => api.events().length === 16);

    const events = api.events();
    for (let port = 1; port <= 8; port++) {
      const messages = events.filter((e) => portOf(e.message ?? "") === port).map((e) => e.message);
      assert.deepEqual(messages.sort(), [...shopMessages(port)].sort(), `port ${port}`);
    }
    assert.ok(events.every((e) => e.count === 1), "no Event counted twice");
    await tailer.settled();
    const results = byLabel(await tailer.metrics(), "kube_iptables_tailer_events_total", "result");
    const codes = byLabel(
      await tailer.metrics(),
      "kube_iptables_tailer_api_requests_total",
      "code",
    );
    assert.ok((codes.timeout ?? 0) > 0, `timeouts counted: ${JSON.stringify(codes)}`);
    assert.equal(
      (results.created ?? 0) + (results.already_recorded ?? 0),
      16,
      JSON.stringify(results),
    );
    assert.equal(results.failed ?? 0, 0);
    assert.equal(results.updated ?? 0, 0, "no count was raised for a retried create");
    const posts = api.requests.filter((r) => r.method === "POST" && r.path.endsWith("/events"));
    const conflicts = posts.filter((r) => r.status === 409).length;
    assert.ok(posts.length > 16, `creates were retried: ${posts.length} POSTs for 16 Events`);
    assert.equal(tailer.exited, undefined);
    const { code } = await tailer.stop();
    assert.equal(code, 0);
    console.log(
      `held: 6 s of 1.5 s answers against a 0.5 s client timeout — ${codes.timeout} timeouts, ` +
        `${posts.length} POSTs (${conflicts} met an Event the server had made after the client gave up) ` +
        `for 16 Events, ${
          results.already_recorded ?? 0
        } recognised as already recorded, 0 duplicates, ` +
        `new drops flow after recovery`,
    );
  } finally {
    await tailer.kill();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
