/**
 * The REST surface: maps a request (method, path, query, body) onto discovery documents and
 * the cluster's resources, with kube-apiserver's list semantics (resourceVersion and
 * resourceVersionMatch, limit/continue with snapshot reads, selectors), content negotiation
 * (JSON or server-side Table) and watches. Independent of the HTTP server.
 * @module
 */

import { type Cluster, objectKey } from "./cluster.ts";
import { decodeContinue, encodeContinue } from "./continue_token.ts";
import { apiGroupList, apiResourceList, apiVersions, SERVER_VERSION } from "./discovery.ts";
import { EVENTS, NAMESPACES, PODS, type ResourceDef } from "./resources.ts";
import { parseFieldSelector, parseLabelSelector, SelectorError } from "./selectors.ts";
import {
  ApiError,
  badRequest,
  expired,
  type FieldError,
  forbiddenField,
  invalidStatus,
  methodNotAllowed,
  notAcceptable,
  notFound,
  notSupported,
  resourceNotFound,
  type Status,
  tooLargeResourceVersion,
  unsupportedMediaType,
} from "./status.ts";
import { jsonOf, TooOldError, type VersionedStore } from "./store.ts";
import { buildTable, type IncludeObject } from "./table.ts";
import type { KubeObject } from "./types.ts";
import { FUTURE_RV_WAIT_MS, runWatch, type StreamSink } from "./watch.ts";

/** A parsed request. */
export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  rawBody: string;
}

/** A complete answer. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A streamed answer (watch). */
export interface StreamReply {
  status: number;
  headers: Record<string, string>;
  stream: (sink: StreamSink) => Promise<void>;
}

/** What the handlers need besides the request. */
export interface HandlerContext {
  cluster: Cluster;
  bookmarkIntervalMs: number;
  /** host:port the server is reached at (for /api). */
  serverAddress: string;
}

const JSON_TYPE = "application/json";
// deno-lint-ignore no-explicit-any
const RESOURCES: Record<string, ResourceDef<any>> = {
  pods: PODS,
  events: EVENTS,
  namespaces: NAMESPACES,
};

/** A JSON answer. */
export function jsonReply(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Reply {
  return { status, headers: { "Content-Type": JSON_TYPE, ...headers }, body };
}

/** The answer for a failure Status. */
export function statusReply(status: Status, headers: Record<string, string> = {}): Reply {
  return jsonReply(status.code, JSON.stringify(status), headers);
}

function withKind(def: ResourceDef<KubeObject>, obj: KubeObject): string {
  return `{"kind":${JSON.stringify(def.kind)},"apiVersion":"v1",${jsonOf(obj).slice(1)}`;
}

/** The Go rule for boolean query parameters: absent, "false" or "0" is false. */
function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  if (!query.has(name)) return undefined;
  const value = query.get(name)!.toLowerCase();
  return !(value === "false" || value === "0");
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (!/^-?\d+$/.test(raw)) {
    throw new ApiError(
      badRequest(
        `${name}: Invalid value: ${JSON.stringify(raw)}: strconv.ParseInt: parsing ${
          JSON.stringify(raw)
        }: invalid syntax`,
      ),
    );
  }
  return Number(raw);
}

function parseResourceVersion(raw: string): number {
  if (!/^\d+$/.test(raw)) {
    throw new ApiError(
      badRequest(
        `invalid resource version: strconv.ParseUint: parsing ${
          JSON.stringify(raw)
        }: invalid syntax`,
      ),
    );
  }
  return Number(raw);
}

interface TableWanted {
  version: "v1" | "v1beta1";
}

/** Picks the response format from Accept: a Table, plain JSON, or nothing acceptable (406). */
function negotiate(accept: string | undefined, allowTable: boolean): TableWanted | null {
  if (!accept) return null;
  for (const entry of accept.split(",")) {
    const [type, ...params] = entry.split(";").map((p) => p.trim());
    const p = Object.fromEntries(params.map((kv) => kv.split("=").map((s) => s.trim())));
    const mediaType = type.toLowerCase();
    if (mediaType !== JSON_TYPE && mediaType !== "*/*" && mediaType !== "application/*") continue;
    if (p.as === undefined) return null;
    if (
      p.as === "Table" && p.g === "meta.k8s.io" && (p.v === "v1" || p.v === "v1beta1") && allowTable
    ) {
      return { version: p.v };
    }
  }
  throw new ApiError(notAcceptable(["application/json", "application/yaml"]));
}

