/**
 * RBAC against the code: every API request in src/ (found by the scan in api_calls.ts) is
 * granted by the ClusterRole, nothing is granted that no request uses (one read-only exception,
 * named below), and the grant reaches the DaemonSet's Pods (binding → ServiceAccount → Pod spec).
 */

import assert from "node:assert/strict";
import {
  type ApiAccess,
  apiAccessOf,
  findApiCalls,
  rbacAllows,
  type SourceFile,
} from "./api_calls.ts";
import { findObject, readManifests, ROOT } from "./manifests.ts";

async function sourceFiles(dir: URL, prefix: string): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const name = `${prefix}${entry.name}`;
    if (entry.isDirectory) {
      files.push(...await sourceFiles(new URL(`${entry.name}/`, dir), `${name}/`));
    } else if (entry.isFile && entry.name.endsWith(".ts")) {
      files.push({ name, text: await Deno.readTextFile(new URL(entry.name, dir)) });
    }
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/** Granted without a request in src/ using it, and why. */
const GRANTED_UNUSED: { access: Omit<ApiAccess, "namespaced">; why: string }[] = [
  {
    access: { group: "", resource: "pods", verb: "get" },
    why: "the read-only companion of list/watch that operators expect; reveals nothing more",
  },
];

const key = (a: Omit<ApiAccess, "namespaced">) => `${a.group || "core"}/${a.resource}:${a.verb}`;

const rbac = readManifests("rbac.yaml");
const role = findObject(rbac, "ClusterRole").object;

Deno.test("every API request in src/ is granted by the ClusterRole", async () => {
  const { calls, problems } = findApiCalls(await sourceFiles(new URL("src/", ROOT), "src/"));
  assert.deepEqual(problems, [], "requests the scan cannot follow:\n" + problems.join("\n"));
  // The scan must see the program's known traffic at least, or it has gone blind.
  const seen = new Set(calls.map((c) => key(apiAccessOf(c))));
  for (const needed of ["core/pods:list", "core/pods:watch", "core/events:create"]) {
    assert.ok(seen.has(needed), `the scan no longer finds ${needed}; found ${[...seen]}`);
  }
  const missing = calls
    .filter((call) => !rbacAllows(role.rules, apiAccessOf(call)))
    .map((call) =>
      `${call.file}:${call.line} ${call.method} ${call.path} needs ${key(apiAccessOf(call))}`
    );
  assert.deepEqual(missing, [], "not granted in deploy/rbac.yaml:\n" + missing.join("\n"));
});

Deno.test("the ClusterRole grants nothing beyond what src/ uses", async () => {
  const { calls } = findApiCalls(await sourceFiles(new URL("src/", ROOT), "src/"));
  const used = new Set(calls.map((c) => key(apiAccessOf(c))));
  const allowedUnused = new Set(GRANTED_UNUSED.map((g) => key(g.access)));
  const extra: string[] = [];
  for (const rule of role.rules) {
    assert.deepEqual(rule.resourceNames ?? [], [], "no resourceNames expected");
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) {
          assert.notEqual(group, "*", "no wildcard groups");
          assert.notEqual(resource, "*", "no wildcard resources");
          assert.notEqual(verb, "*", "no wildcard verbs");
          const k = key({ group, resource, verb });
          if (!used.has(k) && !allowedUnused.has(k)) extra.push(k);
        }
      }
    }
  }
  assert.deepEqual(extra, [], "granted but never requested by src/: " + extra.join(", "));
  assert.equal(role.aggregationRule, undefined);
});

Deno.test("the binding gives the ClusterRole to the DaemonSet's ServiceAccount", () => {
  const account = findObject(rbac, "ServiceAccount");
  const binding = findObject(rbac, "ClusterRoleBinding").object;
  const daemonSet = findObject(readManifests("daemonset.yaml"), "DaemonSet");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: findObject(rbac, "ClusterRole").name,
  });
  assert.deepEqual(binding.subjects, [
    { kind: "ServiceAccount", name: account.name, namespace: account.namespace },
  ]);
  assert.equal(daemonSet.object.spec.template.spec.serviceAccountName, account.name);
  assert.equal(daemonSet.namespace, account.namespace);
  // The token is what the program authenticates with in-cluster.
  assert.notEqual(daemonSet.object.spec.template.spec.automountServiceAccountToken, false);
  assert.notEqual(account.object.automountServiceAccountToken, false);
});
