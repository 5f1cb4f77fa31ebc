/**
 * Wire-format (JSON) shapes of the objects the emulator stores and serves. Timestamps are the
 * strings the API server writes (RFC 3339), not the `Date`s that client-node's models hold.
 * @module
 */

/** metadata of every object. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | null;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: unknown[];
  finalizers?: string[];
  managedFields?: unknown[];
}

/** Any stored object. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** A reference to another object (Event.involvedObject). */
export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** A core/v1 Event on the wire. */
export interface KubeEvent extends KubeObject {
  involvedObject: ObjectReference;
  reason?: string;
  message?: string;
  source: { component?: string; host?: string };
  firstTimestamp: string | null;
  lastTimestamp: string | null;
  count?: number;
  type?: string;
  eventTime: string | null;
  series?: { count?: number; lastObservedTime?: string };
  action?: string;
  related?: ObjectReference;
  reportingComponent: string;
  reportingInstance: string;
}

/** A container of a Pod (only what the emulator fills in). */
export interface Container {
  name: string;
  image: string;
  [field: string]: unknown;
}

/** A core/v1 Pod on the wire. */
export interface Pod extends KubeObject {
  spec: {
    containers: Container[];
    nodeName?: string;
    hostNetwork?: boolean;
    restartPolicy?: string;
    schedulerName?: string;
    serviceAccountName?: string;
    [field: string]: unknown;
  };
  status: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    hostIP?: string;
    hostIPs?: { ip: string }[];
    nominatedNodeName?: string;
    reason?: string;
    startTime?: string;
    conditions?: { type: string; status: string; [field: string]: unknown }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      state?: Record<string, unknown>;
      [field: string]: unknown;
    }[];
    [field: string]: unknown;
  };
}

/** A core/v1 Namespace on the wire. */
export interface Namespace extends KubeObject {
  spec: { finalizers?: string[] };
  status: { phase: "Active" | "Terminating" };
}

/** A watch event type. */
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
