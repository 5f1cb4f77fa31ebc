/**
 * Reverse DNS for IPs that are not Pods: a PTR lookup (`Deno.resolveDns`, trailing dot removed,
 * first name), with a cache (TTL and size cap, negative answers cached too), a timeout, and a
 * bound on lookups in flight. A slow lookup never blocks other drops: each caller waits only for
 * its own answer, at most the timeout, and when too many lookups are queued the caller gets no
 * name at once (the message then shows the IP).
 *
 * @example
 * ```ts
 * const dns = new ReverseDns({ timeoutMs: 2000, cacheSize: 10000, ttlMs: 300_000, concurrency: 8 });
 * await dns.lookup("192.0.2.7"); // "api.partner.example" or undefined
 * ```
 * @module
 */

import { ipFamily, parseIpv4, parseIpv6, unmapIpv4 } from "../netfilter/ip.ts";
import type { DnsResult } from "../metrics.ts";

/** A PTR resolver: returns the names for a PTR query name. */
export type PtrResolver = (query: string, signal: AbortSignal) => Promise<string[]>;

/** Options of {@link ReverseDns}. */
export interface ReverseDnsOptions {
  /** Timeout of one lookup, ms. */
  timeoutMs: number;
  /** Answers kept (0 disables caching). */
  cacheSize: number;
  /** How long an answer is kept, ms. */
  ttlMs: number;
  /** How long "no name" is kept, ms (default: ttlMs). Timeouts and errors: a tenth of it. */
  negativeTtlMs?: number;
  /** Lookups in flight at once. */
  concurrency: number;
  /** Lookups waiting for a slot; beyond it callers get no name at once (default 1000). */
  maxQueued?: number;
  /** Name server (IP and port); the system's when undefined. */
  nameServer?: { ipAddr: string; port: number };
  /** The resolver (tests and benchmarks may pass their own). */
  resolver?: PtrResolver;
  /** Called with each lookup's outcome (metrics). */
  onResult?: (result: DnsResult) => void;
  now?: () => number;
}

/**
 * The PTR query name of an IP: `7.2.0.192.in-addr.arpa` or the IPv6 nibble form. An IPv4-mapped
 * IPv6 address asks for its IPv4 address's name (as Go's resolver does): no ip6.arpa zone holds
 * it.
 */
export function ptrName(ip: string): string | undefined {
  const v4 = unmapIpv4(ip);
  if (v4 !== undefined || ipFamily(ip) === 4) {
    const bytes = parseIpv4(v4 ?? ip);
    return bytes ? `${bytes.reverse().join(".")}.in-addr.arpa` : undefined;
  }
  const groups = parseIpv6(ip);
  if (!groups) return undefined;
  const nibbles: string[] = [];
  for (let g = 7; g >= 0; g--) {
    for (let shift = 0; shift < 16; shift += 4) {
      nibbles.push(((groups[g] >> shift) & 15).toString(16));
    }
  }
  return `${nibbles.join(".")}.ip6.arpa`;
}

interface CacheEntry {
  name: string | undefined;
  expires: number;
}

/** A DNS host name: dot-separated labels of letters, digits, `-` and `_`, 253 characters at most. */
export function isHostName(name: string): boolean {
  return name.length <= 253 &&
    /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/
      .test(name);
}

/** Reverse DNS with cache, timeout and bounded concurrency. */
export class ReverseDns {
  #o: ReverseDnsOptions;
  #cache = new Map<string, CacheEntry>();
  #inFlight = new Map<string, Promise<string | undefined>>();
  #active = 0;
  #queue: (() => void)[] = [];
  #resolver: PtrResolver;
  #now: () => number;

  constructor(options: ReverseDnsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const nameServer = options.nameServer;
    this.#resolver = options.resolver ??
      ((query, signal) =>
        Deno.resolveDns(query, "PTR", { signal, ...(nameServer ? { nameServer } : {}) }));
  }

