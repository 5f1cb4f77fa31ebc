/**
 * Access to the Kubernetes API with `@kubernetes/client-node` for configuration, credentials and
 * watches: in-cluster (service-account token and CA, KUBERNETES_SERVICE_HOST/PORT), a kubeconfig
 * (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`; a ':'-separated list is merged as kubectl
 * merges KUBECONFIG), and the original's `KUBE_API_SERVER` override. A token file (the
 * service-account token, a kubeconfig's `tokenFile`) is read again every minute, as client-go
 * reads it, and at once after a 401. The CA, client certificate and key files are followed (see
 * tls_files.ts): looked at every {@link TLS_FILE_CHECK_MS} ms and after a failed request, and once
 * they changed into something whole, new connections use them.
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
  isNotPermitted,
  mayRead,
  outsidePermissionSet,
  PRODUCTION_PATHS,
  refusalText,
} from "../permissions.ts";
import {
  type Exchange,
  exchangeFor,
  type StreamedResponse,
  TransportError,
} from "./http_exchange.ts";
import {
  FileChanges,
  readTlsMaterial,
  tlsFiles,
  type TlsSources,
  tlsSources,
  withTlsMaterial,
} from "./tls_files.ts";
import { TokenBucket } from "./token_bucket.ts";
import { TOKEN_FILE_REREAD_MS, TokenFile } from "./token_file.ts";

export { type StreamedResponse, TransportError } from "./http_exchange.ts";

/** Where credentials come from. */
export interface ClientSettings {
  kubeApiServer?: string;
  kubeconfig?: string;
  kubeApiQps: number;
  kubeApiBurst: number;
  kubeApiTimeoutSeconds: number;
  /** Least time between two looks at the TLS files, in ms (default {@link TLS_FILE_CHECK_MS}). */
  tlsFileCheckMs?: number;
  /** Least time between two reads of a token file, in ms (default {@link TOKEN_FILE_REREAD_MS}). */
  tokenFileRereadMs?: number;
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

/**
 * How often, at most, the CA, client certificate and key files are looked at (stat) for a
 * rotation; a failed request or a 401 has them looked at by the next request.
 */
export const TLS_FILE_CHECK_MS = 5000;

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Loads a kubeconfig file. A user's token file (`tokenFile`, as kubectl and client-go write it;
 * client-node 1.4 knows only `token-file`, read once) becomes client-node's `tokenFile` auth
 * provider, the form in-cluster credentials take, which {@link KubeClient} reads again every
 * minute as client-go does. It is read once here, so a file that cannot be read fails at start,
 * as in client-go; it wins over a `token` beside it when it can be read. A relative path is taken
 * from the kubeconfig's directory, as kubectl does (client-node does so for certificate and key
 * files, but reads a token file from the working directory). An empty file (or only comments)
 * defines nothing, as for client-go (client-node would fail on it).
 */
