/**
 * The pod index: which Pod owns an IP, kept current with the Kubernetes API the way client-go's
 * reflector does it: one list of all Pods, then a watch from the list's resourceVersion.
 *
 * - The first list asks for `resourceVersion=0` (served from the API server's watch cache,
 *   which usually ignores `limit` and answers in one page) in pages of `pageSize`; continuation
 *   pages, when the server paginates, follow the `continue` token. Pages are read as they
 *   arrive, item by item, so even that one page of every Pod costs only the largest Pod's
 *   memory on top of the index; a Pod over `maxItemBytes` is skipped and counted.
 * - The watch starts at the list's resourceVersion with bookmarks and a randomised timeout, and
 *   every event and BOOKMARK moves the last seen resourceVersion.
 * - A watch that ends (server timeout, cut connection, error) resumes from the last seen
 *   resourceVersion, after a capped, jittered exponential backoff (none after a healthy watch).
 * - A watch on which nothing arrives for `watchIdleMs` (no event, no BOOKMARK, no byte) sits on
 *   a connection that died without a FIN or RST: it is ended and resumed the same way, long
 *   before the request's own deadline would end it.
 * - `410 Gone` (watch ERROR event or HTTP answer) means that version is compacted away: list
 *   again, "not older than" the last seen version (still from the watch cache). A 410 of the
 *   list itself, or a version the server has not reached, lists the latest state (`""`); a
 *   continue token that expired mid-list falls back to one list without `limit`, as client-go's
 *   pager does.
 * - A new list replaces the index exactly: pods not in it are dropped.
 *
 * Only {@link PodInfo} is kept per Pod, and only for Pods that own an IP: Succeeded and Failed
 * Pods own none (the node reuses their IPs), nor do Pods not yet given one.
 *
 * @example
 * ```ts
 * const index = new PodIndex({ client, log, metrics, labelKey: "app" });
 * const done = index.run(signal);
 * await index.whenReady(signal);
 * index.lookup("10.244.1.10"); // { namespace: "shop", name: "web-0", … }
 * ```
 * @module
 */

import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { KubeClient } from "./client.ts";
import { DEFAULT_MAX_ITEM_BYTES } from "./json_items.ts";
import { Backoff } from "./pods_backoff.ts";
import { sleep } from "../timing.ts";
import {
  describeObject,
  Interner,
  type PodInfo,
  podInfoOf,
  resourceVersionOf,
  uidOf,
} from "./pods_info.ts";
import {
  isTooLargeStatus,
  ListFailure,
  listPods,
  type ListQuery,
  PODS_PATH,
  preview,
  statusMessage,
} from "./pods_list.ts";
import { PodTable } from "./pods_table.ts";
import { streamWatch, type WatchEnd } from "./pods_watch.ts";

export type { PodInfo } from "./pods_info.ts";

/** Options of {@link PodIndex}. */
export interface PodIndexOptions {
  client: KubeClient;
  log: Logger;
  metrics?: Metrics;
  /** The label whose value lookups return as {@link PodInfo.label} (POD_IDENTIFIER_LABEL). */
  labelKey?: string;
  /** List page size (default 500, client-go's). */
  pageSize?: number;
  /** First retry delay (default 800 ms, client-go's). */
  minBackoffMs?: number;
  /** Longest retry delay (default 30 s, client-go's). */
  maxBackoffMs?: number;
  /**
   * Shortest server-side watch timeout; each watch asks for a random one between this and
   * twice this, like client-go (default 300: 5–10 minutes).
   */
  watchTimeoutSeconds?: number;
  /**
   * A watch on which nothing arrives for this long (ms) is ended and resumed from the last seen
   * resourceVersion (default {@link DEFAULT_WATCH_IDLE_MS}).
   */
  watchIdleMs?: number;
  /** A watch that lasted this long was healthy: the backoff starts over (default 60 000). */
  healthyAfterMs?: number;
  /** Timeout of one list request (default 120 000: an unpaginated list can be large). */
  listTimeoutMs?: number;
  /**
   * Largest Pod (bytes of JSON) read from a list, and (in characters, with the event around it)
   * from a watch; larger ones are skipped and counted as `oversized` (default 8 MiB).
   */
  maxItemBytes?: number;
}

