/**
 * Decoding request bodies the way kube-apiserver does: typed fields (a number where a string
 * belongs is a 400), Kubernetes time formats (metav1.Time accepts RFC 3339; MicroTime demands
 * exactly six fractional digits, so a plain `Date` from JavaScript is rejected), unknown fields
 * dropped and reported, and output in the canonical field order with server defaults.
 * @module
 */

import type { KubeEvent, Namespace, ObjectMeta, ObjectReference } from "./types.ts";

/** A body the server cannot decode into the resource's type (answered with 400). */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

/** The result of decoding: the canonical object plus the unknown fields that were dropped. */
export interface Decoded<T> {
  obj: T;
  unknownFields: string[];
}

const RFC3339 = "2006-01-02T15:04:05Z07:00";
const RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00";
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function goParseError(
  value: string,
  layout: string,
  valueElem: string,
  layoutElem: string,
): string {
  return `parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${
    JSON.stringify(valueElem)
  } as ${JSON.stringify(layoutElem)}`;
}

function toEpochMicros(match: RegExpExecArray): number {
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  let ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
  if (zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  const micros = frac ? Math.floor(Number(`0${frac}`) * 1e6 + 1e-6) : 0;
  return ms * 1000 + micros;
}

/** Parses a metav1.Time string (RFC 3339, any fraction) and formats it as the server writes it. */
export function normalizeTime(value: string): string {
  const match = DATE_TIME.exec(value);
  if (!match) throw new DecodeError(goParseError(value, RFC3339, value, "2006"));
  return formatTime(Math.floor(toEpochMicros(match) / 1000));
}

/** Parses a metav1.MicroTime string: exactly six fractional digits, like Go's RFC3339Micro. */
export function normalizeMicroTime(value: string): string {
  const match = DATE_TIME.exec(value);
  if (!match) throw new DecodeError(goParseError(value, RFC3339_MICRO, value, "2006"));
  const frac = match[7] ?? "";
  if (frac.length < 7) {
    throw new DecodeError(goParseError(value, RFC3339_MICRO, value.slice(19), ".000000"));
  }
  if (frac.length > 7) {
    throw new DecodeError(goParseError(value, RFC3339_MICRO, value.slice(26), "Z07:00"));
  }
  return formatMicroTime(toEpochMicros(match));
}

/** Formats milliseconds since the epoch as metav1.Time (`2006-01-02T15:04:05Z`). */
export function formatTime(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** Formats microseconds since the epoch as metav1.MicroTime (`…05.000000Z`). */
export function formatMicroTime(epochMicros: number): string {
  const ms = Math.floor(epochMicros / 1000);
  const micros = String(((epochMicros % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, "0");
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${micros}Z`);
}

type Json = unknown;

function typeName(value: Json): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") return "object";
  return typeof value;
}

class Reader {
  readonly unknown: string[] = [];
  constructor(readonly kind: string) {}

  fail(path: string, goType: string, value: Json): never {
    throw new DecodeError(
      `json: cannot unmarshal ${
        typeName(value)
      } into Go struct field ${this.kind}.${path} of type ${goType}`,
    );
  }

  object(value: Json, path: string, goType: string): Record<string, Json> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeName(value) !== "object") this.fail(path, goType, value);
    return value as Record<string, Json>;
  }

  string(value: Json, path: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") this.fail(path, "string", value);
    return value;
  }

  integer(value: Json, path: string, goType: "int32" | "int64"): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number") this.fail(path, goType, value);
    const limit = goType === "int32" ? 2 ** 31 : 2 ** 63;
    if (!Number.isInteger(value) || value >= limit || value < -limit) {
      throw new DecodeError(
        `json: cannot unmarshal number ${value} into Go struct field ${this.kind}.${path} of type ${goType}`,
      );
    }
    return value;
  }

  bool(value: Json, path: string): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") this.fail(path, "bool", value);
    return value;
  }

  time(value: Json, path: string): string | undefined {
    const text = this.string(value, path);
    return text === undefined ? undefined : normalizeTime(text);
  }

  microTime(value: Json, path: string): string | undefined {
    const text = this.string(value, path);
    return text === undefined ? undefined : normalizeMicroTime(text);
  }

  stringMap(value: Json, path: string): Record<string, string> | undefined {
    const map = this.object(value, path, "map[string]string");
    if (map === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [key, item] of Object.entries(map)) {
      if (typeof item !== "string") this.fail(path, "string", item);
      out[key] = item;
    }
    return out;
  }

  array(value: Json, path: string, goType: string): Json[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) this.fail(path, goType, value);
    return value;
  }

  /** Records fields of `obj` outside `known` as unknown (prefixed with `path`). */
  rest(obj: Record<string, Json>, known: readonly string[], path: string): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.unknown.push(path ? `${path}.${key}` : key);
    }
  }
}

/** Copies only the defined entries, in the given order. */
function ordered<T>(entries: [string, unknown][]): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) if (value !== undefined) out[key] = value;
  return out as T;
}

const META_FIELDS = [
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
] as const;

function readMeta(r: Reader, value: Json): ObjectMeta {
  const raw = r.object(value, "metadata", "v1.ObjectMeta") ?? {};
  r.rest(raw, META_FIELDS, "metadata");
  const finalizers = r.array(raw.finalizers, "metadata.finalizers", "[]string");
  finalizers?.forEach((f) => r.string(f, "metadata.finalizers"));
  return ordered<ObjectMeta>([
    ["name", r.string(raw.name, "metadata.name") || undefined],
    ["generateName", r.string(raw.generateName, "metadata.generateName") || undefined],
    ["namespace", r.string(raw.namespace, "metadata.namespace") || undefined],
    ["uid", r.string(raw.uid, "metadata.uid") || undefined],
    ["resourceVersion", r.string(raw.resourceVersion, "metadata.resourceVersion") || undefined],
    ["generation", r.integer(raw.generation, "metadata.generation", "int64") || undefined],
    ["creationTimestamp", r.time(raw.creationTimestamp, "metadata.creationTimestamp")],
    ["deletionTimestamp", r.time(raw.deletionTimestamp, "metadata.deletionTimestamp")],
    [
      "deletionGracePeriodSeconds",
      r.integer(raw.deletionGracePeriodSeconds, "metadata.deletionGracePeriodSeconds", "int64"),
    ],
    ["labels", nonEmpty(r.stringMap(raw.labels, "metadata.labels"))],
    ["annotations", nonEmpty(r.stringMap(raw.annotations, "metadata.annotations"))],
    [
      "ownerReferences",
      nonEmptyList(r.array(raw.ownerReferences, "metadata.ownerReferences", "[]v1.OwnerReference")),
    ],
    ["finalizers", nonEmptyList(finalizers as string[] | undefined)],
    [
      "managedFields",
      nonEmptyList(r.array(raw.managedFields, "metadata.managedFields", "[]v1.ManagedFieldsEntry")),
    ],
  ]);
}

function nonEmpty<T extends object>(value: T | undefined): T | undefined {
  return value && Object.keys(value).length > 0 ? value : undefined;
}

function nonEmptyList<T>(value: T[] | undefined): T[] | undefined {
  return value && value.length > 0 ? value : undefined;
}

const REF_FIELDS = [
  "kind",
  "namespace",
  "name",
  "uid",
  "apiVersion",
  "resourceVersion",
  "fieldPath",
] as const;

function readReference(r: Reader, value: Json, path: string): ObjectReference | undefined {
  const raw = r.object(value, path, "v1.ObjectReference");
  if (raw === undefined) return undefined;
  r.rest(raw, REF_FIELDS, path);
  return ordered<ObjectReference>(
    REF_FIELDS.map((field) => [field, r.string(raw[field], `${path}.${field}`) || undefined]),
  );
}

const EVENT_FIELDS = [
  "kind",
  "apiVersion",
  "metadata",
  "involvedObject",
  "reason",
  "message",
  "source",
  "firstTimestamp",
  "lastTimestamp",
  "count",
  "type",
  "eventTime",
  "series",
  "action",
  "related",
  "reportingComponent",
  "reportingInstance",
] as const;

/** Decodes a core/v1 Event body. `metadata` keeps what the client sent (the caller fills in). */
export function decodeEvent(body: Json): Decoded<KubeEvent> {
  const r = new Reader("Event");
  const raw = r.object(body, "", "v1.Event");
  if (raw === undefined) throw new DecodeError("Object 'Kind' is missing in 'null'");
  r.rest(raw, EVENT_FIELDS, "");
  const source = r.object(raw.source, "source", "v1.EventSource") ?? {};
  r.rest(source, ["component", "host"], "source");
  const series = r.object(raw.series, "series", "v1.EventSeries");
  if (series) r.rest(series, ["count", "lastObservedTime", "state"], "series");
  const obj = ordered<KubeEvent>([
    ["metadata", readMeta(r, raw.metadata)],
    ["involvedObject", readReference(r, raw.involvedObject, "involvedObject") ?? {}],
    ["reason", r.string(raw.reason, "reason") || undefined],
    ["message", r.string(raw.message, "message") || undefined],
    [
      "source",
      ordered([
        ["component", r.string(source.component, "source.component") || undefined],
        ["host", r.string(source.host, "source.host") || undefined],
      ]),
    ],
    ["firstTimestamp", r.time(raw.firstTimestamp, "firstTimestamp") ?? null],
    ["lastTimestamp", r.time(raw.lastTimestamp, "lastTimestamp") ?? null],
    ["count", r.integer(raw.count, "count", "int32") || undefined],
    ["type", r.string(raw.type, "type") || undefined],
    ["eventTime", r.microTime(raw.eventTime, "eventTime") ?? null],
    [
      "series",
      series === undefined ? undefined : ordered([
        ["count", r.integer(series.count, "series.count", "int32") || undefined],
        ["lastObservedTime", r.microTime(series.lastObservedTime, "series.lastObservedTime")],
      ]),
    ],
    ["action", r.string(raw.action, "action") || undefined],
    ["related", readReference(r, raw.related, "related")],
    ["reportingComponent", r.string(raw.reportingComponent, "reportingComponent") ?? ""],
    ["reportingInstance", r.string(raw.reportingInstance, "reportingInstance") ?? ""],
  ]);
  return { obj, unknownFields: r.unknown };
}

/** Decodes a core/v1 Namespace body. */
export function decodeNamespace(body: Json): Decoded<Namespace> {
  const r = new Reader("Namespace");
  const raw = r.object(body, "", "v1.Namespace");
  if (raw === undefined) throw new DecodeError("Object 'Kind' is missing in 'null'");
  r.rest(raw, ["kind", "apiVersion", "metadata", "spec", "status"], "");
  const spec = r.object(raw.spec, "spec", "v1.NamespaceSpec") ?? {};
  const finalizers = r.array(spec.finalizers, "spec.finalizers", "[]v1.FinalizerName");
  finalizers?.forEach((f) => r.string(f, "spec.finalizers"));
  const status = r.object(raw.status, "status", "v1.NamespaceStatus") ?? {};
  const phase = r.string(status.phase, "status.phase");
  const obj = ordered<Namespace>([
    ["metadata", readMeta(r, raw.metadata)],
    ["spec", ordered([["finalizers", nonEmptyList(finalizers as string[] | undefined)]])],
    ["status", ordered([["phase", phase || undefined]])],
  ]);
  return { obj, unknownFields: r.unknown };
}

/** Puts the metadata fields in the server's order, dropping empty ones. */
export function canonicalMeta(meta: ObjectMeta): ObjectMeta {
  return ordered<ObjectMeta>(
    META_FIELDS.filter((f) => f !== "selfLink").map((field) => {
      const value = meta[field as keyof ObjectMeta];
      if (value === "" || value === 0 && field === "generation") return [field, undefined];
      if (Array.isArray(value) && value.length === 0) return [field, undefined];
      if (
        value && typeof value === "object" && !Array.isArray(value) &&
        Object.keys(value).length === 0
      ) return [field, undefined];
      return [field, value];
    }),
  );
}

/** Re-orders an Event's fields canonically (after a patch produced a free-form object). */
export function canonicalEvent(event: KubeEvent): KubeEvent {
  return { ...decodeEvent(event).obj, metadata: canonicalMeta(event.metadata) };
}
