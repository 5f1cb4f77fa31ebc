/**
 * Access to the Kubernetes API with `@kubernetes/client-node` for configuration, credentials and
 * watches: in-cluster (service-account token and CA, KUBERNETES_SERVICE_HOST/PORT), a kubeconfig
 * (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`), and the original's `KUBE_API_SERVER`
 * override. A rotated service-account token is read again (client-node re-reads the token file
 * every minute; we also re-read it at once after a 401).
 *
 * Requests carry a timeout and pass a client-side rate limit (QPS/burst, client-go's 5/10).
 * @module
 */

import * as k8s from "@kubernetes/client-node";
import http from "node:http";
import https from "node:https";
import { ConfigError } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { TokenBucket } from "./token_bucket.ts";

/** Where credentials come from. */
export interface ClientSettings {
  kubeApiServer?: string;
  kubeconfig?: string;
  kubeApiQps: number;
  kubeApiBurst: number;
  kubeApiTimeoutSeconds: number;
}

/** An API answer. `body` is parsed JSON when the answer is JSON, else text. */
export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Overrides the client's timeout (ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Whether the request passes the rate limit (default true). */
  rateLimited?: boolean;
}

/** A failure to get an answer at all (connection refused, reset, timeout). */
export class TransportError extends Error {
  override name = "TransportError";
  constructor(message: string, readonly timeout = false) {
    super(message);
  }
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Loads a KubeConfig per settings; throws ConfigError when there are no credentials. */
export function loadKubeConfig(
  settings: ClientSettings,
  env: Record<string, string | undefined>,
): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const home = env.HOME;
  const inCluster = env.KUBERNETES_SERVICE_HOST !== undefined &&
    fileExists(`${SERVICE_ACCOUNT_DIR}/token`);
  try {
    if (settings.kubeconfig) {
      kc.loadFromFile(settings.kubeconfig);
    } else if (inCluster) {
      kc.loadFromCluster();
    } else if (settings.kubeApiServer && fileExists(`${SERVICE_ACCOUNT_DIR}/token`)) {
      // The original's use: in-cluster credentials, API address from KUBE_API_SERVER.
      kc.loadFromClusterAndUser(
        {
          name: "override",
          server: settings.kubeApiServer,
          caFile: `${SERVICE_ACCOUNT_DIR}/ca.crt`,
          skipTLSVerify: false,
        },
        {
          name: "sa",
          authProvider: {
            name: "tokenFile",
            config: { tokenFile: `${SERVICE_ACCOUNT_DIR}/token` },
          },
        },
      );
    } else if (home && fileExists(`${home}/.kube/config`)) {
      kc.loadFromFile(`${home}/.kube/config`);
    } else if (settings.kubeApiServer) {
      // No credentials: only an unauthenticated (test or proxy) endpoint can work.
      kc.loadFromClusterAndUser(
        {
          name: "override",
          server: settings.kubeApiServer,
          skipTLSVerify: settings.kubeApiServer.startsWith("http:"),
        },
        { name: "anonymous" },
      );
    } else {
      throw new ConfigError(
        "no Kubernetes API credentials: not in a cluster (KUBERNETES_SERVICE_HOST and the service-account token are missing), no --kubeconfig/KUBECONFIG, no ~/.kube/config; use --dry-run to run without Kubernetes",
      );
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `cannot load Kubernetes credentials: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new ConfigError("the kubeconfig has no current cluster");
  if (settings.kubeApiServer && cluster.server !== settings.kubeApiServer) {
    // KUBE_API_SERVER overrides the address, keeping credentials.
    kc.loadFromOptions({
      clusters: kc.clusters.map((c) =>
        c.name === cluster.name
          ? {
            ...c,
            server: settings.kubeApiServer!,
            skipTLSVerify: c.skipTLSVerify || settings.kubeApiServer!.startsWith("http:"),
          }
          : c
      ),
      contexts: kc.contexts,
      users: kc.users,
      currentContext: kc.currentContext,
    });
  }
  const server = kc.getCurrentCluster()!.server;
  if (server.startsWith("http:") && !kc.getCurrentCluster()!.skipTLSVerify) {
    // client-node refuses plain http unless TLS verification is marked as skipped.
    kc.loadFromOptions({
      clusters: kc.clusters.map((c) => (c.server === server ? { ...c, skipTLSVerify: true } : c)),
      contexts: kc.contexts,
      users: kc.users,
      currentContext: kc.currentContext,
    });
  }
  return kc;
}

/** A small REST client over client-node's credentials. */
export class KubeClient {
  readonly kubeConfig: k8s.KubeConfig;
  readonly server: string;
  #limiter: TokenBucket;
  #timeoutMs: number;
  #agent: http.Agent | undefined;
  #log: Logger;
  #metrics?: Metrics;

  constructor(
    kubeConfig: k8s.KubeConfig,
    settings: ClientSettings,
    log: Logger,
    metrics?: Metrics,
  ) {
    this.kubeConfig = kubeConfig;
    this.server = kubeConfig.getCurrentCluster()!.server.replace(/\/+$/, "");
    this.#limiter = new TokenBucket({ rate: settings.kubeApiQps, burst: settings.kubeApiBurst });
    this.#timeoutMs = settings.kubeApiTimeoutSeconds * 1000;
    this.#log = log;
    this.#metrics = metrics;
  }

  /** The request's headers and a long-lived agent (TLS settings), from client-node. */
  async #prepare(): Promise<{ headers: Record<string, string>; agent: http.Agent }> {
    const opts: https.RequestOptions = { headers: {} };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    // client-node builds an agent per call; keep the first so connections are reused.
    this.#agent ??= opts.agent as http.Agent;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v !== undefined) headers[k] = String(v);
    }
    if (opts.auth) headers["Authorization"] = `Basic ${btoa(opts.auth)}`;
    return { headers, agent: this.#agent };
  }

  /** Forces credentials to be read again (after a 401: the token file may have rotated). */
  refreshCredentials(): void {
    const user = this.kubeConfig.getCurrentUser();
    if (!user) return;
    // A fresh KubeConfig forgets client-node's cached token; keep our agent.
    const fresh = new k8s.KubeConfig();
    fresh.loadFromOptions({
      clusters: this.kubeConfig.clusters,
      contexts: this.kubeConfig.contexts,
      users: this.kubeConfig.users,
      currentContext: this.kubeConfig.currentContext,
    });
    Object.assign(this.kubeConfig, fresh);
  }

  /** Sends one request. Rejects with {@link TransportError} when no answer arrives. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    if (options.rateLimited ?? true) await this.#limiter.take(options.signal);
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const { headers, agent } = await this.#prepare();
    headers["Accept"] = "application/json";
    headers["User-Agent"] = "kube-iptables-tailer";
    let payload: Uint8Array | undefined;
    if (options.body !== undefined) {
      payload = new TextEncoder().encode(JSON.stringify(options.body));
      headers["Content-Type"] = options.contentType ?? "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const verb = method.toLowerCase();
    try {
      const response = await new Promise<ApiResponse>((resolve, reject) => {
        const lib = url.protocol === "https:" ? https : http;
        const req = lib.request(url, { method, headers, agent }, (res) => {
          const chunks: Uint8Array[] = [];
          res.on("data", (c: Uint8Array) => chunks.push(c));
          res.on("error", (e: Error) => reject(new TransportError(e.message)));
          res.on("end", () => {
            const text = new TextDecoder().decode(concat(chunks));
            let body: unknown = text;
            if ((res.headers["content-type"] ?? "").includes("json") && text) {
              try {
                body = JSON.parse(text);
              } catch {
                body = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          });
        });
        const timer = setTimeout(() => {
          req.destroy(new TransportError(`timed out after ${timeoutMs} ms`, true));
        }, timeoutMs);
        const onAbort = () => req.destroy(new TransportError("aborted"));
        options.signal?.addEventListener("abort", onAbort, { once: true });
        req.on(
          "error",
          (e: Error) => reject(e instanceof TransportError ? e : new TransportError(e.message)),
        );
        req.on("close", () => {
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", onAbort);
        });
        if (payload) req.write(payload);
        req.end();
      });
      this.#metrics?.apiRequests.inc({ verb, code: `${Math.floor(response.status / 100)}xx` });
      if (response.status === 401) {
        this.#log.warn("the API server refused our credentials (401); reading them again", {
          path,
        });
        this.refreshCredentials();
      }
      return response;
    } catch (error) {
      this.#metrics?.apiRequests.inc({
        verb,
        code: (error as TransportError).timeout ? "timeout" : "error",
      });
      throw error;
    }
  }

  /** A client-node Watch on this client's credentials. */
  watcher(): k8s.Watch {
    return new k8s.Watch(this.kubeConfig);
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
