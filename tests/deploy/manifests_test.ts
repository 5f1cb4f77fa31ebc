/**
 * The manifests in deploy/ against the program: they parse, carry the expected kinds and names,
 * pass the Kubernetes schema, show every configuration variable with the default the program
 * uses, mount what the configured paths and the Deno permission set need, and point the probes
 * and the image at what the program really serves and is.
 */

import assert from "node:assert/strict";
import { dirname } from "node:path";
import { loadConfig, OPTIONS } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { startServer } from "../../src/server.ts";
import { VERSION } from "../../src/version.ts";
import {
  commentedEntries,
  findObject,
  isWithin,
  type Manifest,
  parseYamlDocuments,
  readDeployText,
  readManifests,
  ROOT,
} from "./manifests.ts";
import { objectSchemaProblems } from "./schema.ts";

const IMAGE = "ghcr.io/kube-iptables-tailer/kube-iptables-tailer";
const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const SOURCE_VARIABLES = ["IPTABLES_LOG_PATH", "JOURNAL_DIRECTORY", "KMSG_PATH"];

const daemonSetText = readDeployText("daemonset.yaml");
const daemonSet = findObject(readManifests("daemonset.yaml"), "DaemonSet");
const pod = daemonSet.object.spec.template.spec;
const container = pod.containers[0];

interface EnvEntry {
  name: string;
  value?: string;
  // deno-lint-ignore no-explicit-any
  valueFrom?: any;
  commented: boolean;
  line: number;
}

/** Every env entry of the container, set or commented out, in file order. */
function envEntries(): EnvEntry[] {
  const lines = daemonSetText.split("\n");
  const active: EnvEntry[] = container.env.map((e: EnvEntry) => ({
    ...e,
    commented: false,
    line: lines.findIndex((l) => new RegExp(`^\\s+- name: ${e.name}\\s*$`).test(l)) + 1,
  }));
  const commented = commentedEntries(daemonSetText)
    .filter((c) => /^[A-Z][A-Z0-9_]*$/.test(c.value.name ?? "") && "value" in c.value)
    .map((c) => ({ name: c.value.name, value: c.value.value, commented: true, line: c.line }));
  return [...active, ...commented].sort((a, b) => a.line - b.line);
}

function activeEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === "spec.nodeName") env[e.name] = "node-a";
  }
  return env;
}

const hostname = () => "not-the-node-name";

Deno.test("every manifest parses, with the expected kinds, apiVersions, names and namespaces", () => {
  const all: Manifest[] = ["rbac.yaml", "daemonset.yaml", "monitoring.yaml"].flatMap(
    readManifests,
  );
  assert.deepEqual(
    all.map((m) => [m.file, m.apiVersion, m.kind, m.name, m.namespace]),
    [
      ["rbac.yaml", "v1", "ServiceAccount", "kube-iptables-tailer", "kube-system"],
      [
        "rbac.yaml",
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "kube-iptables-tailer",
        undefined,
      ],
      [
        "rbac.yaml",
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "kube-iptables-tailer",
        undefined,
      ],
      ["daemonset.yaml", "apps/v1", "DaemonSet", "kube-iptables-tailer", "kube-system"],
      [
        "monitoring.yaml",
        "monitoring.coreos.com/v1",
        "PodMonitor",
        "kube-iptables-tailer",
        "kube-system",
      ],
      [
        "monitoring.yaml",
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        "kube-iptables-tailer",
        "kube-system",
      ],
    ],
  );
  const [kustomization] = parseYamlDocuments(readDeployText("kustomization.yaml"), "k");
  assert.equal(kustomization.kind, "Kustomization");
  assert.equal(kustomization.namespace, "kube-system");
  assert.deepEqual(kustomization.resources, ["rbac.yaml", "daemonset.yaml", "monitoring.yaml"]);
});

