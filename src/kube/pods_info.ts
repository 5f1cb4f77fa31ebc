/**
 * The lean record the pod index keeps per Pod ({@link PodInfo}) and its extraction from a Pod
 * object as the API serves it (list item or watch event). Pure: no I/O. Anything that is not a
 * usable Pod is reported with a reason instead of throwing.
 *
 * @example
 * ```ts
 * const result = podInfoOf(item, { labelKey: "app", intern: new Interner().intern });
 * if ("pod" in result) table.upsert(result.pod);
 * else log.warn("rejected a pod", { reason: result.reason });
 * ```
 * @module
 */

import { canonicalIp, unmapIpv4 } from "../netfilter/ip.ts";

/** What the index knows of a Pod: only what lookups need. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** `spec.nodeName` ("" while unscheduled). */
  readonly nodeName: string;
  readonly hostNetwork: boolean;
  /** `status.phase` ("" when absent). */
  readonly phase: string;
  /** Canonical IP text (see `canonicalIp`); empty for pods that own no IP. */
  readonly ips: readonly string[];
  /** The value of the POD_IDENTIFIER_LABEL key, when configured and present. */
  readonly label?: string;
  /** `metadata.creationTimestamp` in epoch milliseconds (0 when absent or unreadable). */
  readonly createdMs: number;
}

/** Phases of pods that have terminated: their IPs may already belong to another pod. */
const FINISHED_PHASES = new Set(["Succeeded", "Failed"]);

/** Why an object was not accepted as a Pod. */
export type RejectReason =
  | "not_an_object"
  | "no_metadata"
  | "no_name"
  | "no_namespace"
  | "no_uid";

/** The outcome of {@link podInfoOf}. */
export type PodExtract =
  | {
    pod: PodInfo;
    /** IP texts in the status that are not IP addresses (left out of `pod.ips`). */
    badIps?: string[];
  }
  | { reason: RejectReason };

/** Options of {@link podInfoOf}. */
export interface ExtractOptions {
  /** The label whose value is captured in {@link PodInfo.label}. */
  labelKey?: string;
  /** Returns one shared copy of equal strings (namespaces, node names, phases, labels). */
  intern?: (text: string) => string;
}

const identity = (text: string) => text;

// deno-lint-ignore no-explicit-any
type Json = any;

/** Whether `value` is a JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

/**
 * Extracts a {@link PodInfo} from a Pod object. A pod in phase Succeeded or Failed owns no IP
 * (its `ips` is empty), since the node may have handed its IP to a new pod.
 */
export function podInfoOf(raw: unknown, options: ExtractOptions = {}): PodExtract {
  if (!isRecord(raw)) return { reason: "not_an_object" };
  const meta = raw.metadata;
  if (!isRecord(meta)) return { reason: "no_metadata" };
  if (!nonEmptyString(meta.name)) return { reason: "no_name" };
  if (!nonEmptyString(meta.namespace)) return { reason: "no_namespace" };
  if (!nonEmptyString(meta.uid)) return { reason: "no_uid" };
  const intern = options.intern ?? identity;
  const spec = isRecord(raw.spec) ? raw.spec : undefined;
  const status = isRecord(raw.status) ? raw.status : undefined;
  const phase = typeof status?.phase === "string" ? status.phase : "";
  const ips: string[] = [];
  let badIps: string[] | undefined;
  if (status && !FINISHED_PHASES.has(phase)) {
    const texts: unknown[] = Array.isArray(status.podIPs) && status.podIPs.length > 0
      ? status.podIPs.map((entry: unknown) => (isRecord(entry) ? entry.ip : entry))
      : nonEmptyString(status.podIP)
      ? [status.podIP]
      : [];
    for (const text of texts) {
      const ip = typeof text === "string" ? indexedIp(text) : undefined;
      if (ip === undefined) (badIps ??= []).push(String(text));
      else if (!ips.includes(ip)) ips.push(ip);
    }
  }
  let label: string | undefined;
  if (options.labelKey !== undefined && isRecord(meta.labels)) {
    const value = meta.labels[options.labelKey];
    if (typeof value === "string") label = intern(value);
  }
  const created = typeof meta.creationTimestamp === "string"
    ? Date.parse(meta.creationTimestamp)
    : NaN;
  const pod: PodInfo = {
    namespace: intern(meta.namespace),
    name: meta.name,
    uid: meta.uid,
    nodeName: nonEmptyString(spec?.nodeName) ? intern(spec.nodeName) : "",
    hostNetwork: spec?.hostNetwork === true,
    phase: intern(phase),
    // A copy of exact length: `push` grew the array to room for 17 IPs (~130 B a Pod).
    ips: ips.length === 0 ? NO_IPS : ips.slice(),
    ...(label !== undefined ? { label } : {}),
    createdMs: Number.isFinite(created) ? created : 0,
  };
  return badIps ? { pod, badIps } : { pod };
}

const NO_IPS: readonly string[] = Object.freeze([]) as readonly string[];

/** The form an IP is indexed under: canonical, IPv4-mapped IPv6 as plain IPv4. */
function indexedIp(text: string): string | undefined {
  const ip = canonicalIp(text);
  if (ip === undefined) return undefined;
  return unmapIpv4(ip) ?? ip;
}

/** The uid of a Pod object (e.g. of a DELETED event), or undefined. */
export function uidOf(raw: unknown): string | undefined {
  if (!isRecord(raw) || !isRecord(raw.metadata)) return undefined;
  const uid = raw.metadata.uid;
  return nonEmptyString(uid) ? uid : undefined;
}

/** `metadata.resourceVersion` of an object, or undefined. */
export function resourceVersionOf(raw: unknown): string | undefined {
  if (!isRecord(raw) || !isRecord(raw.metadata)) return undefined;
  const rv = raw.metadata.resourceVersion;
  return nonEmptyString(rv) ? rv : undefined;
}

/** "namespace/name" of an object for log lines, as far as it has them. */
export function describeObject(raw: unknown): string {
  if (!isRecord(raw)) return raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw;
  const meta = isRecord(raw.metadata) ? raw.metadata : {};
  const ns = typeof meta.namespace === "string" ? meta.namespace : "?";
  const name = typeof meta.name === "string" ? meta.name : "?";
  return `${ns}/${name}`;
}

/**
 * Shares one copy of repeated strings (namespaces, node names, label values). Forgets
 * everything when it outgrows `limit()`, so names of deleted namespaces do not pile up.
 */
export class Interner {
  #strings = new Map<string, string>();
  readonly #limit: () => number;

  constructor(limit: () => number = () => 100_000) {
    this.#limit = limit;
  }

  /** The shared copy of `text`. */
  readonly intern = (text: string): string => {
    const known = this.#strings.get(text);
    if (known !== undefined) return known;
    if (this.#strings.size >= this.#limit()) this.#strings = new Map();
    this.#strings.set(text, text);
    return text;
  };

  /** Distinct strings held. */
  get size(): number {
    return this.#strings.size;
  }
}