/** Counters of the index's work, for diagnostics and tests. */
export interface PodIndexStats {
  /** Complete lists. */
  lists: number;
  /** List pages received (complete or not). */
  listPages: number;
  /** Watch requests made. */
  watches: number;
  /** Watch events applied, BOOKMARKs included. */
  watchEvents: number;
  /** Restarts of the list/watch cycle, by reason: expired, closed, error, idle. */
  restarts: Record<string, number>;
  /**
   * Things from the API that were not usable, by reason (see the log for each; also the
   * `pod_index_rejected_total` metric): bad_list, bad_json, oversized, bad_ip, bad_event and
   * the reasons of `podInfoOf`.
   */
  rejected: Record<string, number>;
}

/** What ended a watch, as the loop sees it. */
interface WatchOutcome {
  reason: RestartReason | "aborted";
  /** Whether to list again before the next watch. */
  relist: boolean;
  message?: string;
  retryAfterMs?: number;
}

/**
 * Why the list/watch cycle starts over (the `reason` of `watch_restarts_total`): `expired` (410
 * Gone, a new list follows), `closed` (the server ended the watch or the connection was cut),
 * `error` (an error answer or event, an unusable line, the request's deadline), `idle` (nothing
 * arrived for the idle limit).
 */
type RestartReason = "expired" | "closed" | "error" | "idle";

/** State of the list/watch loop. */
interface LoopState {
  backoff: Backoff;
  needList: boolean;
  /** The last list failed with 410 (a second one in a row waits for the backoff). */
  expiredBefore: boolean;
}

/**
 * Default {@link PodIndexOptions.watchIdleMs}: 150 s. The watch asks for bookmarks, and the API
 * server's watch cache sends a BOOKMARK to such a watcher about once a minute (and 2 s before the
 * watch's timeout), besides an event for every change of any Pod. So 150 s of silence means at
 * least two bookmarks missing: the connection died without a FIN or RST (an API server or load
 * balancer gone, a NAT or conntrack entry expired), and only the request's deadline
 * (timeoutSeconds + 30 s: 5.5 to 10.5 minutes) would notice it; meanwhile the index goes stale and
 * a new Pod reusing an IP is mistaken for the old one. A bookmark that comes late never ends a
 * healthy watch, and a watch ended by mistake costs one request (resumed from the last version, no
 * list): e.g. every 150 s on a quiet cluster whose API server runs without a watch cache (no
 * bookmarks). client-go notices a dead connection within about 45 s (HTTP/2 pings), which a
 * chunked HTTP/1.1 watch cannot do.
 */
export const DEFAULT_WATCH_IDLE_MS = 150_000;

/** Room for `{"type":"MODIFIED","object":…}` around a Pod on a watch line. */
const WATCH_EVENT_ENVELOPE = 1024;

/** Log at most this many rejected objects a minute; the rest are summed up. */
const REJECT_LOG_BUDGET = 10;

/** Which Pod owns an IP, from a list and watch of all Pods. */
export class PodIndex {
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #metrics?: Metrics;
  readonly #labelKey?: string;
  readonly #pageSize: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #watchTimeoutSeconds: number;
  readonly #watchIdleMs: number;
  readonly #healthyAfterMs: number;
  readonly #listTimeoutMs: number;
  readonly #maxItemBytes?: number;