function loadKubeconfigFile(kc: k8s.KubeConfig, path: string): void {
  const text = Deno.readTextFileSync(path);
  if (text.split("\n").every((line) => /^\s*(#|$)/.test(line))) return;
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  const doc = k8s.loadYaml<Record<string, unknown> | null>(text);
  const users = isRecord(doc) && Array.isArray(doc.users) ? doc.users : [];
  for (const entry of users) {
    const user = isRecord(entry) ? entry.user : undefined;
    if (!isRecord(user)) continue;
    const named = user.tokenFile ?? user["token-file"];
    delete user.tokenFile;
    delete user["token-file"];
    if (typeof named !== "string" || named === "") continue;
    const file = named.startsWith("/") ? named : `${dir}/${named}`;
    if (user["auth-provider"] !== undefined) {
      user["token-file"] = file; // beside another provider: read once, by client-node
      continue;
    }
    try {
      new TokenFile(file).token();
    } catch (error) {
      const cause = (error as Error).cause;
      if (isNotPermitted(cause)) throw cause; // named by kubeconfigError
      if (typeof user.token === "string" && user.token !== "") continue;
      throw error;
    }
    delete user.token;
    user["auth-provider"] = { name: "tokenFile", config: { tokenFile: file } };
  }
  kc.loadFromString(k8s.dumpYaml(doc));
  kc.makePathsAbsolute(dir);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Kubeconfig files as loaded, merged, and the file each user and context (by name) is from. */
interface LoadedKubeconfig {
  kc: k8s.KubeConfig;
  /** The file, or the ':'-separated files, as given. */
  files: string;
  userFiles: Map<string, string>;
  contextFiles: Map<string, string>;
}

/**
 * Loads the kubeconfig files `files` names, in order: one path, or a list separated by ':' as
 * kubectl's KUBECONFIG (empty entries and repeats are left out, as client-go does), merged as
 * client-go merges them: a listed file that does not exist is skipped (not one this program may
 * not read: permissions are no reason to act on other credentials); the first file to set
 * current-context sets it; the first to define a cluster, user or context of a name keeps it
 * whole. Each file's relative paths are its own directory's.
 * @throws {ConfigError} naming the file that could not be used, or every file when none exists.
 */
function loadKubeconfigFiles(files: string, paths = kubeconfigPaths(files)): LoadedKubeconfig {
  if (paths.length === 0) {
    throw new ConfigError(
      `cannot load Kubernetes credentials: the kubeconfig list ${
        JSON.stringify(files)
      } names no file`,
    );
  }
  const loaded: k8s.KubeConfig[] = [];
  const userFiles = new Map<string, string>();
  const contextFiles = new Map<string, string>();
  for (const path of paths) {
    const kc = new k8s.KubeConfig();
    try {
      loadKubeconfigFile(kc, path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && paths.length > 1) continue;
      throw kubeconfigError(path, error);
    }
    loaded.push(kc);
    for (const { name } of kc.users) if (!userFiles.has(name)) userFiles.set(name, path);
    for (const { name } of kc.contexts) if (!contextFiles.has(name)) contextFiles.set(name, path);
  }
  if (loaded.length === 0) {
    throw new ConfigError(
      `cannot load Kubernetes credentials: none of the kubeconfig files exists (${
        paths.map((path) => JSON.stringify(path)).join(", ")
      })`,
    );
  }
  let kc = loaded[0];
  if (loaded.length > 1) {
    kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: firstOfEachName(loaded.map((each) => each.clusters)),
      users: firstOfEachName(loaded.map((each) => each.users)),
      contexts: firstOfEachName(loaded.map((each) => each.contexts)),
      currentContext: loaded.find((each) => each.currentContext)?.currentContext ?? "",
    });
  }
  return { kc, files, userFiles, contextFiles };
}

/** The paths of a ':'-separated list, without empty entries and repeats. */
function kubeconfigPaths(files: string): string[] {
  return [...new Set(files.split(":").filter((path) => path !== ""))];
}

/** The first item of each name, in order (client-go keeps the first file's entry whole). */
function firstOfEachName<T extends { name: string }>(lists: T[][]): T[] {
  const byName = new Map<string, T>();
  for (const item of lists.flat()) if (!byName.has(item.name)) byName.set(item.name, item);
  return [...byName.values()];
}

/** Why the kubeconfig at `path` could not be used, naming it. */
function kubeconfigError(path: string, error: unknown): ConfigError {
  if (isNotPermitted(error)) {
    // The kubeconfig itself, or a token file it names (client-node reads it as it loads).
    const refused = /"([^"]+)"/.exec(refusalText(error as Error))?.[1] ?? path;
    return refused === path
      ? new ConfigError(
        `the kubeconfig ${JSON.stringify(path)}: this program may not read it (${
          outsidePermissionSet(`reads a kubeconfig under ${PRODUCTION_PATHS.kubeconfig}`)
        })`,
      )
      : namedFileRefused(refused);
  }
  return new ConfigError(
    `cannot load Kubernetes credentials from kubeconfig ${JSON.stringify(path)}: ${
      (error as Error).message.split("\n")[0]
    }`,
  );
}

