/**
 * A multi-version object store standing in for etcd plus the watch cache: one global revision
 * counter (resourceVersion), per-key version chains so a paginated list can be served as of a
 * past revision, a bounded ring of change events for watches, and a sorted key index so a page
 * costs O(log n + page), not a sort.
 *
 * Stored objects are deep-frozen and never mutated; every change stores a new object. Objects
 * are kept without `kind`/`apiVersion` (list items on the wire have neither) and their JSON is
 * cached per object.
 * @module
 */

import type { KubeObject } from "./types.ts";

/** The global revision counter shared by all stores (etcd's revision). */
export class RevisionClock {
  #current: number;
  #waiters: { rv: number; resolve: () => void }[] = [];

  constructor(start = 1) {
    this.#current = start;
  }

  /** The latest revision. */
  get current(): number {
    return this.#current;
  }

  /** Allocates the next revision. */
  next(): number {
    this.#current++;
    if (this.#waiters.length > 0) {
      const ready = this.#waiters.filter((w) => w.rv <= this.#current);
      this.#waiters = this.#waiters.filter((w) => w.rv > this.#current);
      for (const waiter of ready) waiter.resolve();
    }
    return this.#current;
  }

  /** Resolves true once the clock reaches `rv`, false after `timeoutMs`. */
  waitFor(rv: number, timeoutMs: number): Promise<boolean> {
    if (rv <= this.#current) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        rv,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.#waiters.push(waiter);
    });
  }
}

/** A change as watchers see it. `prev` is the object before the change (null for ADDED). */
export interface StoreEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED";
  rv: number;
  key: string;
  obj: T;
  prev: T | null;
}

interface Version<T> {
  rv: number;
  /** null: deleted at `rv` (a tombstone kept while a snapshot read may need it). */
  obj: T | null;
}

/** Options of {@link VersionedStore}. */
export interface StoreOptions {
  clock: RevisionClock;
  /** How many change events the watch history keeps (the watch cache size). */
  historySize: number;
}

/** What one page of a list returns. */
export interface ListPage<T> {
  items: T[];
  /** The key of the last item returned when more keys follow in the range. */
  lastKey?: string;
  /** Keys left in the range after this page (an estimate, like the real server's). */
  remaining?: number;
}

/** Reading a stored revision that history no longer holds. */
export class TooOldError extends Error {
  constructor(readonly requested: number, readonly oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
    this.name = "TooOldError";
  }
}

const jsonCache = new WeakMap<object, string>();

/** The JSON text of a stored (frozen) object, computed once. */
export function jsonOf(obj: object): string {
  let text = jsonCache.get(obj);
  if (text === undefined) {
    text = JSON.stringify(obj);
    jsonCache.set(obj, text);
  }
  return text;
}