Deno.test("core objects pass the Kubernetes schema (client-node's models of the OpenAPI)", () => {
  for (const m of [...readManifests("rbac.yaml"), daemonSet]) {
    assert.deepEqual(objectSchemaProblems(m.object), [], `${m.file}: ${m.kind}`);
  }
});

Deno.test("a drop-in for box/kube-iptables-tailer: same names, selector and binary path", () => {
  // The original's demo/daemonset.yaml: DaemonSet kube-system/kube-iptables-tailer, selector
  // app=kube-iptables-tailer (immutable, so it must stay), command /kube-iptables-tailer.
  assert.equal(daemonSet.name, "kube-iptables-tailer");
  assert.equal(daemonSet.namespace, "kube-system");
  assert.deepEqual(daemonSet.object.spec.selector, {
    matchLabels: { app: "kube-iptables-tailer" },
  });
  const labels = daemonSet.object.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(daemonSet.object.spec.selector.matchLabels)) {
    assert.equal(labels[k], v, `template label ${k}`);
  }
  assert.deepEqual(container.command, ["/kube-iptables-tailer"]);
  for (const name of ["IPTABLES_LOG_PATH", "IPTABLES_LOG_PREFIX", "LOG_LEVEL"]) {
    assert.ok(OPTIONS.some((o) => o.env === name && o.original), name);
  }
});

Deno.test("the image is this version, in the DaemonSet and the kustomization", () => {
  assert.equal(container.image, `${IMAGE}:${VERSION}`);
  const [kustomization] = parseYamlDocuments(readDeployText("kustomization.yaml"), "k");
  assert.deepEqual(kustomization.images, [{ name: IMAGE, newTag: VERSION }]);
});

Deno.test("runs on every node, critical, on the Pod network", () => {
  assert.equal(pod.priorityClassName, "system-node-critical");
  for (const effect of ["NoSchedule", "NoExecute"]) {
    assert.ok(
      pod.tolerations.some((t: Record<string, string>) =>
        t.operator === "Exists" && t.effect === effect && t.key === undefined
      ),
      `tolerates every ${effect} taint`,
    );
  }
  assert.equal(pod.nodeSelector, undefined);
  assert.equal(pod.affinity, undefined);
  assert.ok(!pod.hostNetwork);
  assert.equal(pod.dnsPolicy, "ClusterFirst");
  // Two instances on one node would share the checkpoint.
  assert.equal(daemonSet.object.spec.updateStrategy.rollingUpdate.maxSurge, 0);
});

Deno.test("least privilege: no capabilities, no escalation, read-only root, read-only logs", () => {
  const sc = container.securityContext;
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.privileged, false);
  assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.equal(pod.hostPID, undefined);
  assert.equal(pod.hostIPC, undefined);
  const writable = container.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly);
  assert.deepEqual(writable.map((m: { mountPath: string }) => m.mountPath), [
    activeEnv().STATE_DIRECTORY,
  ]);
});

/**
 * What the API server's validation of a container's securityContext refuses beyond the schema
 * (pkg/apis/core/validation: ValidateSecurityContext).
 */
// deno-lint-ignore no-explicit-any
function securityContextProblems(sc: any): string[] {
  const problems: string[] = [];
  if (sc.allowPrivilegeEscalation === false) {
    if (sc.privileged === true) {
      problems.push("cannot set `allowPrivilegeEscalation` to false and `privileged` to true");
    }
    if ((sc.capabilities?.add ?? []).includes("CAP_SYS_ADMIN")) {
      problems.push(
        "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
      );
    }
  }
  return problems;
}

/** The container's securityContext settings shown commented out (`# key: value`) for KMSG_PATH. */
function commentedSecurityContext(): Record<string, boolean> {
  const lines = daemonSetText.split("\n");
  const start = lines.findIndex((l) => /^ {10}securityContext:\s*$/.test(l));
  assert.ok(start >= 0, "the container's securityContext");
  const settings: Record<string, boolean> = {};
  for (const line of lines.slice(start + 1)) {
    if (!/^ {12}/.test(line)) break;
    const m = /^ {12}# ([A-Za-z]+): (true|false)\s*$/.exec(line);
    if (m) settings[m[1]] = m[2] === "true";
  }
  return settings;
}

