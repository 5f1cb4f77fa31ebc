/**
 * Reading the manifests in deploy/ for tests: every YAML document of a file (refusing files
 * that do not parse), lookups by kind and name, and the optional entries the manifests show as
 * comments (`# - name: X` / `#   value: …`), which are part of what an operator reads.
 *
 * @example
 * ```ts
 * const ds = findObject(readManifests("daemonset.yaml"), "DaemonSet");
 * const optional = commentedEntries(readDeployText("daemonset.yaml"));
 * ```
 * @module
 */

import { parse, parseAllDocuments } from "yaml";

/** The repository root. */
export const ROOT = new URL("../../", import.meta.url);
/** The deploy/ directory. */
export const DEPLOY = new URL("deploy/", ROOT);

/** One Kubernetes object of a manifest file. */
export interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  // deno-lint-ignore no-explicit-any
  object: any;
}

/** The text of `deploy/<file>`. */
export function readDeployText(file: string): string {
  return Deno.readTextFileSync(new URL(file, DEPLOY));
}

/** Parses every document of a YAML text; throws naming `file` and the first error. */
// deno-lint-ignore no-explicit-any
export function parseYamlDocuments(text: string, file: string): any[] {
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) throw new Error(`${file}: not a YAML stream`);
  const values = [];
  for (const [index, document] of documents.entries()) {
    const problem = document.errors[0] ?? document.warnings[0];
    if (problem) throw new Error(`${file}: document ${index + 1}: ${problem.message}`);
    const value = document.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

/** The objects of a YAML text (each must have apiVersion, kind and metadata.name). */
export function manifestsOf(text: string, file: string): Manifest[] {
  return parseYamlDocuments(text, file).map((object, index) => {
    const where = `${file}: document ${index + 1}`;
    if (typeof object !== "object" || Array.isArray(object)) {
      throw new Error(`${where}: not a mapping`);
    }
    for (const key of ["apiVersion", "kind"]) {
      if (typeof object[key] !== "string") throw new Error(`${where}: no ${key}`);
    }
    if (typeof object.metadata?.name !== "string") throw new Error(`${where}: no metadata.name`);
    return {
      file,
      apiVersion: object.apiVersion,
      kind: object.kind,
      name: object.metadata.name,
      namespace: object.metadata.namespace,
      object,
    };
  });
}

/** The objects of `deploy/<file>`. */
export function readManifests(file: string): Manifest[] {
  return manifestsOf(readDeployText(file), file);
}

/** The one object of `kind` (and `name`, when given); throws when there is not exactly one. */
export function findObject(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  }
  return found[0];
}

/** A list entry shown commented out, with the line of its `# - ` line (1-based). */
export interface CommentedEntry {
  line: number;
  // deno-lint-ignore no-explicit-any
  value: Record<string, any>;
}

/**
 * The YAML list entries written as comments: a `# - key: value` line followed by `#   key: value`
 * lines indented under it. Each block is parsed as YAML after removing the comment marks, so a
 * commented entry is exactly what the operator gets by uncommenting it.
 */
export function commentedEntries(text: string): CommentedEntry[] {
  const lines = text.split("\n");
  const entries: CommentedEntry[] = [];
  const start = /^(\s*)#( *)- ([A-Za-z][\w.-]*:.*)$/;
  for (let i = 0; i < lines.length; i++) {
    const m = start.exec(lines[i]);
    if (!m) continue;
    const hashAt = m[1].length;
    const dashAt = m[2].length;
    const block = [`- ${m[3]}`];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j];
      if (line.length <= hashAt || line[hashAt] !== "#" || line.slice(0, hashAt).trim() !== "") {
        break;
      }
      const rest = line.slice(hashAt + 1);
      const indent = /^ */.exec(rest)![0].length;
      // A continuation is indented past the dash; anything else ends the entry.
      if (indent <= dashAt || rest.trim() === "") break;
      block.push(rest.slice(dashAt));
    }
    const parsed = parse(block.join("\n"));
    if (Array.isArray(parsed) && parsed.length === 1 && typeof parsed[0] === "object") {
      entries.push({ line: i + 1, value: parsed[0] });
    }
    i = j - 1;
  }
  return entries;
}

/** Whether `path` is `dir` or inside it (whole path segments). */
export function isWithin(path: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, "");
  return path === d || path.startsWith(`${d}/`);
}
