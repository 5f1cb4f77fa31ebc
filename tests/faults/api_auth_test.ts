/**
 * Credentials the API server refuses.
 *
 * - A wrong token at start: the pod index cannot list, which the log says plainly and /readyz
 *   reports (503) while /healthz stays 200; drops wait for the index instead of being resolved
 *   without it; once the server accepts the token, the index lists and the waiting drops
 *   become Events.
 * - The service-account token rotated while the daemon runs in-cluster (the DaemonSet's case):
 *   the token file (client-node's `tokenFile` provider, what `loadFromCluster` sets up) is read
 *   every minute, and at once after a 401: here the server takes the new token at once, so the
 *   401 path is what carries the daemon on with the new token, no Event lost. The test runs the
 *   daemon in a private mount namespace whose `/run` is a temporary directory holding
 *   `secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}`, so the real in-cluster
 *   code path runs against the emulator (HTTPS, its CA) without touching the machine's `/run`.
 *
 * - A kubeconfig `tokenFile:` rotated while running, the server taking only the new token at
 *   once: after a 401 the client loads the kubeconfig again and reads the file.
 */
import assert from "node:assert/strict";
import {
  addShop,
  DB,
  kernelLine,
  portOf,
  shopMessages,
  tcpDrop,
  WEB,
} from "../support/faults/drops.ts";
import { byLabel, sumOf } from "../support/faults/metrics.ts";
import { sleep, Tailer } from "../support/faults/tailer.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { writeKubeconfig } from "../support/kube_emulator/kubeconfig.ts";
import { systemTest } from "../support/system.ts";

const COMMON_ARGS = [
  "--kube-api-qps=100",
  "--kube-api-burst=100",
  "--repeated-events-interval-minutes=0",
];

function append(log: string, port: number, src = WEB, dst = DB): Promise<void> {
  return Deno.writeTextFile(log, kernelLine(tcpDrop(src, dst, port)), { append: true });
}

function messagesOf(events: { message?: string }[], port: number): string[] {
  return events.filter((e) => portOf(e.message ?? "") === port).map((e) => e.message!).sort();
}

