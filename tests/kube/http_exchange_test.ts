/**
 * Which exchange a kubeconfig's TLS settings get: `fetch` wherever it can say them (it streams
 * a large answer chunk by chunk), `node:https` for the rest.
 */
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import { Buffer } from "node:buffer";
import { exchangeFor, FetchExchange, TransportError } from "../../src/kube/http_exchange.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { testCertificates } from "../support/kube_emulator/tls.ts";

Deno.test("exchangeFor: fetch for a CA and a PEM client certificate, node:https for what fetch cannot say", async () => {
  const pem = await testCertificates();
  // client-node reads certificate files into Buffers.
  const bytes = (text: string) => Buffer.from(text);
  const server = "https://127.0.0.1:6443";
  const cases: [string, http.Agent | undefined, string][] = [
    ["no agent", undefined, "fetch"],
    ["the cluster's CA", new https.Agent({ ca: pem.caCertPem }), "fetch"],
    [
      "CA and client certificate as text",
      new https.Agent({ ca: pem.caCertPem, cert: pem.clientCertPem, key: pem.clientKeyPem }),
      "fetch",
    ],
    [
      "CA and client certificate as bytes",
      new https.Agent({
        ca: bytes(pem.caCertPem),
        cert: bytes(pem.clientCertPem),
        key: bytes(pem.clientKeyPem),
      }),
      "fetch",
    ],
    ["a certificate without its key", new https.Agent({ cert: pem.clientCertPem }), "node:http"],
    [
      "an encrypted key",
      new https.Agent({ cert: pem.clientCertPem, key: pem.clientKeyPem, passphrase: "x" }),
      "node:http",
    ],
    ["a PKCS#12 bundle", new https.Agent({ pfx: bytes("not read here") }), "node:http"],
    [
      "keys given as a list",
      new https.Agent({ cert: pem.clientCertPem, key: [pem.clientKeyPem] }),
      "node:http",
    ],
    ["skipping verification", new https.Agent({ rejectUnauthorized: false }), "node:http"],
    ["a TLS server name", new https.Agent({ servername: "kubernetes" }), "node:http"],
    ["another kind of agent", new (class extends https.Agent {})(), "node:http"],
  ];
  for (const [what, agent, expected] of cases) {
    using exchange = exchangeFor(server, agent);
    assert.equal(exchange.name, expected, what);
  }
  using plain = exchangeFor("http://127.0.0.1:8080", new https.Agent({ pfx: bytes("x") }));
  assert.equal(plain.name, "fetch", "plain HTTP has no TLS settings to honour");
});

Deno.test('FetchExchange: a failed connection says why (fetch itself says only "fetch failed")', async () => {
  await using api = await startKubeEmulator({ tls: true });
  const pem = await testCertificates();
  // Trusting a certificate that did not sign the server's.
  using exchange = new FetchExchange(Deno.createHttpClient({ caCerts: [pem.clientCertPem] }));
  await assert.rejects(
    exchange.request("GET", new URL(`${api.url}/version`), { headers: {}, timeoutMs: 5000 }),
    (error) => {
      assert.ok(error instanceof TransportError);
      assert.match(error.message, /invalid peer certificate: UnknownIssuer/);
      return true;
    },
  );
});
