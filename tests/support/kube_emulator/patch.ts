/**
 * The three patch formats kube-apiserver accepts for built-in types: JSON merge patch
 * (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (merge patch plus the `$patch`,
 * `$retainKeys`, `$deleteFromPrimitiveList/…` and `$setElementOrder/…` directives and
 * per-list merge strategies). Pure functions over JSON values.
 * @module
 */

/** A patch that cannot be applied (answered with 422, or 400 for a malformed patch). */
export class PatchError extends Error {
  constructor(message: string, readonly malformed = false) {
    super(message);
    this.name = "PatchError";
  }
}

type Json = unknown;
type JsonObject = Record<string, Json>;

function isObject(value: Json): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

/** How a list field merges in a strategic merge patch, keyed by dotted path (`metadata.finalizers`). */
export type ListStrategies = Record<string, { mergeKey: string } | "set">;

/** The list strategies of ObjectMeta, shared by every built-in type. */
export const OBJECT_META_LISTS: ListStrategies = {
  "metadata.finalizers": "set",
  "metadata.ownerReferences": { mergeKey: "uid" },
};

/** Strategic merge patch for a type whose list strategies are `lists`. */
export function applyStrategicMergePatch(
  target: Json,
  patch: Json,
  lists: ListStrategies = OBJECT_META_LISTS,
): Json {
  if (!isObject(patch)) throw new PatchError("patch must be a JSON object", true);
  return mergeMap(isObject(target) ? target : {}, patch, "", lists);
}

function mergeMap(
  target: JsonObject,
  patch: JsonObject,
  path: string,
  lists: ListStrategies,
): Json {
  const directive = patch["$patch"];
  if (directive === "delete") return undefined;
  if (directive === "replace") {
    const replaced: JsonObject = {};
    for (const [key, value] of Object.entries(patch)) {
      if (key !== "$patch") replaced[key] = clone(value);
    }
    return replaced;
  }
  if (directive !== undefined) {
    throw new PatchError(`Unknown patch type: ${String(directive)}`, true);
  }
  const out: JsonObject = { ...target };
  const retainKeys = patch["$retainKeys"];
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$retainKeys" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      if (!Array.isArray(value)) throw new PatchError(`${key} must be a list`, true);
      if (Array.isArray(out[field])) {
        out[field] = (out[field] as Json[]).filter((item) => !value.includes(item));
      }
      continue;
    }
    const childPath = path ? `${path}.${key}` : key;
    if (value === null) {
      delete out[key];
    } else if (isObject(value)) {
      const merged = mergeMap(
        isObject(out[key]) ? out[key] as JsonObject : {},
        value,
        childPath,
        lists,
      );
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    } else if (Array.isArray(value)) {
      out[key] = mergeList(out[key], value, lists[childPath]);
    } else {
      out[key] = value;
    }
  }
  if (Array.isArray(retainKeys)) {
    for (const key of Object.keys(out)) if (!retainKeys.includes(key)) delete out[key];
  }
  return out;
}

function mergeList(
  current: Json,
  patch: Json[],
  strategy: ListStrategies[string] | undefined,
): Json[] {
  const base = Array.isArray(current) ? current : [];
  if (strategy === undefined) return clone(patch);
  if (strategy === "set") {
    const out = [...base];
    for (const item of patch) if (!out.includes(item)) out.push(item);
    return out;
  }
  const key = strategy.mergeKey;
  const out = base.map((item) => clone(item));
  for (const item of patch) {
    if (!isObject(item)) throw new PatchError(`list items must be objects with ${key}`, true);
    const index = out.findIndex((existing) => isObject(existing) && existing[key] === item[key]);
    if (item["$patch"] === "delete") {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = mergeMap(out[index] as JsonObject, item, "", {});
    } else {
      out.push(clone(item));
    }
  }
  return out;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new PatchError(`Invalid JSON Pointer: ${pointer}`, true);
  return pointer.slice(1).split("/").map((part) =>
    part.replaceAll("~1", "/").replaceAll("~0", "~")
  );
}

function locate(
  doc: Json,
  tokens: string[],
  pointer: string,
  op: string,
): { parent: Json; key: string } {
  let node = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(token)];
    else if (isObject(node)) node = node[token];
    else node = undefined;
    if (node === undefined || node === null) {
      throw new PatchError(
        `${op} operation does not apply: doc is missing path: "${pointer}": missing value`,
      );
    }
  }
  return { parent: node, key: tokens[tokens.length - 1] };
}

function getAt(doc: Json, pointer: string, op: string): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return doc;
  const { parent, key } = locate(doc, tokens, pointer, op);
  const value = Array.isArray(parent)
    ? parent[Number(key)]
    : isObject(parent)
    ? parent[key]
    : undefined;
  if (value === undefined) {
    throw new PatchError(
      `${op} operation does not apply: doc is missing path: "${pointer}": missing value`,
    );
  }
  return value;
}

function arrayIndex(parent: Json[], key: string, pointer: string, allowEnd: boolean): number {
  if (key === "-" && allowEnd) return parent.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) {
    throw new PatchError(`Unable to access invalid index: ${key}: invalid index referenced`);
  }
  const index = Number(key);
  if (index > parent.length || (!allowEnd && index === parent.length)) {
    throw new PatchError(
      `Unable to access invalid index: ${index}: invalid index referenced at ${pointer}`,
    );
  }
  return index;
}

function addAt(doc: Json, pointer: string, value: Json, op: string): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return clone(value);
  const { parent, key } = locate(doc, tokens, pointer, op);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, pointer, true), 0, clone(value));
  else if (isObject(parent)) parent[key] = clone(value);
  else {throw new PatchError(
      `${op} operation does not apply: doc is missing path: "${pointer}": missing value`,
    );}
  return doc;
}

function removeAt(doc: Json, pointer: string, op: string): Json {
  const tokens = parsePointer(pointer);
  const { parent, key } = locate(doc, tokens, pointer, op);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(parent, key, pointer, false), 1);
  } else if (isObject(parent) && key in parent) {
    delete parent[key];
  } else {
    throw new PatchError(`Unable to remove nonexistent key: ${key}: missing value`);
  }
  return doc;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. */
export function applyJsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) {
    throw new PatchError(
      "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
      true,
    );
  }
  let doc = clone(target);
  for (const raw of patch) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw new PatchError("Unexpected kind: missing op or path", true);
    }
    const op = raw as unknown as Operation;
    switch (op.op) {
      case "add":
        doc = addAt(doc, op.path, op.value, "add");
        break;
      case "remove":
        doc = removeAt(doc, op.path, "remove");
        break;
      case "replace":
        getAt(doc, op.path, "replace");
        doc = op.path === ""
          ? clone(op.value)
          : addAt(removeAt(doc, op.path, "replace"), op.path, op.value, "replace");
        break;
      case "move": {
        const value = getAt(doc, op.from ?? "", "move");
        doc = addAt(removeAt(doc, op.from ?? "", "move"), op.path, value, "move");
        break;
      }
      case "copy":
        doc = addAt(doc, op.path, getAt(doc, op.from ?? "", "copy"), "copy");
        break;
      case "test": {
        const actual = getAt(doc, op.path, "test");
        if (JSON.stringify(sortKeys(actual)) !== JSON.stringify(sortKeys(op.value))) {
          throw new PatchError(`testing value ${op.path} failed: test failed`);
        }
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${op.op}`, true);
    }
  }
  return doc;
}

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isObject(value)) {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}
