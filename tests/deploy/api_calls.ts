/**
 * Finds every Kubernetes API request the program's source makes, so the RBAC test derives what
 * must be granted from the code instead of from a list kept by hand. Pure: takes file texts.
 *
 * What it recognises (and anything else that talks to the API is reported as a problem, so a new
 * kind of call cannot slip past the RBAC check unnoticed):
 *
 * - `anything("VERB", PATH …)`: a call whose first argument is a literal HTTP method, e.g.
 *   `client.request("GET", PODS_PATH, …)` or the recorder's `this.#call("POST", \`/api/v1/…\`)`;
 *   a `watch: true` among its arguments makes it a watch.
 * - watch primitives: an exported function that sets `watch=true` on its URL
 *   (`searchParams.set("watch", "true")`); each call passing `path: PATH` is a watch of PATH.
 * - `.watch(PATH, …)` (client-node's Watch).
 *
 * PATH is a string or template literal, or a name bound by `const NAME = <literal>` (nearest
 * before the call in the same file, or exported by any file). Every `/api/…` or `/apis/…`
 * literal in code must end up in a recognised call, and every raw HTTP request
 * (`https.request(`, `http.request(`, `lib.request(`, `fetch(`) must sit in a forwarding
 * `request(method, path, …)` method or in a watch primitive.
 *
 * @example
 * ```ts
 * const { calls, problems } = findApiCalls([{ name: "src/kube/pods_list.ts", text }]);
 * calls.map(apiAccessOf); // [{ group: "", resource: "pods", verb: "list", … }]
 * ```
 * @module
 */

/** A source file. */
export interface SourceFile {
  name: string;
  text: string;
}

/** One API request found in the source. */
export interface ApiCall {
  file: string;
  line: number;
  method: string;
  /** The path with every `${…}` replaced by `{}`. */
  path: string;
  watch: boolean;
}

/** What an API request needs from RBAC. */
export interface ApiAccess {
  group: string;
  /** Resource, or `resource/subresource`. */
  resource: string;
  verb: string;
  namespaced: boolean;
}

/** Result of {@link findApiCalls}. */
export interface ApiCallScan {
  calls: ApiCall[];
  /** Anything that talks to the API in a way the scan does not understand. */
  problems: string[];
}