function selectors<T extends KubeObject>(
  def: ResourceDef<T>,
  query: URLSearchParams,
): (obj: T) => boolean {
  try {
    const labels = parseLabelSelector(query.get("labelSelector") ?? "");
    const fields = parseFieldSelector(query.get("fieldSelector") ?? "", def.fieldLabels);
    return (obj) => labels(obj.metadata.labels) && fields((name) => def.field(obj, name));
  } catch (error) {
    if (error instanceof SelectorError) throw new ApiError(badRequest(error.message));
    throw error;
  }
}

function listOptionErrors(query: URLSearchParams, watch: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const match = query.get("resourceVersionMatch") ?? "";
  const rv = query.get("resourceVersion") ?? "";
  const cont = query.get("continue") ?? "";
  const sendInitial = boolParam(query, "sendInitialEvents");
  if (watch) {
    if (sendInitial !== undefined && match !== "NotOlderThan") {
      errors.push(
        forbiddenField(
          "resourceVersionMatch",
          "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
      );
    }
    if (match !== "") {
      if (sendInitial === undefined) {
        errors.push(
          forbiddenField(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
          ),
        );
      }
      if (match !== "NotOlderThan") {
        errors.push(notSupported("resourceVersionMatch", match, ["NotOlderThan"]));
      }
      if (cont !== "") {
        errors.push(
          forbiddenField(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden when continue is provided",
          ),
        );
      }
    }
    return errors;
  }
  if (match !== "") {
    if (rv === "") {
      errors.push(
        forbiddenField(
          "resourceVersionMatch",
          "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
      );
    }
    if (cont !== "") {
      errors.push(
        forbiddenField(
          "resourceVersionMatch",
          "resourceVersionMatch is forbidden when continue is provided",
        ),
      );
    }
    if (match !== "Exact" && match !== "NotOlderThan") {
      errors.push(notSupported("resourceVersionMatch", match, ["Exact", "NotOlderThan", ""]));
    }
    if (match === "Exact" && rv === "0") {
      errors.push(
        forbiddenField(
          "resourceVersionMatch",
          'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
      );
    }
  }
  if (sendInitial !== undefined) {
    errors.push(forbiddenField("sendInitialEvents", "sendInitialEvents is forbidden for list"));
  }
  return errors;
}

async function waitForRevision(cluster: Cluster, rv: number): Promise<void> {
  if (rv <= cluster.clock.current) return;
  if (!await cluster.clock.waitFor(rv, FUTURE_RV_WAIT_MS)) {
    throw new ApiError(tooLargeResourceVersion(rv, cluster.clock.current));
  }
}

const LIST_TOO_OLD = "The resourceVersion for the provided list is too old.";
const CONTINUE_TOO_OLD =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

async function list<T extends KubeObject>(
  ctx: HandlerContext,
  req: ApiRequest,
  def: ResourceDef<T>,
  store: VersionedStore<T>,
  namespace: string | undefined,
): Promise<Reply> {
  const { query } = req;
  const errors = listOptionErrors(query, false);
  if (errors.length > 0) {
    throw new ApiError(invalidStatus({ group: "meta.k8s.io", kind: "ListOptions" }, "", errors));
  }
  const table = negotiate(req.headers["accept"], true);
  const match = selectors(def, query);
  const prefix = namespace === undefined ? "" : `${namespace}/`;
  const rvParam = query.get("resourceVersion") ?? "";
  const rvMatch = query.get("resourceVersionMatch") ?? "";
  const cont = query.get("continue") ?? "";
  let limit = Math.max(0, intParam(query, "limit") ?? 0);
  const clock = ctx.cluster.clock;
  let rv = clock.current;
  let from: string | undefined;
  if (cont !== "") {
    if (rvParam !== "" && rvParam !== "0") {
      throw new ApiError(
        badRequest("specifying resource version is not allowed when using continue"),
      );
    }
    let token;
    try {
      token = decodeContinue(cont);
    } catch (error) {
      throw new ApiError(badRequest(`invalid continue token: ${(error as Error).message}`));
    }
    from = prefix + token.start;
    if (token.rv !== -1) {
      if (token.rv < store.oldestRevision) {
        const status = expired(CONTINUE_TOO_OLD);
        status.metadata.continue = encodeContinue({ rv: -1, start: token.start });
        throw new ApiError(status);
      }
      rv = token.rv;
    }
  } else if (rvParam === "0") {
    limit = 0; // served from the watch cache, which ignores limit
  } else if (rvParam !== "") {
    const wanted = parseResourceVersion(rvParam);
    await waitForRevision(ctx.cluster, wanted);
    const exact = rvMatch === "Exact" || (rvMatch === "" && limit > 0);
    if (exact) {
      if (wanted < store.oldestRevision) throw new ApiError(expired(LIST_TOO_OLD));
      rv = wanted;
    } else {
      rv = clock.current;
      if (rvMatch === "") limit = 0; // not-older-than without limit: from the cache
    }
  }
  let page;
  try {
    page = store.list({ rv, prefix, from, limit, match });
  } catch (error) {
    if (error instanceof TooOldError) throw new ApiError(expired(LIST_TOO_OLD));
    throw error;
  }
  const listMeta: Record<string, unknown> = { resourceVersion: String(rv) };
  if (page.lastKey !== undefined) {
    listMeta.continue = encodeContinue({ rv, start: `${page.lastKey.slice(prefix.length)}\u0000` });
    const filtered = query.has("labelSelector") && query.get("labelSelector") !== "" ||
      query.has("fieldSelector") && query.get("fieldSelector") !== "";
    if (!filtered && page.remaining !== undefined) listMeta.remainingItemCount = page.remaining;
  }
  if (table) {
    return jsonReply(
      200,
      JSON.stringify(buildTable(def.table, page.items, {
        kind: def.kind,
        apiVersion: "v1",
        includeObject: includeObject(query),
        noHeaders: false,
        tableVersion: table.version,
        listMeta,
      })),
    );
  }
  const items = page.items.map((obj) => jsonOf(obj)).join(",");
  return jsonReply(
    200,
    `{"kind":${JSON.stringify(def.listKind)},"apiVersion":"v1","metadata":${
      JSON.stringify(listMeta)
    },"items":[${items}]}`,
  );
}

function includeObject(query: URLSearchParams): IncludeObject {
  const value = query.get("includeObject");
  return value === "None" || value === "Object" ? value : "Metadata";
}

function watch<T extends KubeObject>(
  ctx: HandlerContext,
  req: ApiRequest,
  def: ResourceDef<T>,
  store: VersionedStore<T>,
  namespace: string | undefined,
  nameFilter?: string,
): StreamReply {
  const { query } = req;
  const errors = listOptionErrors(query, true);
  if (errors.length > 0) {
    throw new ApiError(invalidStatus({ group: "meta.k8s.io", kind: "ListOptions" }, "", errors));
  }
  const table = negotiate(req.headers["accept"], true);
  const selected = selectors(def, query);
  const match = nameFilter === undefined
    ? selected
    : (obj: T) => obj.metadata.name === nameFilter && selected(obj);
  const rv = query.get("resourceVersion") ?? "";
  if (rv !== "") parseResourceVersion(rv);
  const timeoutSeconds = intParam(query, "timeoutSeconds");
  return {
    status: 200,
    headers: { "Content-Type": JSON_TYPE, "Cache-Control": "no-cache, private" },
    stream: (sink) =>
      runWatch(sink, {
        store,
        def,
        clock: ctx.cluster.clock,
        prefix: namespace === undefined ? "" : `${namespace}/`,
        match,
        resourceVersion: rv,
        sendInitialEvents: boolParam(query, "sendInitialEvents"),
        allowBookmarks: boolParam(query, "allowWatchBookmarks") ?? false,
        bookmarkIntervalMs: ctx.bookmarkIntervalMs,
        timeoutMs: timeoutSeconds !== undefined && timeoutSeconds > 0
          ? timeoutSeconds * 1000
          : undefined,
        render: table ? tableRenderer(def, query, table.version) : undefined,
      }),
  };
}

/** Watch events as one-row Tables; only the first carries the column definitions. */
function tableRenderer<T extends KubeObject>(
  def: ResourceDef<T>,
  query: URLSearchParams,
  version: "v1" | "v1beta1",
): (obj: T) => string {
  let first = true;
  return (obj) => {
    const text = JSON.stringify(buildTable(def.table, [obj], {
      kind: def.kind,
      apiVersion: "v1",
      includeObject: includeObject(query),
      noHeaders: !first,
      tableVersion: version,
      listMeta: { resourceVersion: obj.metadata.resourceVersion },
    }));
    first = false;
    return text;
  };
}

function getOne<T extends KubeObject>(
  req: ApiRequest,
  def: ResourceDef<T>,
  store: VersionedStore<T>,
  key: string,
  name: string,
): Reply {
  const table = negotiate(req.headers["accept"], true);
  const obj = store.get(key);
  if (!obj) throw new ApiError(notFound({ resource: def.resource }, name));
  if (table) {
    return jsonReply(
      200,
      JSON.stringify(buildTable(def.table, [obj], {
        kind: def.kind,
        apiVersion: "v1",
        includeObject: includeObject(req.query),
        noHeaders: false,
        tableVersion: table.version,
        listMeta: { resourceVersion: obj.metadata.resourceVersion },
      })),
    );
  }
  return jsonReply(200, withKind(def, obj));
}

function parseBody(req: ApiRequest): unknown {
  // NegotiateInputSerializer: no Content-Type means JSON (the first serializer); otherwise the
  // parsed media type (case-insensitive) must name a serializer exactly, so `*/*` is a 415.
  const type = (req.headers["content-type"] || JSON_TYPE).split(";")[0].trim().toLowerCase();
  if (type !== JSON_TYPE) {
    throw new ApiError(
      unsupportedMediaType([
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
      ]),
    );
  }
  try {
    return JSON.parse(req.rawBody);
  } catch (error) {
    throw new ApiError(
      badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`),
    );
  }
}

function writeOptions(query: URLSearchParams): { dryRun: boolean; fieldValidation?: string } {
  const dryRun = query.getAll("dryRun");
  if (dryRun.some((v) => v !== "All")) {
    throw new ApiError(invalidStatus({ group: "meta.k8s.io", kind: "CreateOptions" }, "", [
      notSupported("dryRun", dryRun, ["All"]),
    ]));
  }
  return { dryRun: dryRun.length > 0, fieldValidation: query.get("fieldValidation") ?? undefined };
}

function warningHeaders(warnings: string[]): Record<string, string> {
  if (warnings.length === 0) return {};
  return { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(", ") };
}

function successStatus(def: ResourceDef<KubeObject>, obj: KubeObject): string {
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    details: { name: obj.metadata.name, kind: def.resource, uid: obj.metadata.uid },
  });
}

/** A request path under /api/v1 naming a served resource. */
interface ResourcePath {
  // deno-lint-ignore no-explicit-any
  def: ResourceDef<any>;
  namespace?: string;
  name?: string;
  /** `/api/v1/watch/...`, the old way of asking for a watch. */
  legacyWatch: boolean;
}

/**
 * Parses `/api/v1/[watch/][namespaces/{ns}/]{resource}[/{name}]`; undefined when the path names
 * nothing served (a subresource, an unknown resource, a namespaced object without namespace).
 */
function parseResourcePath(path: string): ResourcePath | undefined {
  let parts = path.slice("/api/v1/".length).split("/").filter((p) => p !== "").map(
    decodeURIComponent,
  );
  const legacyWatch = parts[0] === "watch";
  if (legacyWatch) parts = parts.slice(1);
  let namespace: string | undefined;
  let resource: string | undefined;
  let name: string | undefined;
  if (parts[0] === "namespaces" && parts.length >= 3) {
    if (parts.length > 4) return undefined;
    [, namespace, resource, name] = parts;
  } else {
    if (parts.length > 2) return undefined;
    [resource, name] = parts;
  }
  const def = RESOURCES[resource ?? ""];
  if (!def) return undefined;
  if (def.namespaced && namespace === undefined && name !== undefined) return undefined;
  if (!def.namespaced && namespace !== undefined) return undefined;
  return { def, namespace, name, legacyWatch };
}

/** Routes one request. Throws {@link ApiError} for failures. */
export async function handle(ctx: HandlerContext, req: ApiRequest): Promise<Reply | StreamReply> {
  const { path, method } = req;
  if (method === "GET" && (path === "/healthz" || path === "/livez" || path === "/readyz")) {
    return { status: 200, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: "ok" };
  }
  if (method === "GET" && path === "/version") {
    return jsonReply(200, JSON.stringify(SERVER_VERSION, null, 2));
  }
  if (method === "GET" && (path === "/api" || path === "/api/")) {
    return jsonReply(200, JSON.stringify(apiVersions(ctx.serverAddress)));
  }
  if (method === "GET" && (path === "/apis" || path === "/apis/")) {
    return jsonReply(200, JSON.stringify(apiGroupList()));
  }
  if (method === "GET" && (path === "/api/v1" || path === "/api/v1/")) {
    return jsonReply(200, JSON.stringify(apiResourceList([EVENTS, NAMESPACES, PODS])));
  }
  if (!path.startsWith("/api/v1/")) {
    if (path.startsWith("/api/") || path.startsWith("/apis/")) {
      throw new ApiError(resourceNotFound());
    }
    return {
      status: 404,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
      body: "404 page not found\n",
    };
  }
  const route = parseResourcePath(path);
  if (!route) throw new ApiError(resourceNotFound());
  const { def, namespace, name, legacyWatch } = route;
  const resource = def.resource;
  const cluster = ctx.cluster;
  const store = resource === "pods"
    ? cluster.pods
    : resource === "events"
    ? cluster.events
    : cluster.namespaces;
  const isWatch = legacyWatch ||
    (method === "GET" && name === undefined && boolParam(req.query, "watch") === true);
  if (isWatch) {
    if (method !== "GET") throw new ApiError(methodNotAllowed());
    return watch(ctx, req, def, store, namespace, name);
  }
  const key = name === undefined ? undefined : def.namespaced ? objectKey(namespace!, name) : name;
  if (method === "GET") {
    return key === undefined
      ? await list(ctx, req, def, store, namespace)
      : getOne(req, def, store, key, name!);
  }
  const options = writeOptions(req.query);
  if (resource === "events" && namespace !== undefined) {
    if (method === "POST" && name === undefined) {
      const result = cluster.createEvent(namespace, parseBody(req), options);
      return jsonReply(201, withKind(def, result.obj), warningHeaders(result.warnings));
    }
    if (method === "PUT" && name !== undefined) {
      const result = cluster.replaceEvent(namespace, name, parseBody(req), options);
      return jsonReply(
        result.created ? 201 : 200,
        withKind(def, result.obj),
        warningHeaders(result.warnings),
      );
    }
    if (method === "PATCH" && name !== undefined) {
      const result = cluster.patchEvent(
        namespace,
        name,
        req.headers["content-type"] ?? "",
        req.rawBody,
        options,
      );
      return jsonReply(200, withKind(def, result.obj), warningHeaders(result.warnings));
    }
    if (method === "DELETE" && name !== undefined) {
      const body = req.rawBody.trim() === "" ? undefined : parseBody(req);
      const deleted = cluster.deleteEvent(namespace, name, body, options);
      return jsonReply(200, successStatus(def, deleted));
    }
    if (method === "DELETE") {
      const match = selectors(def, req.query);
      const victims =
        store.list({ rv: cluster.clock.current, prefix: `${namespace}/`, limit: 0, match }).items;
      const deleted = victims.map((ev) =>
        cluster.deleteEvent(namespace!, ev.metadata.name!, undefined, options)
      );
      const items = deleted.map((obj) => jsonOf(obj)).join(",");
      return jsonReply(
        200,
        `{"kind":"EventList","apiVersion":"v1","metadata":{"resourceVersion":"${cluster.clock.current}"},"items":[${items}]}`,
      );
    }
  }
  if (resource === "namespaces") {
    if (method === "POST" && name === undefined) {
      const result = cluster.createNamespace(parseBody(req), options);
      return jsonReply(201, withKind(def, result.obj), warningHeaders(result.warnings));
    }
    if (method === "DELETE" && name !== undefined) {
      return jsonReply(200, withKind(def, cluster.deleteNamespaceFromApi(name)));
    }
  }
  if (resource === "pods" && method === "DELETE" && name !== undefined) {
    const deleted = cluster.deletePod(namespace!, name);
    if (!deleted) throw new ApiError(notFound({ resource: "pods" }, name));
    return jsonReply(200, withKind(def, deleted));
  }
  throw new ApiError(methodNotAllowed());
}
