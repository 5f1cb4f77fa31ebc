/**
 * Posts Events the way client-go's EventRecorder does, and makes every write idempotent:
 *
 * - Correlation: the same Event (same Pod, reason, message) again updates `count` and
 *   `lastTimestamp` with a PATCH instead of creating an object. N identical drops at once (an
 *   rsyslog `message repeated N times` line) are one write, by N.
 * - Spam filter: a token bucket per Pod (burst 25, one more every 5 minutes by default); what it
 *   refuses is counted as suppressed.
 * - One bounded queue and one sender; the API client adds the QPS limit and timeouts. A full
 *   queue sheds (and counts) Events; reading the log never waits.
 * - Retries with capped exponential backoff on 5xx, 429 (honouring Retry-After) and timeouts,
 *   until the drop is older than the expiration; other 4xx are logged with the API's message and
 *   not retried. A namespace that is gone (404) or terminating (403) drops the Event (counted).
 * - Nothing is posted twice, even across retries and restarts: an Event's name is derived from
 *   (Pod UID, reason, message), creates that meet an existing one (409) read it and compare the
 *   drop time recorded in its annotation, and count updates carry the last seen
 *   resourceVersion as a precondition, so a retried PATCH that already applied gets 409, not a
 *   second increment.
 * @module
 */

import { fnv1a64 } from "../hash.ts";
import type { Logger } from "../log.ts";
import type { EventResult, Metrics } from "../metrics.ts";
import type { ApiResponse, KubeClient } from "./client.ts";
import { retryAfterOf } from "./retry_after.ts";
import { TokenBucket } from "./token_bucket.ts";
import { pollUntil, retryDelay, sleep } from "../timing.ts";
import type { PodRef } from "../enrich/endpoints.ts";

/** One Event to record. */
export interface EventIntent {
  pod: PodRef;
  reason: string;
  message: string;
  /** The drop's log time: the Event's first/last timestamp. */
  time: Date;
  /** The drop's identity (same drop, same id, across restarts): how replays are recognised. */
  dropId: string;
  /**
   * How many identical drops it stands for (an rsyslog `message repeated N times` line): the
   * Event's count goes up by that much, in one write (one spam token). Default 1.
   */
  count?: number;
}

/** Options of {@link EventRecorder}. */
export interface RecorderOptions {
  client: KubeClient;
  log: Logger;
  metrics?: Metrics;
  /** source.component and reportingComponent. */
  component: string;
  /** source.host: this node. */
  host: string;
  /** Events waiting for the sender; beyond it they are shed. */
  queueSize: number;
  /** Per-Pod spam filter. */
  spamBurst: number;
  spamRefillMs: number;
  /** Give up retrying an Event whose drop is older than this (ms). */
  maxAgeMs: number;
  /** Events sent at once (default 8); never two of the same Event. */
  concurrency?: number;
  /** Correlation cache entries (client-go: 4096). */
  cacheSize?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
}

/**
 * The annotation holding the identities of the last drops an Event counts (newest last), so that
 * a drop replayed after a restart or a retry is recognised exactly, whatever its log time.
 */
export const RECENT_DROPS_ANNOTATION = "kube-iptables-tailer.io/recent-drops";

/** How many drop identities an Event remembers: more than can arrive between two checkpoints. */
export const RECENT_DROPS_KEPT = 32;

function recentOf(event: unknown): string[] {
  // deno-lint-ignore no-explicit-any
  const text = (event as any)?.metadata?.annotations?.[RECENT_DROPS_ANNOTATION];
  return typeof text === "string" && text !== "" ? text.split(",") : [];
}

function withDrop(recent: string[], dropId: string): string {
  return [...recent, dropId].slice(-RECENT_DROPS_KEPT).join(",");
}

interface CacheEntry {
  namespace: string;
  name: string;
  count: number;
  lastTimestamp: string;
  recent: string[];
  resourceVersion: string;
}

interface Job {
  intent: EventIntent;
  resolve: (result: EventResult) => void;
  /** When it was queued (the clock of `now`). */
  queuedAt: number;
}

