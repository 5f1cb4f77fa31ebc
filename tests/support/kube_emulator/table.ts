/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), the format
 * `kubectl get` asks for: column definitions and one row of cells per object, with the same
 * columns and cell text as kube-apiserver's printers for Pods, Events and Namespaces.
 * @module
 */

import type { KubeEvent, KubeObject, Namespace, Pod } from "./types.ts";

/** A Table column. */
export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** How much of each object a row carries (`includeObject`). */
export type IncludeObject = "None" | "Metadata" | "Object";

/** Columns and row cells for one resource. */
export interface TablePrinter<T> {
  columns: TableColumn[];
  cells(obj: T, now: number): unknown[];
}

function column(name: string, description: string, priority = 0, format = ""): TableColumn {
  return { name, type: "string", format, description, priority };
}

const NAME_DOC =
  "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC =
  "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/** duration.HumanDuration: `45s`, `3m20s`, `2h5m`, `3d4h`, `2y10d`. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.trunc(hours / 24) % 365;
    const years = Math.trunc(hours / 24 / 365);
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

function since(timestamp: string | null | undefined, now: number): string {
  if (!timestamp) return "<unknown>";
  return humanDuration(now - Date.parse(timestamp));
}

/** The Pod printer (printPod): READY, STATUS, RESTARTS, AGE, IP, NODE, … */
export const podTable: TablePrinter<Pod> = {
  columns: [
    column("Name", NAME_DOC, 0, "name"),
    column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "The aggregate status of the containers in this pod."),
    column(
      "Restarts",
      "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    column("Age", AGE_DOC),
    column(
      "IP",
      "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
      1,
    ),
    column("Node", "NodeName indicates in which node this pod is scheduled.", 1),
    column(
      "Nominated Node",
      "nominatedNodeName is set only when this pod preempts other pods on the node.",
      1,
    ),
    column(
      "Readiness Gates",
      "If specified, all readiness gates will be evaluated for pod readiness.",
      1,
    ),
  ],
  cells(pod, now) {
    const statuses = pod.status.containerStatuses ?? [];
    const total = pod.spec.containers.length;
    const ready = statuses.filter((s) => s.ready).length;
    const restarts = statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0);
    let reason = pod.status.reason || pod.status.phase || "";
    for (const s of statuses) {
      const waiting = s.state?.waiting as { reason?: string } | undefined;
      const terminated = s.state?.terminated as { reason?: string } | undefined;
      if (waiting?.reason) reason = waiting.reason;
      else if (terminated?.reason) reason = terminated.reason;
    }
    if (pod.metadata.deletionTimestamp) reason = "Terminating";
    const gates = (pod.spec.readinessGates as unknown[] | undefined)?.length ?? 0;
    return [
      pod.metadata.name,
      `${ready}/${total}`,
      reason,
      String(restarts),
      since(pod.metadata.creationTimestamp, now),
      pod.status.podIP || "<none>",
      pod.spec.nodeName || "<none>",
      pod.status.nominatedNodeName || "<none>",
      gates === 0 ? "<none>" : `0/${gates}`,
    ];
  },
};

/** The Event printer (printEvent): LAST SEEN, TYPE, REASON, OBJECT, …, COUNT, NAME. */
export const eventTable: TablePrinter<KubeEvent> = {
  columns: [
    column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    column(
      "Reason",
      "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    column("Object", "The object that this event is about."),
    column(
      "Subobject",
      "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
      1,
    ),
    column(
      "Source",
      "The component reporting this event. Should be a short machine understandable string.",
      1,
    ),
    column("Message", "A human-readable description of the status of this operation."),
    column(
      "First Seen",
      "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
      1,
    ),
    column("Count", "The number of times this event has occurred.", 1),
    column("Name", NAME_DOC, 1, "name"),
  ],
  cells(event, now) {
    let first = since(event.firstTimestamp, now);
    if (!event.firstTimestamp) first = since(event.eventTime, now);
    let last = event.lastTimestamp ? since(event.lastTimestamp, now) : first;
    let count = event.count ?? 0;
    if (event.series) {
      last = since(event.series.lastObservedTime, now);
      count = event.series.count ?? 0;
    } else if (count === 0) {
      count = 1;
    }
    const involved = event.involvedObject;
    const target = involved.name
      ? `${(involved.kind ?? "").toLowerCase()}/${involved.name}`
      : (involved.kind ?? "").toLowerCase();
    return [
      last,
      event.type ?? "",
      event.reason ?? "",
      target,
      involved.fieldPath ?? "",
      formatEventSource(event),
      (event.message ?? "").trim(),
      first,
      count,
      event.metadata.name,
    ];
  },
};

function formatEventSource(event: KubeEvent): string {
  const component = event.source.component || event.reportingComponent;
  const host = event.source.host || event.reportingInstance;
  return host ? `${component}, ${host}` : component;
}

/** The Namespace printer: STATUS, AGE. */
export const namespaceTable: TablePrinter<Namespace> = {
  columns: [
    column("Name", NAME_DOC, 0, "name"),
    column("Status", "The status of the namespace"),
    column("Age", AGE_DOC),
  ],
  cells(ns, now) {
    return [ns.metadata.name, ns.status.phase, since(ns.metadata.creationTimestamp, now)];
  },
};

/** Builds a Table object for `objects`. */
export function buildTable<T extends KubeObject>(
  printer: TablePrinter<T>,
  objects: T[],
  options: {
    kind: string;
    apiVersion: string;
    includeObject: IncludeObject;
    noHeaders: boolean;
    /** meta.k8s.io version of the Table (v1 unless the client asked for v1beta1). */
    tableVersion?: "v1" | "v1beta1";
    listMeta: Record<string, unknown>;
    now?: number;
  },
): Record<string, unknown> {
  const now = options.now ?? Date.now();
  const rows = objects.map((obj) => {
    const row: Record<string, unknown> = { cells: printer.cells(obj, now) };
    if (options.includeObject === "Object") {
      row.object = { kind: options.kind, apiVersion: options.apiVersion, ...obj };
    } else if (options.includeObject === "Metadata") {
      row.object = {
        kind: "PartialObjectMetadata",
        apiVersion: "meta.k8s.io/v1",
        metadata: obj.metadata,
      };
    }
    return row;
  });
  const table: Record<string, unknown> = {
    kind: "Table",
    apiVersion: `meta.k8s.io/${options.tableVersion ?? "v1"}`,
    metadata: options.listMeta,
  };
  if (!options.noHeaders) table.columnDefinitions = printer.columns;
  table.rows = rows;
  return table;
}
