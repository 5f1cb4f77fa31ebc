/**
 * What the emulator knows about each resource: names and verbs for discovery, selectable
 * fields (what `fieldSelector` may name), the Table printer, and how to build realistic Pods
 * and Namespaces from a few inputs.
 * @module
 */

import { formatTime } from "./codec.ts";
import { eventTable, namespaceTable, podTable, type TablePrinter } from "./table.ts";
import type { KubeEvent, KubeObject, Namespace, Pod } from "./types.ts";

/** A served resource. */
export interface ResourceDef<T extends KubeObject> {
  group: string;
  version: string;
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  categories?: string[];
  /** Field labels accepted by `fieldSelector`. */
  fieldLabels: ReadonlySet<string>;
  /** The value of one selectable field of an object ("" when unset). */
  field(obj: T, name: string): string;
  table: TablePrinter<T>;
  /**
   * The JSON fields, after `metadata`, of the type's zero value: a BOOKMARK's object is one
   * (the cacher's `newFunc()` with only resourceVersion set), and Go writes the fields that have
   * no `omitempty`, e.g. a Pod's `"spec":{"containers":null},"status":{}`.
   */
  zeroFields: string;
}

function metaField(obj: KubeObject, name: string): string {
  if (name === "metadata.name") return obj.metadata.name ?? "";
  if (name === "metadata.namespace") return obj.metadata.namespace ?? "";
  return "";
}

/** core/v1 pods. */
export const PODS: ResourceDef<Pod> = {
  group: "",
  version: "v1",
  resource: "pods",
  singular: "pod",
  kind: "Pod",
  listKind: "PodList",
  namespaced: true,
  shortNames: ["po"],
  verbs: ["delete", "get", "list", "watch"],
  categories: ["all"],
  zeroFields: `"spec":{"containers":null},"status":{}`,
  fieldLabels: new Set([
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.host",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ]),
  field(pod, name) {
    switch (name) {
      case "spec.nodeName":
      case "spec.host":
        return pod.spec.nodeName ?? "";
      case "spec.restartPolicy":
        return pod.spec.restartPolicy ?? "";
      case "spec.schedulerName":
        return pod.spec.schedulerName ?? "";
      case "spec.serviceAccountName":
        return pod.spec.serviceAccountName ?? "";
      case "spec.hostNetwork":
        return String(pod.spec.hostNetwork === true);
      case "status.phase":
        return pod.status.phase ?? "";
      case "status.podIP":
        return pod.status.podIPs?.[0]?.ip ?? pod.status.podIP ?? "";
      case "status.nominatedNodeName":
        return pod.status.nominatedNodeName ?? "";
      default:
        return metaField(pod, name);
    }
  },
  table: podTable,
};

/** core/v1 events. */
export const EVENTS: ResourceDef<KubeEvent> = {
  group: "",
  version: "v1",
  resource: "events",
  singular: "event",
  kind: "Event",
  listKind: "EventList",
  namespaced: true,
  shortNames: ["ev"],
  verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
  zeroFields:
    `"involvedObject":{},"source":{},"firstTimestamp":null,"lastTimestamp":null,"eventTime":null,"reportingComponent":"","reportingInstance":""`,
  fieldLabels: new Set([
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ]),
  field(event, name) {
    if (name.startsWith("involvedObject.")) {
      const key = name.slice("involvedObject.".length) as keyof KubeEvent["involvedObject"];
      return event.involvedObject[key] ?? "";
    }
    switch (name) {
      case "reason":
        return event.reason ?? "";
      case "reportingComponent":
        return event.reportingComponent ?? "";
      case "source":
        return event.source.component || event.reportingComponent || "";
      case "type":
        return event.type ?? "";
      default:
        return metaField(event, name);
    }
  },
  table: eventTable,
};

/** core/v1 namespaces. */
export const NAMESPACES: ResourceDef<Namespace> = {
  group: "",
  version: "v1",
  resource: "namespaces",
  singular: "namespace",
  kind: "Namespace",
  listKind: "NamespaceList",
  namespaced: false,
  shortNames: ["ns"],
  verbs: ["create", "delete", "get", "list", "watch"],
  zeroFields: `"spec":{},"status":{}`,
  fieldLabels: new Set(["metadata.name", "status.phase"]),
  field(ns, name) {
    return name === "status.phase" ? ns.status.phase : metaField(ns, name);
  },
  table: namespaceTable,
};

/** The namespaces every cluster starts with; the first three cannot be deleted. */
export const INITIAL_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];
/** Namespaces the NamespaceLifecycle admission plugin refuses to delete. */
export const IMMORTAL_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);

/** What a test says about a Pod; the rest is filled in like a scheduled, running Pod. */
export interface PodInput {
  namespace: string;
  name: string;
  uid?: string;
  nodeName?: string;
  hostNetwork?: boolean;
  /** Pending, Running (default), Succeeded, Failed, Unknown. */
  phase?: string;
  podIPs?: string[];
  hostIP?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Defaults to now. */
  creationTimestamp?: string | Date;
  /** Container names; defaults to `["app"]`. */
  containers?: string[];
}