/** The correlation key of an Event: the same key is one Event object. */
function jobKey(intent: EventIntent): string {
  return `${intent.pod.uid}\0${intent.reason}\0${intent.message}`;
}

/** Kubernetes metav1.Time: RFC 3339 in seconds. */
function metaTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A DNS-subdomain Event name: `<pod>.<16 hex digits of (uid, reason, message)>`. */
export function eventName(intent: EventIntent): string {
  const hash = fnv1a64(jobKey(intent));
  return `${intent.pod.name.slice(0, 253 - 17)}.${hash}`;
}

class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** An answer that settles the Event without success (4xx other than a conflict). */
class Refused extends Error {
  constructor(readonly result: EventResult) {
    super(result);
  }
}

/** Event.count is an int32: the API refuses more, so the count stops there. */
export const MAX_EVENT_COUNT = 2 ** 31 - 1;

/** `count` raised by the drops `intent` stands for, within {@link MAX_EVENT_COUNT}. */
function countWith(count: number, intent: EventIntent): number {
  return Math.min(count + (intent.count ?? 1), MAX_EVENT_COUNT);
}

/** Conflicting updates of one Event taken in a row before backing off. */
const MAX_CONFLICTS = 3;

/** Posts Events; see the module documentation. */
export class EventRecorder {
  #o: RecorderOptions;
  #queue: Job[] = [];
  #wake: (() => void) | undefined;
  #cache = new Map<string, CacheEntry>();
  #buckets = new Map<string, TokenBucket>();
  #now: () => number;
  #stopped = false;
  #draining = false;
  /** Aborted when close() gives up: cuts the waits between retries. */
  #givingUp = new AbortController();
  /** Whether run()'s loop is running (close() starts one to drain when it is not). */
  #running = false;
  /** Events being sent (for close()). */
  #current: Set<Promise<void>> = new Set();