Deno.test("the kmsg variant, uncommented as shown, is privileged and valid for the API", () => {
  // /dev/kmsg is refused by the device cgroup of an unprivileged container, so the comments show
  // the container's settings for KMSG_PATH; uncommented, they must make a privileged container
  // the API server accepts (it refuses privileged: true beside allowPrivilegeEscalation: false).
  assert.ok(envEntries().some((e) => e.name === "KMSG_PATH" && e.commented));
  assert.deepEqual(securityContextProblems(container.securityContext), []);
  const kmsg = { ...container.securityContext, ...commentedSecurityContext() };
  assert.equal(kmsg.privileged, true, "the kmsg variant is privileged");
  assert.deepEqual(securityContextProblems(kmsg), [], "the kmsg variant's securityContext");
});

Deno.test("resources: requests and limits for CPU and memory, requests within limits", () => {
  const quantity = (q: string): number => {
    const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(q);
    assert.ok(m, `quantity ${q}`);
    const scale = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ""] ?? 1;
    return Number(m[1]) * scale;
  };
  const { requests, limits } = container.resources;
  for (const resource of ["cpu", "memory"]) {
    assert.ok(requests[resource] && limits[resource], resource);
    assert.ok(quantity(requests[resource]) <= quantity(limits[resource]), resource);
  }
  // Measured: about 130 MB resident idle with the Kubernetes client loaded (see the comment in
  // daemonset.yaml); a request below that under-reserves every node.
  assert.ok(quantity(requests.memory) >= 128 * 1024 ** 2);
  assert.ok(quantity(limits.memory) >= 2 * quantity(requests.memory), "room for the first list");
});

Deno.test("env: exactly the variables of OPTIONS, each once, in OPTIONS order", () => {
  const entries = envEntries();
  const names = entries.map((e) => e.name);
  const declared = OPTIONS.flatMap((o) => (o.env ? [o.env] : []));
  assert.deepEqual([...names].sort(), [...declared].sort(), "set or commented out");
  assert.equal(new Set(names).size, names.length, "each variable once");
  assert.deepEqual(names, declared, "in the order of --help");
});

Deno.test("env: the values shown are the defaults loadConfig produces", () => {
  const env = activeEnv();
  // The site-specific ones (no default): a source, the prefix, the state directory, the node.
  const siteSpecific = Object.fromEntries(
    Object.entries(env).filter(([name]) =>
      OPTIONS.find((o) => o.env === name)!.default === undefined
    ),
  );
  assert.deepEqual(Object.keys(siteSpecific).sort(), [
    "IPTABLES_LOG_PREFIX",
    "JOURNAL_DIRECTORY",
    "NODE_NAME",
    "STATE_DIRECTORY",
  ]);
  const shown = loadConfig({ env, hostname });
  const defaults = loadConfig({ env: siteSpecific, hostname });
  assert.deepEqual(shown, defaults);
  // Every option with a default is shown set, with a value that parses to that default.
  for (const option of OPTIONS.filter((o) => o.env && o.default !== undefined)) {
    assert.ok(option.env! in env, `${option.env} is set to its default`);
    const alone = loadConfig({
      env: { ...siteSpecific, [option.env!]: env[option.env!] },
      hostname,
    });
    assert.deepEqual(
      alone[option.key as keyof typeof alone],
      defaults[option.key as keyof typeof defaults],
      option.env,
    );
  }
  // NODE_NAME comes from the downward API.
  const nodeName = container.env.find((e: EnvEntry) => e.name === "NODE_NAME");
  assert.deepEqual(nodeName.valueFrom, { fieldRef: { fieldPath: "spec.nodeName" } });
  assert.equal(shown.nodeName, "node-a");
  // The variables the original program read keep the values of its demo manifest's semantics.
  assert.equal(shown.logLevel, "info");
});

