/**
 * The emulator's HTTP(S) server: `node:http`/`node:https` for connection-level control (a
 * fault can destroy a socket without answering, and open watches can be cut mid-stream),
 * bearer-token authentication, fault injection, a record of every request, and the
 * programmatic API tests use to shape the cluster.
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { Cluster } from "./cluster.ts";
import { failureAnswer, Faults } from "./faults.ts";
import { type ApiRequest, handle, type HandlerContext, statusReply } from "./handlers.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import type { PodChanges, PodInput } from "./resources.ts";
import { ApiError, badRequest, failure, internalError, unauthorized } from "./status.ts";
import { testCertificates } from "./tls.ts";
import type { KubeEvent, Namespace, Pod } from "./types.ts";
import type { StreamSink } from "./watch.ts";

/** Options of {@link startKubeEmulator}. */
export interface KubeEmulatorOptions {
  /** Serve HTTPS with a test CA (default false: plain HTTP). */
  tls?: boolean;
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /**
   * Authenticate by client certificate (mutual TLS, as kubeadm's admin.conf): every request must
   * come over a connection that presented a certificate of the test CA, or carry the token when
   * one is set (else 401). Implies `tls`; the kubeconfig carries the certificate and its key.
   */
  clientCertificates?: boolean;
  /** TCP port (default 0: any free port). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  hostname?: string;
  /** Interval of BOOKMARK events on watches that allow them (default 60 000 ms). */
  bookmarkIntervalMs?: number;
  /** Change events kept per resource; older resourceVersions answer 410 (default 10 000). */
  watchCacheSize?: number;
  /** How long a deleted namespace stays Terminating (default 100 ms). */
  namespaceTerminationMs?: number;
  /** Event time-to-live after the last write (default 1 h, like --event-ttl). */
  eventTtlMs?: number;
  /** Recorded requests kept (default 10 000; the oldest are forgotten). */
  maxRecordedRequests?: number;
  /** Where to write the kubeconfig (default: a file in a temporary directory). */
  kubeconfigPath?: string;
  /** Closes the emulator when aborted. */
  signal?: AbortSignal;
}

/** One request as the emulator saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Parsed JSON when the body was JSON, the text otherwise, undefined when empty. */
  body: unknown;
  /** HTTP status answered; 0 when the connection was dropped by a fault. */
  status: number;
  /** Epoch milliseconds when the request arrived. */
  startedAt: number;
  /** Time to the answer (for a watch: until the stream ended; -1 while it is open). */
  durationMs: number;
  watch: boolean;
  dropped: boolean;
  /**
   * The user a verified client certificate names (its subject's CN, as kube-apiserver takes
   * it); undefined when the connection presented none, or one the test CA did not sign or that
   * is expired.
   */
  user: string | undefined;
}

/** A running emulator. */
export interface KubeEmulator extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** A kubeconfig for kubectl and client-node (server, CA data, token). */
  readonly kubeconfigPath: string;
  /** The test CA (TLS only). */
  readonly caCertPem: string | undefined;
  /** A file holding the current token (when a token is set), rewritten by {@link setToken}. */
  readonly tokenPath: string | undefined;
  /** The latest resourceVersion of the cluster. */
  readonly resourceVersion: string;
  /** Requests answered so far, oldest first. */
  readonly requests: RecordedRequest[];
  /** Fault switches. */
  readonly faults: Faults;

  /** Creates a namespace (idempotent while it is Active). */
  addNamespace(name: string, labels?: Record<string, string>): Namespace;
  /** Makes a namespace Terminating; resolves once it and its pods and events are gone. */
  deleteNamespace(name: string, options?: { graceMs?: number }): Promise<void>;
  /** Adds a running Pod (its namespace is created when missing). */
  addPod(input: PodInput): Pod;
  /** Adds many Pods; returns how many. */
  addPods(inputs: Iterable<PodInput>): number;
  /** Changes a Pod's node, phase, IPs, labels …; throws when it does not exist. */
  updatePod(namespace: string, name: string, changes: PodChanges): Pod;
  /** Deletes a Pod; returns its last state. */
  deletePod(namespace: string, name: string): Pod | undefined;
  /** Current Pods (frozen objects), optionally of one namespace. */
  pods(namespace?: string): Pod[];
  /** Current core/v1 Events (frozen objects), optionally of one namespace. */
  events(namespace?: string): KubeEvent[];
  /** Current Namespaces. */
  namespaces(): Namespace[];
  /** Changes the accepted token (undefined: no authentication) and rewrites kubeconfig and token file. */
  setToken(token: string | undefined): Promise<void>;
  /** Forgets the recorded requests. */
  clearRequests(): void;
  /** Makes every earlier resourceVersion too old: lists, continues and watches from it get 410. */
  compact(): void;
  /** Stops serving, cuts open connections and removes the kubeconfig. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;

function headerRecord(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function parseRecordedBody(text: string, contentType: string | undefined): unknown {
  if (text === "") return undefined;
  if (contentType && /json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * Starts a Kubernetes API emulator. See the module documentation of `mod.ts` for an example.
 */
