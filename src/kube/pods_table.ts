/**
 * The pod index's tables: Pods by uid and IP → owner. Pure and synchronous.
 *
 * Several Pods can claim one IP for a while (a pod that is going away and its successor on
 * the same node, a stale state). The newest claimant (`createdMs`, then namespace, name and uid
 * as tie-breakers) owns the IP; when it goes away, the next claimant owns it again.
 *
 * @example
 * ```ts
 * const table = new PodTable();
 * table.upsert(pod);
 * table.lookup("10.244.1.10"); // pod
 * table.remove(pod.uid);
 * ```
 * @module
 */

import { unmapIpv4 } from "../netfilter/ip.ts";
import type { PodInfo } from "./pods_info.ts";

/** Whether `a` owns an IP that `b` claims too. */
export function outranks(a: PodInfo, b: PodInfo): boolean {
  if (a.createdMs !== b.createdMs) return a.createdMs > b.createdMs;
  if (a.namespace !== b.namespace) return a.namespace > b.namespace;
  if (a.name !== b.name) return a.name > b.name;
  return a.uid > b.uid;
}

/** Pods that own IPs, by uid, and the owner of every IP. */
export class PodTable {
  readonly #pods = new Map<string, PodInfo>();
  // One owner (the common case, no array) or all claimants, owner first.
  readonly #byIp = new Map<string, PodInfo | PodInfo[]>();

  /** Pods held. */
  get size(): number {
    return this.#pods.size;
  }

  /** Distinct IPs owned. */
  get ipCount(): number {
    return this.#byIp.size;
  }

  /** The pod with `uid`, if held. */
  get(uid: string): PodInfo | undefined {
    return this.#pods.get(uid);
  }

  /** Every pod held (live view; removing while iterating is safe). */
  pods(): IterableIterator<PodInfo> {
    return this.#pods.values();
  }

  /** Every uid held (live view; removing while iterating is safe). */
  uids(): IterableIterator<string> {
    return this.#pods.keys();
  }

  /**
   * Adds or replaces the pod with `pod.uid`. A pod without IPs is not held (it owns nothing
   * to look up); storing one removes its previous state.
   */
  upsert(pod: PodInfo): void {
    const previous = this.#pods.get(pod.uid);
    if (previous) {
      for (const ip of previous.ips) this.#unclaim(ip, previous.uid);
    }
    if (pod.ips.length === 0) {
      if (previous) this.#pods.delete(pod.uid);
      return;
    }
    this.#pods.set(pod.uid, pod);
    for (const ip of pod.ips) this.#claim(ip, pod);
  }

  /** Removes the pod with `uid`; returns whether it was held. */
  remove(uid: string): boolean {
    const previous = this.#pods.get(uid);
    if (!previous) return false;
    for (const ip of previous.ips) this.#unclaim(ip, uid);
    this.#pods.delete(uid);
    return true;
  }

  /**
   * The pod owning `ip` (canonical text). An IPv4-mapped IPv6 address also finds the owner of
   * its IPv4 address.
   */
  lookup(ip: string): PodInfo | undefined {
    let entry = this.#byIp.get(ip);
    if (entry === undefined) {
      const v4 = unmapIpv4(ip);
      if (v4 === undefined) return undefined;
      entry = this.#byIp.get(v4);
      if (entry === undefined) return undefined;
    }
    return Array.isArray(entry) ? entry[0] : entry;
  }

  /** Every pod claiming `ip`, owner first (for diagnostics and tests). */
  claimants(ip: string): readonly PodInfo[] {
    const entry = this.#byIp.get(ip);
    if (entry === undefined) return [];
    return Array.isArray(entry) ? [...entry] : [entry];
  }

  #claim(ip: string, pod: PodInfo): void {
    const entry = this.#byIp.get(ip);
    if (entry === undefined) {
      this.#byIp.set(ip, pod);
      return;
    }
    const others = Array.isArray(entry)
      ? entry.filter((p) => p.uid !== pod.uid)
      : entry.uid === pod.uid
      ? []
      : [entry];
    if (others.length === 0) {
      this.#byIp.set(ip, pod);
      return;
    }
    let at = 0;
    while (at < others.length && outranks(others[at], pod)) at++;
    others.splice(at, 0, pod);
    this.#byIp.set(ip, others);
  }

  #unclaim(ip: string, uid: string): void {
    const entry = this.#byIp.get(ip);
    if (entry === undefined) return;
    if (!Array.isArray(entry)) {
      if (entry.uid === uid) this.#byIp.delete(ip);
      return;
    }
    const rest = entry.filter((p) => p.uid !== uid);
    if (rest.length === 0) this.#byIp.delete(ip);
    else this.#byIp.set(ip, rest.length === 1 ? rest[0] : rest);
  }
}
