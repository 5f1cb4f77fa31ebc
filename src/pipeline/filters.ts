/**
 * The two filters between the parser and the sinks, as the original had them, minus its bugs:
 * expiry compares the log time with the wall clock (that is what "older than" means), while the
 * repeat filter compares log times with log times only, so replaying an old log behaves like
 * the live run did; and its key keeps the fields apart.
 * @module
 */

import { fnv1a32 } from "../hash.ts";
import type { PacketDrop } from "../netfilter/types.ts";

/** Drops whose log time is older than `maxAgeMs` before `now()` are expired. */
export class ExpiryFilter {
  constructor(private maxAgeMs: number, private now: () => number = Date.now) {}

  /** Whether `drop` is too old to act on. */
  expired(drop: PacketDrop): boolean {
    return this.now() - drop.time.getTime() > this.maxAgeMs;
  }
}

/** The identity of a drop for repeat detection: (prefix, src, dst, proto, destination). */
export function repeatKey(drop: PacketDrop): string {
  const destination = drop.dpt !== undefined
    ? String(drop.dpt)
    : drop.icmpType !== undefined
    ? `icmp${drop.icmpType}/${drop.icmpCode ?? 0}`
    : "";
  // NUL cannot occur in any field (the parser refuses control characters).
  return `${drop.prefix}\0${drop.src}\0${drop.dst}\0${drop.proto}\0${destination}`;
}

/**
 * The identity of one logged packet: its log time and the fields that tell two packets apart
 * (ports, IP id or flow label, lengths, sequence numbers). The same log record gives the same
 * identity in every run, so a drop replayed after a restart is recognised; two packets logged
 * in the same millisecond still differ, and so does an rsyslog `message repeated N times` line
 * from the line it repeats (by its `repeated`).
 */
export function dropIdentity(drop: PacketDrop): string {
  return fnv1a32(
    `${drop.time.getTime()}|${drop.prefix}|${drop.in}|${drop.out}|${drop.src}|${drop.spt}|${drop.dst}|${drop.dpt}|` +
      `${drop.proto}|${drop.id}|${drop.flowLabel}|${drop.len}|${
        drop.ttl ?? drop.hopLimit
      }|${drop.seq}|` +
      `${drop.icmpType}|${drop.icmpCode}|${drop.icmpId}|${drop.icmpSeq}` +
      (drop.repeated === undefined ? "" : `|${drop.repeated}`),
  );
}

/** Options of {@link RepeatFilter}. */
export interface RepeatFilterOptions {
  /**
   * A drop within this many ms (log time) of one of the last two acted-on drops with its key is a
   * repeat.
   */
  intervalMs: number;
  /** Most keys remembered; the least recently acted-on are forgotten first (default 100 000). */
  maxKeys?: number;
}

/**
 * Remembers, per key, the log times of the last two drops that were acted on; memory stays
 * bounded by pruning keys older than the interval (relative to the log times of the latest drops
 * acted on) and by a size cap.
 */
export class RepeatFilter {
  #intervalMs: number;
  #maxKeys: number;
  /**
   * key → log times (ms) of its last two drops acted on, the last first; Map order is "least
   * recently acted on" first. Two, not one: drops of a key from two clocks that interleave (a
   * writer's clock stepped back, lines from before the step written after it) each looked new
   * against the other clock's time, and every one of them was acted on.
   */
  #acted = new Map<string, [last: number, previous: number]>();
  /**
   * Log times of the latest two drops acted on: the filter's clock is the earlier of them. Not
   * the newest time ever seen: one line from a clock that was ahead for a moment would have
   * made every key look stale from then on, and each prune forget them all.
   */
  #latest = -Infinity;
  #before = -Infinity;
  #sincePrune = 0;

  constructor(options: RepeatFilterOptions) {
    this.#intervalMs = options.intervalMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  /** Whether the filter is on (an interval above 0). */
  get enabled(): boolean {
    return this.#intervalMs > 0;
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#acted.size;
  }

  /**
   * Whether `drop` repeats one of the last two acted on with its key within the interval. When it
   * does not, it is recorded as acted on. An interval of 0 disables the filter.
   */
  isRepeat(drop: PacketDrop): boolean {
    if (!this.enabled) return false;
    const time = drop.time.getTime();
    const key = repeatKey(drop);
    const acted = this.#acted.get(key);
    const near = (other: number) => Math.abs(time - other) <= this.#intervalMs;
    if (acted !== undefined && (near(acted[0]) || near(acted[1]))) return true;
    this.#acted.delete(key);
    this.#acted.set(key, [time, acted?.[0] ?? -Infinity]);
    this.#before = this.#latest;
    this.#latest = time;
    if (++this.#sincePrune >= 1024 || this.#acted.size > this.#maxKeys) this.#prune();
    return false;
  }

  #prune(): void {
    this.#sincePrune = 0;
    const horizon = Math.min(this.#before, this.#latest) - this.#intervalMs;
    for (const [key, [last, previous]] of this.#acted) {
      // Later entries were acted on later (mostly), so stop at the first one still needed;
      // out-of-order ones behind it go in a later prune or by the size cap.
      if (this.#acted.size > this.#maxKeys || Math.max(last, previous) < horizon) {
        this.#acted.delete(key);
      } else break;
    }
  }
}
