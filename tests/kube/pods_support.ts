/**
 * Shared pieces of the pod index tests: an emulator with a KubeClient and a running PodIndex,
 * polling for a condition, the expected index contents of an emulator, and a rewriting HTTP
 * proxy (for answers the emulator never gives: garbage JSON, pods without metadata).
 * @module
 */

import assert from "node:assert/strict";
import { KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { PodIndex, type PodIndexOptions } from "../../src/kube/pods.ts";
import { canonicalIp } from "../../src/netfilter/ip.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import {
  type KubeEmulator,
  type KubeEmulatorOptions,
  type RecordedRequest,
  startKubeEmulator,
} from "../support/kube_emulator/mod.ts";

/** A logger that keeps its lines (tests assert on what was logged). */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({
    level: Deno.env.get("POD_INDEX_TEST_LOG") ? "debug" : "info",
    format: "text",
    write: (line) => {
      lines.push(line);
      if (Deno.env.get("POD_INDEX_TEST_LOG")) Deno.stderr.writeSync(new TextEncoder().encode(line));
    },
  });
  return { log, lines };
}

/** Settings of a test KubeClient. */
export interface ClientOptions {
  /** Server address overriding the kubeconfig's (e.g. a proxy in front of the emulator). */
  server?: string;
  qps?: number;
  burst?: number;
}

/** A KubeClient on the emulator's kubeconfig. */
export function clientFor(api: KubeEmulator, log: Logger, options: ClientOptions = {}): KubeClient {
  const settings = {
    kubeconfig: api.kubeconfigPath,
    kubeApiServer: options.server,
    kubeApiQps: options.qps ?? 50,
    kubeApiBurst: options.burst ?? 100,
    kubeApiTimeoutSeconds: 5,
  };
  return new KubeClient(loadKubeConfig(settings, {}), settings, log);
}

/** An emulator, a client, an index running until disposed. */
export interface Harness extends AsyncDisposable {
  api: KubeEmulator;
  index: PodIndex;
  metrics: Metrics;
  lines: string[];
  /** Settles when run() returns. */
  done: Promise<void>;
  /** Aborts run() and waits for it. */
  stop(): Promise<void>;
}

/** Options of {@link startHarness}. */
export interface HarnessOptions {
  emulator?: KubeEmulatorOptions;
  index?: Partial<Omit<PodIndexOptions, "client" | "log" | "metrics">>;
  client?: ClientOptions;
  /** Shapes the emulator before the index starts. */
  before?: (api: KubeEmulator) => void | Promise<void>;
  /** Reuse this emulator (not closed on dispose). */
  api?: KubeEmulator;
}