  constructor(options: RecorderOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Events waiting to be sent. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  /** Queues an Event; the promise settles with what happened to it. Never rejects. */
  record(intent: EventIntent): Promise<EventResult> {
    if (this.#stopped) return Promise.resolve(this.#count("unsent"));
    // A full queue first: an Event shed there must not use up its Pod's spam allowance.
    if (this.#queue.length >= this.#o.queueSize) {
      this.#o.log.debug("event queue full; shedding", {
        pod: `${intent.pod.namespace}/${intent.pod.name}`,
      });
      return Promise.resolve(this.#count("shed"));
    }
    if (!this.#spamAllows(intent.pod.uid)) return Promise.resolve(this.#count("suppressed"));
    return new Promise((resolve) => {
      this.#queue.push({ intent, resolve, queuedAt: this.#now() });
      this.#wake?.();
    });
  }

  /**
   * The senders: up to `concurrency` Events in flight, never two of the same Event (their
   * count updates must not race). Returns when `signal` aborts and the queue is drained or
   * closed.
   */
  async run(signal: AbortSignal): Promise<void> {
    const concurrency = this.#o.concurrency ?? 8;
    const busy = new Set<string>();
    const inFlight = new Set<Promise<void>>();
    this.#running = true;
    while (!this.#stopped) {
      // The first queued Event (within a window) whose key is not being sent.
      let index = -1;
      if (inFlight.size < concurrency) {
        const window = Math.min(this.#queue.length, 256);
        for (let i = 0; i < window; i++) {
          if (!busy.has(jobKey(this.#queue[i].intent))) {
            index = i;
            break;
          }
        }
      }
      if (index < 0) {
        if (inFlight.size === 0 && this.#queue.length === 0 && signal.aborted && !this.#draining) {
          break;
        }
        let onAbort: (() => void) | undefined;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          if (inFlight.size > 0) Promise.race(inFlight).then(() => resolve());
          onAbort = () => resolve();
          signal.addEventListener("abort", onAbort, { once: true });
        });
        // Removed each time: the loop waits thousands of times over a process's life.
        signal.removeEventListener("abort", onAbort!);
        this.#wake = undefined;
        continue;
      }
      const [job] = this.#queue.splice(index, 1);
      const key = jobKey(job.intent);
      busy.add(key);
      const work: Promise<void> = this.#send(job).finally(() => {
        busy.delete(key);
        inFlight.delete(work);
      });
      inFlight.add(work);
      this.#current = inFlight;
    }
    this.#running = false;
    await Promise.allSettled(inFlight);
    // Left idle by the signal before close(): close() drains what comes meanwhile.
    if (this.#stopped) this.#leaveQueued();
  }

  /**
   * Stops taking Events and drains the queue for at most `deadlineMs`. What is left settles as
   * `unsent` (requests still waiting for an answer, when their connections close), so that the
   * caller leaves those drops out of the checkpoint. Call after aborting `run`'s signal.
   */
  async close(deadlineMs: number): Promise<void> {
    this.#draining = true;
    // Events recorded after run() went idle and returned (a drop still resolving its Pods or
    // DNS name at the signal) are drained too.
    if (!this.#running) void this.run(new AbortController().signal);
    this.#wake?.();
    await pollUntil(
      () => this.#queue.length === 0 && this.#current.size === 0,
      performance.now() + deadlineMs,
    );
    this.#stopped = true;
    this.#givingUp.abort();
    this.#wake?.();
    const left = this.#queue.length + this.#current.size;
    if (left > 0) {
      this.#o.log.warn(
        "shutdown deadline reached; Events left unposted (with a state directory, their drops " +
          "are read again at the next start)",
        { events: left },
      );
    }
    this.#leaveQueued();
  }

  /** Settles the Events still queued as `unsent` (their drops stay out of the checkpoint). */
  #leaveQueued(): void {
    for (const job of this.#queue.splice(0)) job.resolve(this.#count("unsent"));
  }

  #count(result: EventResult): EventResult {
    this.#o.metrics?.events.inc({ result });
    return result;
  }

  #spamAllows(uid: string): boolean {
    let bucket = this.#buckets.get(uid);
    if (!bucket) {
      if (this.#buckets.size >= (this.#o.cacheSize ?? 4096)) this.#pruneBuckets();
      bucket = new TokenBucket({
        rate: 1000 / this.#o.spamRefillMs,
        burst: this.#o.spamBurst,
        now: this.#now,
      });
      this.#buckets.set(uid, bucket);
    }
    return bucket.tryTake();
  }

  #pruneBuckets(): void {
    // A full bucket carries no state; beyond that drop the oldest (client-go's LRU does too).
    for (const [uid, bucket] of this.#buckets) if (bucket.full) this.#buckets.delete(uid);
    const max = this.#o.cacheSize ?? 4096;
    for (const uid of this.#buckets.keys()) {
      if (this.#buckets.size < max) break;
      this.#buckets.delete(uid);
    }
  }

  #remember(key: string, entry: CacheEntry): void {
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    const max = this.#o.cacheSize ?? 4096;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
  }

  async #send(job: Job): Promise<void> {
    const { intent } = job;
    const minBackoff = this.#o.minBackoffMs ?? 250;
    const maxBackoff = this.#o.maxBackoffMs ?? 30_000;
    for (let attempt = 1;; attempt++) {
      try {
        const result = await this.#attempt(intent);
        if (result === "created" || result === "updated") {
          this.#o.metrics?.eventDelay.observe(
            Math.max(0, (this.#now() - intent.time.getTime()) / 1000),
          );
        }
        // A drop read again after a restart and found recorded posted nothing: its spam token
        // goes back, or the replays after a kill -9 would suppress the Pod's new drops.
        if (result === "already_recorded") this.#buckets.get(intent.pod.uid)?.giveBack();
        job.resolve(this.#count(result));
        return;
      } catch (error) {
        if (error instanceof Refused) {
          job.resolve(this.#count(error.result));
          return;
        }
        if (this.#stopped) {
          // The connections were closed at shutdown: not this Event's failure.
          job.resolve(this.#count("unsent"));
          return;
        }
        // Measured from the log time, or from when it was queued when that is later (a log
        // clock ahead of ours must not keep an Event that cannot be posted forever).
        const age = this.#now() - Math.min(intent.time.getTime(), job.queuedAt);
        if (!(error instanceof RetryableError) || age > this.#o.maxAgeMs) {
          this.#o.log.error("giving up on an event", {
            pod: `${intent.pod.namespace}/${intent.pod.name}`,
            attempts: attempt,
            error,
          });
          job.resolve(this.#count("failed"));
          return;
        }
        // Retry-After (bounded by retryAfterOf) wins over our own backoff.
        const jittered = retryDelay(minBackoff, maxBackoff, attempt - 1) *
          (0.8 + 0.4 * Math.random());
        const wait = Math.max(error.retryAfterMs ?? 0, jittered);
        if (attempt === 1 || attempt % 10 === 0) {
          this.#o.log.warn("posting an event failed; retrying", {
            error,
            retryInMs: Math.round(wait),
            attempt,
          });
        }
        // Through the shutdown signal too: close() drains, retries included, until its deadline.
        if (!await sleep(wait, this.#givingUp.signal)) {
          job.resolve(this.#count("unsent"));
          return;
        }
      }
    }
  }

  /** One try; throws RetryableError for what deserves another. */
  async #attempt(intent: EventIntent): Promise<EventResult> {
    const key = jobKey(intent);
    const cached = this.#cache.get(key);
    if (cached) {
      if (cached.recent.includes(intent.dropId)) return "already_recorded";
      const answer = await this.#patchCount(cached, intent, key);
      if (answer === "gone") {
        this.#cache.delete(key);
      } else {
        this.#remember(key, answer);
        return "updated";
      }
    }
    return await this.#create(intent, key);
  }

  async #create(intent: EventIntent, key: string): Promise<EventResult> {
    const ns = intent.pod.namespace;
    const name = eventName(intent);
    const time = metaTime(intent.time);
    const body = {
      apiVersion: "v1",
      kind: "Event",
      metadata: {
        name,
        namespace: ns,
        annotations: { [RECENT_DROPS_ANNOTATION]: intent.dropId },
      },
      involvedObject: {
        kind: "Pod",
        apiVersion: "v1",
        namespace: ns,
        name: intent.pod.name,
        uid: intent.pod.uid,
      },
      reason: intent.reason,
      message: intent.message,
      type: "Warning",
      source: { component: this.#o.component, host: this.#o.host },
      firstTimestamp: time,
      lastTimestamp: time,
      count: countWith(0, intent),
      reportingComponent: this.#o.component,
      reportingInstance: `${this.#o.component}-${this.#o.host}`.slice(0, 128),
    };
    const response = await this.#call(
      "POST",
      `/api/v1/namespaces/${encodeURIComponent(ns)}/events`,
      body,
    );
    if (response.status === 201 || response.status === 200) {
      this.#remember(key, this.#eventOf(response));
      return "created";
    }
    if (response.status === 409) {
      // Ours from before a restart or a retried create that did arrive: continue its series.
      const existing = await this.#call(
        "GET",
        `/api/v1/namespaces/${encodeURIComponent(ns)}/events/${encodeURIComponent(name)}`,
      );
      if (existing.status === 404) {
        throw new RetryableError("event vanished between create and read");
      }
      if (existing.status !== 200) return this.#fail(existing, intent);
      const entry = this.#eventOf(existing);
      const event = existing.body;
      if (event?.involvedObject?.uid !== intent.pod.uid || event?.message !== intent.message) {
        // A hash collision with another Event: never touch it; log and give up on this one.
        this.#o.log.error("event name collision; not recording", { name, namespace: ns });
        return "rejected";
      }
      if (entry.recent.includes(intent.dropId)) {
        this.#remember(key, entry);
        return "already_recorded";
      }
      const updated = await this.#patchCount(entry, intent, key);
      if (updated === "gone") throw new RetryableError("event expired while updating it");
      this.#remember(key, updated);
      return "updated";
    }
    return this.#fail(response, intent);
  }

