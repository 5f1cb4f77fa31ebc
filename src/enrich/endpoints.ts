/**
 * The two sides of a drop, how they are named, and the Event messages — identical to the
 * original's for TCP and UDP:
 *
 *   Packet dropped when sending traffic to <dst> (<dstIP>) on port <dpt>/<PROTO>
 *   Packet dropped when receiving traffic from <src> (<srcIP>) on port <dpt>/<PROTO>
 *
 * with ` (<ip>)` left out when the name is the IP itself. Pods are named per POD_IDENTIFIER, a
 * host-network Pod by its node, anything else by its DNS name or IP. ICMP says
 * `(ICMP type 8 code 0)` instead of the port; other protocols `(protocol ESP)`. When the matched
 * prefix tells which rule dropped the packet (several prefixes, or a prefix pattern carrying a
 * policy name), it is added: ` (rule "calico-drop default/deny-all:")`.
 * @module
 */

import type { PodIdentifier } from "../config.ts";
import type { PacketDrop } from "../netfilter/types.ts";
import { stripControlCharacters } from "../text.ts";

/** What the pod index knows of a Pod. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly nodeName: string;
  readonly hostNetwork: boolean;
  /** The value of the POD_IDENTIFIER_LABEL key, when the Pod has it. */
  readonly label?: string;
}

/** One side of a drop. */
export type Endpoint =
  | { kind: "pod"; ip: string; pod: PodRef }
  | { kind: "host"; ip: string; nodeName: string }
  | { kind: "external"; ip: string; dnsName?: string };

/** Finds the Pod owning an IP (the pod index). */
export type PodLookupFn = (ip: string) => PodRef | undefined;

/**
 * The endpoint of `ip` without DNS: the Pod owning it, its node for a host-network Pod, or
 * external (also a host-network Pod that names no node: its IP is not its own).
 */
export function locate(ip: string, lookup: PodLookupFn): Endpoint {
  const pod = lookup(ip);
  if (!pod) return { kind: "external", ip };
  if (pod.hostNetwork) {
    return pod.nodeName ? { kind: "host", ip, nodeName: pod.nodeName } : { kind: "external", ip };
  }
  return { kind: "pod", ip, pod };
}

/** An endpoint as JSON for `run --dry-run` output. */
export function endpointJson(endpoint: Endpoint): Record<string, string> {
  switch (endpoint.kind) {
    case "pod":
      return {
        kind: "pod",
        namespace: endpoint.pod.namespace,
        name: endpoint.pod.name,
        node: endpoint.pod.nodeName,
      };
    case "host":
      return { kind: "host", node: endpoint.nodeName };
    case "external":
      return endpoint.dnsName ? { kind: "external", dns: endpoint.dnsName } : { kind: "external" };
  }
}

/** How endpoints are named. */
export interface NamingOptions {
  podIdentifier: PodIdentifier;
}

/** The name of an endpoint in messages (the original's getNamespaceOrHostName). */
export function endpointName(endpoint: Endpoint, naming: NamingOptions): string {
  switch (endpoint.kind) {
    case "pod": {
      const pod = endpoint.pod;
      switch (naming.podIdentifier) {
        case "name":
          return pod.name;
        case "label":
          // An empty value (a valid label value) would leave the message naming nothing.
          return pod.label || pod.name;
        case "name_with_namespace":
          return `${pod.namespace}/${pod.name}`;
        case "namespace":
          return pod.namespace;
      }
      return pod.namespace;
    }
    case "host":
      return endpoint.nodeName;
    case "external":
      return endpoint.dnsName ?? endpoint.ip;
  }
}

/** The `packet_drops_count` label of an endpoint: a namespace, "host" or "external". */
export function metricLabel(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case "pod":
      return endpoint.pod.namespace;
    case "host":
      return "host";
    case "external":
      return "external";
  }
}

/** Longest message we post (the API's limit for Event notes is 1 kB). */
export const MAX_MESSAGE_LENGTH = 1024;

/** How the packet's destination is described: `on port 8080/TCP`, `(ICMP type 8 code 0)`. */
export function describeTraffic(drop: PacketDrop): string {
  if (drop.icmpType !== undefined) {
    return `(${drop.proto} type ${drop.icmpType} code ${drop.icmpCode ?? 0})`;
  }
  if (drop.dpt !== undefined) return `on port ${drop.dpt}/${drop.proto}`;
  return `(protocol ${drop.proto})`;
}

/** Options of {@link eventMessage}. */
export interface MessageOptions extends NamingOptions {
  /** Add the matched prefix (several prefixes, or prefix patterns, are configured). */
  showPrefix: boolean;
}

/**
 * The Event message for the Pod on one side: `direction` "send" for the sender (naming the
 * destination), "receive" for the receiver (naming the source).
 */
export function eventMessage(
  drop: PacketDrop,
  direction: "send" | "receive",
  other: Endpoint,
  options: MessageOptions,
): string {
  const name = endpointName(other, options);
  const ip = other.ip;
  let message = direction === "send"
    ? "Packet dropped when sending traffic to "
    : "Packet dropped when receiving traffic from ";
  message += name;
  if (name !== ip && ip !== "") message += ` (${ip})`;
  message += ` ${describeTraffic(drop)}`;
  if (options.showPrefix) message += ` (rule ${JSON.stringify(drop.prefix)})`;
  return sanitizeMessage(message);
}

/** Control characters removed, length capped (with an ellipsis). */
export function sanitizeMessage(message: string): string {
  const clean = stripControlCharacters(message);
  return clean.length <= MAX_MESSAGE_LENGTH ? clean : `${clean.slice(0, MAX_MESSAGE_LENGTH - 1)}…`;
}
