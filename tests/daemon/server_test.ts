/** The metrics server listens where the original's did. */
import assert from "node:assert/strict";
import { silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { startServer } from "../../src/server.ts";

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
    }
  } finally {
    stop.abort();
    await server.finished;
  }
});