/** Changes {@link updatePodInput} applies to a Pod (identity fields cannot change). */
export type PodChanges = Partial<
  Omit<PodInput, "namespace" | "name" | "uid" | "creationTimestamp">
>;

function timeText(value: string | Date | undefined, now: number): string {
  if (value === undefined) return formatTime(now);
  return formatTime(value instanceof Date ? value.getTime() : Date.parse(value));
}

/** Builds a Pod object (without resourceVersion) from {@link PodInput}. */
export function buildPod(input: PodInput, now: number): Pod {
  const created = timeText(input.creationTimestamp, now);
  const phase = input.phase ?? "Running";
  const containers = (input.containers ?? ["app"]).map((name) => ({
    name,
    image: "registry.k8s.io/pause:3.10",
    resources: {},
    terminationMessagePath: "/dev/termination-log",
    terminationMessagePolicy: "File",
    imagePullPolicy: "IfNotPresent",
  }));
  const spec: Pod["spec"] = {
    containers,
    restartPolicy: "Always",
    terminationGracePeriodSeconds: 30,
    dnsPolicy: input.hostNetwork ? "ClusterFirstWithHostNet" : "ClusterFirst",
    serviceAccountName: "default",
    serviceAccount: "default",
    ...(input.nodeName ? { nodeName: input.nodeName } : {}),
    ...(input.hostNetwork ? { hostNetwork: true } : {}),
    securityContext: {},
    schedulerName: "default-scheduler",
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: "PreemptLowerPriority",
  };
  const scheduled = Boolean(input.nodeName);
  const running = phase === "Running";
  const ips = input.podIPs ?? [];
  const hostIP = input.hostIP ?? (input.hostNetwork ? ips[0] : undefined);
  const condition = (type: string, ok: boolean) => ({
    type,
    status: ok ? "True" : "False",
    lastProbeTime: null,
    lastTransitionTime: created,
  });
  const status: Pod["status"] = {
    phase,
    conditions: scheduled
      ? [
        condition("PodReadyToStartContainers", running),
        condition("Initialized", true),
        condition("Ready", running),
        condition("ContainersReady", running),
        condition("PodScheduled", true),
      ]
      : [condition("PodScheduled", false)],
    ...(hostIP ? { hostIP, hostIPs: [{ ip: hostIP }] } : {}),
    ...(ips.length > 0 ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
    ...(scheduled ? { startTime: created } : {}),
    ...(scheduled
      ? {
        containerStatuses: containers.map((c) => ({
          name: c.name,
          state: running
            ? { running: { startedAt: created } }
            : phase === "Succeeded" || phase === "Failed"
            ? {
              terminated: {
                exitCode: phase === "Succeeded" ? 0 : 1,
                reason: phase === "Succeeded" ? "Completed" : "Error",
                startedAt: created,
                finishedAt: created,
              },
            }
            : { waiting: { reason: "ContainerCreating" } },
          lastState: {},
          ready: running,
          restartCount: 0,
          image: c.image,
          imageID: "",
          started: running,
        })),
      }
      : {}),
    qosClass: "BestEffort",
  };
  return {
    metadata: {
      name: input.name,
      namespace: input.namespace,
      uid: input.uid ?? crypto.randomUUID(),
      creationTimestamp: created,
      ...(input.labels && Object.keys(input.labels).length > 0
        ? { labels: { ...input.labels } }
        : {}),
      ...(input.annotations && Object.keys(input.annotations).length > 0
        ? { annotations: { ...input.annotations } }
        : {}),
    },
    spec,
    status,
  };
}

/** The {@link PodInput} a Pod was built from (for applying changes). */
export function podInputOf(pod: Pod): PodInput {
  return {
    namespace: pod.metadata.namespace ?? "",
    name: pod.metadata.name ?? "",
    uid: pod.metadata.uid,
    nodeName: pod.spec.nodeName,
    hostNetwork: pod.spec.hostNetwork,
    phase: pod.status.phase,
    podIPs: pod.status.podIPs?.map((p) => p.ip),
    hostIP: pod.status.hostIP,
    labels: pod.metadata.labels,
    annotations: pod.metadata.annotations,
    creationTimestamp: pod.metadata.creationTimestamp ?? undefined,
    containers: pod.spec.containers.map((c) => c.name),
  };
}

/** Builds a Namespace object (without resourceVersion). */
export function buildNamespace(
  name: string,
  now: number,
  labels?: Record<string, string>,
): Namespace {
  return {
    metadata: {
      name,
      uid: crypto.randomUUID(),
      creationTimestamp: formatTime(now),
      labels: { ...labels, "kubernetes.io/metadata.name": name },
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}