  /**
   * Counts the intent's drops: PATCHes count, lastTimestamp (never backwards: drops can arrive
   * out of order) and the recent drops, with the resourceVersion as a precondition. On a conflict
   * the Event is read again and the update made on what it is now (the cache learns it too, so a
   * later retry does not start from the outdated copy).
   */
  async #patchCount(
    entry: CacheEntry,
    intent: EventIntent,
    key: string,
  ): Promise<CacheEntry | "gone"> {
    const path = `/api/v1/namespaces/${encodeURIComponent(entry.namespace)}/events/${
      encodeURIComponent(entry.name)
    }`;
    const time = metaTime(intent.time);
    for (let conflicts = 0;; conflicts++) {
      const response = await this.#call("PATCH", path, {
        metadata: {
          resourceVersion: entry.resourceVersion,
          annotations: { [RECENT_DROPS_ANNOTATION]: withDrop(entry.recent, intent.dropId) },
        },
        count: countWith(entry.count, intent),
        lastTimestamp: time > entry.lastTimestamp ? time : entry.lastTimestamp,
      }, "application/strategic-merge-patch+json");
      if (response.status === 200) return this.#eventOf(response);
      if (response.status === 404) return "gone";
      if (response.status !== 409) throw new Refused(this.#fail(response, intent));
      // Changed since we read it — by a retry of ours that did apply, or someone else (another
      // instance of us): read it and decide again.
      const fresh = await this.#call("GET", path);
      if (fresh.status === 404) return "gone";
      if (fresh.status !== 200) throw new Refused(this.#fail(fresh, intent));
      const current = this.#eventOf(fresh);
      if (current.recent.includes(intent.dropId)) return current;
      this.#remember(key, current);
      if (conflicts >= MAX_CONFLICTS) {
        throw new RetryableError("event keeps changing concurrently; retrying the update");
      }
      entry = current;
    }
  }

  /**
   * The Event a successful answer carries. A 2xx whose body is no Event (a proxy's own page, a
   * body emptied on the way) proves nothing: it is retried (a create or update that did arrive
   * then meets its 409), never cached, since an entry without name or resourceVersion would
   * make every later update of the Event fail (and a create not made would pass for done).
   */
  #eventOf(response: ApiResponse): CacheEntry {
    const entry = this.#entryOf(response.body);
    if (entry.name === "" || entry.resourceVersion === "") {
      const body = typeof response.body === "string"
        ? response.body
        : JSON.stringify(response.body) ?? "";
      throw new RetryableError(
        `HTTP ${response.status} answer is not an Event: ${body.slice(0, 200)}`,
      );
    }
    return entry;
  }

  // deno-lint-ignore no-explicit-any
  #entryOf(event: any): CacheEntry {
    return {
      namespace: String(event?.metadata?.namespace ?? ""),
      name: String(event?.metadata?.name ?? ""),
      count: Number(event?.count ?? 1) || 1,
      lastTimestamp: String(event?.lastTimestamp ?? ""),
      recent: recentOf(event),
      resourceVersion: String(event?.metadata?.resourceVersion ?? ""),
    };
  }

  async #call(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<ApiResponse> {
    try {
      return await this.#o.client.request(method, path, { body, contentType });
    } catch (error) {
      throw new RetryableError((error as Error).message);
    }
  }

  /**
   * Classifies a failed answer: throws RetryableError for 5xx/429 (with Retry-After), returns
   * "namespace_gone" or "rejected" for the rest.
   */
  #fail(response: ApiResponse, intent: EventIntent): EventResult {
    const status = response.status;
    const message = typeof response.body === "object"
      ? response.body?.message
      : String(response.body).slice(0, 200);
    // 401: the client has read the credentials again (a rotated token); the retry uses them.
    if (status === 429 || status === 401 || status >= 500) {
      throw new RetryableError(
        `${status}: ${message}`,
        retryAfterOf(response.headers, response.body),
      );
    }
    const pod = `${intent.pod.namespace}/${intent.pod.name}`;
    const reason = typeof response.body === "object" ? response.body?.reason : undefined;
    if (
      (status === 404 && response.body?.details?.kind === "namespaces") ||
      (status === 403 && /being terminated/.test(message ?? ""))
    ) {
      this.#o.log.info("namespace is gone; dropping its event", { pod, status });
      return "namespace_gone";
    }
    this.#o.log.error("the API server refused an event", { pod, status, reason, message });
    return "rejected";
  }
}
