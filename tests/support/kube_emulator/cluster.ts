/**
 * The emulated cluster state and its operations: namespaces (with the Terminating phase),
 * pods (built from a few inputs) and core/v1 events (created, replaced, patched and deleted
 * through the same checks as kube-apiserver: decoding, namespace admission, name generation,
 * validation, optimistic concurrency, TTL expiry).
 *
 * HTTP-facing operations throw {@link ApiError} carrying the Status to answer with.
 * @module
 */

import { canonicalMeta, DecodeError, decodeEvent, decodeNamespace, formatTime } from "./codec.ts";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from "./patch.ts";
import {
  buildNamespace,
  buildPod,
  IMMORTAL_NAMESPACES,
  INITIAL_NAMESPACES,
  type PodChanges,
  type PodInput,
  podInputOf,
} from "./resources.ts";
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  failure,
  forbidden,
  invalidStatus,
  notFound,
  OPTIMISTIC_LOCK_MESSAGE,
  unclassified,
  unsupportedMediaType,
} from "./status.ts";
import { RevisionClock, VersionedStore } from "./store.ts";
import type { KubeEvent, KubeObject, Namespace, Pod } from "./types.ts";
import {
  isPathSegmentName,
  nameIsDNSLabel,
  validateEvent,
  validateEventUpdate,
  validateObjectMeta,
  validateObjectMetaUpdate,
} from "./validation.ts";

/** Options of {@link Cluster}. */
export interface ClusterOptions {
  /** Change events kept per resource for watches and snapshot reads. */
  watchCacheSize: number;
  /** How long a deleted namespace stays Terminating before it and its content are gone. */
  namespaceTerminationMs: number;
  /** Events expire this long after their last write (kube-apiserver's --event-ttl). */
  eventTtlMs: number;
}

/** What a write returns: the stored object and the warnings for the `Warning` header. */
export interface WriteResult<T> {
  obj: T;
  warnings: string[];
  /** True when a PUT created the object. */
  created?: boolean;
}

/** Per-request write options (query parameters). */
export interface WriteOptions {
  dryRun?: boolean;
  /** `Strict` rejects unknown fields; `Warn` (default) reports them; `Ignore` drops them. */
  fieldValidation?: string;
}

/** The patch content types kube-apiserver accepts for built-in types (apply is not served). */
export const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
] as const;

const GENERATED_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** names.SimpleNameGenerator: base (cut to 58 characters) plus five random characters. */
export function generateName(base: string): string {
  let suffix = "";
  const random = crypto.getRandomValues(new Uint8Array(5));
  for (const byte of random) suffix += GENERATED_ALPHABET[byte % GENERATED_ALPHABET.length];
  return base.slice(0, 58) + suffix;
}