/** Freezes an object graph so stored versions cannot change under readers. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value as object)) {
      deepFreeze((value as Record<string, unknown>)[key]);
    }
  }
  return value;
}

/** Index of the first element of `sorted` that is >= `key`. */
function lowerBound(sorted: string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One resource's objects (e.g. all pods), versioned by the shared clock. */
export class VersionedStore<T extends KubeObject> {
  readonly #clock: RevisionClock;
  readonly #chains = new Map<string, Version<T>[]>();
  #live = 0;
  // Sorted key index: `#sorted` plus keys added since the last merge in `#pending`; keys of
  // `#sorted` whose chain was dropped are in `#stale` until the next merge.
  #sorted: string[] = [];
  #pending: string[] = [];
  readonly #stale = new Set<string>();
  // Watch history: a ring of the last `historySize` events; every event after `#historyStart`
  // is in it.
  readonly #ring: (StoreEvent<T> | undefined)[];
  #ringHead = 0;
  #ringCount = 0;
  #historyStart: number;
  readonly #listeners = new Set<(event: StoreEvent<T>) => void>();

  constructor(options: StoreOptions) {
    this.#clock = options.clock;
    this.#ring = new Array(Math.max(1, options.historySize));
    this.#historyStart = options.clock.current;
  }

  /** Number of live objects. */
  get size(): number {
    return this.#live;
  }

  /** The oldest revision reads and watches can start from; older ones are "too old". */
  get oldestRevision(): number {
    return this.#historyStart;
  }

  /** The current object at `key`, or undefined. */
  get(key: string): T | undefined {
    const chain = this.#chains.get(key);
    return chain?.[chain.length - 1].obj ?? undefined;
  }

  /** Stores a new object; returns undefined when `key` already holds one. */
  create(key: string, build: (rv: number) => T): T | undefined {
    if (this.get(key) !== undefined) return undefined;
    const rv = this.#clock.next();
    const obj = deepFreeze(build(rv));
    let chain = this.#chains.get(key);
    if (!chain) {
      chain = [];
      this.#chains.set(key, chain);
      if (this.#stale.has(key)) this.#stale.delete(key);
      else this.#pending.push(key);
    }
    chain.push({ rv, obj });
    this.#live++;
    this.#emit({ type: "ADDED", rv, key, obj, prev: null });
    return obj;
  }

  /** Replaces the object at `key`; returns undefined when there is none. */
  update(key: string, build: (rv: number, current: T) => T): T | undefined {
    const current = this.get(key);
    if (current === undefined) return undefined;
    const rv = this.#clock.next();
    const obj = deepFreeze(build(rv, current));
    this.#chains.get(key)!.push({ rv, obj });
    this.#emit({ type: "MODIFIED", rv, key, obj, prev: current });
    return obj;
  }

  /**
   * Deletes the object at `key`; `stamp` gives the last state carrying the deletion revision
   * (what watchers receive). Returns that state, or undefined when there was none.
   */
  delete(key: string, stamp: (rv: number, current: T) => T): T | undefined {
    const current = this.get(key);
    if (current === undefined) return undefined;
    const rv = this.#clock.next();
    const last = deepFreeze(stamp(rv, current));
    this.#chains.get(key)!.push({ rv, obj: null });
    this.#live--;
    this.#emit({ type: "DELETED", rv, key, obj: last, prev: current });
    return last;
  }

  /** Every live object, in key order. */
  all(): T[] {
    const out: T[] = [];
    this.#ensureSorted();
    for (const key of this.#sorted) {
      const obj = this.get(key);
      if (obj !== undefined) out.push(obj);
    }
    return out;
  }

  /**
   * One page of the objects that existed at revision `rv` (which must not be older than
   * {@link oldestRevision}), with keys starting with `prefix` and not less than `from`,
   * keeping those `match` accepts, at most `limit` (0: all).
   */
  list(options: {
    rv: number;
    prefix: string;
    from?: string;
    limit: number;
    match?: (obj: T) => boolean;
  }): ListPage<T> {
    const { rv, prefix, from, limit, match } = options;
    if (rv < this.#historyStart) throw new TooOldError(rv, this.#historyStart);
    this.#ensureSorted();
    const sorted = this.#sorted;
    let i = lowerBound(sorted, from !== undefined && from > prefix ? from : prefix);
    const items: T[] = [];
    let lastKey: string | undefined;
    for (; i < sorted.length; i++) {
      const key = sorted[i];
      if (!key.startsWith(prefix)) break;
      if (limit > 0 && items.length >= limit) break;
      const chain = this.#chains.get(key);
      if (!chain) continue;
      const obj = versionAt(chain, rv)?.obj;
      if (!obj) continue;
      if (match && !match(obj)) continue;
      items.push(obj);
      lastKey = key;
    }
    if (i < sorted.length && sorted[i].startsWith(prefix) && limit > 0 && items.length >= limit) {
      const end = prefix === "" ? sorted.length : lowerBound(sorted, `${prefix}\uffff`);
      return { items, lastKey, remaining: end - i };
    }
    return { items };
  }

  /**
   * The events after revision `rv` still in history, oldest first.
   * @throws TooOldError when history no longer reaches back to `rv`.
   */
  eventsSince(rv: number): StoreEvent<T>[] {
    if (rv < this.#historyStart) throw new TooOldError(rv, this.#historyStart);
    const out: StoreEvent<T>[] = [];
    const capacity = this.#ring.length;
    for (let n = 0; n < this.#ringCount; n++) {
      const event = this.#ring[(this.#ringHead + n) % capacity]!;
      if (event.rv > rv) out.push(event);
    }
    return out;
  }

  /** Calls `listener` synchronously for every change; returns the unsubscribe function. */
  subscribe(listener: (event: StoreEvent<T>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Forgets all history: reads and watches from any revision before the current one become
   * "too old". (The cluster advances the clock first, so every revision handed out so far is.)
   */
  compact(): void {
    this.#historyStart = this.#clock.current;
    this.#ring.fill(undefined);
    this.#ringHead = 0;
    this.#ringCount = 0;
    for (const [key, chain] of this.#chains) {
      const last = chain[chain.length - 1];
      if (last.obj === null) {
        this.#chains.delete(key);
        this.#stale.add(key);
      } else if (chain.length > 1) {
        this.#chains.set(key, [last]);
      }
    }
  }

  #emit(event: StoreEvent<T>): void {
    const capacity = this.#ring.length;
    if (this.#ringCount === capacity) {
      const evicted = this.#ring[this.#ringHead]!;
      this.#ring[this.#ringHead] = event;
      this.#ringHead = (this.#ringHead + 1) % capacity;
      this.#historyStart = evicted.rv;
      this.#trim(evicted.key, evicted.rv);
    } else {
      this.#ring[(this.#ringHead + this.#ringCount) % capacity] = event;
      this.#ringCount++;
    }
    for (const listener of this.#listeners) listener(event);
  }

  /** Drops versions of `key` superseded at or before `rv`: no read can ask for them anymore. */
  #trim(key: string, rv: number): void {
    const chain = this.#chains.get(key);
    if (!chain) return;
    let drop = 0;
    while (drop + 1 < chain.length && chain[drop + 1].rv <= rv) drop++;
    if (drop > 0) chain.splice(0, drop);
    if (chain.length === 1 && chain[0].obj === null && chain[0].rv <= rv) {
      this.#chains.delete(key);
      this.#stale.add(key);
    }
  }

  #ensureSorted(): void {
    if (this.#pending.length === 0) {
      if (this.#stale.size > 1024 && this.#stale.size * 4 > this.#sorted.length) {
        this.#sorted = this.#sorted.filter((key) => !this.#stale.has(key));
        this.#stale.clear();
      }
      return;
    }
    const added = this.#pending.sort();
    this.#pending = [];
    const merged: string[] = new Array(this.#sorted.length + added.length);
    let a = 0;
    let b = 0;
    let n = 0;
    const old = this.#sorted;
    while (a < old.length || b < added.length) {
      let key: string;
      if (b >= added.length || (a < old.length && old[a] < added[b])) key = old[a++];
      else key = added[b++];
      if (this.#stale.has(key)) continue;
      merged[n++] = key;
    }
    merged.length = n;
    this.#sorted = merged;
    this.#stale.clear();
  }
}

function versionAt<T>(chain: Version<T>[], rv: number): Version<T> | undefined {
  for (let i = chain.length - 1; i >= 0; i--) {
    if (chain[i].rv <= rv) return chain[i];
  }
  return undefined;
}