Deno.test("env: each commented-out variable is valid when uncommented", () => {
  const env = activeEnv();
  for (const entry of envEntries().filter((e) => e.commented)) {
    const option = OPTIONS.find((o) => o.env === entry.name)!;
    assert.equal(option.default, undefined, `${entry.name} has a default: show it set`);
    assert.equal(typeof entry.value, "string", `${entry.name}: a string value`);
    const trial: Record<string, string> = { ...env, [entry.name]: entry.value! };
    if (SOURCE_VARIABLES.includes(entry.name)) {
      // The alternatives replace the source that is set.
      for (const other of SOURCE_VARIABLES) if (other !== entry.name) delete trial[other];
    }
    if (entry.name === "POD_IDENTIFIER_LABEL") trial.POD_IDENTIFIER = "label";
    const config = loadConfig({ env: trial, hostname });
    assert.notEqual(config[option.key as keyof typeof config], undefined, entry.name);
  }
});

Deno.test("mounts: host directories at the same paths, covering every configured path", () => {
  const mounts = [
    ...container.volumeMounts,
    ...commentedEntries(daemonSetText).map((c) => c.value).filter((v) => "mountPath" in v),
  ];
  const volumes = [
    ...pod.volumes,
    ...commentedEntries(daemonSetText).map((c) => c.value).filter((v) => "hostPath" in v),
  ];
  for (const mount of mounts) {
    const volume = volumes.find((v) => v.name === mount.name);
    assert.ok(volume?.hostPath, `volume ${mount.name} is a hostPath`);
    if (volume.hostPath.type === "CharDevice") {
      // Deno opens nothing under /dev without --allow-all: the device goes elsewhere.
      assert.equal(volume.hostPath.path, "/dev/kmsg");
      assert.ok(!isWithin(mount.mountPath, "/dev"), "the kmsg device is mounted outside /dev");
      continue;
    }
    // Same path inside and out: checkpoints and rotated siblings name host paths.
    assert.equal(volume.hostPath.path, mount.mountPath, mount.name);
  }
  const covered = (path: string) => mounts.some((m) => isWithin(path, m.mountPath));
  const entries = envEntries();
  const valueOf = (name: string) => entries.find((e) => e.name === name)!.value!;
  assert.ok(covered(dirname(valueOf("IPTABLES_LOG_PATH"))), "the log file's directory");
  assert.ok(covered(valueOf("JOURNAL_DIRECTORY")), "the persistent journal");
  assert.ok(covered("/run/log/journal"), "the volatile journal");
  assert.ok(covered(valueOf("KMSG_PATH")), "the kmsg device (commented out, with KMSG_PATH)");
  const state = valueOf("STATE_DIRECTORY");
  const stateMount = container.volumeMounts.find((m: { mountPath: string }) =>
    m.mountPath === state
  );
  assert.ok(stateMount && !stateMount.readOnly, "the state directory, writable");
  const stateVolume = pod.volumes.find((v: { name: string }) => v.name === stateMount.name);
  assert.equal(stateVolume.hostPath.type, "DirectoryOrCreate");
  // Log directories are mounted, never single files: rotation replaces the file.
  for (const volume of pod.volumes) {
    if (!["/dev/kmsg", "/etc/localtime"].includes(volume.hostPath.path)) {
      assert.match(volume.hostPath.type, /^Directory(OrCreate)?$/, volume.name);
    }
  }
});

Deno.test("the node's time zone: its /etc/localtime, read-only, for log times without a zone", () => {
  // Traditional syslog headers (`Nov 25 07:58:47`, rsyslog's RSYSLOG_TraditionalFileFormat:
  // RHEL's /var/log/messages, Ubuntu 22.04's kern.log), zoneless ISO times and `dmesg -T` are
  // read as local time. Without the node's zone the container's is UTC: on a node at UTC-5
  // every such drop would look five hours old and be skipped as expired.
  const mount = container.volumeMounts.find((m: { mountPath: string }) =>
    m.mountPath === "/etc/localtime"
  );
  assert.ok(mount, "the node's /etc/localtime is mounted at /etc/localtime");
  assert.equal(mount.readOnly, true);
  const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
  // File: never DirectoryOrCreate or unchecked, which would make /etc/localtime on a node
  // without one.
  assert.deepEqual(volume.hostPath, { path: "/etc/localtime", type: "File" });
});

