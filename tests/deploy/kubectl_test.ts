/**
 * The real kubectl on deploy/: kustomize renders it as intended, a different namespace carries
 * through to the RBAC subject, and kubectl's client-side apply accepts every object.
 *
 * The apply runs against the repository's API emulator, which serves core/v1 only; the discovery
 * documents of the other groups (apps/v1, rbac.authorization.k8s.io/v1, monitoring.coreos.com/v1:
 * resource names and scopes as the real API server and the Prometheus Operator's CRDs define
 * them) are written into kubectl's discovery cache first. kubectl then maps each object to its
 * REST path, looks it up (404: it would be created) and prints what it would send. Validation
 * against the server's OpenAPI is off (`--validate=false`): the emulator serves no OpenAPI; the
 * schema is checked in manifests_test.ts against client-node's models instead.
 */

import assert from "node:assert/strict";
import { VERSION } from "../../src/version.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { systemTest } from "../support/system.ts";
import { DEPLOY, type Manifest, manifestsOf, readManifests } from "./manifests.ts";
import { MODEL_OF_KIND, objectSchemaProblems } from "./schema.ts";

const FILES = ["rbac.yaml", "daemonset.yaml", "monitoring.yaml"];

async function kubectl(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = await Deno.makeTempDir({ prefix: "kit-kubectl-home-" });
  try {
    const output = await new Deno.Command("kubectl", {
      args,
      env: { HOME: home, KUBECONFIG: `${home}/none`, ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

async function render(dir: string): Promise<Manifest[]> {
  const result = await kubectl(["kustomize", dir]);
  assert.equal(result.code, 0, result.stderr);
  return manifestsOf(result.stdout, "kubectl kustomize");
}

const id = (m: Manifest) => `${m.kind}/${m.name}`;

systemTest("kubectl kustomize renders deploy/ with labels, namespace and image", {
  needs: ["kubectl"],
}, async () => {
  const rendered = await render(DEPLOY.pathname);
  const raw = FILES.flatMap(readManifests);
  assert.deepEqual(rendered.map(id).sort(), raw.map(id).sort());
  for (const m of rendered) {
    assert.equal(m.object.metadata.labels["app.kubernetes.io/part-of"], "kube-iptables-tailer");
    const clusterScoped = m.kind.startsWith("ClusterRole");
    assert.equal(m.namespace, clusterScoped ? undefined : "kube-system", id(m));
    if (MODEL_OF_KIND[`${m.apiVersion} ${m.kind}`]) {
      assert.deepEqual(objectSchemaProblems(m.object), [], id(m));
    }
  }
  const daemonSet = rendered.find((m) => m.kind === "DaemonSet")!.object;
  const rawDaemonSet = raw.find((m) => m.kind === "DaemonSet")!.object;
  // Labels go on the Pods but never into the (immutable) selector.
  assert.deepEqual(daemonSet.spec.selector, rawDaemonSet.spec.selector);
  assert.equal(
    daemonSet.spec.template.metadata.labels["app.kubernetes.io/part-of"],
    "kube-iptables-tailer",
  );
  assert.equal(
    daemonSet.spec.template.spec.containers[0].image,
    `ghcr.io/kube-iptables-tailer/kube-iptables-tailer:${VERSION}`,
  );
  // The PodMonitor still selects the Pods.
  const podMonitor = rendered.find((m) => m.kind === "PodMonitor")!.object;
  for (const [k, v] of Object.entries(podMonitor.spec.selector.matchLabels)) {
    assert.equal(daemonSet.spec.template.metadata.labels[k], v, k);
  }
});

systemTest("another namespace in the kustomization carries through to the RBAC subject", {
  needs: ["kubectl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-kustomize-" });
  try {
    for (const file of [...FILES, "kustomization.yaml"]) {
      await Deno.copyFile(new URL(file, DEPLOY), `${dir}/${file}`);
    }
    const kustomization = await Deno.readTextFile(`${dir}/kustomization.yaml`);
    assert.match(kustomization, /^namespace: kube-system$/m);
    await Deno.writeTextFile(
      `${dir}/kustomization.yaml`,
      kustomization.replace(/^namespace: kube-system$/m, "namespace: kit-observability"),
    );
    const rendered = await render(dir);
    for (const m of rendered) {
      if (!m.kind.startsWith("ClusterRole")) assert.equal(m.namespace, "kit-observability", id(m));
    }
    const binding = rendered.find((m) => m.kind === "ClusterRoleBinding")!.object;
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "kube-iptables-tailer", namespace: "kit-observability" },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Resources of the groups deploy/ uses, as the real discovery documents describe them. */
const DISCOVERY: Record<string, { name: string; kind: string; namespaced: boolean }[]> = {
  "v1": [
    { name: "events", kind: "Event", namespaced: true },
    { name: "namespaces", kind: "Namespace", namespaced: false },
    { name: "pods", kind: "Pod", namespaced: true },
    { name: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
  ],
  "apps/v1": [{ name: "daemonsets", kind: "DaemonSet", namespaced: true }],
  "rbac.authorization.k8s.io/v1": [
    { name: "clusterroles", kind: "ClusterRole", namespaced: false },
    { name: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false },
  ],
  "monitoring.coreos.com/v1": [
    { name: "podmonitors", kind: "PodMonitor", namespaced: true },
    { name: "prometheusrules", kind: "PrometheusRule", namespaced: true },
  ],
};

/** Writes kubectl's disk discovery cache for `server` (…/discovery/<host>_<port>/…). */
async function seedDiscovery(cacheDir: string, server: string): Promise<void> {
  const url = new URL(server);
  const dir = `${cacheDir}/discovery/${url.hostname}_${url.port}`;
  const groups = Object.keys(DISCOVERY).map((groupVersion) => {
    const [group, version] = groupVersion.includes("/")
      ? groupVersion.split("/")
      : ["", groupVersion];
    const gv = { groupVersion, version };
    return { name: group, versions: [gv], preferredVersion: gv };
  });
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/servergroups.json`,
    JSON.stringify({ kind: "APIGroupList", apiVersion: "v1", groups }),
  );
  for (const [groupVersion, resources] of Object.entries(DISCOVERY)) {
    await Deno.mkdir(`${dir}/${groupVersion}`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/${groupVersion}/serverresources.json`,
      JSON.stringify({
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion,
        resources: resources.map((r) => ({
          ...r,
          singularName: r.kind.toLowerCase(),
          verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
        })),
      }),
    );
  }
}

systemTest("kubectl apply --dry-run=client accepts every object of the kustomization", {
  needs: ["kubectl"],
}, async () => {
  await using api = await startKubeEmulator();
  const cacheDir = await Deno.makeTempDir({ prefix: "kit-kubectl-cache-" });
  try {
    await seedDiscovery(cacheDir, api.url);
    api.clearRequests();
    const result = await kubectl([
      "apply",
      "--dry-run=client",
      "--validate=false",
      "-k",
      DEPLOY.pathname,
      "-o",
      "json",
      "--kubeconfig",
      api.kubeconfigPath,
      "--cache-dir",
      cacheDir,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const list = JSON.parse(result.stdout);
    const objects = list.kind === "List" ? list.items : [list];
    const raw = FILES.flatMap(readManifests);
    assert.deepEqual(
      objects.map((o: Manifest["object"]) => `${o.kind}/${o.metadata.name}`).sort(),
      raw.map(id).sort(),
    );
    for (const object of objects) {
      const applied =
        object.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"];
      assert.equal(JSON.parse(applied).kind, object.kind, "kubectl recorded what it applies");
    }
    // It looked each object up at the path its kind and scope give, and wrote nothing.
    const gets = api.requests.filter((r) => r.method === "GET").map((r) => r.path);
    for (
      const path of [
        "/api/v1/namespaces/kube-system/serviceaccounts/kube-iptables-tailer",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/kube-iptables-tailer",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kube-iptables-tailer",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-iptables-tailer",
        "/apis/monitoring.coreos.com/v1/namespaces/kube-system/podmonitors/kube-iptables-tailer",
        "/apis/monitoring.coreos.com/v1/namespaces/kube-system/prometheusrules/kube-iptables-tailer",
      ]
    ) {
      assert.ok(gets.includes(path), `kubectl looked up ${path}; it asked for ${gets.join(", ")}`);
    }
    assert.deepEqual(
      api.requests.filter((r) => r.method !== "GET"),
      [],
      "a dry run writes nothing",
    );
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