Deno.test("wrong token at start: a clear log line, /readyz 503 while the index cannot list, no crash, recovery", async () => {
  const api = await startKubeEmulator({ token: "the-right-token" });
  addShop(api);
  const dir = await Deno.makeTempDir({ prefix: "kit-faults-auth-" });
  const log = `${dir}/kern.log`;
  const kubeconfig = `${dir}/kubeconfig`;
  await Deno.writeTextFile(log, "");
  await writeKubeconfig(kubeconfig, { server: api.url, token: "a-wrong-token" });
  const tailer = await Tailer.start({ log, kubeconfig, args: COMMON_ARGS, waitFor: "following" });
  try {
    await tailer.until(
      "three refused lists (retried with backoff)",
      () => api.requests.filter((r) => r.path === "/api/v1/pods" && r.status === 401).length >= 3,
    );
    const readyz = await tailer.get("/readyz");
    assert.equal(readyz.status, 503, readyz.body);
    assert.match(readyz.body, /pod-index failed: .*Unauthorized/);
    assert.equal((await tailer.get("/healthz")).status, 200);
    assert.ok(tailer.logged(/WARN .*refused our credentials \(401\)/) >= 1, tailer.tail());
    assert.ok(tailer.logged(/WARN .*pod list failed; retrying.*Unauthorized/) >= 1, tailer.tail());

    // Drops meanwhile wait for the index.
    for (let port = 1; port <= 3; port++) await append(log, port);
    await tailer.until(
      "the drops to be read",
      async () => sumOf(await tailer.metrics(), "kube_iptables_tailer_drops_parsed_total") === 3,
    );
    await sleep(500);
    assert.equal(api.events().length, 0);
    assert.equal((await tailer.get("/readyz")).status, 503);
    const refused = api.requests.filter((r) => r.status === 401).length;

    // The server now accepts what the daemon sends.
    await api.setToken("a-wrong-token");
    const fixed = performance.now();
    await tailer.until(
      "/readyz 200",
      async () => (await tailer.get("/readyz")).status === 200,
      45_000,
    );
    await tailer.until("the Events of the waiting drops", () => api.events().length === 6);
    const recovery = (performance.now() - fixed) / 1000;
    for (let port = 1; port <= 3; port++) {
      assert.deepEqual(messagesOf(api.events(), port), [...shopMessages(port)].sort());
    }
    // The API stores an Event before the daemon has its answer: wait for the counter too.
    await tailer.until(
      "the answers counted",
      async () =>
        byLabel(await tailer.metrics(), "kube_iptables_tailer_events_total", "result").created ===
          6,
    );
    const results = byLabel(await tailer.metrics(), "kube_iptables_tailer_events_total", "result");
    assert.deepEqual(results, { created: 6 });
    assert.equal(tailer.exited, undefined);
    const { code } = await tailer.stop();
    assert.equal(code, 0);
    console.log(
      `held: wrong token at start — ${refused} requests refused (401), logged as "refused our ` +
        `credentials (401)" and "pod list failed … Unauthorized", /readyz 503 and /healthz 200 ` +
        `meanwhile, 3 drops waited; ready and 6/6 Events ${recovery.toFixed(1)} s after the ` +
        `token was accepted`,
    );
  } finally {
    await tailer.kill();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

systemTest(
  "in-cluster service-account token rotated while running: read again after a 401, no Event lost",
  { needs: ["root", "unshare", "mount"] },
  async () => {
    const api = await startKubeEmulator({ tls: true, token: "token-1" });
    addShop(api);
    const dir = await Deno.makeTempDir({ prefix: "kit-faults-sa-" });
    const run = `${dir}/run`;
    const sa = `${run}/secrets/kubernetes.io/serviceaccount`;
    await Deno.mkdir(sa, { recursive: true });
    // As the kubelet does: the new token replaces the old file atomically.
    const writeToken = async (token: string) => {
      await Deno.writeTextFile(`${sa}/.token.tmp`, token);
      await Deno.rename(`${sa}/.token.tmp`, `${sa}/token`);
    };
    await writeToken("token-1");
    await Deno.writeTextFile(`${sa}/ca.crt`, api.caCertPem!);
    await Deno.writeTextFile(`${sa}/namespace`, "kube-system");
    const log = `${dir}/kern.log`;
    await Deno.writeTextFile(log, "");
    const tailer = await Tailer.start({
      log,
      args: COMMON_ARGS,
      env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(api.port) },
      wrap: [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$1" /run && shift && exec "$@"',
        "sh",
        run,
      ],
      waitFor: "ready",
    });
    try {
      assert.ok(tailer.logged(`using the Kubernetes API server=https://127.0.0.1:${api.port}`));
      await append(log, 1);
      await tailer.until("the first Events", () => api.events().length === 2);

      // Rotation: the file first, then the server stops accepting the old token.
      await writeToken("token-2");
      await api.setToken("token-2");
      const rotatedAt = Date.now();
      for (let port = 2; port <= 4; port++) {
        await append(log, port);
        await sleep(200);
      }
      await tailer.until("the Events after the rotation", () => api.events().length === 8);
      // The index also carries on with the new token: a Pod created now is found.
      api.addPod({ namespace: "late", name: "late-0", podIPs: ["10.244.1.99"], nodeName: "n" });
      api.faults.closeWatches();
      await sleep(1500);
      await append(log, 5, "10.244.1.99", DB);
      await tailer.until(
        "the Events of the new Pod's drop",
        () => api.events().length === 10,
        45_000,
      );
      assert.equal(api.events("late").length, 1);

      for (let port = 1; port <= 4; port++) {
        assert.deepEqual(messagesOf(api.events(), port), [...shopMessages(port)].sort());
      }
      const after = api.requests.filter((r) => r.startedAt >= rotatedAt);
      const refused = after.filter((r) => r.status === 401);
      const firstNew = after.findIndex((r) => r.headers.authorization === "Bearer token-2");
      assert.ok(firstNew >= 0, "the new token was used");
      assert.deepEqual(
        after.slice(firstNew).filter((r) => r.headers.authorization !== "Bearer token-2").map((
          r,
        ) => `${r.method} ${r.path}`),
        [],
        "once read, only the new token is sent",
      );
      const results = byLabel(
        await tailer.metrics(),
        "kube_iptables_tailer_events_total",
        "result",
      );
      assert.equal(
        results.rejected ?? 0,
        0,
        `no Event refused for good: ${JSON.stringify(results)}`,
      );
      assert.equal(results.created, 10);
      assert.equal(tailer.exited, undefined);
      const { code } = await tailer.stop();
      assert.equal(code, 0);
      console.log(
        `held: service-account token rotated in-cluster — ${refused.length} requests refused ` +
          `(401) with the old token, then only the new one sent; 10/10 Events, none lost; the ` +
          `pod index found a Pod created after the rotation`,
      );
    } finally {
      await tailer.kill();
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("kubeconfig tokenFile rotated while running: read again at once after a 401", async () => {
  const api = await startKubeEmulator({ tls: true, token: "token-1" });
  addShop(api);
  const dir = await Deno.makeTempDir({ prefix: "kit-faults-token-file-" });
  const log = `${dir}/kern.log`;
  const tokenFile = `${dir}/token`;
  const kubeconfig = `${dir}/kubeconfig`;
  await Deno.writeTextFile(log, "");
  await Deno.writeTextFile(tokenFile, "token-1");
  const ca = btoa(api.caCertPem!);
  await Deno.writeTextFile(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: c",
      "  cluster:",
      `    server: ${JSON.stringify(api.url)}`,
      `    certificate-authority-data: ${JSON.stringify(ca)}`,
      "users:",
      "- name: u",
      "  user:",
      `    tokenFile: ${JSON.stringify(tokenFile)}`,
      "contexts:",
      "- name: x",
      "  context: { cluster: c, user: u }",
      "current-context: x",
    ].join("\n") + "\n",
  );
  const tailer = await Tailer.start({ log, kubeconfig, args: COMMON_ARGS, waitFor: "following" });
  try {
    await tailer.until("ready", async () => (await tailer.get("/readyz")).status === 200);
    await append(log, 1);
    await tailer.until("the first Events", () => api.events().length === 2);
    // Rotate: the server takes only the new token; the file holds it.
    await api.setToken("token-2");
    await Deno.writeTextFile(`${tokenFile}.tmp`, "token-2");
    await Deno.rename(`${tokenFile}.tmp`, tokenFile);
    for (let port = 2; port <= 4; port++) await append(log, port);
    await tailer.until("the Events after the rotation", () => api.events().length === 8, 30_000);
    for (let port = 1; port <= 4; port++) {
      assert.deepEqual(messagesOf(api.events(), port), [...shopMessages(port)].sort());
    }
    const refused = api.requests.filter((r) => r.status === 401).length;
    assert.ok(refused >= 1, "the old token was refused at least once");
    assert.equal(
      tailer.logged(/WARN .*refused our credentials \(401\)/),
      1,
      "logged once per streak",
    );
    assert.ok(tailer.logged(/accepts our credentials again/) >= 1, tailer.tail());
    assert.equal((await tailer.stop()).code, 0);
    console.log(
      `held: kubeconfig token-file rotated — ${refused} requests refused, then 8/8 Events`,
    );
  } finally {
    await tailer.kill();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