  readonly #table = new PodTable();
  readonly #interner = new Interner(() => 4 * this.#table.size + 10_000);
  readonly #readySignal = Promise.withResolvers<void>();
  #ready = false;
  #running = false;
  #detail = "pod index: not started";
  /** The last resourceVersion seen (list or watch event); "" before the first list. */
  #resourceVersion = "";
  /** The next list asks for the latest state ("") instead of the last seen version. */
  #versionUnavailable = false;
  /** The next list goes without `limit` (a continue token expired mid-list). */
  #unpaginatedNext = false;
  readonly #stats: PodIndexStats = {
    lists: 0,
    listPages: 0,
    watches: 0,
    watchEvents: 0,
    restarts: {},
    rejected: {},
  };
  #rejectWindowStart = 0;
  #rejectLogged = 0;
  #rejectSuppressed = 0;

  constructor(options: PodIndexOptions) {
    this.#client = options.client;
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#labelKey = options.labelKey;
    this.#pageSize = Math.max(1, Math.floor(options.pageSize ?? 500));
    this.#minBackoffMs = options.minBackoffMs ?? 800;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#watchTimeoutSeconds = Math.max(1, options.watchTimeoutSeconds ?? 300);
    this.#watchIdleMs = options.watchIdleMs ?? DEFAULT_WATCH_IDLE_MS;
    this.#healthyAfterMs = options.healthyAfterMs ?? 60_000;
    this.#listTimeoutMs = options.listTimeoutMs ?? 120_000;
    this.#maxItemBytes = options.maxItemBytes;
    this.#metrics?.podIndexSize.set(0);
  }

  /** Whether the first complete list is done. */
  get ready(): boolean {
    return this.#ready;
  }

  /** What the index is doing, or why it is not ready (for /readyz). */
  readyDetail(): string {
    if (this.#ready && this.#running) return `pod index: ready with ${this.#table.size} pods`;
    return this.#detail;
  }

  /**
   * Resolves once the first list is complete; rejects with the signal's reason when `signal`
   * aborts first. Without a signal it waits as long as it takes.
   */
  whenReady(signal?: AbortSignal): Promise<void> {
    if (this.#ready) return Promise.resolve();
    if (!signal) return this.#readySignal.promise;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#readySignal.promise.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  /**
   * The Pod owning `ip` (canonical text, see `canonicalIp`); an IPv4-mapped IPv6 address
   * (`::ffff:a.b.c.d`) also finds the owner of the IPv4 address.
   */
  lookup(ip: string): PodInfo | undefined {
    return this.#table.lookup(ip);
  }

  /** Pods indexed (those owning at least one IP). */
  get size(): number {
    return this.#table.size;
  }

  /** Every Pod indexed. */
  pods(): IterableIterator<PodInfo> {
    return this.#table.pods();
  }

  /** A copy of the work counters. */
  get stats(): PodIndexStats {
    return structuredClone(this.#stats);
  }

  /**
   * Lists and watches until `signal` aborts; then returns (promptly: requests in flight are
   * cancelled, timers cleared). API and network errors are logged, counted and retried with
   * backoff; they never end the loop.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error("PodIndex.run is already running");
    this.#running = true;
    const loop: LoopState = {
      backoff: new Backoff({ minMs: this.#minBackoffMs, maxMs: this.#maxBackoffMs }),
      needList: true,
      expiredBefore: false,
    };
    try {
      while (!signal.aborted) {
        let delay: number;
        try {
          delay = await this.#step(signal, loop);
        } catch (error) {
          // A bug rather than an API answer: keep the index alive, and say so loudly.
          this.#log.error("unexpected error in the pod index loop; listing again", {
            error: (error as Error)?.stack ?? String(error),
          });
          this.#restart("error");
          loop.needList = true;
          delay = loop.backoff.next();
        }
        if (signal.aborted || !await sleep(delay, signal)) break;
      }
    } finally {
      this.#running = false;
      this.#detail = this.#ready
        ? `pod index: stopped with ${this.size} pods`
        : "pod index: stopped before the first list completed";
    }
  }

  /** One list (when needed) and one watch; returns how long to wait before the next step. */
  async #step(signal: AbortSignal, loop: LoopState): Promise<number> {
    if (loop.needList) {
      const failure = await this.#listOnce(signal);
      if (signal.aborted) return 0;
      if (failure) {
        this.#restart(failure.kind === "expired" ? "expired" : "error");
        // An expired version changes what the next list asks for: retry at once, once.
        const delay = failure.kind === "expired" && !loop.expiredBefore
          ? 0
          : Math.max(loop.backoff.next(), failure.details.retryAfterMs ?? 0);
        loop.expiredBefore = failure.kind === "expired";
        this.#detail = `pod index: listing pods failed (${failure.message}); retrying in ${
          (delay / 1000).toFixed(1)
        } s`;
        return delay;
      }
      loop.expiredBefore = false;
      loop.needList = false;
    }
    const started = performance.now();
    const outcome = await this.#watchOnce(signal);
    if (outcome.reason === "aborted" || signal.aborted) return 0;
    this.#restart(outcome.reason);
    loop.needList = outcome.relist;
    const healthy = performance.now() - started >= this.#healthyAfterMs;
    if (healthy) loop.backoff.reset();
    return healthy
      ? outcome.retryAfterMs ?? 0
      : Math.max(loop.backoff.next(), outcome.retryAfterMs ?? 0);
  }

  #restart(reason: RestartReason): void {
    this.#stats.restarts[reason] = (this.#stats.restarts[reason] ?? 0) + 1;
    this.#metrics?.watchRestarts.inc({ reason });
  }

  #nextListQuery(): ListQuery {
    const limit = this.#unpaginatedNext ? 0 : this.#pageSize;
    if (this.#versionUnavailable) return { resourceVersion: "", limit };
    if (this.#resourceVersion === "") return { resourceVersion: "0", limit };
    return {
      resourceVersion: this.#resourceVersion,
      resourceVersionMatch: "NotOlderThan",
      limit,
    };
  }

  /** One complete list that replaces the index; returns the failure, if any. */
  async #listOnce(signal: AbortSignal): Promise<ListFailure | undefined> {
    const query = this.#nextListQuery();
    // Pods held before this list that it has not named (yet): removed once it is complete.
    // Empty on the first list, where a set of the uids named would grow to 3 MB at 100 k Pods.
    const stale = new Set(this.#table.uids());
    const started = performance.now();
    this.#log.debug("listing pods", { ...query });
    if (!this.#ready) this.#detail = "pod index: listing pods";
    try {
      const result = await listPods(this.#client, query, {
        signal,
        timeoutMs: this.#listTimeoutMs,
        maxItemBytes: this.#maxItemBytes,
        onItem: (item) => this.#applyListItem(item, stale),
        onOversized: (index, bytes, page) =>
          this.#reject(
            "oversized",
            "list item",
            undefined,
            `item ${index} of page ${page} has ${bytes} bytes`,
          ),
        onPage: (pages, items) => {
          this.#stats.listPages++;
          this.#metrics?.podIndexSize.set(this.#table.size);
          if (!this.#ready) {
            this.#detail = `pod index: listing pods (${pages} pages, ${items} pods so far)`;
          }
        },
      });
      let removed = 0;
      for (const uid of stale) {
        if (this.#table.remove(uid)) removed++;
      }
      this.#resourceVersion = result.resourceVersion;
      this.#versionUnavailable = false;
      this.#unpaginatedNext = false;
      this.#stats.lists++;
      this.#metrics?.podIndexSize.set(this.#table.size);
      this.#log.info("listed pods", {
        resourceVersion: result.resourceVersion,
        pods: result.items,
        indexed: this.#table.size,
        removed,
        pages: result.pages,
        ms: Math.round(performance.now() - started),
      });
      if (!this.#ready) {
        this.#ready = true;
        this.#readySignal.resolve();
      }
      return undefined;
    } catch (error) {
      const failure = error instanceof ListFailure
        ? error
        : new ListFailure(`unexpected: ${(error as Error)?.stack ?? error}`, "bad_answer");
      if (failure.kind === "aborted") return failure;
      switch (failure.kind) {
        case "expired":
          // A continue token outlived compaction: one list without pages, like client-go's
          // pager. Otherwise the version itself is gone: ask for the latest state.
          if (failure.details.continuing) this.#unpaginatedNext = true;
          else this.#versionUnavailable = true;
          this.#log.info("pod list expired; listing again", { error: failure.message });
          break;
        case "too_large":
          this.#versionUnavailable = true;
          this.#log.warn("the API server is behind our resourceVersion; listing the latest", {
            error: failure.message,
          });
          break;
        case "bad_answer":
          this.#countRejected("bad_list");
          this.#log.warn("pod list answer unusable; retrying", { error: failure.message });
          break;
        default:
          // (A 401 has already made the client read its credentials again.)
          this.#log.warn("pod list failed; retrying", { error: failure.message, ...query });
      }
      return failure;
    }
  }

  #applyListItem(item: unknown, stale: Set<string>): void {
    const result = podInfoOf(item, { labelKey: this.#labelKey, intern: this.#interner.intern });
    if ("reason" in result) {
      this.#reject(result.reason, "list item", item);
      return;
    }
    if (result.badIps) this.#reject("bad_ip", "list item", item, result.badIps.join(","));
    stale.delete(result.pod.uid);
    this.#table.upsert(result.pod);
  }

  /** One watch from the last seen resourceVersion until it ends. */
  async #watchOnce(signal: AbortSignal): Promise<WatchOutcome> {
    const timeoutSeconds = Math.floor(this.#watchTimeoutSeconds * (1 + Math.random()));
    const from = this.#resourceVersion;
    let stop: WatchOutcome | undefined;
    this.#stats.watches++;
    this.#log.debug("watching pods", { resourceVersion: from, timeoutSeconds });
    const end = await streamWatch({
      open: (requestSignal) =>
        this.#client.stream("GET", PODS_PATH, {
          query: { watch: true, resourceVersion: from, allowWatchBookmarks: true, timeoutSeconds },
          // The caller's signal, which also aborts at the idle limit.
          signal: requestSignal,
          // The server ends the watch at timeoutSeconds; far past that, the connection is dead.
          timeoutMs: (timeoutSeconds + 30) * 1000,
          // Paced by the index's backoff, as before the client had a rate limit for it.
          rateLimited: false,
        }),
      signal,
      // Bookmarks keep a live watch from going silent for long (see DEFAULT_WATCH_IDLE_MS).
      idleMs: this.#watchIdleMs,
      maxLineLength: (this.#maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES) + WATCH_EVENT_ENVELOPE,
      onOversized: (length) =>
        this.#reject("oversized", "watch event", undefined, `a line of ${length} characters`),
      onEvent: (type, object) => {
        stop = this.#applyEvent(type, object);
        return stop === undefined;
      },
    });
    if (stop) return stop;
    return this.#watchEndOutcome(end, from);
  }

  #watchEndOutcome(end: WatchEnd, from: string): WatchOutcome {
    const context = { resourceVersion: this.#resourceVersion, from };
    switch (end.kind) {
      case "aborted":
        return { reason: "aborted", relist: false };
      case "closed":
        if (end.clean) this.#log.debug("pod watch ended; resuming", context);
        else this.#log.info("pod watch cut; resuming", { ...context, error: end.message });
        return { reason: "closed", relist: false, message: end.message };
      case "refused": {
        const message = `HTTP ${end.status}: ${statusMessage(end.body)}`;
        if (end.status === 410) {
          this.#log.info("pod watch expired; listing again", { ...context, error: message });
          return { reason: "expired", relist: true, message };
        }
        if (isTooLargeStatus(end.status, end.body)) return this.#tooLarge(message);
        // (A 401 has already made the client read its credentials again.)
        this.#log.warn("pod watch refused; retrying", { ...context, error: message });
        return { reason: "error", relist: false, message, retryAfterMs: end.retryAfterMs };
      }
      case "failed":
        this.#log.warn("pod watch failed; retrying", { ...context, error: end.message });
        return { reason: "error", relist: false, message: end.message };
      case "bad_line":
        // Resume from the last good version: the event that did not decode comes again.
        this.#countRejected("bad_json");
        this.#log.warn("undecodable pod watch event; resuming from the last good version", {
          ...context,
          error: end.message,
          line: end.line,
        });
        return { reason: "error", relist: false, message: end.message };
      case "deadline":
        this.#log.warn("pod watch outlived its timeout (dead connection?); resuming", context);
        return { reason: "error", relist: false, message: "watch outlived its timeout" };
      case "idle": {
        // No bookmark for this long: the connection is dead; a new watch needs no new list.
        const idleSeconds = Math.round(end.silentMs / 100) / 10;
        this.#log.warn(
          "pod watch received nothing, not even a bookmark (dead connection?); resuming",
          { ...context, idleSeconds },
        );
        return { reason: "idle", relist: false, message: `nothing received for ${idleSeconds} s` };
      }
      case "stopped":
        return { reason: "error", relist: false, message: "stopped" };
    }
  }

  #tooLarge(message: string): WatchOutcome {
    this.#versionUnavailable = true;
    this.#log.warn("the API server is behind our resourceVersion; listing the latest", {
      resourceVersion: this.#resourceVersion,
      error: message,
    });
    return { reason: "error", relist: true, message };
  }

  /** Applies one watch event; returns how the watch ends when it must. */
  #applyEvent(type: unknown, object: unknown): WatchOutcome | undefined {
    this.#stats.watchEvents++;
    switch (type) {
      case "ADDED":
      case "MODIFIED": {
        const result = podInfoOf(object, {
          labelKey: this.#labelKey,
          intern: this.#interner.intern,
        });
        if ("reason" in result) this.#reject(result.reason, `${type} event`, object);
        else {
          if (result.badIps) {
            this.#reject("bad_ip", `${type} event`, object, result.badIps.join(","));
          }
          this.#table.upsert(result.pod);
        }
        break;
      }
      case "DELETED": {
        const uid = uidOf(object);
        if (uid === undefined) this.#reject("no_uid", "DELETED event", object);
        else this.#table.remove(uid);
        break;
      }
      case "BOOKMARK":
        if (resourceVersionOf(object) === undefined) {
          this.#reject("bad_event", "BOOKMARK event without resourceVersion", object);
        }
        break;
      case "ERROR":
        return this.#errorEvent(object);
      default:
        this.#reject("bad_event", `event of type ${JSON.stringify(type)}`, object);
        return undefined;
    }
    const rv = resourceVersionOf(object);
    if (rv !== undefined) this.#resourceVersion = rv;
    this.#metrics?.podIndexSize.set(this.#table.size);
    return undefined;
  }

  #errorEvent(status: unknown): WatchOutcome {
    const code = typeof status === "object" && status !== null
      ? (status as { code?: unknown }).code
      : undefined;
    const message = `ERROR event: ${statusMessage(status)}`;
    if (code === 410) {
      this.#log.info("pod watch expired; listing again", {
        resourceVersion: this.#resourceVersion,
        error: message,
      });
      return { reason: "expired", relist: true, message };
    }
    if (typeof code === "number" && isTooLargeStatus(code, status)) return this.#tooLarge(message);
    this.#log.warn("pod watch ended with an error; resuming", {
      resourceVersion: this.#resourceVersion,
      error: message,
    });
    return { reason: "error", relist: false, message };
  }

  #countRejected(reason: string): void {
    this.#stats.rejected[reason] = (this.#stats.rejected[reason] ?? 0) + 1;
    this.#metrics?.podIndexRejected.inc({ reason });
  }

  /**
   * Counts an unusable object and logs it, at most {@link REJECT_LOG_BUDGET} a minute
   * (`object` undefined: it was not read).
   */
  #reject(reason: string, where: string, object: unknown, detail?: string): void {
    this.#countRejected(reason);
    const now = performance.now();
    if (now - this.#rejectWindowStart >= 60_000) {
      if (this.#rejectSuppressed > 0) {
        this.#log.warn("more unusable pod objects were not logged", {
          count: this.#rejectSuppressed,
        });
      }
      this.#rejectWindowStart = now;
      this.#rejectLogged = 0;
      this.#rejectSuppressed = 0;
    }
    if (this.#rejectLogged >= REJECT_LOG_BUDGET) {
      this.#rejectSuppressed++;
      return;
    }
    this.#rejectLogged++;
    this.#log.warn("unusable pod object from the API", {
      reason,
      where,
      ...(object !== undefined ? { pod: describeObject(object) } : {}),
      ...(detail !== undefined ? { detail } : {}),
      ...(object !== undefined ? { object: preview(object) } : {}),
    });
  }
}