Deno.test("the Deno permission set reads the mounted paths and writes only the state directory", () => {
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const daemon = config.permissions.daemon;
  const entries = envEntries();
  const valueOf = (name: string) => entries.find((e) => e.name === name)!.value!;
  const readable = (path: string) => daemon.read.some((r: string) => isWithin(path, r));
  for (
    const path of [
      valueOf("IPTABLES_LOG_PATH"),
      valueOf("JOURNAL_DIRECTORY"),
      "/run/log/journal",
      valueOf("KMSG_PATH"),
      valueOf("STATE_DIRECTORY"),
      SERVICE_ACCOUNT_DIR,
      valueOf("KUBECONFIG"),
    ]
  ) {
    assert.ok(readable(path), `deno.json permissions.daemon.read covers ${path}`);
  }
  assert.deepEqual(daemon.write, [valueOf("STATE_DIRECTORY")]);
  for (const forbidden of ["all", "run", "ffi", "import"]) {
    assert.equal(daemon[forbidden], undefined, `no ${forbidden} permission`);
  }
  // The program may read every variable the DaemonSet shows (when env is a list).
  if (Array.isArray(daemon.env)) {
    const unreadable = entries.map((e) => e.name).filter((n) => !daemon.env.includes(n));
    assert.deepEqual(unreadable, [], "variables the permission set does not let it read");
  } else {
    assert.equal(daemon.env, true);
  }
  // Every path the set may read exists in the container: a mount, the service-account token,
  // or the kubeconfig directory the commented KUBECONFIG points at.
  const mounts = [
    ...container.volumeMounts,
    ...commentedEntries(daemonSetText).map((c) => c.value).filter((v) => "mountPath" in v),
  ];
  for (const path of daemon.read) {
    const ok = mounts.some((m) => isWithin(path, m.mountPath)) || path === SERVICE_ACCOUNT_DIR ||
      path === dirname(valueOf("KUBECONFIG"));
    assert.ok(ok, `${path} is readable by the program but not there in the Pod`);
  }
});

Deno.test("ports and probes: the metrics port, and /healthz and /readyz the server answers", async () => {
  const env = activeEnv();
  const port = container.ports.find((p: { name: string }) => p.name === "metrics");
  assert.equal(port.containerPort, Number(env.METRICS_SERVER_PORT));
  assert.equal(port.protocol, "TCP");
  assert.equal(port.hostPort, undefined);
  const live = container.livenessProbe.httpGet;
  const ready = container.readinessProbe.httpGet;
  assert.deepEqual([live.port, ready.port], ["metrics", "metrics"]);
  assert.deepEqual([live.path, ready.path], ["/healthz", "/readyz"]);
  assert.ok(pod.terminationGracePeriodSeconds > Number(env.SHUTDOWN_TIMEOUT_SECONDS));
  // The real server on a free loopback port: the probe paths answer 200 when healthy, and
  // /readyz answers 503 while a readiness check fails (as before the pod index synced).
  let synced = false;
  const stop = new AbortController();
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
    metrics: new Metrics({ defaultMetrics: false }),
    log: silentLogger,
    signal: stop.signal,
    liveness: [{ name: "source", ok: () => true }],
    readiness: [{ name: "pod-index", ok: () => synced, detail: () => "listing pods" }],
  });
  try {
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await get(live.path), 200);
    assert.equal(await get(ready.path), 503);
    synced = true;
    assert.equal(await get(ready.path), 200);
    assert.equal(await get("/metrics"), 200);
  } finally {
    stop.abort();
    await server.finished;
  }
});
