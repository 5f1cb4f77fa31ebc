/**
 * deploy/monitoring.yaml against the program and Prometheus: the PodMonitor scrapes the
 * DaemonSet's metrics port as the job the alerts name; every metric and label an alert uses is
 * one the program exports (read from its real metrics registry) or a named external source;
 * promtool accepts the rules and its unit tests (alerts.promtool.yaml) fire each alert on the
 * situation it is for, and not on the look-alikes.
 */

import assert from "node:assert/strict";
import { Metrics } from "../../src/metrics.ts";
import { systemTest } from "../support/system.ts";
import { findObject, readManifests } from "./manifests.ts";
import { groupingLabelsOf, selectorsOf } from "./promql.ts";

const monitoring = readManifests("monitoring.yaml");
const podMonitor = findObject(monitoring, "PodMonitor").object;
const rule = findObject(monitoring, "PrometheusRule").object;
const daemonSet = findObject(readManifests("daemonset.yaml"), "DaemonSet").object;
const podLabels: Record<string, string> = daemonSet.spec.template.metadata.labels;

/** Labels Prometheus adds to every target of a PodMonitor. */
const TARGET_LABELS = ["job", "namespace", "pod", "instance", "container", "endpoint"];

/** Metrics the alerts use that come from elsewhere, with their labels. */
const EXTERNAL: Record<string, { from: string; labels: string[] }> = {
  up: { from: "Prometheus (scrape health)", labels: [] },
  kube_daemonset_status_number_unavailable: {
    from: "kube-state-metrics",
    labels: ["daemonset"],
  },
};

// deno-lint-ignore no-explicit-any
const alerts: any[] = rule.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules);

/** name → label names, from the program's own registry. */
async function exportedMetrics(): Promise<Map<string, string[]>> {
  const metrics = new Metrics({ defaultMetrics: false });
  const exported = new Map<string, string[]>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    // deno-lint-ignore no-explicit-any
    exported.set(metric.name, [...((metric as any).labelNames ?? [])]);
  }
  // The registry renders: the names are what a scrape sees.
  const { body } = await metrics.render();
  for (const name of exported.keys()) assert.match(body, new RegExp(`^# TYPE ${name} `, "m"));
  return exported;
}

Deno.test("promql: selectors and grouping labels of an expression", () => {
  const expr = `sum by (namespace, pod) (rate(a_total{job="x", result=~"f|r"}[10m])) > 0
    and on (pod) min_over_time((b > bool 0)[6h:1h] offset 1h) == 1 or absent(up{job="y"})`;
  assert.deepEqual(selectorsOf(expr), [
    { metric: "a_total", labels: ["job", "result"] },
    { metric: "b", labels: [] },
    { metric: "up", labels: ["job"] },
  ]);
  assert.deepEqual(groupingLabelsOf(expr), ["namespace", "pod", "pod"]);
});

Deno.test("the PodMonitor scrapes the DaemonSet's metrics port as job kube-iptables-tailer", () => {
  for (const [key, value] of Object.entries(podMonitor.spec.selector.matchLabels)) {
    assert.equal(podLabels[key], value, `selects the Pods by ${key}`);
  }
  const ports = daemonSet.spec.template.spec.containers[0].ports;
  assert.deepEqual(
    podMonitor.spec.podMetricsEndpoints.map((
      e: { port: string; path: string },
    ) => [e.port, e.path]),
    [["metrics", "/metrics"]],
  );
  assert.ok(ports.some((p: { name: string }) => p.name === "metrics"));
  // The job label's value comes from this Pod label; every alert filters on it.
  assert.equal(podLabels[podMonitor.spec.jobLabel], "kube-iptables-tailer");
});

Deno.test("every alert uses metrics and labels that exist, and our job", async () => {
  const exported = await exportedMetrics();
  const job = podLabels[podMonitor.spec.jobLabel];
  for (const alert of alerts) {
    const selectors = selectorsOf(alert.expr);
    assert.ok(selectors.length > 0, alert.alert);
    const known: string[] = [...TARGET_LABELS];
    for (const { metric, labels } of selectors) {
      const own = exported.get(metric);
      const external = EXTERNAL[metric];
      assert.ok(own || external, `${alert.alert}: ${metric} is not exported by the program`);
      const allowed = [...TARGET_LABELS, ...(own ?? external.labels)];
      for (const label of labels) {
        assert.ok(allowed.includes(label), `${alert.alert}: ${metric} has no label ${label}`);
      }
      known.push(...allowed);
      if (own || metric === "up") {
        assert.match(
          alert.expr,
          new RegExp(`${metric}\\{[^}]*job="${job}"`),
          `${alert.alert}: ${metric} filtered to job="${job}"`,
        );
      }
    }
    for (const label of groupingLabelsOf(alert.expr)) {
      assert.ok(known.includes(label), `${alert.alert}: groups by unknown label ${label}`);
    }
  }
});

Deno.test("every alert has a severity, a summary, a description and a duration", () => {
  const names = alerts.map((a) => a.alert);
  assert.equal(new Set(names).size, names.length, "unique names");
  for (const alert of alerts) {
    assert.match(alert.alert, /^KubeIptablesTailer[A-Z]\w+$/);
    assert.ok(["critical", "warning", "info"].includes(alert.labels?.severity), alert.alert);
    assert.ok(alert.annotations?.summary && alert.annotations?.description, alert.alert);
    assert.match(alert.for, /^\d+[mh]$/, alert.alert);
  }
  // The situations the brief names each have an alert.
  for (
    const needed of [
      "PacketDropBurst",
      "Down",
      "NotReady",
      "EventsFailing",
      "EventsShed",
      "SourceStalled",
      "ParseErrors",
    ]
  ) {
    assert.ok(names.includes(`KubeIptablesTailer${needed}`), needed);
  }
});

async function promtool(args: string[], cwd: string): Promise<string> {
  const output = await new Deno.Command("promtool", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `promtool ${args.join(" ")}:\n${text}`);
  return text;
}

/** A temp directory with rules.yaml (the PrometheusRule's groups) and the unit tests. */
async function rulesDirectory(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kit-promtool-" });
  // JSON is YAML: the groups exactly as the operator will load them.
  await Deno.writeTextFile(`${dir}/rules.yaml`, JSON.stringify({ groups: rule.spec.groups }));
  await Deno.copyFile(
    new URL("alerts.promtool.yaml", import.meta.url),
    `${dir}/alerts.promtool.yaml`,
  );
  return dir;
}

systemTest("promtool accepts the rules", { needs: ["promtool"] }, async () => {
  const dir = await rulesDirectory();
  try {
    const text = await promtool(["check", "rules", "rules.yaml"], dir);
    assert.match(text, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

systemTest("promtool unit tests: each alert fires on its situation only", {
  needs: ["promtool"],
}, async () => {
  const dir = await rulesDirectory();
  try {
    const text = await promtool(["test", "rules", "alerts.promtool.yaml"], dir);
    assert.match(text, /SUCCESS/);
    // Every alert is exercised by the unit tests.
    const tests = await Deno.readTextFile(`${dir}/alerts.promtool.yaml`);
    for (const alert of alerts) {
      assert.match(tests, new RegExp(`alertname: ${alert.alert}$`, "m"), alert.alert);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