/** The error for a file a kubeconfig names that the permission set does not let us read. */
function namedFileRefused(file: string): ConfigError {
  return new ConfigError(
    `the kubeconfig names ${JSON.stringify(file)}, which this program may not read (${
      outsidePermissionSet(
        `reads a kubeconfig and the files it names under ${PRODUCTION_PATHS.kubeconfig}`,
      )
    })`,
  );
}

/** Loads a KubeConfig per settings; throws ConfigError when there are no credentials. */
export function loadKubeConfig(
  settings: ClientSettings,
  env: Record<string, string | undefined>,
): k8s.KubeConfig {
  let kc = new k8s.KubeConfig();
  let files: LoadedKubeconfig | undefined;
  const home = env.HOME;
  const inCluster = env.KUBERNETES_SERVICE_HOST !== undefined &&
    fileExists(`${SERVICE_ACCOUNT_DIR}/token`);
  try {
    if (settings.kubeconfig) {
      files = loadKubeconfigFiles(settings.kubeconfig);
      kc = files.kc;
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
      files = loadKubeconfigFiles(`${home}/.kube/config`, [`${home}/.kube/config`]);
      kc = files.kc;
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
      const homeConfig = home ? `${home}/.kube/config` : undefined;
      // Run by hand, the admin's own kubeconfig is the likely one, and the production
      // permission set never reads it: say so, rather than call it missing.
      const kubeDefault = homeConfig && !mayRead(homeConfig)
        ? `and ~/.kube/config (${homeConfig}) is outside what this program may read (the ` +
          `production set reads a kubeconfig under ${PRODUCTION_PATHS.kubeconfig}: copy it ` +
          "there and give --kubeconfig)"
        : "no readable ~/.kube/config";
      throw new ConfigError(
        "no Kubernetes API credentials: not in a cluster (KUBERNETES_SERVICE_HOST and the " +
          `service-account token are missing), no --kubeconfig/KUBECONFIG, ${kubeDefault}; ` +
          "use --dry-run to run without Kubernetes",
      );
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `cannot load Kubernetes credentials: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  // Errors name the file at fault: the one defining the context or user, or all of them.
  const kubeconfig = (file = files?.files) =>
    file === undefined ? "the kubeconfig" : `the kubeconfig ${JSON.stringify(file)}`;
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new ConfigError(`${kubeconfig()} has no current cluster`);
  const user = kc.getCurrentUser();
  // Files client-node reads at every request: refused by the permission set, every request
  // would fail alike, retried forever.
  for (const file of tlsFiles(tlsSources(kc))) {
    if (!mayRead(file)) throw namedFileRefused(file);
  }
  const context = kc.getContextObject(kc.currentContext);
  if (!user && context?.user) {
    // client-node would then leave out the cluster's CA too; client-go refuses such a context.
    // (A context naming no user at all is anonymous, e.g. behind `kubectl proxy`.)
    throw new ConfigError(
      `${
        kubeconfig(files?.contextFiles.get(context.name))
      }: context "${context.name}" names user "${context.user}", which it does not define`,
    );
  }
  const plugin = user?.exec ?? user?.authProvider?.config?.exec;
  if (plugin) {
    // client-node would spawn it at every request and fail there: Deno's permissions for the
    // daemon grant no --allow-run.
    throw new ConfigError(
      `${kubeconfig(files?.userFiles.get(user!.name))}: user "${
        user!.name
      }" gets its credentials from an exec plugin (${
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
 * rate limit, credentials (read again after a 401; TLS files followed), the timeout and the
 * request metrics live in one place; {@link request} reads the answer whole, with a size cap.
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
  #tlsFileCheckMs: number;
  #tokenFileRereadMs: number;
  #log: Logger;
  #metrics?: Metrics;
  #reload: (() => k8s.KubeConfig) | undefined;
  /** The kubeconfig without TLS settings: headers come from it without reading TLS files. */
  #headerSource!: k8s.KubeConfig;
  /** The current user's token file (client-node's `tokenFile` auth provider), read here. */
  #tokenFile: TokenFile | undefined;
  #headers: { headers: Record<string, string>; at: number } | undefined;
  /** Where the TLS settings come from, and their files' changes. */
  #tlsSources!: TlsSources;
  #tlsFiles!: FileChanges;
  /** The TLS settings may differ from those in use, files or not (a reloaded kubeconfig). */
  #tlsReloaded = false;
  /** Sends requests with the TLS settings read last ({@link #tlsInUse}). */
  #exchange: Exchange | undefined;
  #tlsInUse: string | undefined;
  /** Since changed TLS files were refused (logged once until some are taken). */
  #tlsRefused = false;
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
    this.#tlsFileCheckMs = settings.tlsFileCheckMs ?? TLS_FILE_CHECK_MS;
    this.#tokenFileRereadMs = settings.tokenFileRereadMs ?? TOKEN_FILE_REREAD_MS;
    this.#log = log;
    this.#metrics = metrics;
    this.#useKubeConfig();
  }

  /** Derives what requests need from {@link kubeConfig} (at start and after each reload). */
  #useKubeConfig(): void {
    this.#headerSource = withTlsMaterial(this.kubeConfig, {});
    // client-node reads a `tokenFile` provider's file too, but a failed read there fails the
    // request even with a good token in hand: read here instead (see token_file.ts).
    const user = this.#headerSource.getCurrentUser();
    const tokenFile = user?.authProvider?.name === "tokenFile"
      ? user.authProvider.config?.tokenFile
      : undefined;
    this.#tokenFile = undefined;
    if (typeof tokenFile === "string" && tokenFile !== "") {
      this.#tokenFile = new TokenFile(tokenFile, {
        rereadMs: this.#tokenFileRereadMs,
        onStale: (path, error) =>
          this.#log.warn("cannot read the token file again; keeping the token read before", {
            path,
            error,
          }),
      });
      this.#headerSource.users = this.#headerSource.users.map((u) =>
        u.name === user!.name ? { ...u, authProvider: undefined } : u
      );
    }
    this.#headers = undefined;
    this.#tlsSources = tlsSources(this.kubeConfig);
    this.#tlsFiles = new FileChanges(tlsFiles(this.#tlsSources), {
      intervalMs: this.#tlsFileCheckMs,
    });
    // Its files or inline data may differ from those in use: compared at the next request.
    this.#tlsReloaded = true;
  }

  /**
   * The exchange for the next request: made at the first one from the TLS settings, and again
   * when their files changed into something whole (a file caught missing or half-written keeps
   * the exchange in use, logged once). Requests under way keep their connections: client-go
   * closes them, but a watch the server accepted stays accepted until it ends.
   */
  async #followTls(): Promise<void> {
    const first = this.#exchange === undefined;
    const files = this.#tlsFiles;
    const stamps = first || this.#tlsReloaded ? files.look() : files.poll();
    if (stamps === undefined) return;
    this.#tlsReloaded = false;
    let exchange: Exchange;
    let material: string;
    try {
      const tls = readTlsMaterial(this.#tlsSources);
      material = JSON.stringify(tls);
      if (!first && material === this.#tlsInUse) {
        files.settle(stamps);
        this.#tlsRefused = false;
        return;
      }
      const opts: https.RequestOptions = { headers: {} };
      await withTlsMaterial(this.kubeConfig, tls).applyToHTTPSOptions(opts);
      exchange = exchangeFor(this.server, opts.agent as http.Agent | undefined);
    } catch (error) {
      if (first) throw error;
      files.settle(stamps);
      if (!this.#tlsRefused) {
        this.#log.warn(
          "the TLS files changed but cannot be used (yet); keeping the TLS credentials in use",
          { error },
        );
      }
      this.#tlsRefused = true;
      return;
    }
    files.settle(stamps);
    const previous = this.#exchange;
    this.#exchange = exchange;
    this.#tlsInUse = material;
    // A closed fetch client lets its answers under way finish; it only takes no new requests,
    // and requests pick the exchange up synchronously as they start (see stream).
    previous?.[Symbol.dispose]();
    if (first) {
      this.#log.debug("Kubernetes API requests", { via: exchange.name, server: this.server });
    } else {
      this.#log.info("the TLS credentials changed; new connections use them", {
        files: files.paths.join(", "),
      });
    }
    this.#tlsRefused = false;
  }

  /** The request's headers (client-node's, read again at most every {@link HEADERS_TTL_MS}). */
  async #prepareHeaders(): Promise<Record<string, string>> {
    // client-node builds a TLS agent on every call; under a burst of Events that costs more
    // than the request. Credentials are cached for a second (and dropped after a 401).
    const cached = this.#headers;
    if (cached && performance.now() - cached.at < HEADERS_TTL_MS) return { ...cached.headers };
    const opts: https.RequestOptions = { headers: {} };
    await this.#headerSource.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      // Trimmed as client-go trims a token file: one written by `kubectl create token > file`
      // ends in a newline, which node:http refuses in a header (fetch trims it by itself).
      if (v !== undefined) headers[k] = String(v).trim();
    }
    if (opts.auth) headers["Authorization"] = `Basic ${btoa(opts.auth)}`;
    if (this.#tokenFile && headers["Authorization"] === undefined) {
      headers["Authorization"] = `Bearer ${this.#tokenFile.token()}`;
    }
    this.#headers = { headers, at: performance.now() };
    return { ...headers };
  }

  /** How requests are sent ("fetch" or "node:http"); undefined before the first one. */
  get transport(): string | undefined {
    return this.#exchange?.name;
  }

  /** Releases the connections (a `fetch` client with the cluster's CA). */
  close(): void {
    this.#exchange?.[Symbol.dispose]();
    this.#exchange = undefined;
    this.#tlsInUse = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Forces credentials to be read again (after a 401: the token file may have rotated, or the
   * client certificate expired). With `reload` the configuration is loaded from its files again
   * (a kubeconfig may have been rewritten); either way the header source is made anew, so a
   * token file is read at the next request, and the TLS settings are compared with those in use.
   */
  refreshCredentials(): void {
    let fresh: k8s.KubeConfig | undefined;
    try {
      fresh = this.#reload?.();
    } catch (error) {
      this.#log.warn("cannot load the Kubernetes credentials again", { error });
    }
    if (fresh) Object.assign(this.kubeConfig, fresh);
    this.#useKubeConfig();
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
      let headers: Record<string, string>;
      try {
        await this.#followTls();
        headers = await this.#prepareHeaders();
      } catch (error) {
        throw new TransportError(`credentials: ${(error as Error)?.message ?? error}`);
      }
      headers["Accept"] = "application/json";
      headers["User-Agent"] = "kube-iptables-tailer";
      let payload: Uint8Array<ArrayBuffer> | undefined;
      if (options.body !== undefined) {
        payload = new TextEncoder().encode(JSON.stringify(options.body));
        headers["Content-Type"] = options.contentType ?? "application/json";
      }
      // Read here, after the awaits above: a rotation meanwhile closed the exchange it replaced,
      // which takes no new request (and this one starts its fetch before yielding).
      const exchange = this.#exchange;
      if (exchange === undefined) throw new TransportError("the client was closed");
      response = await exchange.request(method, url, {
        headers,
        payload,
        timeoutMs: options.timeoutMs ?? this.#timeoutMs,
        signal: options.signal,
      });
    } catch (error) {
      // No answer: rotated TLS files may be the cure (an expired certificate, a new CA).
      this.#tlsFiles.lookSoon();
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
