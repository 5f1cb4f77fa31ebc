/**
 * Validation rules of kube-apiserver for the objects the emulator accepts: name formats
 * (k8s.io/apimachinery util/validation), ObjectMeta (api/validation/objectmeta.go) and Events
 * (pkg/apis/core/validation/events.go). Pure functions returning {@link FieldError} lists.
 *
 * Which name rule applies mirrors the real server: a core/v1 Event's name is only checked as a
 * path segment (no `/`, no `%`, not `.` or `..`), while events.k8s.io/v1 Events and Namespaces
 * need DNS names.
 * @module
 */

import { FieldError, forbiddenField, invalid, required, tooLong } from "./status.ts";
import type { KubeEvent, ObjectMeta } from "./types.ts";

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const dns1123LabelRe = new RegExp(`^${DNS1123_LABEL}$`);
const dns1123SubdomainRe = new RegExp(`^${DNS1123_SUBDOMAIN}$`);
const LABEL_KEY = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const labelKeyRe = new RegExp(`^${LABEL_KEY}$`);
const labelValueRe = new RegExp(`^(${LABEL_KEY})?$`);

/** Longest DNS-1123 label. */
export const DNS1123_LABEL_MAX = 63;
/** Longest DNS-1123 subdomain. */
export const DNS1123_SUBDOMAIN_MAX = 253;
/** Limits of events.go. */
export const EVENT_LIMITS = {
  reportingInstance: 128,
  action: 128,
  reason: 128,
  note: 1024,
} as const;
/** Total size of all annotations. */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

const utf8 = new TextEncoder();

/** Length in bytes, as Go's len() counts a string. */
export function byteLength(text: string): number {
  return utf8.encode(text).length;
}

function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

function regexError(message: string, format: string, ...examples: string[]): string {
  if (examples.length === 0) return `${message} (regex used for validation is '${format}')`;
  let text = `${message} (e.g. `;
  examples.forEach((example, i) => {
    if (i > 0) text += " or ";
    text += `'${example}', `;
  });
  return text + `regex used for validation is '${format}')`;
}

/** IsDNS1123Label: messages for a value that is not a DNS label. */
export function isDNS1123Label(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > DNS1123_LABEL_MAX) errors.push(maxLenError(DNS1123_LABEL_MAX));
  if (!dns1123LabelRe.test(value)) {
    if (dns1123SubdomainRe.test(value)) errors.push("must not contain dots");
    else {
      errors.push(regexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        DNS1123_LABEL,
        "my-name",
        "123-abc",
      ));
    }
  }
  return errors;
}

/** IsDNS1123Subdomain: messages for a value that is not a DNS subdomain. */
export function isDNS1123Subdomain(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX) errors.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!dns1123SubdomainRe.test(value)) {
    errors.push(regexError(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
      DNS1123_SUBDOMAIN,
      "example.com",
    ));
  }
  return errors;
}