const METHODS = "GET|POST|PUT|PATCH|DELETE";
const STRING = String.raw`"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'`;
const TEMPLATE = String.raw`\x60(?:[^\x60\\]|\\.)*\x60`;
const LITERAL = `(?:${STRING}|${TEMPLATE})`;
const IDENT = String.raw`[A-Za-z_$][\w$]*`;
const EXPR = `(${LITERAL}|${IDENT})`;
/** A class member declaration at two spaces: `  async name(params): T {`. */
const METHOD_DECLARATION =
  /^ {2}(?:(?:async|static|private|public|protected)\s+)*(#?[A-Za-z_$][\w$]*)\(([^)]*)\)[^;{]*\{\s*$/gm;
const KEYWORDS = new Set(["if", "for", "while", "switch", "catch", "return", "await", "function"]);

/** The source with comment lines (JSDoc, `//`) and trailing `//` comments blanked out. */
export function codeOnly(text: string): string {
  return text.split("\n").map((line) => {
    const t = line.trimStart();
    if (t.startsWith("//") || t.startsWith("*") || t.startsWith("/*")) return "";
    // A trailing comment after code; "://" in URLs is left alone.
    return line.replace(/(^|[^:"'\x60\\])\/\/ .*$/, "$1");
  }).join("\n");
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** The literal's text with `${…}` replaced by `{}`, or undefined for a non-API literal. */
function apiPathOf(literal: string): string | undefined {
  const body = literal.slice(1, -1).replace(/\$\{(?:[^{}]|\{[^{}]*\})*\}/gs, "{}");
  return /^\/apis?\//.test(body) ? body : undefined;
}

/** The text of the call's arguments from `open` (the index of its "(") to the matching ")". */
function argumentsFrom(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "(" || c === "{" || c === "[") depth++;
    else if (c === ")" || c === "}" || c === "]") {
      depth--;
      if (depth === 0) return text.slice(open + 1, i);
    }
  }
  return text.slice(open + 1);
}

interface Binding {
  file: string;
  index: number;
  name: string;
  literal: string;
  exported: boolean;
}

/** Finds the API requests in `files`; see the module documentation. */
export function findApiCalls(files: SourceFile[]): ApiCallScan {
  const sources = files.map((f) => ({ name: f.name, text: codeOnly(f.text) }));
  const calls: ApiCall[] = [];
  const problems: string[] = [];
  const consumed = new Set<string>(); // "file:index" of API literals that reached a call

  const bindings: Binding[] = [];
  for (const { name, text } of sources) {
    const re = new RegExp(`(export\\s+)?const\\s+(${IDENT})\\s*=\\s*(${LITERAL})`, "g");
    for (const m of text.matchAll(re)) {
      bindings.push({
        file: name,
        index: m.index! + m[0].length - m[3].length,
        name: m[2],
        literal: m[3],
        exported: m[1] !== undefined,
      });
    }
  }

  /** The literal an expression stands for, and where it is written. */
  const resolve = (
    file: string,
    at: number,
    expr: string,
    exprIndex: number,
  ): { literal: string; key: string } | undefined => {
    if (/^["'\x60]/.test(expr)) return { literal: expr, key: `${file}:${exprIndex}` };
    const local = bindings
      .filter((b) => b.file === file && b.name === expr && b.index < at)
      .sort((a, b) => b.index - a.index)[0];
    const binding = local ?? bindings.find((b) => b.exported && b.name === expr);
    return binding && { literal: binding.literal, key: `${binding.file}:${binding.index}` };
  };

  const record = (
    file: string,
    text: string,
    at: number,
    method: string,
    expr: string,
    exprIndex: number,
    watch: boolean,
  ): void => {
    const where = `${file}:${lineAt(text, at)}`;
    const resolved = resolve(file, at, expr, exprIndex);
    if (!resolved) {
      problems.push(`${where}: cannot tell which API path ${expr} is (${method} request)`);
      return;
    }
    const path = apiPathOf(resolved.literal);
    if (!path) return; // not an API request (e.g. a method-first call of something else)
    consumed.add(resolved.key);
    calls.push({ file, line: lineAt(text, at), method, path, watch });
  };

  // Watch primitives: exported functions that put watch=true on their URL.
  const watchFunctions = new Set<string>();
  for (const { text } of sources) {
    for (const m of text.matchAll(/searchParams\.set\(\s*["']watch["']\s*,\s*["']true["']\s*\)/g)) {
      const before = text.slice(0, m.index);
      const fns = [...before.matchAll(/export\s+(?:async\s+)?function\s+([A-Za-z_$][\w$]*)/g)];
      const fn = fns.at(-1)?.[1];
      if (fn) watchFunctions.add(fn);
    }
  }

  for (const { name, text } of sources) {
    // "VERB", PATH
    const methodFirst = new RegExp(`\\(\\s*"(${METHODS})"\\s*,\\s*${EXPR}`, "g");
    for (const m of text.matchAll(methodFirst)) {
      const exprIndex = m.index! + m[0].length - m[2].length;
      const args = argumentsFrom(text, m.index!);
      const watch = /\bwatch\s*:\s*(true|"true"|1|"1")/.test(args);
      record(name, text, m.index!, m[1], m[2], exprIndex, watch);
    }
    // watchPrimitive({ … path: PATH … })
    for (const fn of watchFunctions) {
      const re = new RegExp(`(?<![\\w$.])${fn.replace(/\$/g, "\\$")}\\(`, "g");
      for (const m of text.matchAll(re)) {
        if (/function\s+$/.test(text.slice(Math.max(0, m.index! - 20), m.index!))) continue;
        const open = m.index! + m[0].length - 1;
        const args = argumentsFrom(text, open);
        const p = new RegExp(`\\bpath\\s*:\\s*${EXPR}`).exec(args);
        if (!p) {
          problems.push(`${name}:${lineAt(text, m.index!)}: ${fn}(…) without a path: argument`);
          continue;
        }
        record(
          name,
          text,
          m.index!,
          "GET",
          p[1],
          open + 1 + p.index + p[0].length - p[1].length,
          true,
        );
      }
    }
    // client-node: watch.watch(PATH, …)
    for (const m of text.matchAll(new RegExp(`\\.watch\\(\\s*${EXPR}`, "g"))) {
      const exprIndex = m.index! + m[0].length - m[1].length;
      const resolved = resolve(name, m.index!, m[1], exprIndex);
      if (resolved && apiPathOf(resolved.literal)) {
        record(name, text, m.index!, "GET", m[1], exprIndex, true);
      }
    }
  }

  // Every API literal must have reached a call.
  for (const { name, text } of sources) {
    for (const m of text.matchAll(new RegExp(LITERAL, "g"))) {
      if (!apiPathOf(m[0])) continue;
      const key = `${name}:${m.index}`;
      if (!consumed.has(key)) {
        problems.push(
          `${name}:${lineAt(text, m.index!)}: API path ${m[0].split("\n")[0]} is not used in a ` +
            "request this scan understands",
        );
      }
    }
    // Raw HTTP requests only in a forwarding request(method, path) method or a watch primitive.
    for (const m of text.matchAll(/\b(?:https?|lib)\.request\(|(?<![\w$.])fetch\(/g)) {
      const before = text.slice(0, m.index);
      const method = [...before.matchAll(METHOD_DECLARATION)].filter((d) => !KEYWORDS.has(d[1]))
        .at(-1);
      const fn = [...before.matchAll(/export\s+(?:async\s+)?function\s+([A-Za-z_$][\w$]*)/g)].at(
        -1,
      );
      const forwarding = method && method[1] === "request" && /^\s*method\b/.test(method[2]);
      const inWatch = fn && watchFunctions.has(fn[1]) &&
        (!method || method.index! < fn.index!);
      if (!forwarding && !inWatch) {
        problems.push(
          `${name}:${lineAt(text, m.index!)}: an HTTP request outside KubeClient.request and ` +
            "the watch primitives; teach tests/deploy/api_calls.ts about it",
        );
      }
    }
  }
  return { calls, problems };
}

/** What RBAC must allow for `call`. */
export function apiAccessOf(call: ApiCall): ApiAccess {
  const parts = call.path.split("?")[0].split("/").filter((p) => p !== "");
  let group: string;
  let rest: string[];
  if (parts[0] === "api") {
    group = "";
    rest = parts.slice(2);
  } else {
    group = parts[1];
    rest = parts.slice(3);
  }
  let namespaced = false;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespaced = true;
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  const method = call.method.toUpperCase();
  let verb: string;
  if (method === "GET") verb = call.watch ? "watch" : name === undefined ? "list" : "get";
  else if (method === "POST") verb = "create";
  else if (method === "PUT") verb = "update";
  else if (method === "PATCH") verb = "patch";
  else verb = name === undefined ? "deletecollection" : "delete";
  return {
    group,
    resource: subresource ? `${resource}/${subresource}` : resource,
    verb,
    namespaced,
  };
}

/** An RBAC PolicyRule (the fields that matter for resource requests). */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Whether `rules` allow `access` on objects of any name. */
export function rbacAllows(rules: PolicyRule[], access: ApiAccess): boolean {
  return rules.some((rule) =>
    (rule.apiGroups ?? []).some((g) => g === "*" || g === access.group) &&
    (rule.resources ?? []).some((r) => r === "*" || r === access.resource) &&
    rule.verbs.some((v) => v === "*" || v === access.verb) &&
    (rule.resourceNames ?? []).length === 0
  );
}
