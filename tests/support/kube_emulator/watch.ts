/**
 * A watch stream: JSON lines `{"type":…,"object":…}` from a starting resourceVersion, with
 * selector transitions (an object that starts or stops matching arrives as ADDED or DELETED),
 * periodic BOOKMARKs, `timeoutSeconds`, and the real server's error events (410 Expired for a
 * too-old resourceVersion, 504 for one the store has not reached).
 * @module
 */

import type { ResourceDef } from "./resources.ts";
import { expired, type Status, tooLargeResourceVersion } from "./status.ts";
import {
  jsonOf,
  type RevisionClock,
  type StoreEvent,
  TooOldError,
  type VersionedStore,
} from "./store.ts";
import type { KubeObject } from "./types.ts";

/** Where a stream writes; implemented by the HTTP server over a chunked response. */
export interface StreamSink {
  /** Writes one chunk. */
  write(chunk: string): void;
  /** Ends the response cleanly. */
  end(): void;
  /** Registers cleanup for when the stream ends for any reason (either side). */
  onClose(callback: () => void): void;
  /** Whether the stream has ended. */
  readonly closed: boolean;
}

/** How long the server waits for a future resourceVersion before giving up (like the cacher). */
export const FUTURE_RV_WAIT_MS = 3000;

/** Everything a watch needs. */
export interface WatchParams<T extends KubeObject> {
  store: VersionedStore<T>;
  def: ResourceDef<T>;
  clock: RevisionClock;
  /** Key prefix: `ns/` for one namespace, "" for all. */
  prefix: string;
  match: (obj: T) => boolean;
  /** The resourceVersion parameter ("" when absent). */
  resourceVersion: string;
  sendInitialEvents?: boolean;
  allowBookmarks: boolean;
  bookmarkIntervalMs: number;
  timeoutMs?: number;
  /** Renders an event's object (default: the object with kind and apiVersion), e.g. as a Table. */
  render?: (obj: T) => string;
}

/** Runs a watch on `sink` until it times out or either side closes it. */
export async function runWatch<T extends KubeObject>(
  sink: StreamSink,
  params: WatchParams<T>,
): Promise<void> {
  const { store, def, clock, prefix, match } = params;
  const head = `{"kind":${JSON.stringify(def.kind)},"apiVersion":${
    JSON.stringify(def.group ? `${def.group}/${def.version}` : def.version)
  },`;
  let buffer: string[] = [];
  let scheduled = false;
  const flush = () => {
    if (buffer.length > 0 && !sink.closed) sink.write(buffer.join(""));
    buffer = [];
  };
  // Changes made in one synchronous burst go out in one write, right after the burst.
  const flushSoon = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      flush();
    });
  };
  const render = params.render ?? ((obj: T) => `${head}${jsonOf(obj).slice(1)}`);
  const queue = (type: string, obj: T) => {
    buffer.push(`{"type":"${type}","object":${render(obj)}}\n`);
    if (buffer.length >= 512) flush();
  };
  const fail = (status: Status) => {
    flush();
    if (sink.closed) return;
    sink.write(`{"type":"ERROR","object":${JSON.stringify(status)}}\n`);
    sink.end();
  };
  // The cacher's bookmark is the type's zero value with a resourceVersion (and the
  // initial-events-end annotation only after sendInitialEvents), written whole: for a Pod,
  // `{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"N","creationTimestamp":null},
  // "spec":{"containers":null},"status":{}}`.
  const bookmark = (rv: number, initialEventsEnd = false) => {
    const annotations = initialEventsEnd
      ? `,"annotations":{"k8s.io/initial-events-end":"true"}`
      : "";
    buffer.push(
      `{"type":"BOOKMARK","object":${head}"metadata":{"resourceVersion":"${rv}","creationTimestamp":null${annotations}},${def.zeroFields}}}\n`,
    );
  };
  const deliver = (event: StoreEvent<T>) => {
    if (!event.key.startsWith(prefix)) return;
    const now = match(event.obj);
    if (event.type === "ADDED") {
      if (now) queue("ADDED", event.obj);
    } else if (event.type === "DELETED") {
      if (now) queue("DELETED", event.obj);
    } else {
      const before = event.prev !== null && match(event.prev);
      if (now && before) queue("MODIFIED", event.obj);
      else if (now) queue("ADDED", event.obj);
      else if (before) queue("DELETED", event.obj);
    }
  };

  const rv = params.resourceVersion;
  const wanted = rv === "" ? 0 : Number(rv);
  if (wanted > clock.current) {
    const reached = await clock.waitFor(wanted, FUTURE_RV_WAIT_MS);
    if (sink.closed) return;
    if (!reached) return fail(tooLargeResourceVersion(wanted, clock.current));
  }

  let unsubscribe: () => void;
  const initial = params.sendInitialEvents ?? (rv === "" || rv === "0");
  if (initial || wanted === 0) {
    const current = clock.current;
    const snapshot = initial ? store.list({ rv: current, prefix, limit: 0, match }).items : [];
    unsubscribe = store.subscribe((event) => {
      deliver(event);
      flushSoon();
    });
    for (const obj of snapshot) queue("ADDED", obj);
    if (params.sendInitialEvents && params.allowBookmarks) bookmark(current, true);
  } else {
    let history: StoreEvent<T>[];
    try {
      history = store.eventsSince(wanted);
    } catch (error) {
      if (!(error instanceof TooOldError)) throw error;
      return fail(expired(error.message));
    }
    unsubscribe = store.subscribe((event) => {
      deliver(event);
      flushSoon();
    });
    for (const event of history) deliver(event);
  }
  flush();

  const timers: ReturnType<typeof setTimeout>[] = [];
  if (params.allowBookmarks && params.bookmarkIntervalMs > 0) {
    timers.push(setInterval(() => {
      bookmark(clock.current);
      flush();
    }, params.bookmarkIntervalMs));
  }
  if (params.timeoutMs !== undefined) {
    timers.push(setTimeout(() => {
      flush();
      if (!sink.closed) sink.end();
    }, params.timeoutMs));
  }
  const cleanup = () => {
    unsubscribe();
    for (const timer of timers) clearTimeout(timer);
  };
  if (sink.closed) cleanup();
  else sink.onClose(cleanup);
}
