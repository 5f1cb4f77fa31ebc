/**
 * KubeClient follows certificate files that change under it, as on a node: kubelet rotates its
 * client certificate by writing a new kubelet-client-<time>.pem (certificate and key) and
 * re-pointing the symlink kubelet-client-current.pem at it. Against the emulator, which verifies
 * client certificates (expiry included) like kube-apiserver with --client-ca-file.
 */
import assert from "node:assert/strict";
import { KubeClient, loadKubeConfig } from "../../src/kube/client.ts";
import { type KubeEmulator, startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { issueClientCertificate } from "../support/kube_emulator/tls.ts";
import { memoryLogger } from "./pods_support.ts";

/**
 * A node's pki directory for the emulator: the cluster's CA in ca.crt, client certificates in
 * pki/, and a kubeconfig naming pki/kubelet-client-current.pem as certificate and key (as
 * kubelet's own kubeconfig does), the CA as a file too.
 */
async function nodePki(api: KubeEmulator) {
  const dir = await Deno.makeTempDir({ prefix: "kit-client-rotation-" });
  await Deno.mkdir(`${dir}/pki`);
  const current = `${dir}/pki/kubelet-client-current.pem`;
  const caFile = `${dir}/ca.crt`;
  await Deno.writeTextFile(caFile, api.caCertPem!);
  const kubeconfig = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    (await Deno.readTextFile(api.kubeconfigPath))
      .replace(/certificate-authority-data: .*/, `certificate-authority: ${JSON.stringify(caFile)}`)
      .replace(/client-certificate-data: .*/, "client-certificate: pki/kubelet-client-current.pem")
      .replace(/client-key-data: .*/, "client-key: pki/kubelet-client-current.pem"),
  );
  return {
    dir,
    caFile,
    current,
    kubeconfig,
    /** Writes pki/kubelet-client-<name>.pem: a certificate of the test CA for `user`, and its key. */
    async issue(name: string, user: string, options: { expired?: boolean } = {}) {
      const { certPem, keyPem } = await issueClientCertificate(user, options);
      const path = `${dir}/pki/kubelet-client-${name}.pem`;
      await Deno.writeTextFile(path, certPem + keyPem);
      return path;
    },
    /** Re-points kubelet-client-current.pem at `target`, atomically (a new link renamed over). */
    async point(target: string) {
      await Deno.symlink(target, `${current}.new`);
      await Deno.rename(`${current}.new`, current);
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function clientOn(kubeconfig: string, options: { tlsFileCheckMs?: number } = {}) {
  const { log, lines } = memoryLogger();
  const settings = {
    kubeconfig,
    kubeApiQps: 50,
    kubeApiBurst: 100,
    kubeApiTimeoutSeconds: 5,
    ...options,
  };
  const client = new KubeClient(loadKubeConfig(settings, {}), settings, log);
  return { client, lines };
}

/** GETs the pods; the status and the user the emulator authenticated. */
async function listPods(api: KubeEmulator, client: KubeClient): Promise<[number, string?]> {
  const answer = await client.request("GET", "/api/v1/pods");
  return [answer.status, api.requests.at(-1)?.user];
}

Deno.test("client: when its certificate has expired and kubelet has re-pointed kubelet-client-current.pem at a new one, the next request uses the new one (no restart)", async () => {
  await using api = await startKubeEmulator({ clientCertificates: true });
  await using pki = await nodePki(api);
  await pki.point(await pki.issue("old", "system:node:node-a", { expired: true }));
  const { client, lines } = clientOn(pki.kubeconfig);
  using _ = client;
  assert.deepEqual(await listPods(api, client), [401, undefined], "the expired one is refused");
  await pki.point(await pki.issue("2026-01-01", "system:node:node-a"));
  assert.deepEqual(await listPods(api, client), [200, "system:node:node-a"]);
  assert.deepEqual(await listPods(api, client), [200, "system:node:node-a"]);
  assert.ok(
    lines.some((l) => l.includes("TLS credentials changed") && l.includes(pki.current)),
    lines.join(""),
  );
});

Deno.test("client: new connections use a rotated certificate file at once; a file caught half-written or missing keeps the certificate in use, logged once with its path", async () => {
  await using api = await startKubeEmulator({ clientCertificates: true });
  await using pki = await nodePki(api);
  await pki.point(await pki.issue("a", "node-a"));
  // Looks at the files before every request, so that each step below is seen by the next one.
  const { client, lines } = clientOn(pki.kubeconfig, { tlsFileCheckMs: 0 });
  using _ = client;
  assert.deepEqual(await listPods(api, client), [200, "node-a"]);

  await pki.point(await pki.issue("b", "node-b"));
  assert.deepEqual(await listPods(api, client), [200, "node-b"], "the rotated certificate");

  // Half-written: the certificate and half its key.
  const complete = await Deno.readTextFile(await pki.issue("c", "node-c"));
  const half = complete.slice(0, complete.indexOf("PRIVATE KEY-----") + 40);
  const partial = `${pki.dir}/pki/kubelet-client-c.pem`;
  await Deno.writeTextFile(partial, half);
  await pki.point(partial);
  assert.deepEqual(await listPods(api, client), [200, "node-b"], "half-written: b is kept");
  assert.deepEqual(await listPods(api, client), [200, "node-b"]);
  const warnings = () => lines.filter((l) => l.includes("keeping the TLS credentials in use"));
  assert.equal(warnings().length, 1, lines.join(""));
  assert.ok(warnings()[0].includes(pki.current), warnings()[0]);

  // Written to its end: taken.
  await Deno.writeTextFile(partial, complete);
  assert.deepEqual(await listPods(api, client), [200, "node-c"], "complete: c is taken");

  // The link dangling for a moment (its target removed before the next one is written).
  await Deno.remove(partial);
  assert.deepEqual(await listPods(api, client), [200, "node-c"], "missing: c is kept");
  assert.deepEqual(await listPods(api, client), [200, "node-c"]);
  assert.equal(warnings().length, 2, lines.join(""));
  assert.ok(warnings()[1].includes(pki.current), warnings()[1]);
  await pki.point(await pki.issue("d", "node-d"));
  assert.deepEqual(await listPods(api, client), [200, "node-d"]);
});

Deno.test("client: the CA file is followed too: while it is missing or empty requests go on; once it holds another certificate the server is refused, back to the cluster's CA it is accepted", async () => {
  await using api = await startKubeEmulator({ clientCertificates: true });
  await using pki = await nodePki(api);
  await pki.point(await pki.issue("a", "node-a"));
  const { client, lines } = clientOn(pki.kubeconfig, { tlsFileCheckMs: 0 });
  using _ = client;
  assert.deepEqual(await listPods(api, client), [200, "node-a"]);
  const ca = await Deno.readTextFile(pki.caFile);

  await Deno.remove(pki.caFile);
  assert.deepEqual(await listPods(api, client), [200, "node-a"], "missing: the CA in use is kept");
  assert.ok(
    lines.some((l) => l.includes("keeping the TLS credentials in use") && l.includes(pki.caFile)),
    lines.join(""),
  );

  // Emptied, as a rewrite in place begins: without a CA fetch would trust the system's instead.
  await Deno.writeTextFile(pki.caFile, "");
  assert.deepEqual(await listPods(api, client), [200, "node-a"], "empty: the CA in use is kept");

  // A CA file holding a certificate that did not sign the server's: new connections refuse it.
  await Deno.writeTextFile(pki.caFile, (await issueClientCertificate("not-a-ca")).certPem);
  await assert.rejects(client.request("GET", "/api/v1/pods"), /UnknownIssuer/);

  await Deno.writeTextFile(pki.caFile, ca);
  assert.deepEqual(await listPods(api, client), [200, "node-a"]);
});
