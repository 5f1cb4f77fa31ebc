/**
 * Structural validation of Kubernetes objects against the API's own schema, as shipped in
 * `@kubernetes/client-node` (models generated from the Kubernetes OpenAPI document: every field
 * of every type with its JSON name and type). It finds what kubectl's server-side validation
 * would: unknown fields (typos, wrong nesting) and wrong types (a number where the API wants a
 * string, a list where it wants a map). It does not know which fields are required, nor enums.
 *
 * @example
 * ```ts
 * schemaProblems(daemonSet, "V1DaemonSet"); // [] or ["spec.template.spec.containers[0].imagePullPolicyy: unknown field", …]
 * ```
 * @module
 */

import * as k8s from "@kubernetes/client-node";

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}

/** The client-node model of each apiVersion and kind the deploy manifests use. */
export const MODEL_OF_KIND: Record<string, string> = {
  "v1 ServiceAccount": "V1ServiceAccount",
  "apps/v1 DaemonSet": "V1DaemonSet",
  "rbac.authorization.k8s.io/v1 ClusterRole": "V1ClusterRole",
  "rbac.authorization.k8s.io/v1 ClusterRoleBinding": "V1ClusterRoleBinding",
};

function attributesOf(model: string): Attribute[] | undefined {
  // deno-lint-ignore no-explicit-any
  const type = (k8s as any)[model];
  const map = type?.attributeTypeMap;
  return Array.isArray(map) ? map : undefined;
}

/** Resource quantities are typed as strings; the API also takes plain numbers (`cpu: 1`). */
function quantityMap(path: string): boolean {
  return /(^|\.)(resources\.(limits|requests)|overhead|capacity|allocatable)$/.test(path);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "a mapping" : `${typeof value} ${JSON.stringify(value)}`;
}

/** Problems of `value` as an instance of `type` (a client-node type expression), at `path`. */
export function schemaProblems(value: unknown, type: string, path = "", format = ""): string[] {
  const at = path === "" ? "(root)" : path;
  // null is "unset" for the API server, for every field.
  if (value === null || value === undefined || type === "any") return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return [`${at}: expected a list, got ${describe(value)}`];
    return value.flatMap((item, i) => schemaProblems(item, array[1], `${path}[${i}]`, format));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== "object" || Array.isArray(value)) {
      return [`${at}: expected a mapping, got ${describe(value)}`];
    }
    const itemType = map[1] === "string" && quantityMap(path) ? "IntOrString" : map[1];
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
      schemaProblems(v, itemType, `${path}.${k}`, format)
    );
  }
  switch (type) {
    case "string":
    case "Date":
      return typeof value === "string" ? [] : [`${at}: expected a string, got ${describe(value)}`];
    case "boolean":
      return typeof value === "boolean"
        ? []
        : [`${at}: expected true or false, got ${describe(value)}`];
    case "number":
      if (typeof value !== "number") return [`${at}: expected a number, got ${describe(value)}`];
      if (format.startsWith("int") && !Number.isInteger(value)) {
        return [`${at}: expected an integer, got ${value}`];
      }
      return [];
    case "IntOrString":
      return typeof value === "string" || Number.isInteger(value)
        ? []
        : [`${at}: expected an integer or a string, got ${describe(value)}`];
  }
  const attributes = attributesOf(type);
  if (!attributes) return [`${at}: the schema has no type ${type}`];
  if (typeof value !== "object" || Array.isArray(value)) {
    return [`${at}: expected a mapping (${type}), got ${describe(value)}`];
  }
  const byName = new Map(attributes.map((a) => [a.baseName, a]));
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const attribute = byName.get(key);
    const childPath = path === "" ? key : `${path}.${key}`;
    if (!attribute) {
      problems.push(`${childPath}: unknown field of ${type}`);
      continue;
    }
    problems.push(...schemaProblems(child, attribute.type, childPath, attribute.format));
  }
  return problems;
}

/** Problems of a whole object, by its apiVersion and kind; throws for a kind not covered. */
// deno-lint-ignore no-explicit-any
export function objectSchemaProblems(object: any): string[] {
  const model = MODEL_OF_KIND[`${object?.apiVersion} ${object?.kind}`];
  if (!model) throw new Error(`no schema for ${object?.apiVersion} ${object?.kind}`);
  return schemaProblems(object, model);
}