/** Starts an emulator (unless given) and a PodIndex on it with fast test backoffs. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const api = options.api ?? await startKubeEmulator(options.emulator);
  await options.before?.(api);
  const { log, lines } = memoryLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const client = clientFor(api, log, options.client);
  const index = new PodIndex({
    client,
    log,
    metrics,
    minBackoffMs: 10,
    maxBackoffMs: 100,
    ...options.index,
  });
  const controller = new AbortController();
  const done = index.run(controller.signal);
  const stop = async () => {
    controller.abort();
    await done;
    client.close();
  };
  return {
    api,
    index,
    metrics,
    lines,
    done,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
      if (!options.api) await api.close();
    },
  };
}

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** `index.whenReady`, failing after `timeoutMs` instead of waiting forever. */
export async function ready(index: PodIndex, timeoutMs = 15_000): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`the index was not ready after ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    await index.whenReady(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** `ns/name uid ips` of every pod the index should hold, sorted. */
export function expectedPods(api: KubeEmulator): string[] {
  return api.pods()
    .filter((p) => p.status.phase !== "Succeeded" && p.status.phase !== "Failed")
    .map((p) => ({
      pod: p,
      ips: (p.status.podIPs?.map((e) => e.ip) ?? (p.status.podIP ? [p.status.podIP] : []))
        .map((ip) => canonicalIp(ip)!),
    }))
    .filter((e) => e.ips.length > 0)
    .map((e) => `${e.pod.metadata.namespace}/${e.pod.metadata.name} ${e.pod.metadata.uid} ${e.ips}`)
    .sort();
}

/** The same shape for what the index holds. */
export function indexedPods(index: PodIndex): string[] {
  return [...index.pods()]
    .map((p) => `${p.namespace}/${p.name} ${p.uid} ${p.ips}`)
    .sort();
}

/** Waits until the index holds exactly the emulator's pods, then asserts it. */
export async function converge(index: PodIndex, api: KubeEmulator): Promise<void> {
  const same = () => {
    const want = expectedPods(api);
    const have = indexedPods(index);
    return want.length === have.length && want.every((w, i) => w === have[i]);
  };
  try {
    await waitFor("the index to hold exactly the emulator's pods", same);
  } catch {
    assert.deepEqual(indexedPods(index), expectedPods(api));
  }
  assert.equal(index.size, expectedPods(api).length);
}

/** List requests (not watches) for all pods. */
export function listRequests(api: KubeEmulator): RecordedRequest[] {
  return api.requests.filter((r) => r.path === "/api/v1/pods" && !r.watch && !r.query.watch);
}

/** Watch requests for all pods. */
export function watchRequests(api: KubeEmulator): RecordedRequest[] {
  return api.requests.filter((r) => r.path === "/api/v1/pods" && r.query.watch === "true");
}

/** Value of `watch_restarts_total{reason}`. */
export async function restarts(metrics: Metrics, reason: string): Promise<number> {
  const data = await metrics.watchRestarts.get();
  return data.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** Value of the pod index size gauge. */
export async function sizeGauge(metrics: Metrics): Promise<number> {
  return (await metrics.podIndexSize.get()).values[0]?.value ?? NaN;
}

/** IPv4 address number `i` in 10.0.0.0/8. */
export function ipv4(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** How one proxied request is answered. */
export interface ProxyRule {
  /** Which requests (by URL) the rule takes. */
  match(url: URL): boolean;
  /** The answer; `upstream()` forwards the request to the emulator. */
  respond(upstream: () => Promise<Response>, url: URL): Response | Promise<Response>;
  /** Used once, then dropped (default true). */
  once?: boolean;
}

/** An HTTP proxy in front of the emulator that can rewrite answers. */
export interface RewritingProxy extends AsyncDisposable {
  url: string;
  rules: ProxyRule[];
  close(): Promise<void>;
}

/** Starts a {@link RewritingProxy} on loopback forwarding to `target`. */
export function startProxy(target: string): RewritingProxy {
  const rules: ProxyRule[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const url = new URL(request.url);
      const upstream = () =>
        fetch(`${target}${url.pathname}${url.search}`, {
          method: request.method,
          headers: request.headers,
          body: request.body,
        });
      const at = rules.findIndex((r) => r.match(url));
      if (at < 0) return upstream();
      const rule = rules[at];
      if (rule.once ?? true) rules.splice(at, 1);
      return rule.respond(upstream, url);
    },
  );
  const close = () => server.shutdown();
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    rules,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Whether a proxied URL is a list (not a watch) of all pods. */
export function isList(url: URL): boolean {
  return url.pathname === "/api/v1/pods" && url.searchParams.get("watch") !== "true";
}

/** Whether a proxied URL is a watch of all pods. */
export function isWatch(url: URL): boolean {
  return url.pathname === "/api/v1/pods" && url.searchParams.get("watch") === "true";
}

/** A JSON answer. */
export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** The upstream watch answer with `lines` sent before its own events. */
export async function watchWithPrefix(
  upstream: () => Promise<Response>,
  lines: string[],
): Promise<Response> {
  const response = await upstream();
  const encoder = new TextEncoder();
  const reader = response.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const line of lines) controller.enqueue(encoder.encode(`${line}\n`));
    },
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  // fetch has decoded the upstream body: its encoding and length no longer apply.
  const headers = new Headers(response.headers);
  headers.delete("content-encoding");
  headers.delete("content-length");
  return new Response(body, { status: response.status, headers });
}

/** `pod_index_rejected_total` by reason (only reasons counted at least once). */
export async function rejectedMetric(metrics: Metrics): Promise<Record<string, number>> {
  const data = await metrics.podIndexRejected.get();
  return Object.fromEntries(
    data.values.filter((v) => v.value > 0).map((v) => [String(v.labels.reason), v.value]),
  );
}
