/**
 * What the daemon must post for the kernel's LOG records, derived independently of the product's
 * parser: each record is one dropped packet, worth one count on the sender Pod's Event
 * (`Packet dropped when sending traffic to …`) and one on the receiver Pod's
 * (`… receiving traffic from …`). Pure: no I/O.
 *
 * @example
 * ```ts
 * const expected = expectedEvents(records.map((r) => r.text), pods, { prefixes: ["kit-1a2b:"], showPrefix: false });
 * const actual = observedEvents(api.events());
 * const problems = compareEvents(expected, actual); // [] when every count is exact
 * ```
 * @module
 */

import { expandIPv6 } from "../lab/plan.ts";

/** A Pod of the emulated cluster standing for a lab pod. */
export interface ClusterPod {
  namespace: string;
  name: string;
  v4: string;
  /** Canonical (RFC 5952) IPv6 text. */
  v6?: string;
}

/** The fields of a LOG record an Event message depends on. */
export interface LoggedDrop {
  /** The configured prefix the record starts with (trimmed). */
  prefix: string;
  src: string;
  dst: string;
  proto: string;
  dpt?: number;
  icmpType?: number;
  icmpCode?: number;
}

/** Events by `namespace/name: message`, each with its count. */
export type EventCounts = Map<string, number>;

/** The key of an Event in {@link EventCounts}. */
export function eventKey(namespace: string, name: string, message: string): string {
  return `${namespace}/${name}: ${message}`;
}

function field(text: string, name: string): string | undefined {
  return new RegExp(`(?:^| )${name}=(\\S*)`).exec(text)?.[1];
}

/**
 * Reads one LOG record (`<prefix> IN=… SRC=… DST=… … PROTO=…`) whose text starts with one of
 * `prefixes` (as configured, trimmed). Throws, naming the record, when it is not one.
 */
export function loggedDrop(text: string, prefixes: readonly string[]): LoggedDrop {
  const prefix = [...prefixes].sort((a, b) => b.length - a.length).find((p) =>
    text.startsWith(p) && /^\s*IN=/.test(text.slice(p.length))
  );
  const src = field(text, "SRC");
  const dst = field(text, "DST");
  const proto = field(text, "PROTO");
  if (prefix === undefined || !src || !dst || !proto) {
    throw new Error(`not a LOG record of prefixes ${JSON.stringify(prefixes)}: ${text}`);
  }
  const drop: LoggedDrop = { prefix, src, dst, proto };
  const number = (name: string) => {
    const value = field(text, name);
    return value === undefined ? undefined : Number(value);
  };
  if (proto === "TCP" || proto === "UDP") drop.dpt = number("DPT");
  if (proto === "ICMP" || proto === "ICMPv6") {
    drop.icmpType = number("TYPE");
    drop.icmpCode = number("CODE");
  }
  return drop;
}

/** Finds the cluster Pod of an address as the kernel prints it (IPv6 fully expanded). */
export class PodDirectory {
  #byKernelIp = new Map<string, { pod: ClusterPod; ip: string }>();

  constructor(readonly pods: readonly ClusterPod[]) {
    for (const pod of pods) {
      this.#byKernelIp.set(pod.v4, { pod, ip: pod.v4 });
      if (pod.v6) this.#byKernelIp.set(expandIPv6(pod.v6), { pod, ip: pod.v6 });
    }
  }

  /** The Pod and its canonical IP for a kernel-printed address. */
  lookup(kernelIp: string): { pod: ClusterPod; ip: string } {
    const found = this.#byKernelIp.get(kernelIp.includes(":") ? expandIPv6(kernelIp) : kernelIp);
    if (!found) throw new Error(`no cluster Pod has the address ${kernelIp}`);
    return found;
  }
}

/** How the daemon is configured to word messages. */
export interface MessageStyle {
  /** Several prefixes (or a pattern) are configured: messages end with ` (rule "<prefix>")`. */
  showPrefix: boolean;
}

/** `on port 5432/TCP`, `(ICMP type 8 code 0)`, `(ICMPv6 type 128 code 0)`. */
export function trafficText(drop: LoggedDrop): string {
  if (drop.icmpType !== undefined) {
    return `(${drop.proto} type ${drop.icmpType} code ${drop.icmpCode ?? 0})`;
  }
  return `on port ${drop.dpt}/${drop.proto}`;
}

/** The sender's and the receiver's Event (key) for one drop between two Pods. */
export function eventsOfDrop(
  drop: LoggedDrop,
  pods: PodDirectory,
  style: MessageStyle,
): { sender: string; receiver: string } {
  const src = pods.lookup(drop.src);
  const dst = pods.lookup(drop.dst);
  const suffix = style.showPrefix ? ` (rule "${drop.prefix}")` : "";
  const traffic = trafficText(drop);
  const send = `Packet dropped when sending traffic to ${dst.pod.namespace} (${dst.ip}) ` +
    `${traffic}${suffix}`;
  const receive = `Packet dropped when receiving traffic from ${src.pod.namespace} (${src.ip}) ` +
    `${traffic}${suffix}`;
  return {
    sender: eventKey(src.pod.namespace, src.pod.name, send),
    receiver: eventKey(dst.pod.namespace, dst.pod.name, receive),
  };
}

/** The Events (with counts) that LOG records `texts` must produce when every drop counts. */
export function expectedEvents(
  texts: readonly string[],
  prefixes: readonly string[],
  pods: PodDirectory,
  style: MessageStyle,
): EventCounts {
  const counts: EventCounts = new Map();
  for (const text of texts) {
    const { sender, receiver } = eventsOfDrop(loggedDrop(text, prefixes), pods, style);
    counts.set(sender, (counts.get(sender) ?? 0) + 1);
    counts.set(receiver, (counts.get(receiver) ?? 0) + 1);
  }
  return counts;
}

/** The parts of a core/v1 Event the comparison reads. */
export interface EventObject {
  metadata: { name?: string; namespace?: string };
  involvedObject: { namespace?: string; name?: string; uid?: string; kind?: string };
  message?: string;
  count?: number;
}

/**
 * The Events of the API as {@link EventCounts}. Two Event objects for one (Pod, message) — a
 * duplicate the recorder must never create — are reported in `duplicates`.
 */
export function observedEvents(
  events: readonly EventObject[],
): { counts: EventCounts; duplicates: string[] } {
  const counts: EventCounts = new Map();
  const duplicates: string[] = [];
  for (const event of events) {
    const o = event.involvedObject;
    const key = eventKey(o.namespace ?? "", o.name ?? "", event.message ?? "");
    if (counts.has(key)) duplicates.push(`${key} (also ${event.metadata.name})`);
    counts.set(key, (counts.get(key) ?? 0) + (event.count ?? 1));
  }
  return { counts, duplicates };
}

/** The differences between expected and actual counts, one readable line each; [] if equal. */
export function compareEvents(expected: EventCounts, actual: EventCounts): string[] {
  const problems: string[] = [];
  for (const [key, count] of expected) {
    const got = actual.get(key);
    if (got === undefined) problems.push(`missing (want ${count}): ${key}`);
    else if (got !== count) problems.push(`count ${got}, want ${count}: ${key}`);
  }
  for (const [key, count] of actual) {
    if (!expected.has(key)) problems.push(`unexpected (count ${count}): ${key}`);
  }
  return problems;
}

/** The sum of all counts. */
export function totalCount(counts: EventCounts): number {
  let sum = 0;
  for (const count of counts.values()) sum += count;
  return sum;
}