/** The key of a namespaced object. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

const EVENT_GR = { resource: "events" };
const NAMESPACE_GR = { resource: "namespaces" };
const POD_GR = { resource: "pods" };

function warningsFor(unknownFields: string[], options: WriteOptions): string[] {
  if (unknownFields.length === 0 || options.fieldValidation === "Ignore") return [];
  if (options.fieldValidation === "Strict") {
    throw new ApiError(badRequest(
      `strict decoding error: ${unknownFields.map((f) => `unknown field "${f}"`).join(", ")}`,
    ));
  }
  return unknownFields.map((f) => `unknown field "${f}"`);
}

function checkKind(body: unknown, kind: string): void {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return;
  const { kind: sentKind, apiVersion } = body as { kind?: unknown; apiVersion?: unknown };
  if (sentKind !== undefined && sentKind !== "" && sentKind !== kind) {
    throw new ApiError(badRequest(
      `the object provided is unrecognized (must be of type ${kind}): couldn't get version/kind; json parse error: kind ${
        JSON.stringify(sentKind)
      } is not ${kind}`,
    ));
  }
  if (apiVersion !== undefined && apiVersion !== "" && apiVersion !== "v1") {
    throw new ApiError(badRequest(
      `${kind} in version ${
        JSON.stringify(String(apiVersion).split("/").pop())
      } cannot be handled as a ${kind}: no kind "${kind}" is registered for version "${apiVersion}"`,
    ));
  }
}

function decodeOrThrow<T>(kind: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof DecodeError) {
      throw new ApiError(
        badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: ${error.message}`),
      );
    }
    throw error;
  }
}

function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) =>
    JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return strip(a) === strip(b);
}

/** The emulated cluster. */
export class Cluster {
  readonly clock = new RevisionClock(1);
  readonly pods: VersionedStore<Pod>;
  readonly events: VersionedStore<KubeEvent>;
  readonly namespaces: VersionedStore<Namespace>;
  readonly #options: ClusterOptions;
  /** Completes a pending namespace termination now (on close). */
  readonly #finishers = new Set<() => void>();
  readonly #terminations = new Map<string, Promise<void>>();
  readonly #eventExpiry = new Map<string, number>();
  readonly #sweeper: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(options: ClusterOptions) {
    this.#options = options;
    const storeOptions = { clock: this.clock, historySize: options.watchCacheSize };
    this.pods = new VersionedStore<Pod>(storeOptions);
    this.events = new VersionedStore<KubeEvent>(storeOptions);
    this.namespaces = new VersionedStore<Namespace>(storeOptions);
    for (const name of INITIAL_NAMESPACES) this.addNamespace(name);
    this.#sweeper = setInterval(
      () => this.expireEvents(Date.now()),
      Math.max(50, Math.min(options.eventTtlMs / 4, 30_000)),
    );
    Deno.unrefTimer(this.#sweeper as unknown as number);
  }

  /** Stops timers; pending namespace terminations finish immediately. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const finish of [...this.#finishers]) finish();
  }

  /**
   * Makes every resourceVersion handed out so far "too old" for lists, continues and watches:
   * the revision advances by one (as if a write happened) and all history before it is dropped.
   */
  compact(): void {
    this.clock.next();
    this.pods.compact();
    this.events.compact();
    this.namespaces.compact();
  }

  // --- namespaces -------------------------------------------------------------------------

  /** The phase of a namespace, or undefined when it does not exist. */
  namespacePhase(name: string): "Active" | "Terminating" | undefined {
    return this.namespaces.get(name)?.status.phase;
  }

  /** Creates a namespace (returns the existing one when it is already there and Active). */
  addNamespace(name: string, labels?: Record<string, string>): Namespace {
    const existing = this.namespaces.get(name);
    if (existing) {
      if (existing.status.phase === "Terminating") {
        throw new Error(`namespace ${name} is being terminated`);
      }
      return existing;
    }
    const problems = nameIsDNSLabel(name, false);
    if (problems.length > 0) {
      throw new Error(`invalid namespace name ${JSON.stringify(name)}: ${problems[0]}`);
    }
    return this.namespaces.create(
      name,
      (rv) => withRv(buildNamespace(name, Date.now(), labels), rv),
    )!;
  }

  /** POST /api/v1/namespaces. */
  createNamespace(body: unknown, options: WriteOptions): WriteResult<Namespace> {
    checkKind(body, "Namespace");
    const { obj, unknownFields } = decodeOrThrow("Namespace", () => decodeNamespace(body));
    const warnings = warningsFor(unknownFields, options);
    const meta = obj.metadata;
    if (meta.resourceVersion) {
      throw new ApiError(
        unclassified(500, "resourceVersion should not be set on objects to be created"),
      );
    }
    meta.namespace = undefined;
    if (!meta.name && meta.generateName) meta.name = generateName(meta.generateName);
    const errors = validateObjectMeta(meta, false, nameIsDNSLabel);
    if (errors.length > 0) {
      throw new ApiError(invalidStatus({ kind: "Namespace" }, meta.name ?? "", errors));
    }
    const name = meta.name!;
    if (this.namespaces.get(name)) throw new ApiError(alreadyExists(NAMESPACE_GR, name));
    const built = buildNamespace(name, Date.now(), meta.labels);
    const ns: Namespace = {
      metadata: canonicalMeta({ ...meta, ...built.metadata, labels: built.metadata.labels }),
      spec: built.spec,
      status: built.status,
    };
    if (options.dryRun) return { obj: withRv(ns, this.clock.current), warnings };
    return { obj: this.namespaces.create(name, (rv) => withRv(ns, rv))!, warnings };
  }

  /**
   * Deletes a namespace the way the namespace controller does: it turns Terminating at once,
   * its pods and events are removed after `graceMs`, then the namespace itself. Resolves when
   * it is gone. Immortal namespaces (default, kube-system, kube-public) are refused.
   */
  deleteNamespace(name: string, graceMs = this.#options.namespaceTerminationMs): Promise<void> {
    const pending = this.#terminations.get(name);
    if (pending) return pending;
    const current = this.namespaces.get(name);
    if (!current) return Promise.reject(new ApiError(notFound(NAMESPACE_GR, name)));
    if (IMMORTAL_NAMESPACES.has(name)) {
      return Promise.reject(
        new ApiError(forbidden(NAMESPACE_GR, name, "this namespace may not be deleted")),
      );
    }
    this.namespaces.update(name, (rv, ns) => ({
      ...ns,
      metadata: {
        ...ns.metadata,
        resourceVersion: String(rv),
        deletionTimestamp: formatTime(Date.now()),
      },
      status: { phase: "Terminating" },
    }));
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = () => {
        clearTimeout(timer);
        this.#finishers.delete(finish);
        this.#purgeNamespace(name);
        this.#terminations.delete(name);
        resolve();
      };
    });
    const timer = setTimeout(finish, graceMs);
    this.#finishers.add(finish);
    this.#terminations.set(name, done);
    return done;
  }

  /** DELETE /api/v1/namespaces/{name}: answers with the Terminating namespace. */
  deleteNamespaceFromApi(name: string): Namespace {
    const current = this.namespaces.get(name);
    if (!current) throw new ApiError(notFound(NAMESPACE_GR, name));
    if (IMMORTAL_NAMESPACES.has(name)) {
      throw new ApiError(forbidden(NAMESPACE_GR, name, "this namespace may not be deleted"));
    }
    if (current.status.phase === "Terminating") {
      throw new ApiError(conflict(
        NAMESPACE_GR,
        name,
        "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
      ));
    }
    void this.deleteNamespace(name).catch(() => {});
    return this.namespaces.get(name)!;
  }

  #purgeNamespace(name: string): void {
    const prefix = `${name}/`;
    for (const pod of this.pods.list({ rv: this.clock.current, prefix, limit: 0 }).items) {
      this.pods.delete(objectKey(name, pod.metadata.name!), stampDeleted);
    }
    for (const event of this.events.list({ rv: this.clock.current, prefix, limit: 0 }).items) {
      this.#deleteEventKey(objectKey(name, event.metadata.name!));
    }
    this.namespaces.delete(name, stampDeleted);
  }

  /** Admission (NamespaceLifecycle): the namespace must exist, and accept creates when Active. */
  #admit(namespace: string, create: boolean, resource: { resource: string }, name: string): void {
    const phase = this.namespacePhase(namespace);
    if (phase === undefined) throw new ApiError(notFound(NAMESPACE_GR, namespace));
    if (create && phase === "Terminating") {
      const status = forbidden(
        resource,
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
      status.details!.causes = [{
        reason: "NamespaceTerminating",
        message: `namespace ${namespace} is being terminated`,
        field: "metadata.namespace",
      }];
      throw new ApiError(status);
    }
  }

  // --- pods -------------------------------------------------------------------------------

  /** Adds a Pod (creating its namespace when missing). */
  addPod(input: PodInput): Pod {
    if (!input.namespace || !input.name) throw new Error("addPod needs a namespace and a name");
    for (const message of isPathSegmentName(input.name, false)) {
      throw new Error(`invalid pod name ${JSON.stringify(input.name)}: ${message}`);
    }
    if (this.namespacePhase(input.namespace) === undefined) this.addNamespace(input.namespace);
    if (this.namespacePhase(input.namespace) === "Terminating") {
      throw new Error(`namespace ${input.namespace} is being terminated`);
    }
    const key = objectKey(input.namespace, input.name);
    const pod = this.pods.create(key, (rv) => withRv(buildPod(input, Date.now()), rv));
    if (!pod) throw new ApiError(alreadyExists(POD_GR, input.name));
    return pod;
  }

  /** Changes a Pod (node, phase, IPs, labels, …); throws when it does not exist. */
  updatePod(namespace: string, name: string, changes: PodChanges): Pod {
    const key = objectKey(namespace, name);
    const updated = this.pods.update(key, (rv, current) => {
      const input = { ...podInputOf(current), ...changes };
      const rebuilt = buildPod(input, Date.now());
      return withRv(
        { ...rebuilt, metadata: { ...rebuilt.metadata, ...keepIdentity(current) } },
        rv,
      );
    });
    if (!updated) throw new ApiError(notFound(POD_GR, name));
    return updated;
  }

  /** Deletes a Pod at once; returns its last state, or undefined when there was none. */
  deletePod(namespace: string, name: string): Pod | undefined {
    return this.pods.delete(objectKey(namespace, name), stampDeleted);
  }

  // --- events -----------------------------------------------------------------------------

  /** POST /api/v1/namespaces/{ns}/events. */
  createEvent(namespace: string, body: unknown, options: WriteOptions): WriteResult<KubeEvent> {
    checkKind(body, "Event");
    const { obj: event, unknownFields } = decodeOrThrow("Event", () => decodeEvent(body));
    const warnings = warningsFor(unknownFields, options);
    const meta = event.metadata;
    if (!meta.namespace) meta.namespace = namespace;
    if (meta.namespace !== namespace) {
      throw new ApiError(
        badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        ),
      );
    }
    this.#admit(namespace, true, EVENT_GR, meta.name || meta.generateName || "");
    return { obj: this.#insertEvent(namespace, event, options), warnings };
  }

  #insertEvent(namespace: string, event: KubeEvent, options: WriteOptions): KubeEvent {
    const meta = event.metadata;
    if (meta.resourceVersion) {
      throw new ApiError(
        unclassified(500, "resourceVersion should not be set on objects to be created"),
      );
    }
    const generated = !meta.name && Boolean(meta.generateName);
    if (generated) meta.name = generateName(meta.generateName!);
    meta.uid = crypto.randomUUID();
    meta.creationTimestamp = formatTime(Date.now());
    meta.deletionTimestamp = undefined;
    meta.deletionGracePeriodSeconds = undefined;
    this.#validateEventCreate(event);
    const stored = { ...event, metadata: canonicalMeta(meta) };
    if (options.dryRun) return withRv(stored, this.clock.current);
    for (let attempt = 0; attempt < 8; attempt++) {
      const key = objectKey(namespace, stored.metadata.name!);
      const created = this.events.create(key, (rv) => withRv(stored, rv));
      if (created) {
        this.#eventExpiry.set(key, Date.now() + this.#options.eventTtlMs);
        return created;
      }
      if (!generated) throw new ApiError(alreadyExists(EVENT_GR, stored.metadata.name!));
      stored.metadata = { ...stored.metadata, name: generateName(meta.generateName!) };
    }
    throw new ApiError(failure(
      409,
      "AlreadyExists",
      `events "${stored.metadata.name}" already exists, the server was not able to generate a unique name for the object`,
      { name: stored.metadata.name, kind: "events", retryAfterSeconds: 1 },
    ));
  }

  #validateEventCreate(event: KubeEvent): void {
    const name = event.metadata.name ?? "";
    const strategy = validateEvent(event, "v1");
    if (strategy.length > 0) throw new ApiError(invalidStatus({ kind: "Event" }, name, strategy));
    const common = validateObjectMeta(event.metadata, true, isPathSegmentName);
    if (common.length > 0) throw new ApiError(invalidStatus({ kind: "Event" }, name, common));
  }

  /** PUT /api/v1/namespaces/{ns}/events/{name}: update, or create when missing. */
  replaceEvent(
    namespace: string,
    name: string,
    body: unknown,
    options: WriteOptions,
  ): WriteResult<KubeEvent> {
    checkKind(body, "Event");
    const { obj: event, unknownFields } = decodeOrThrow("Event", () => decodeEvent(body));
    const warnings = warningsFor(unknownFields, options);
    const meta = event.metadata;
    if ((meta.name ?? "") !== name) {
      throw new ApiError(badRequest(
        `the name of the object (${meta.name ?? ""}) does not match the name on the URL (${name})`,
      ));
    }
    if (meta.namespace && meta.namespace !== namespace) {
      throw new ApiError(badRequest(
        `the namespace of the object (${meta.namespace}) does not match the namespace on the request (${namespace})`,
      ));
    }
    meta.namespace = namespace;
    const existing = this.events.get(objectKey(namespace, name));
    if (!existing) {
      this.#admit(namespace, true, EVENT_GR, name);
      meta.resourceVersion = undefined;
      return { obj: this.#insertEvent(namespace, event, options), warnings, created: true };
    }
    this.#admit(namespace, false, EVENT_GR, name);
    return { obj: this.#updateEvent(existing, event, options), warnings };
  }

  #updateEvent(existing: KubeEvent, next: KubeEvent, options: WriteOptions): KubeEvent {
    const name = existing.metadata.name!;
    const meta = next.metadata;
    if (!meta.resourceVersion) meta.resourceVersion = existing.metadata.resourceVersion;
    else if (meta.resourceVersion !== existing.metadata.resourceVersion) {
      throw new ApiError(conflict(EVENT_GR, name, OPTIMISTIC_LOCK_MESSAGE));
    }
    meta.generation = existing.metadata.generation;
    if (!meta.uid) meta.uid = existing.metadata.uid;
    meta.creationTimestamp = existing.metadata.creationTimestamp;
    if (existing.metadata.deletionTimestamp) {
      meta.deletionTimestamp = existing.metadata.deletionTimestamp;
    }
    const errors = [
      ...validateObjectMetaUpdate(meta, existing.metadata),
      ...validateObjectMeta(meta, true, isPathSegmentName),
      ...validateEventUpdate(next, existing, "v1"),
    ];
    if (errors.length > 0) throw new ApiError(invalidStatus({ kind: "Event" }, name, errors));
    const stored: KubeEvent = { ...next, metadata: canonicalMeta(meta) };
    if (sameContent(stored, existing) || options.dryRun) return existing;
    const key = objectKey(existing.metadata.namespace!, name);
    const updated = this.events.update(key, (rv) => withRv(stored, rv))!;
    this.#eventExpiry.set(key, Date.now() + this.#options.eventTtlMs);
    return updated;
  }

  /** PATCH /api/v1/namespaces/{ns}/events/{name} in one of {@link PATCH_TYPES}. */
  patchEvent(
    namespace: string,
    name: string,
    contentType: string,
    rawBody: string,
    options: WriteOptions,
  ): WriteResult<KubeEvent> {
    // As the patch handler reads it (apiserver endpoints/handlers/patch.go): everything before
    // the first ";", compared exactly, so no trimming and no case folding.
    const semicolon = contentType.indexOf(";");
    const type = semicolon > 0 ? contentType.slice(0, semicolon) : contentType;
    if (
      !(PATCH_TYPES as readonly string[]).includes(type) || type === "application/apply-patch+yaml"
    ) {
      throw new ApiError(unsupportedMediaType([...PATCH_TYPES]));
    }
    let patch: unknown;
    try {
      patch = JSON.parse(rawBody);
    } catch (error) {
      throw new ApiError(badRequest(`error decoding patch: ${(error as Error).message}`));
    }
    const existing = this.events.get(objectKey(namespace, name));
    if (!existing) throw new ApiError(notFound(EVENT_GR, name));
    this.#admit(namespace, false, EVENT_GR, name);
    const original = { kind: "Event", apiVersion: "v1", ...structuredClone(existing) };
    let patched: unknown;
    try {
      if (type === "application/json-patch+json") patched = applyJsonPatch(original, patch);
      else if (type === "application/merge-patch+json") {
        if (patch === null || typeof patch !== "object" || Array.isArray(patch)) {
          throw new PatchError(
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
            true,
          );
        }
        patched = applyMergePatch(original, patch);
      } else patched = applyStrategicMergePatch(original, patch);
    } catch (error) {
      if (!(error instanceof PatchError)) throw error;
      if (error.malformed) throw new ApiError(badRequest(error.message));
      throw new ApiError(
        failure(422, "Invalid", "the server rejected our request due to an error in our request", {
          causes: [{ reason: "UnexpectedServerResponse", message: error.message }],
        }),
      );
    }
    checkKind(patched, "Event");
    const { obj: next, unknownFields } = decodeOrThrow("Event", () => decodeEvent(patched));
    const warnings = warningsFor(unknownFields, options);
    if ((next.metadata.name ?? "") !== name || (next.metadata.namespace ?? "") !== namespace) {
      const errors = validateObjectMetaUpdate(next.metadata, existing.metadata)
        .filter((e) => e.field === "metadata.name" || e.field === "metadata.namespace");
      throw new ApiError(invalidStatus({ kind: "Event" }, name, errors));
    }
    return { obj: this.#updateEvent(existing, next, options), warnings };
  }

  /** DELETE /api/v1/namespaces/{ns}/events/{name}, honouring uid/resourceVersion preconditions. */
  deleteEvent(
    namespace: string,
    name: string,
    deleteOptions: unknown,
    options: WriteOptions,
  ): KubeEvent {
    const key = objectKey(namespace, name);
    const existing = this.events.get(key);
    if (!existing) throw new ApiError(notFound(EVENT_GR, name));
    const preconditions =
      (deleteOptions as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined)
        ?.preconditions;
    if (preconditions?.uid && preconditions.uid !== existing.metadata.uid) {
      throw new ApiError(conflict(
        EVENT_GR,
        name,
        `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${existing.metadata.uid}`,
      ));
    }
    if (
      preconditions?.resourceVersion &&
      preconditions.resourceVersion !== existing.metadata.resourceVersion
    ) {
      throw new ApiError(conflict(
        EVENT_GR,
        name,
        `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`,
      ));
    }
    if (options.dryRun) return existing;
    return this.#deleteEventKey(key)!;
  }

  #deleteEventKey(key: string): KubeEvent | undefined {
    this.#eventExpiry.delete(key);
    return this.events.delete(key, stampDeleted);
  }

  /** Removes events whose TTL has passed (as etcd leases expire them). */
  expireEvents(now: number): number {
    let expired = 0;
    for (const [key, at] of this.#eventExpiry) {
      if (at <= now) {
        this.#deleteEventKey(key);
        expired++;
      }
    }
    return expired;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }
}

function withRv<T extends KubeObject>(obj: T, rv: number): T {
  return { ...obj, metadata: canonicalMeta({ ...obj.metadata, resourceVersion: String(rv) }) };
}

function keepIdentity(current: Pod): Partial<Pod["metadata"]> {
  return {
    uid: current.metadata.uid,
    creationTimestamp: current.metadata.creationTimestamp,
    ...(current.metadata.deletionTimestamp
      ? { deletionTimestamp: current.metadata.deletionTimestamp }
      : {}),
  };
}

/** The last state of a deleted object carries the deletion revision. */
function stampDeleted<T extends KubeObject>(rv: number, current: T): T {
  return withRv(current, rv);
}