export async function startKubeEmulator(options: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  const cluster = new Cluster({
    watchCacheSize: options.watchCacheSize ?? 10_000,
    namespaceTerminationMs: options.namespaceTerminationMs ?? 100,
    eventTtlMs: options.eventTtlMs ?? 3_600_000,
  });
  const maxRecorded = options.maxRecordedRequests ?? 10_000;
  let token = options.token;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const openWatches = new Set<http.ServerResponse>();
  /** Open watches held silent by {@link Faults.silenceWatches}. */
  const silentWatches = new WeakSet<http.ServerResponse>();
  const faults = new Faults(() => {
    const count = openWatches.size;
    for (const res of openWatches) res.socket?.destroy();
    return count;
  }, () => {
    for (const res of openWatches) silentWatches.add(res);
    return openWatches.size;
  });
  const certificates = options.tls || options.clientCertificates
    ? await testCertificates()
    : undefined;
  const clientCertificates = options.clientCertificates === true;
  /**
   * The user of the client certificate the request's connection presented, when the test CA
   * signed it and it is valid now. Checked when the connection is made (kube-apiserver checks at
   * every request).
   */
  const certificateUser = (req: http.IncomingMessage): string | undefined => {
    const socket = req.socket as TLSSocket;
    if (!clientCertificates || socket.authorized !== true) return undefined;
    const name = socket.getPeerCertificate().subject?.CN;
    return Array.isArray(name) ? name[0] : name;
  };
  const context: HandlerContext = {
    cluster,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    serverAddress: "",
  };

  const record = (entry: RecordedRequest) => {
    requests.push(entry);
    if (requests.length > maxRecorded) requests.splice(0, requests.length - maxRecorded);
  };

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const startedAt = Date.now();
    const t0 = performance.now();
    const url = new URL(req.url ?? "/", "http://emulator");
    const method = (req.method ?? "GET").toUpperCase();
    const headers = headerRecord(req.headers);
    const entry: RecordedRequest = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: undefined,
      status: 0,
      startedAt,
      durationMs: -1,
      watch: false,
      dropped: false,
      user: certificateUser(req),
    };
    const send = (status: number, head: Record<string, string>, body: string) => {
      entry.status = status;
      entry.durationMs = performance.now() - t0;
      if (res.destroyed) return;
      res.writeHead(status, {
        "Audit-Id": crypto.randomUUID(),
        "Cache-Control": "no-cache, private",
        ...head,
      });
      res.end(body);
    };
    try {
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Uint8Array).length;
        if (size > MAX_BODY_BYTES) break;
        chunks.push(chunk as Uint8Array);
      }
      const rawBody = new TextDecoder().decode(concat(chunks));
      entry.body = parseRecordedBody(rawBody, headers["content-type"]);
      record(entry);
      if (faults.takeDrop(method, url.pathname)) {
        entry.dropped = true;
        entry.durationMs = performance.now() - t0;
        req.socket.destroy();
        return;
      }
      if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
      const injected = faults.takeFailure(method, url.pathname);
      if (injected) {
        const answer = failureAnswer(injected);
        return send(answer.code, answer.headers, answer.body);
      }
      const bearer = token !== undefined && headers["authorization"] === `Bearer ${token}`;
      if ((token !== undefined || clientCertificates) && !bearer && entry.user === undefined) {
        const reply = statusReply(unauthorized());
        return send(reply.status, reply.headers, reply.body);
      }
      if (size > MAX_BODY_BYTES) {
        const reply = statusReply(
          failure(
            413,
            "RequestEntityTooLarge",
            `Request entity too large: limit is ${MAX_BODY_BYTES}`,
          ),
        );
        return send(reply.status, reply.headers, reply.body);
      }
      const request: ApiRequest = {
        method,
        path: url.pathname,
        query: url.searchParams,
        headers,
        rawBody,
      };
      const result = await handle(context, request);
      if ("stream" in result) {
        entry.watch = true;
        entry.status = result.status;
        res.writeHead(result.status, { "Audit-Id": crypto.randomUUID(), ...result.headers });
        res.flushHeaders();
        openWatches.add(res);
        const callbacks: (() => void)[] = [];
        let closed = false;
        const finish = () => {
          if (closed) return;
          closed = true;
          openWatches.delete(res);
          entry.durationMs = performance.now() - t0;
          for (const callback of callbacks) callback();
        };
        res.on("close", finish);
        // A silent watch writes nothing, not even its end: its connection stays open.
        const sink: StreamSink = {
          write: (chunk) => {
            if (!closed && !silentWatches.has(res)) res.write(chunk);
          },
          end: () => {
            if (!closed && !silentWatches.has(res)) res.end();
            finish();
          },
          onClose: (callback) => callbacks.push(callback),
          get closed() {
            return closed;
          },
        };
        await result.stream(sink);
        return;
      }
      send(result.status, result.headers, result.body);
    } catch (error) {
      const status = error instanceof ApiError
        ? error.status
        : error instanceof URIError
        ? badRequest(error.message)
        : internalError((error as Error)?.message ?? String(error));
      if (!(error instanceof ApiError)) console.error("kube emulator: request failed", error);
      if (!requests.includes(entry)) record(entry);
      const reply = statusReply(status, error instanceof ApiError ? error.headers : {});
      if (!res.headersSent) send(reply.status, reply.headers, reply.body);
      else res.destroy();
    }
  };

  const server = certificates
    ? https.createServer(
      {
        key: certificates.serverKeyPem,
        cert: certificates.serverCertPem,
        // Asked for, checked per request (a token may stand in for it).
        ...(clientCertificates
          ? { requestCert: true, rejectUnauthorized: false, ca: certificates.caCertPem }
          : {}),
      },
      onRequest,
    )
    : http.createServer(onRequest);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const hostname = options.hostname ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = `${certificates ? "https" : "http"}://${host}:${port}`;
  context.serverAddress = `${host}:${port}`;

  const tempDir = await Deno.makeTempDir({ prefix: "kube-emulator-" });
  const kubeconfigPath = options.kubeconfigPath ?? `${tempDir}/kubeconfig`;
  const tokenPath = `${tempDir}/token`;
  const writeFiles = async () => {
    await writeKubeconfig(kubeconfigPath, {
      server: url,
      caCertPem: certificates?.caCertPem,
      token,
      ...(clientCertificates
        ? { clientCertPem: certificates?.clientCertPem, clientKeyPem: certificates?.clientKeyPem }
        : {}),
    });
    if (token !== undefined) await Deno.writeTextFile(tokenPath, token, { mode: 0o600 });
    else await Deno.remove(tokenPath).catch(() => {});
  };
  await writeFiles();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      cluster.close();
      for (const res of openWatches) res.socket?.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Deno.remove(tempDir, { recursive: true }).catch(() => {});
      if (options.kubeconfigPath) await Deno.remove(options.kubeconfigPath).catch(() => {});
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  const inNamespace = <T extends { metadata: { namespace?: string } }>(items: T[], ns?: string) =>
    ns === undefined ? items : items.filter((o) => o.metadata.namespace === ns);

  return {
    url,
    port,
    kubeconfigPath,
    caCertPem: certificates?.caCertPem,
    get tokenPath() {
      return token === undefined ? undefined : tokenPath;
    },
    get resourceVersion() {
      return String(cluster.clock.current);
    },
    requests,
    faults,
    addNamespace: (name, labels) => cluster.addNamespace(name, labels),
    deleteNamespace: (name, opts) => cluster.deleteNamespace(name, opts?.graceMs),
    addPod: (input) => cluster.addPod(input),
    addPods(inputs) {
      let count = 0;
      for (const input of inputs) {
        cluster.addPod(input);
        count++;
      }
      return count;
    },
    updatePod: (namespace, name, changes) => cluster.updatePod(namespace, name, changes),
    deletePod: (namespace, name) => cluster.deletePod(namespace, name),
    pods: (namespace) => inNamespace(cluster.pods.all(), namespace),
    events: (namespace) => inNamespace(cluster.events.all(), namespace),
    namespaces: () => cluster.namespaces.all(),
    async setToken(next) {
      token = next;
      await writeFiles();
    },
    clearRequests() {
      requests.length = 0;
    },
    compact: () => cluster.compact(),
    close,
    [Symbol.asyncDispose]: close,
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
