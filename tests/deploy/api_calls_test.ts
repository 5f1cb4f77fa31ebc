/**
 * The API-call scan on small sources written the ways src/ writes requests, and on the ways it
 * must refuse to guess.
 */

import assert from "node:assert/strict";
import { apiAccessOf, findApiCalls, rbacAllows } from "./api_calls.ts";

function assertOneProblem(problems: string[], pattern: RegExp): void {
  assert.deepEqual(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], pattern);
}

const client = {
  name: "src/kube/client.ts",
  text: `export class KubeClient {
  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const lib = url.protocol === "https:" ? https : http;
    const req = lib.request(url, { method, headers }, (res) => {});
  }
}
`,
};

Deno.test("finds literal, local-const and exported-const paths with their methods", () => {
  const list = {
    name: "src/kube/list.ts",
    text: `/** GET /api/v1/nodes in a comment is not a call. */
export const PODS_PATH = "/api/v1/pods";
export async function list(client: KubeClient) {
  return await client.request("GET", PODS_PATH, { query: { limit: 500 } });
}
`,
  };
  const recorder = {
    name: "src/kube/recorder.ts",
    text: `class R {
  async #create(ns: string, name: string) {
    await this.#call("POST", \`/api/v1/namespaces/\${encodeURIComponent(ns)}/events\`, body);
    const path = \`/api/v1/namespaces/\${
      encodeURIComponent(ns)
    }/events/\${encodeURIComponent(name)}\`;
    await this.#call("PATCH", path, patch, "application/strategic-merge-patch+json");
    await this.#call("GET", path); // read it back
  }
  async #call(method: string, path: string, body?: unknown) {
    return await this.#o.client.request(method, path, { body });
  }
}
`,
  };
  const { calls, problems } = findApiCalls([client, list, recorder]);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    calls.map((c) => [c.file, c.line, c.method, c.path, c.watch]),
    [
      ["src/kube/list.ts", 4, "GET", "/api/v1/pods", false],
      ["src/kube/recorder.ts", 3, "POST", "/api/v1/namespaces/{}/events", false],
      ["src/kube/recorder.ts", 7, "PATCH", "/api/v1/namespaces/{}/events/{}", false],
      ["src/kube/recorder.ts", 8, "GET", "/api/v1/namespaces/{}/events/{}", false],
    ],
  );
  assert.deepEqual(calls.map((c) => apiAccessOf(c).verb), ["list", "create", "patch", "get"]);
});

Deno.test("a function that sets watch=true is a watch of the path its callers pass", () => {
  const primitive = {
    name: "src/kube/watch.ts",
    text: `export async function streamWatch(options: WatchOptions): Promise<End> {
  const url = new URL(client.server + options.path);
  url.searchParams.set("watch", "true");
  const request = lib.request(url, { method: "GET" }, () => {});
}
`,
  };
  const caller = {
    name: "src/kube/index.ts",
    text: `import { PODS_PATH } from "./list.ts";
export const PODS_PATH = "/api/v1/pods";
class Index {
  async #watchOnce() {
    const end = await streamWatch({
      client: this.#client,
      path: PODS_PATH,
      query: { resourceVersion: from },
    });
  }
}
`,
  };
  const { calls, problems } = findApiCalls([primitive, caller]);
  assert.deepEqual(problems, []);
  assert.deepEqual(calls.length, 1);
  assert.deepEqual(apiAccessOf(calls[0]), {
    group: "",
    resource: "pods",
    verb: "watch",
    namespaced: false,
  });
});

Deno.test("watch: true in a request's arguments and client-node's Watch are watches", () => {
  const file = {
    name: "src/kube/x.ts",
    text: `export async function a(client: KubeClient, w: Watch) {
  await client.request("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets", {
    query: { watch: true, resourceVersion: "0" },
  });
  await w.watch("/api/v1/namespaces", {}, onEvent, onDone);
}
`,
  };
  const { calls, problems } = findApiCalls([file]);
  assert.deepEqual(problems, []);
  assert.deepEqual(calls.map(apiAccessOf), [
    { group: "apps", resource: "daemonsets", verb: "watch", namespaced: true },
    { group: "", resource: "namespaces", verb: "watch", namespaced: false },
  ]);
});

Deno.test("an API path the scan cannot follow is a problem, not a silent pass", () => {
  const hidden = {
    name: "src/kube/hidden.ts",
    text: `const method = pick();
export async function a(client: KubeClient) {
  await client.request(method, "/api/v1/nodes");
}
`,
  };
  assertOneProblem(findApiCalls([hidden]).problems, /hidden\.ts:3: API path .* not used/);

  const computed = {
    name: "src/kube/computed.ts",
    text: `export async function b(client: KubeClient, ns: string) {
  await client.request("DELETE", pathOf(ns));
}
`,
  };
  // pathOf( is not an expression the scan resolves: the name `pathOf` is unbound.
  assertOneProblem(findApiCalls([computed]).problems, /computed\.ts:2: cannot tell which API path/);
});

Deno.test("a raw HTTP request outside the client and the watch primitives is a problem", () => {
  const rogue = {
    name: "src/enrich/rogue.ts",
    text: `export async function peek(url: string) {
  return await fetch(url);
}
`,
  };
  assertOneProblem(findApiCalls([client, rogue]).problems, /rogue\.ts:2: an HTTP request outside/);
});

Deno.test("apiAccessOf maps paths and methods to RBAC verbs", () => {
  const access = (method: string, path: string, watch = false) =>
    apiAccessOf({ file: "f", line: 1, method, path, watch });
  assert.deepEqual(access("GET", "/api/v1/namespaces/{}/pods/{}/log"), {
    group: "",
    resource: "pods/log",
    verb: "get",
    namespaced: true,
  });
  assert.deepEqual(access("DELETE", "/api/v1/namespaces/{}/events").verb, "deletecollection");
  assert.deepEqual(access("DELETE", "/api/v1/namespaces/{}/events/{}").verb, "delete");
  assert.deepEqual(access("PUT", "/apis/events.k8s.io/v1/namespaces/{}/events/{}"), {
    group: "events.k8s.io",
    resource: "events",
    verb: "update",
    namespaced: true,
  });
  assert.deepEqual(access("GET", "/api/v1/namespaces/{}").resource, "namespaces");
});

Deno.test("rbacAllows needs group, resource and verb in one rule, and no resourceNames", () => {
  const rules = [
    { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
    { apiGroups: [""], resources: ["events"], verbs: ["create"], resourceNames: ["x"] },
  ];
  const pods = { group: "", resource: "pods", verb: "list", namespaced: false };
  assert.deepEqual(rbacAllows(rules, pods), true);
  assert.deepEqual(rbacAllows(rules, { ...pods, verb: "get" }), false);
  assert.deepEqual(rbacAllows(rules, { ...pods, group: "apps" }), false);
  assert.deepEqual(rbacAllows(rules, { ...pods, resource: "events", verb: "create" }), false);
  assert.deepEqual(rbacAllows([{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }], pods), true);
});
