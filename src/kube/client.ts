/**
 * Access to the Kubernetes API with `@kubernetes/client-node` for configuration, credentials and
 * watches: in-cluster (service-account token and CA, KUBERNETES_SERVICE_HOST/PORT), a kubeconfig
 * (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`), and the original's `KUBE_API_SERVER`
 * override. A rotated service-account token is read again (client-node re-reads the token file
 * every minute; we also re-read it at once after a 401).
 *
 * Requests carry a timeout and pass a client-side rate limit (QPS/burst, client-go's 5/10).
 * {@link KubeClient.stream} hands an answer's body over as it arrives (a list of every Pod is
 * hundreds of megabytes on a large cluster); {@link KubeClient.request} reads small answers
 * whole, with a size cap. Both are sent by one exchange (see http_exchange.ts): Deno's `fetch`
 * with the cluster's CA and any client certificate, or `node:http` on client-node's agent for TLS
 * settings `fetch` cannot express.
 * @module
 */

import * as k8s from "@kubernetes/client-node";
import http from "node:http";
import https from "node:https";
import { ConfigError } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import {
  type Exchange,
  exchangeFor,
  type StreamedResponse,
  TransportError,
} from "./http_exchange.ts";
import { TokenBucket } from "./token_bucket.ts";

export { type StreamedResponse, TransportError } from "./http_exchange.ts";

/** Where credentials come from. */
export interface ClientSettings {
  kubeApiServer?: string;
  kubeconfig?: string;
  kubeApiQps: number;
  kubeApiBurst: number;
  kubeApiTimeoutSeconds: number;
}

/** An API answer, read whole. `body` is parsed JSON when the answer is JSON, else text. */
export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Options of one streamed request ({@link KubeClient.stream}). */
export interface StreamOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Overrides the client's timeout (ms); it covers the whole exchange, the body included. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Whether the request passes the rate limit (default true). */
  rateLimited?: boolean;
}

/** Options of one request read whole ({@link KubeClient.request}). */
export interface RequestOptions extends StreamOptions {
  /** Largest body accepted (default {@link DEFAULT_MAX_BODY_BYTES}); a larger one rejects. */
  maxBodyBytes?: number;
}

/** The largest answer {@link KubeClient.request} reads whole unless told otherwise: 64 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** An answer that arrived but cannot be used: too large, not UTF-8, JSON that does not parse. */
export class AnswerError extends Error {
  override name = "AnswerError";
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** How long prepared credentials (headers) are reused. */
const HEADERS_TTL_MS = 1000;

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Loads a kubeconfig file. client-node 1.4 knows a user's token file only as `token-file`, while
 * kubectl and client-go write `tokenFile`: both spellings work here. A relative path is taken
 * from the kubeconfig's directory, as kubectl does (client-node does so for certificate and key
 * files, but reads a token file from the working directory).
 */
function loadKubeconfigFile(kc: k8s.KubeConfig, path: string): void {
  const text = Deno.readTextFileSync(path);
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  kc.loadFromString(text.replace(
    /^(\s*)(?:tokenFile|token-file):([^\n]*)/gm,
    (_, indent: string, value: string) => {
      const file = yamlScalar(value);
      if (file === undefined) return `${indent}token-file:${value}`;
      return `${indent}token-file: ${
        JSON.stringify(file.startsWith("/") ? file : `${dir}/${file}`)
      }`;
    },
  ));
  kc.makePathsAbsolute(dir);
}

