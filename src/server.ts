/**
 * The HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (the event loop answers and every
 * liveness check passes) and `/readyz` (every readiness check passes, e.g. the pod index synced).
 * @module
 */

import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/** A named check; `detail` explains a failure. */
export interface Check {
  name: string;
  ok(): boolean;
  detail?(): string;
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** Unset: every address, IPv6 and IPv4 (as Go's `:port`), or IPv4 only without IPv6. */
  hostname?: string;
  port: number;
  metrics: Metrics;
  liveness: Check[];
  readiness: Check[];
  log: Logger;
  signal: AbortSignal;
}

/** A running server. */
export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  finished: Promise<void>;
}

function report(checks: Check[]): { ok: boolean; body: string } {
  let ok = true;
  const lines = checks.map((check) => {
    const pass = check.ok();
    ok &&= pass;
    return `[${pass ? "+" : "-"}]${check.name} ${
      pass ? "ok" : `failed: ${check.detail?.() ?? ""}`
    }`;
  });
  lines.push(ok ? "ok" : "failed");
  return { ok, body: lines.join("\n") + "\n" };
}

/** Starts the server; it stops when `signal` aborts. Throws when the port cannot be bound. */
export function startServer(options: ServerOptions): RunningServer {
  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      // A 405 must name the methods that are allowed (RFC 9110, 15.5.6).
      return new Response("method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    switch (path) {
      case "/metrics": {
        try {
          const { contentType, body } = await options.metrics.render();
          return new Response(body, { headers: { "content-type": contentType } });
        } catch (error) {
          options.log.error("cannot render metrics", { error });
          return new Response("cannot render metrics\n", { status: 500 });
        }
      }
      case "/healthz":
      case "/livez": {
        const r = report(options.liveness);
        return new Response(r.body, { status: r.ok ? 200 : 503 });
      }
      case "/readyz": {
        const r = report(options.readiness);
        return new Response(r.body, { status: r.ok ? 200 : 503 });
      }
      default:
        return new Response("not found\n", { status: 404 });
    }
  };
  const serve = (hostname: string) =>
    Deno.serve({
      hostname,
      port: options.port,
      signal: options.signal,
      // Instead of Deno's own "Listening on" line: the log line below says it.
      onListen: () => {},
    }, handler);
  let hostname = options.hostname ?? "::";
  let server;
  try {
    // "::" takes IPv4 too (IPV6_V6ONLY is off by default), as Go's ":9090" did.
    server = serve(hostname);
  } catch (error) {
    if (options.hostname !== undefined) throw error;
    hostname = "0.0.0.0"; // a kernel without IPv6
    server = serve(hostname);
  }
  const port = (server.addr as Deno.NetAddr).port;
  options.log.info("serving metrics and health", { address: hostname, port });
  return { port, finished: server.finished };
}