  /** Entries cached now. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** The first PTR name of `ip` without the trailing dot, or undefined. Never rejects. */
  lookup(ip: string): Promise<string | undefined> {
    const cached = this.#cache.get(ip);
    if (cached) {
      if (cached.expires > this.#now()) {
        this.#o.onResult?.("cache_hit");
        return Promise.resolve(cached.name);
      }
      this.#cache.delete(ip);
    }
    const pending = this.#inFlight.get(ip);
    if (pending) return pending;
    const query = ptrName(ip);
    if (!query) return Promise.resolve(undefined);
    if (this.#active >= this.#o.concurrency && this.#queue.length >= (this.#o.maxQueued ?? 1000)) {
      this.#o.onResult?.("shed");
      return Promise.resolve(undefined);
    }
    const promise = this.#resolve(ip, query).finally(() => this.#inFlight.delete(ip));
    this.#inFlight.set(ip, promise);
    return promise;
  }

  /**
   * Waits for a lookup slot until `deadline`; false when the deadline came first. A slot is
   * handed over by {@link #release} (already counted in `#active`), so nobody arriving between
   * its release and this caller's wake-up can take it.
   */
  async #slot(deadline: number): Promise<boolean> {
    let resolve!: () => void;
    const turn = new Promise<void>((r) => (resolve = r));
    this.#queue.push(resolve);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), Math.max(0, deadline - performance.now()));
    });
    const outcome = await Promise.race([turn, late]);
    clearTimeout(timer);
    if (outcome !== "late") return true;
    // Out of the queue: whoever frees a slot must not hand it to us.
    const index = this.#queue.indexOf(resolve);
    if (index >= 0) this.#queue.splice(index, 1);
    else this.#release(); // our turn came at the same moment: pass it on
    return false;
  }

  /** Gives a finished lookup's slot to the first one waiting, or frees it. */
  #release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#active--;
  }

  async #resolve(ip: string, query: string): Promise<string | undefined> {
    const negativeTtl = this.#o.negativeTtlMs ?? this.#o.ttlMs;
    // The timeout covers the wait for a slot too: a caller waits at most timeoutMs in all.
    const deadline = performance.now() + this.#o.timeoutMs;
    // Taken synchronously when a slot is free, so concurrent callers cannot all pass; a slot is
    // free only while nobody waits (a freed one goes to the first waiter).
    if (this.#active < this.#o.concurrency) this.#active++;
    else if (!await this.#slot(deadline)) {
      this.#o.onResult?.("timeout");
      return undefined;
    }
    try {
      const names = await this.#ask(query, deadline);
      const first = names.find((n) => n.length > 0)?.replace(/\.$/, "");
      // The owner of the address's reverse zone writes its PTR record: anything but a host name
      // (spaces, parentheses, a fake "(10.0.0.1) on port 22/TCP") would make the Event's
      // message say what it likes. Such an answer names nothing; the IP is shown instead.
      const name = first !== undefined && isHostName(first) ? first : undefined;
      this.#store(ip, name, name ? this.#o.ttlMs : negativeTtl);
      this.#o.onResult?.(name ? "resolved" : first !== undefined ? "invalid_name" : "not_found");
      return name;
    } catch (error) {
      const name = (error as Error)?.name;
      if (name === "NotFound") {
        this.#store(ip, undefined, negativeTtl);
        this.#o.onResult?.("not_found");
      } else if (name === "TimeoutError" || name === "AbortError" || name === "TimedOut") {
        this.#store(ip, undefined, negativeTtl / 10);
        this.#o.onResult?.("timeout");
      } else {
        this.#store(ip, undefined, negativeTtl / 10);
        this.#o.onResult?.("error");
      }
      return undefined;
    } finally {
      this.#release();
    }
  }

  /**
   * The resolver's answer to `query`, asked until `deadline`. Deno's resolver ends a query to a
   * silent name server on its own after about 2 s (`TimedOut`) whatever the signal allows, so a
   * longer timeout asks again with the time left (a slow recursive server has often cached the
   * answer by then).
   */
  async #ask(query: string, deadline: number): Promise<string[]> {
    for (;;) {
      const left = Math.max(1, deadline - performance.now());
      try {
        return await this.#resolver(query, AbortSignal.timeout(left));
      } catch (error) {
        if ((error as Error)?.name !== "TimedOut" || deadline - performance.now() < 1) throw error;
      }
    }
  }

  #store(ip: string, name: string | undefined, ttl: number): void {
    if (this.#o.cacheSize <= 0) return;
    this.#cache.delete(ip);
    this.#cache.set(ip, { name, expires: this.#now() + ttl });
    // Oldest insertions go first: Map keeps insertion order.
    while (this.#cache.size > this.#o.cacheSize) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
  }
}