/** The string a one-line YAML scalar says (quoted or plain); undefined for anything else. */
function yamlScalar(raw: string): string | undefined {
  const text = raw.trim();
  try {
    if (text.startsWith('"')) return JSON.parse(text.replace(/"\s+#.*$/, '"'));
    if (text.startsWith("'")) {
      const quoted = /^'((?:[^']|'')*)'(\s+#.*)?$/.exec(text);
      return quoted ? quoted[1].replaceAll("''", "'") : undefined;
    }
  } catch {
    return undefined;
  }
  const plain = text.replace(/\s+#.*$/, "");
  return plain === "" || /^[[{&*!|>]/.test(plain) ? undefined : plain;
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
      loadKubeconfigFile(kc, settings.kubeconfig);
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
      loadKubeconfigFile(kc, `${home}/.kube/config`);
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
        "no Kubernetes API credentials: not in a cluster (KUBERNETES_SERVICE_HOST and the service-account token are missing), no --kubeconfig/KUBECONFIG, no readable ~/.kube/config; use --dry-run to run without Kubernetes",
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
  const user = kc.getCurrentUser();
  const context = kc.getContextObject(kc.currentContext);
  if (!user && context?.user) {
    // client-node would then leave out the cluster's CA too; client-go refuses such a context.
    // (A context naming no user at all is anonymous, e.g. behind `kubectl proxy`.)
    throw new ConfigError(
      `the kubeconfig's context "${context.name}" names user "${context.user}", which it does not define`,
    );
  }
  const plugin = user?.exec ?? user?.authProvider?.config?.exec;
  if (plugin) {
    // client-node would spawn it at every request and fail there: Deno's permissions for the
    // daemon grant no --allow-run.
    throw new ConfigError(
      `the kubeconfig's user "${user!.name}" gets its credentials from an exec plugin (${
        JSON.stringify(plugin.command)
      }), which kube-iptables-tailer does not run: give it a token, a tokenFile or a client certificate`,
    );
  }
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

/**
 * A small REST client over client-node's credentials. Every request passes {@link stream}: the
 * rate limit, credentials (read again after a 401), the timeout and the request metrics live
 * in one place; {@link request} reads the answer whole, with a size cap.
 *
 * @example
 * ```ts
 * const answer = await client.stream("GET", "/api/v1/pods", { query: { limit: 500 }, signal });
 * for await (const chunk of answer.body) splitter.push(chunk);
 * const { status, body } = await client.request("GET", "/version");
 * ```
 */
export class KubeClient {
  readonly kubeConfig: k8s.KubeConfig;
  readonly server: string;
  #limiter: TokenBucket;
  #timeoutMs: number;
  #log: Logger;
  #metrics?: Metrics;
  #exchange: Exchange | undefined;
  #reload: (() => k8s.KubeConfig) | undefined;
  #headers: { headers: Record<string, string>; at: number } | undefined;
  /** In a streak of 401 answers (logged once per streak). */
  #unauthorized = false;

  constructor(
    kubeConfig: k8s.KubeConfig,
    settings: ClientSettings,
    log: Logger,
    metrics?: Metrics,
    reload?: () => k8s.KubeConfig,
  ) {
    this.kubeConfig = kubeConfig;
    this.#reload = reload;
    this.server = kubeConfig.getCurrentCluster()!.server.replace(/\/+$/, "");
    this.#limiter = new TokenBucket({ rate: settings.kubeApiQps, burst: settings.kubeApiBurst });
    this.#timeoutMs = settings.kubeApiTimeoutSeconds * 1000;
    this.#log = log;
    this.#metrics = metrics;
  }

  /**
   * The request's headers, and the exchange that sends it, made once from the first agent
   * client-node gives (its TLS settings), so connections are reused.
   */
  async #prepare(): Promise<{ headers: Record<string, string>; exchange: Exchange }> {
    // client-node builds a TLS agent on every call; under a burst of Events that costs more
    // than the request. Credentials are cached for a second (and dropped after a 401).
    const cached = this.#headers;
    if (cached && this.#exchange && performance.now() - cached.at < HEADERS_TTL_MS) {
      return { headers: { ...cached.headers }, exchange: this.#exchange };
    }
    const opts: https.RequestOptions = { headers: {} };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    if (this.#exchange === undefined) {
      this.#exchange = exchangeFor(this.server, opts.agent as http.Agent | undefined);
      this.#log.debug("Kubernetes API requests", { via: this.#exchange.name, server: this.server });
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      // Trimmed as client-go trims a token file: one written by `kubectl create token > file`
      // ends in a newline, which node:http refuses in a header (fetch trims it by itself).
      if (v !== undefined) headers[k] = String(v).trim();
    }
    if (opts.auth) headers["Authorization"] = `Basic ${btoa(opts.auth)}`;
    this.#headers = { headers, at: performance.now() };
    return { headers: { ...headers }, exchange: this.#exchange };
  }

  /** How requests are sent ("fetch" or "node:http"); undefined before the first one. */
  get transport(): string | undefined {
    return this.#exchange?.name;
  }

  /** Releases the connections (a `fetch` client with the cluster's CA). */
  close(): void {
    this.#exchange?.[Symbol.dispose]();
    this.#exchange = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Forces credentials to be read again (after a 401: the token file may have rotated). With
   * `reload` the configuration is loaded from its files again (a kubeconfig's `token-file` is
   * read only when the kubeconfig is); otherwise a fresh KubeConfig forgets client-node's cached
   * in-cluster token. The exchange (TLS) stays.
   */
  refreshCredentials(): void {
    this.#headers = undefined;
    let fresh: k8s.KubeConfig | undefined;
    try {
      fresh = this.#reload?.();
    } catch (error) {
      this.#log.warn("cannot load the Kubernetes credentials again", { error });
    }
    if (!fresh) {
      if (!this.kubeConfig.getCurrentUser()) return;
      fresh = new k8s.KubeConfig();
      fresh.loadFromOptions({
        clusters: this.kubeConfig.clusters,
        contexts: this.kubeConfig.contexts,
        users: this.kubeConfig.users,
        currentContext: this.kubeConfig.currentContext,
      });
    }
    Object.assign(this.kubeConfig, fresh);
  }

  /**
   * Sends one request and resolves once the answer's status and headers are in; the body is
   * read from the result as it arrives, so an answer of any size costs only what the reader
   * keeps. Rejects with {@link TransportError} when no answer arrives.
   */
  async stream(
    method: string,
    path: string,
    options: StreamOptions = {},
  ): Promise<StreamedResponse> {
    if (options.rateLimited ?? true) await this.#limiter.take(options.signal);
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const verb = method.toLowerCase();
    let response: StreamedResponse;
    try {
      if (options.signal?.aborted) throw new TransportError("aborted");
      let prepared;
      try {
        prepared = await this.#prepare();
      } catch (error) {
        throw new TransportError(`credentials: ${(error as Error)?.message ?? error}`);
      }
      const { headers, exchange } = prepared;
      headers["Accept"] = "application/json";
      headers["User-Agent"] = "kube-iptables-tailer";
      let payload: Uint8Array<ArrayBuffer> | undefined;
      if (options.body !== undefined) {
        payload = new TextEncoder().encode(JSON.stringify(options.body));
        headers["Content-Type"] = options.contentType ?? "application/json";
      }
      response = await exchange.request(method, url, {
        headers,
        payload,
        timeoutMs: options.timeoutMs ?? this.#timeoutMs,
        signal: options.signal,
      });
    } catch (error) {
      this.#metrics?.apiRequests.inc({
        verb,
        code: (error as TransportError).timeout ? "timeout" : "error",
      });
      throw error;
    }
    this.#metrics?.apiRequests.inc({ verb, code: `${Math.floor(response.status / 100)}xx` });
    if (response.status === 401) {
      if (!this.#unauthorized) {
        this.#log.warn("the API server refused our credentials (401); reading them again", {
          path,
        });
      }
      this.#unauthorized = true;
      this.refreshCredentials();
    } else if (this.#unauthorized && response.status < 400) {
      this.#unauthorized = false;
      this.#log.info("the API server accepts our credentials again");
    }
    return response;
  }

  /**
   * Sends one request and reads the answer whole (see {@link readBody}). Rejects with
   * {@link TransportError} when no complete answer arrives, with {@link AnswerError} when it
   * is larger than `maxBodyBytes` or claims to be JSON and is not.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const response = await this.stream(method, path, options);
    const body = await readBody(response, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    return { status: response.status, headers: response.headers, body };
  }
}

/** Whether an answer says its body is JSON. */
export function isJsonAnswer(headers: Record<string, string | string[] | undefined>): boolean {
  const type = headers["content-type"];
  return (Array.isArray(type) ? type.join(",") : type ?? "").includes("json");
}

/**
 * Reads an answer's body whole: parsed JSON when its Content-Type says JSON (an empty body is
 * ""), else text. Rejects with {@link AnswerError} when the body is over `maxBytes` (the
 * connection is closed at once, nothing more is read), when a JSON body is not UTF-8 or does
 * not parse; with {@link TransportError} when the answer is cut.
 */
export async function readBody(response: StreamedResponse, maxBytes: number): Promise<unknown> {
  const { status } = response;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.length;
    if (size > maxBytes) {
      response.cancel();
      throw new AnswerError(`HTTP ${status} answer larger than ${maxBytes} bytes`, status);
    }
    chunks.push(chunk.slice()); // the next chunk may reuse its bytes
  }
  const bytes = concat(chunks, size);
  const json = isJsonAnswer(response.headers);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: json }).decode(bytes);
  } catch (error) {
    throw new AnswerError(
      `HTTP ${status} JSON answer is not UTF-8: ${(error as Error).message}`,
      status,
    );
  }
  if (!json || text === "") return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    const start = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new AnswerError(
      `HTTP ${status} JSON answer does not parse (${(error as Error).message}): ${start}`,
      status,
    );
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