/** IsQualifiedName (a label key): optional DNS-subdomain prefix and `/`, then a name ≤ 63. */
export function isQualifiedName(value: string): string[] {
  const errors: string[] = [];
  const parts = value.split("/");
  let name: string;
  const nameFormat = regexError(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    LABEL_KEY,
    "MyName",
    "my.name",
    "123-abc",
  );
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const prefix = parts[0];
    name = parts[1];
    if (prefix.length === 0) errors.push("prefix part must be non-empty");
    else errors.push(...isDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  } else {
    return [
      `a valid label key ${nameFormat} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errors.push("name part must be non-empty");
  else if (byteLength(name) > 63) errors.push(`name part ${maxLenError(63)}`);
  if (!labelKeyRe.test(name)) errors.push(`name part ${nameFormat}`);
  return errors;
}

/** IsValidLabelValue. */
export function isLabelValue(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > 63) errors.push(maxLenError(63));
  if (!labelValueRe.test(value)) {
    errors.push(regexError(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
      `(${LABEL_KEY})?`,
      "MyValue",
      "my_value",
      "12345",
    ));
  }
  return errors;
}

/** IsPathSegmentName / IsPathSegmentPrefix: what every stored name must satisfy. */
export function isPathSegmentName(name: string, prefix: boolean): string[] {
  if (!prefix && (name === "." || name === "..")) return [`may not be '${name}'`];
  const errors: string[] = [];
  for (const bad of ["/", "%"]) {
    if (name.includes(bad)) errors.push(`may not contain '${bad}'`);
  }
  return errors;
}

/** A name rule: (name, isPrefix) → messages. */
export type NameRule = (name: string, prefix: boolean) => string[];

/** NameIsDNSSubdomain (a prefix may end in `-` or `.`, which generation completes). */
export const nameIsDNSSubdomain: NameRule = (name, prefix) =>
  isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);

/** NameIsDNSLabel. */
export const nameIsDNSLabel: NameRule = (name, prefix) =>
  isDNS1123Label(prefix ? maskTrailingDash(name) : name);

function maskTrailingDash(name: string): string {
  return name.length > 1 && (name.endsWith("-") || name.endsWith("."))
    ? `${name.slice(0, -1)}a`
    : name;
}

function validateLabels(labels: Record<string, string> | undefined, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    for (const message of isQualifiedName(key)) errors.push(invalid(path, key, message));
    for (const message of isLabelValue(String(value))) errors.push(invalid(path, value, message));
  }
  return errors;
}

function validateAnnotations(
  annotations: Record<string, string> | undefined,
  path: string,
): FieldError[] {
  const errors: FieldError[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(annotations ?? {})) {
    for (const message of isQualifiedName(key.toLowerCase())) {
      errors.push(invalid(path, key, message));
    }
    total += byteLength(key) + byteLength(String(value));
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errors.push(tooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT));
  return errors;
}

function validateFinalizers(finalizers: string[] | undefined, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const finalizer of finalizers ?? []) {
    for (const message of isQualifiedName(finalizer)) {
      errors.push(invalid(path, finalizer, message));
    }
  }
  return errors;
}

interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
}

function validateOwnerReferences(refs: unknown[] | undefined, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const raw of refs ?? []) {
    const ref = (raw ?? {}) as OwnerReference;
    const version = (ref.apiVersion ?? "").split("/").pop() ?? "";
    if (version === "") {
      errors.push(invalid(`${path}.apiVersion`, ref.apiVersion ?? "", "version must not be empty"));
    }
    if (!ref.kind) errors.push(invalid(`${path}.kind`, ref.kind ?? "", "must not be empty"));
    if (!ref.name) errors.push(invalid(`${path}.name`, ref.name ?? "", "must not be empty"));
    if (!ref.uid) errors.push(invalid(`${path}.uid`, ref.uid ?? "", "must not be empty"));
    if (ref.apiVersion === "v1" && ref.kind === "Event") {
      errors.push(invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"));
    }
  }
  return errors;
}

/**
 * ValidateObjectMetaAccessor: name or generateName, namespace presence and format, labels,
 * annotations, owner references, finalizers. Run after name generation.
 */
export function validateObjectMeta(
  meta: ObjectMeta,
  namespaced: boolean,
  nameRule: NameRule,
  path = "metadata",
): FieldError[] {
  const errors: FieldError[] = [];
  if (meta.generateName) {
    for (const message of nameRule(meta.generateName, true)) {
      errors.push(invalid(`${path}.generateName`, meta.generateName, message));
    }
  }
  if (!meta.name) {
    errors.push(required(`${path}.name`, "name or generateName is required"));
  } else {
    for (const message of nameRule(meta.name, false)) {
      errors.push(invalid(`${path}.name`, meta.name, message));
    }
  }
  if (namespaced) {
    if (!meta.namespace) errors.push(required(`${path}.namespace`));
    else {
      for (const message of isDNS1123Label(meta.namespace)) {
        errors.push(invalid(`${path}.namespace`, meta.namespace, message));
      }
    }
  } else if (meta.namespace) {
    errors.push(forbiddenField(`${path}.namespace`, "not allowed on this type"));
  }
  if (typeof meta.generation === "number" && meta.generation < 0) {
    errors.push(
      invalid(`${path}.generation`, meta.generation, "must be greater than or equal to 0"),
    );
  }
  errors.push(...validateLabels(meta.labels, `${path}.labels`));
  errors.push(...validateAnnotations(meta.annotations, `${path}.annotations`));
  errors.push(...validateOwnerReferences(meta.ownerReferences, `${path}.ownerReferences`));
  errors.push(...validateFinalizers(meta.finalizers, `${path}.finalizers`));
  return errors;
}

/** ValidateObjectMetaAccessorUpdate: identity fields are immutable; labels etc. still valid. */
export function validateObjectMetaUpdate(
  next: ObjectMeta,
  old: ObjectMeta,
  path = "metadata",
): FieldError[] {
  const errors: FieldError[] = [];
  if (old.deletionTimestamp) {
    const added = (next.finalizers ?? []).filter((f) => !(old.finalizers ?? []).includes(f));
    if (added.length > 0) {
      errors.push(forbiddenField(
        `${path}.finalizers`,
        `no new finalizers can be added if the object is being deleted, found new finalizers []string{${
          added.map((f) => JSON.stringify(f)).join(", ")
        }}`,
      ));
    }
  }
  if (!next.resourceVersion) {
    errors.push(invalid(`${path}.resourceVersion`, "", "must be specified for an update"));
  }
  if ((next.generation ?? 0) < (old.generation ?? 0)) {
    errors.push(invalid(`${path}.generation`, next.generation ?? 0, "must not be decremented"));
  }
  for (
    const field of ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"] as const
  ) {
    if ((next[field] ?? "") !== (old[field] ?? "")) {
      errors.push(invalid(`${path}.${field}`, next[field] ?? "", "field is immutable"));
    }
  }
  errors.push(...validateLabels(next.labels, `${path}.labels`));
  errors.push(...validateAnnotations(next.annotations, `${path}.annotations`));
  errors.push(...validateOwnerReferences(next.ownerReferences, `${path}.ownerReferences`));
  errors.push(...validateFinalizers(next.finalizers, `${path}.finalizers`));
  return errors;
}

/** The API an Event arrived through: the rules differ. */
export type EventApi = "v1" | "events.k8s.io/v1";

/**
 * legacyValidateEvent (+ the strict rules for events.k8s.io/v1 creates): namespace agreement
 * with involvedObject, and for Events with an eventTime the reporting fields and length limits.
 */
export function validateEvent(event: KubeEvent, api: EventApi): FieldError[] {
  const errors = legacyValidateEvent(event, api);
  if (api === "v1") return errors;
  errors.push(...validateObjectMeta(event.metadata, true, nameIsDNSSubdomain));
  errors.push(...validateSeries(event));
  if (!event.eventTime) errors.push(required("eventTime"));
  if (event.type !== "Normal" && event.type !== "Warning") {
    errors.push(invalid("type", "", `has invalid value: ${event.type ?? ""}`));
  }
  if (event.firstTimestamp) errors.push(invalid("firstTimestamp", "", "needs to be unset"));
  if (event.lastTimestamp) errors.push(invalid("lastTimestamp", "", "needs to be unset"));
  if (event.count) errors.push(invalid("count", "", "needs to be unset"));
  if (event.source?.component || event.source?.host) {
    errors.push(invalid("source", "", "needs to be unset"));
  }
  return errors;
}

/** ValidateEventUpdate: for events.k8s.io/v1 most fields become immutable. */
export function validateEventUpdate(next: KubeEvent, old: KubeEvent, api: EventApi): FieldError[] {
  const errors = legacyValidateEvent(next, api);
  if (api === "v1") return errors;
  errors.push(...validateObjectMetaUpdate(next.metadata, old.metadata));
  if (JSON.stringify(next.series ?? null) !== JSON.stringify(old.series ?? null)) {
    errors.push(...validateSeries(next));
  }
  const immutable = [
    ["involvedObject", next.involvedObject, old.involvedObject],
    ["reason", next.reason, old.reason],
    ["message", next.message, old.message],
    ["source", next.source, old.source],
    ["firstTimestamp", next.firstTimestamp, old.firstTimestamp],
    ["lastTimestamp", next.lastTimestamp, old.lastTimestamp],
    ["count", next.count, old.count],
    ["type", next.type, old.type],
    ["eventTime", next.eventTime, old.eventTime],
    ["action", next.action, old.action],
    ["related", next.related, old.related],
    ["reportingController", next.reportingComponent, old.reportingComponent],
    ["reportingInstance", next.reportingInstance, old.reportingInstance],
  ] as const;
  for (const [field, a, b] of immutable) {
    if (JSON.stringify(a ?? null) !== JSON.stringify(b ?? null)) {
      errors.push(invalid(field, a ?? null, "field is immutable"));
    }
  }
  return errors;
}

function validateSeries(event: KubeEvent): FieldError[] {
  const errors: FieldError[] = [];
  if (event.series) {
    if ((event.series.count ?? 0) < 2) {
      errors.push(invalid("series.count", "", "should be at least 2"));
    }
    if (!event.series.lastObservedTime) errors.push(required("series.lastObservedTime"));
  }
  return errors;
}

function legacyValidateEvent(event: KubeEvent, api: EventApi): FieldError[] {
  const errors: FieldError[] = [];
  // The field is named as the request's API names it: core/v1 calls it reportingComponent.
  const controllerField = api === "v1" ? "reportingComponent" : "reportingController";
  const namespace = event.metadata.namespace ?? "";
  const involvedNamespace = event.involvedObject?.namespace ?? "";
  const mismatch = () =>
    invalid("involvedObject.namespace", involvedNamespace, "does not match event.namespace");
  if (!event.eventTime) {
    if (involvedNamespace === "") {
      // Cluster-scoped objects: the Event lives in "" or, for old clients, "default".
      if (namespace !== "" && namespace !== "default") errors.push(mismatch());
    } else if (namespace !== involvedNamespace) {
      errors.push(mismatch());
    }
  } else {
    if (involvedNamespace === "" && namespace !== "default" && namespace !== "kube-system") {
      errors.push(mismatch());
    }
    const controller = event.reportingComponent ?? "";
    if (controller === "") errors.push(required(controllerField));
    for (const message of isQualifiedName(controller)) {
      errors.push(invalid(controllerField, controller, message));
    }
    const instance = event.reportingInstance ?? "";
    if (instance === "") errors.push(required("reportingInstance"));
    if (byteLength(instance) > EVENT_LIMITS.reportingInstance) {
      errors.push(invalid(
        "reportingInstance",
        "",
        `can have at most ${EVENT_LIMITS.reportingInstance} characters`,
      ));
    }
    const action = event.action ?? "";
    if (action === "") errors.push(required("action"));
    if (byteLength(action) > EVENT_LIMITS.action) {
      errors.push(invalid("action", "", `can have at most ${EVENT_LIMITS.action} characters`));
    }
    const reason = event.reason ?? "";
    if (reason === "") errors.push(required("reason"));
    if (byteLength(reason) > EVENT_LIMITS.reason) {
      errors.push(invalid("reason", "", `can have at most ${EVENT_LIMITS.reason} characters`));
    }
    if (byteLength(event.message ?? "") > EVENT_LIMITS.note) {
      errors.push(invalid("message", "", `can have at most ${EVENT_LIMITS.note} characters`));
    }
  }
  for (const message of isDNS1123Subdomain(namespace)) {
    errors.push(invalid("namespace", namespace, message));
  }
  return errors;
}
