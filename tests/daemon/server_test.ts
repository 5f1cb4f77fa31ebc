/** The metrics server: its endpoints, and where it listens. */
import assert from "node:assert/strict";
import { createLogger, silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { startServer } from "../../src/server.ts";
import { IN_CI } from "../support/system.ts";
/** Runs `body` against a server on a free port of 127.0.0.1. */
async function withServer(body: (base: string) => Promise<void>): Promise<void> {
  const stop = new AbortController();
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
    metrics: new Metrics({ defaultMetrics: false }),
    liveness: [{ name: "source", ok: () => true }],
    readiness: [{ name: "pod-index", ok: () => false, detail: () => "not synced" }],
    log: createLogger({ level: "error", format: "text", write: () => {} }),
    signal: stop.signal,
  });
  try {
    await body(`http://127.0.0.1:${server.port}`);
  } finally {
    stop.abort();
    await server.finished;
  }
}

Deno.test("server: endpoints, HEAD, unknown paths and other methods", async () => {
  await withServer(async (base) => {
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^# TYPE packet_drops_count counter$/m);
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /^\[-\]pod-index failed: not synced$/m);
    const unknown = await fetch(`${base}/nope`);
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
    // RFC 9110 15.5.6: a 405 must say which methods the resource takes.
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  });
});

async function status(url: string): Promise<number> {
  const response = await fetch(url);
  await response.body?.cancel();
  return response.status;
}

function hasIpv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("server: without METRICS_LISTEN_ADDRESS, every address, IPv4 and IPv6 (Go's :9090)", async () => {
  // The original listened on ":9090": IPv6 Pods (single or dual stack) were scraped on their
  // IPv6 address, IPv4 ones on theirs.
  const stop = new AbortController();
  const server = startServer({
    port: 0,
    metrics: new Metrics({ defaultMetrics: false }),
    log: silentLogger,
    signal: stop.signal,
    liveness: [],
    readiness: [],
  });
  try {
    assert.equal(await status(`http://127.0.0.1:${server.port}/metrics`), 200);
    if (hasIpv6Loopback()) {
      assert.equal(await status(`http://[::1]:${server.port}/metrics`), 200);
    } else if (IN_CI) {
      assert.fail("CI=true but this host has no IPv6 loopback (::1): the IPv6 half cannot run");
    } else {
      console.error("skipping the IPv6 half of the listen test: this host has no ::1");
    }
  } finally {
    stop.abort();
    await server.finished;
  }
});
