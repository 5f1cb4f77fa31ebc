/**
 * KubeClient over real HTTP (the emulator, and a rewriting proxy in front of it for answers the
 * emulator never gives): `stream` hands the body over while it arrives, with timeout, abort,
 * cancel and cut connections as TransportErrors; `request` reads whole but rejects answers it
 * cannot use (too large, not UTF-8, JSON that does not parse) instead of crashing.
 */
import assert from "node:assert/strict";
import {
  AnswerError,
  KubeClient,
  loadKubeConfig,
  type StreamedResponse,
  TransportError,
} from "../../src/kube/client.ts";
import { ConfigError } from "../../src/config.ts";
import { Metrics } from "../../src/metrics.ts";
import { type KubeEmulator, startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { parse, stringify } from "yaml";
import { clientFor, jsonResponse, memoryLogger, startProxy } from "./pods_support.ts";

const encoder = new TextEncoder();

/** An emulator, a proxy in front of it and a client through the proxy. */
async function setup() {
  const api = await startKubeEmulator();
  const proxy = startProxy(api.url);
  const { log, lines } = memoryLogger();
  const client = clientFor(api, log, { server: proxy.url });
  return {
    api,
    proxy,
    client,
    lines,
    async [Symbol.asyncDispose]() {
      client.close();
      await proxy.close();
      await api.close();
    },
  };
}

/** A body the test writes piece by piece; `next()` sends the next piece. */
function pacedBody(pieces: (string | Error)[]) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  let sent = 0;
  return {
    body,
    next() {
      const piece = pieces[sent++];
      if (piece instanceof Error) controller.error(piece);
      else controller.enqueue(encoder.encode(piece));
      if (sent === pieces.length && !(piece instanceof Error)) controller.close();
    },
  };
}

/** A proxy rule answering every request with `body` (JSON unless `type` says otherwise). */
function answer(body: BodyInit, type = "application/json", status = 200) {
  return {
    match: () => true,
    respond: () => new Response(body, { status, headers: { "Content-Type": type } }),
  };
}

/** Reads the next chunk of a body, failing after `ms`. */
async function nextChunk(reader: AsyncIterator<Uint8Array>, ms = 5000): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no chunk within ${ms} ms`)), ms);
  });
  try {
    const { value, done } = await Promise.race([reader.next(), late]);
    assert.equal(done, false, "a chunk, not the end");
    return new TextDecoder().decode(value);
  } finally {
    clearTimeout(timer);
  }
}

async function drain(response: StreamedResponse): Promise<string> {
  let text = "";
  for await (const chunk of response.body) text += new TextDecoder().decode(chunk);
  return text;
}

/** Client settings for `kubeconfig`, with limits no test here reaches. */
function settingsFor(kubeconfig: string) {
  return { kubeconfig, kubeApiQps: 50, kubeApiBurst: 100, kubeApiTimeoutSeconds: 5 };
}

/** A copy of the emulator's kubeconfig as `edit` makes it, beside it; removed when disposed. */
async function editedKubeconfig(
  api: KubeEmulator,
  name: string,
  edit: (text: string) => string,
): Promise<{ path: string } & AsyncDisposable> {
  const path = `${api.kubeconfigPath}.${name}`;
  await Deno.writeTextFile(path, edit(await Deno.readTextFile(api.kubeconfigPath)));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path) };
}

/** 300 pods in namespace ns: a list answer of several chunks. */
function addListPods(api: KubeEmulator): void {
  api.addPods(Array.from({ length: 300 }, (_, i) => ({
    namespace: "ns",
    name: `pod-${i}`,
    podIPs: [`10.3.${i >> 8}.${i & 255}`],
  })));
}

/** POSTs an Event named `name` on pod-0 (a request with a body, read whole). */
function createEvent(client: KubeClient, name: string) {
  return client.request("POST", "/api/v1/namespaces/ns/events", {
    body: {
      metadata: { name },
      involvedObject: { kind: "Pod", namespace: "ns", name: "pod-0" },
      reason: "PacketDrop",
      message: "m",
      type: "Warning",
    },
  });
}

Deno.test("client.stream: the body is handed over while it arrives, before the answer is complete", async () => {
  await using s = await setup();
  const paced = pacedBody(['{"items":[{"a":1}', ',{"b":2}]}']);
  s.proxy.rules.push(answer(paced.body));
  paced.next();
  const response = await s.client.stream("GET", "/api/v1/pods", { query: { limit: 5 } });
  assert.equal(response.status, 200);
  assert.match(String(response.headers["content-type"]), /json/);
  const reader = response.body[Symbol.asyncIterator]();
  assert.equal(await nextChunk(reader), '{"items":[{"a":1}', "the first piece, the rest unsent");
  paced.next();
  assert.equal(await nextChunk(reader), ',{"b":2}]}');
  assert.deepEqual(await reader.next(), { value: undefined, done: true });
});

Deno.test("client.stream: fetch reads every chunk into one buffer, so a chunk kept is emptied by the next read; request copies what it keeps", async () => {
  await using s = await setup();
  const paced = pacedBody(['{"items":[{"a":1}', ',{"b":2}]}']);
  s.proxy.rules.push(answer(paced.body));
  paced.next();
  const response = await s.client.stream("GET", "/api/v1/pods");
  assert.equal(s.client.transport, "fetch");
  const reader = response.body[Symbol.asyncIterator]();
  const first = (await reader.next()).value as Uint8Array;
  assert.equal(new TextDecoder().decode(first), '{"items":[{"a":1}');
  paced.next();
  assert.equal(await nextChunk(reader), ',{"b":2}]}');
  assert.equal(first.byteLength, 0, "the first chunk's buffer went back to the stream");
  assert.deepEqual(await reader.next(), { value: undefined, done: true });
  s.proxy.rules.length = 0;

  // An answer of many chunks (300 pods, ~400 kB), read whole: every chunk's bytes are kept.
  addListPods(s.api);
  const list = await s.client.request("GET", "/api/v1/pods");
  assert.deepEqual(
    list.body.items.map((pod: { metadata: { name: string } }) => pod.metadata.name).sort(),
    Array.from({ length: 300 }, (_, i) => `pod-${i}`).sort(),
  );
});

Deno.test("client.stream: the timeout covers the body; abort and cancel end it; a cut answer is a TransportError", async () => {
  await using s = await setup();
  const stalled = () => {
    const paced = pacedBody(['{"items":[', "never"]);
    paced.next();
    return new Response(paced.body, { headers: { "Content-Type": "application/json" } });
  };
  // Timeout: the headers and a first piece arrive in time, the rest never does.
  s.proxy.rules.push({ match: () => true, respond: stalled });
  const slow = await s.client.stream("GET", "/api/v1/pods", { timeoutMs: 300 });
  const started = performance.now();
  await assert.rejects(drain(slow), (error) => {
    assert.ok(error instanceof TransportError);
    assert.equal(error.timeout, true);
    assert.match(error.message, /timed out after 300 ms/);
    return true;
  });
  assert.ok(performance.now() - started < 5000);

  // Abort while the body is being read.
  s.proxy.rules.push({ match: () => true, respond: stalled });
  const controller = new AbortController();
  const aborted = await s.client.stream("GET", "/api/v1/pods", { signal: controller.signal });
  const reading = drain(aborted);
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(reading, (error) => {
    assert.ok(error instanceof TransportError);
    assert.equal(error.message, "aborted");
    return true;
  });

  // Aborted before it starts: no request at all.
  const before = s.api.requests.length;
  await assert.rejects(
    s.client.stream("GET", "/version", { signal: AbortSignal.abort() }),
    TransportError,
  );
  assert.equal(s.api.requests.length, before);

  // Cancel: the reader gets a TransportError, not a hang.
  s.proxy.rules.push({ match: () => true, respond: stalled });
  const cancelled = await s.client.stream("GET", "/api/v1/pods");
  cancelled.cancel();
  await assert.rejects(drain(cancelled), /cancelled/);

  // The server cuts the answer halfway.
  const cut = pacedBody(['{"items":[{"a":1},', new Error("upstream reset")]);
  s.proxy.rules.push(answer(cut.body));
  const response = await s.client.stream("GET", "/api/v1/pods");
  cut.next();
  cut.next();
  await assert.rejects(drain(response), TransportError);

  // And the client still works.
  assert.equal((await s.client.request("GET", "/version")).status, 200);
});

Deno.test("client.request: answers it cannot use reject with AnswerError (size, UTF-8, JSON), others are read as before", async () => {
  await using s = await setup();
  s.proxy.rules.push(answer('{"kind":"PodList","items":[{'));
  await assert.rejects(s.client.request("GET", "/api/v1/pods"), (error) => {
    assert.ok(error instanceof AnswerError);
    assert.equal(error.status, 200);
    assert.match(error.message, /HTTP 200 JSON answer does not parse .*: \{"kind":"PodList"/);
    return true;
  });

  s.proxy.rules.push(answer(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])));
  await assert.rejects(s.client.request("GET", "/api/v1/pods"), /JSON answer is not UTF-8/);

  // Over the cap: rejected without reading the rest (the rest is never sent).
  const big = pacedBody(["[" + "1,".repeat(10_000), "never"]);
  big.next();
  s.proxy.rules.push(answer(big.body, "application/json", 503));
  await assert.rejects(
    s.client.request("GET", "/api/v1/pods", { maxBodyBytes: 1000 }),
    (error) => {
      assert.ok(error instanceof AnswerError);
      assert.equal(error.status, 503);
      assert.match(error.message, /HTTP 503 answer larger than 1000 bytes/);
      return true;
    },
  );

  // Not JSON: text, as before; an empty JSON body is "".
  s.proxy.rules.push(answer("<html>bad gateway</html>", "text/html", 502));
  assert.deepEqual(
    { ...(await s.client.request("GET", "/api/v1/pods")), headers: undefined },
    { status: 502, body: "<html>bad gateway</html>", headers: undefined },
  );
  s.proxy.rules.push(answer(""));
  assert.equal((await s.client.request("GET", "/api/v1/pods")).body, "");
  s.proxy.rules.push({ match: () => true, respond: () => jsonResponse({ ok: "ü€" }) });
  assert.deepEqual((await s.client.request("GET", "/api/v1/pods")).body, { ok: "ü€" });
});

Deno.test("client.stream: requests are counted; a 401 makes the client read its credentials again", async () => {
  await using api = await startKubeEmulator({ token: "first" });
  const { log, lines } = memoryLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const settings = settingsFor(api.kubeconfigPath);
  using client = new KubeClient(loadKubeConfig(settings, {}), settings, log, metrics);
  const ok = await client.stream("GET", "/api/v1/pods");
  assert.equal(ok.status, 200);
  assert.match(await drain(ok), /"kind":"PodList"/);
  await api.setToken("second");
  const refused = await client.request("GET", "/api/v1/pods");
  assert.equal(refused.status, 401);
  assert.equal(refused.body.reason, "Unauthorized");
  assert.ok(lines.some((l) => l.includes("refused our credentials (401)")));
  const counted = (await metrics.apiRequests.get()).values.map((v) => [v.labels.code, v.value]);
  assert.deepEqual(counted.sort(), [["2xx", 1], ["4xx", 1]]);
});

Deno.test("client: a client certificate (mutual TLS, as kubeadm's admin.conf) goes through fetch, which streams", async () => {
  await using api = await startKubeEmulator({ clientCertificates: true });
  addListPods(api);
  const settings = settingsFor(api.kubeconfigPath);
  {
    using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
    const response = await client.stream("GET", "/api/v1/pods", { query: { limit: 1000 } });
    assert.equal(client.transport, "fetch");
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(await drain(response)).items.length, 300);
    const created = await createEvent(client, "e-mtls");
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  // Without the certificate the connection is not authenticated: the same requests are refused,
  // which shows that the certificate, not something else, was what the emulator accepted.
  await using anonymous = await editedKubeconfig(
    api,
    "anonymous",
    (text) =>
      text.replace(/^ {4}client-(certificate|key)-data: .*\n/gm, "").replace(
        "  user:\n",
        "  user: {}\n",
      ),
  );
  const bare = { ...settings, kubeconfig: anonymous.path };
  using client = new KubeClient(loadKubeConfig(bare, {}), bare, memoryLogger().log);
  const refused = await client.request("GET", "/api/v1/pods");
  assert.equal(client.transport, "fetch");
  assert.equal(refused.status, 401);
});

Deno.test("client: fetch where TLS settings allow (the cluster's CA), node:http where they do not (skip verification); both stream", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  addListPods(api);
  assert.match(await Deno.readTextFile(api.kubeconfigPath), /certificate-authority-data: /);
  await using insecure = await editedKubeconfig(
    api,
    "insecure",
    (text) => text.replace(/certificate-authority-data: .*/, "insecure-skip-tls-verify: true"),
  );
  for (
    const [kubeconfig, transport] of [[api.kubeconfigPath, "fetch"], [insecure.path, "node:http"]]
  ) {
    const settings = settingsFor(kubeconfig);
    using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
    assert.equal(client.transport, undefined, "chosen at the first request");
    const response = await client.stream("GET", "/api/v1/pods", { query: { limit: 1000 } });
    assert.equal(client.transport, transport);
    assert.equal(response.status, 200);
    let chunks = 0;
    let text = "";
    for await (const chunk of response.body) {
      chunks++;
      text += new TextDecoder().decode(chunk);
    }
    assert.equal(JSON.parse(text).items.length, 300, `${transport}: the whole list`);
    assert.ok(chunks >= 1);
    // A POST with a body, read whole, and a refusal with its Status.
    const created = await createEvent(client, `e-${transport.replace(":", "-")}`);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const missing = await client.request("GET", "/api/v1/namespaces/ns/events/none");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.reason, "NotFound");
  }
});

Deno.test("client: a token file ending in a newline (kubectl create token > file) works over node:http too", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  const dir = await Deno.makeTempDir({ prefix: "kit-client-token-file-" });
  try {
    await Deno.writeTextFile(`${dir}/token`, "t\n");
    const kubeconfig = `${dir}/kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      (await Deno.readTextFile(api.kubeconfigPath))
        .replace(/certificate-authority-data: .*/, "insecure-skip-tls-verify: true")
        .replace(/^( +)token: .*/m, `$1tokenFile: ${JSON.stringify(`${dir}/token`)}`),
    );
    const settings = settingsFor(kubeconfig);
    using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
    const answer = await client.request("GET", "/api/v1/pods");
    assert.equal(client.transport, "node:http");
    assert.equal(answer.status, 200);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client: a kubeconfig's relative token file is read from the kubeconfig's directory, as kubectl does", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  const dir = await Deno.makeTempDir({ prefix: "kit-client-relative-token-" });
  try {
    await Deno.mkdir(`${dir}/creds`);
    await Deno.writeTextFile(`${dir}/creds/token`, "t\n");
    const text = await Deno.readTextFile(api.kubeconfigPath);
    // The working directory is not the kubeconfig's: the path is the kubeconfig's to resolve.
    for (const value of ["creds/token", '"creds/token"', "'creds/token'  # rotated"]) {
      const kubeconfig = `${dir}/kubeconfig`;
      await Deno.writeTextFile(
        kubeconfig,
        text.replace(/^( +)token: .*/m, `$1tokenFile: ${value}`),
      );
      const settings = settingsFor(kubeconfig);
      using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
      const answer = await client.request("GET", "/api/v1/pods");
      assert.equal(answer.status, 200, value);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client: a kubeconfig's token file is read again (every minute; here 50 ms), so a rotated token is in use before the old one is refused; a failed read keeps it", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "token-1" });
  const dir = await Deno.makeTempDir({ prefix: "kit-client-token-reread-" });
  try {
    const token = `${dir}/token`;
    await Deno.writeTextFile(token, "token-1\n");
    const kubeconfig = `${dir}/kubeconfig`;
    // Flow style: the user is one line, as a generated kubeconfig may write it.
    await Deno.writeTextFile(
      kubeconfig,
      (await Deno.readTextFile(api.kubeconfigPath))
        .replace(/^( +)user:\n +token: .*/m, `$1user: {tokenFile: ${JSON.stringify(token)}}`),
    );
    assert.match(await Deno.readTextFile(kubeconfig), /user: \{tokenFile: /);
    const settings = { ...settingsFor(kubeconfig), tokenFileRereadMs: 50 };
    const { log, lines } = memoryLogger();
    using client = new KubeClient(loadKubeConfig(settings, {}), settings, log);
    assert.equal((await client.request("GET", "/api/v1/pods")).status, 200);
    // kubelet rotates the file; the server goes on taking the old token for a while.
    await Deno.writeTextFile(`${token}.new`, "token-2\n");
    await Deno.rename(`${token}.new`, token);
    await sleep(1100); // past the re-read interval and the headers' one-second cache
    await api.setToken("token-2");
    assert.equal((await client.request("GET", "/api/v1/pods")).status, 200);
    // The file caught missing: the token in hand goes on, told once.
    await Deno.remove(token);
    for (let i = 0; i < 2; i++) {
      await sleep(1100);
      assert.equal((await client.request("GET", "/api/v1/pods")).status, 200);
    }
    assert.deepEqual(api.requests.filter((r) => r.status === 401), [], "no request refused");
    const stale = lines.filter((line) => line.includes("cannot read the token file again"));
    assert.equal(stale.length, 1, lines.join("\n"));
    assert.ok(stale[0].includes(token), stale[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKubeConfig: a token file that cannot be read fails at start naming it, unless a token beside it can serve; a readable one wins over that token", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  const dir = await Deno.makeTempDir({ prefix: "kit-client-token-missing-" });
  try {
    const text = await Deno.readTextFile(api.kubeconfigPath);
    const kubeconfig = `${dir}/kubeconfig`;
    const missing = `${dir}/missing`;
    await Deno.writeTextFile(
      kubeconfig,
      text.replace(/^( +)token: .*/m, `$1tokenFile: ${JSON.stringify(missing)}`),
    );
    assert.throws(
      () => loadKubeConfig(settingsFor(kubeconfig), {}),
      (error: Error) =>
        error instanceof ConfigError && error.message.includes(kubeconfig) &&
        error.message.includes(`cannot read the token file ${JSON.stringify(missing)}`),
    );
    // A token beside the missing file serves (client-go reads the file only when there is none).
    await Deno.writeTextFile(
      kubeconfig,
      text.replace(/^( +)(token: .*)/m, `$1$2\n$1tokenFile: ${JSON.stringify(missing)}`),
    );
    const settings = settingsFor(kubeconfig);
    {
      using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
      assert.equal((await client.request("GET", "/api/v1/pods")).status, 200);
    }
    // A readable file wins over the token beside it (client-go: the file's token, once read).
    await Deno.writeTextFile(missing, "t");
    await Deno.writeTextFile(
      kubeconfig,
      text.replace(/^( +)token: .*/m, `$1token: stale\n$1tokenFile: ${JSON.stringify(missing)}`),
    );
    using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
    assert.equal((await client.request("GET", "/api/v1/pods")).status, 200);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKubeConfig: a user with an exec credential plugin (EKS, GKE) is a ConfigError at start naming the command", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  await using kubeconfig = await editedKubeconfig(api, "exec", (text) =>
    text.replace(
      /^( +)token: .*/m,
      "$1exec:\n$1  apiVersion: client.authentication.k8s.io/v1beta1\n$1  command: aws\n" +
        "$1  args: [eks, get-token, --cluster-name, c]",
    ));
  assert.throws(
    () => loadKubeConfig(settingsFor(kubeconfig.path), {}),
    (error: Error) =>
      error instanceof ConfigError &&
      /user "kube-emulator".* exec plugin \("aws"\)/.test(error.message),
  );
});

Deno.test("loadKubeConfig: a context naming a user the kubeconfig does not define is a ConfigError naming both", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  await using typo = await editedKubeconfig(
    api,
    "typo",
    (text) => text.replace(/^ {4}user: kube-emulator/m, "    user: nobody"),
  );
  assert.throws(
    () => loadKubeConfig(settingsFor(typo.path), {}),
    (error: Error) =>
      error instanceof ConfigError &&
      /context "kube-emulator" names user "nobody", which it does not define/.test(error.message),
  );
  // A context naming no user at all is anonymous (a server behind `kubectl proxy`): it loads.
  await using userless = await editedKubeconfig(
    api,
    "userless",
    (text) => text.replace(/^ {4}user: kube-emulator\n/m, ""),
  );
  const kc = loadKubeConfig(settingsFor(userless.path), {});
  assert.equal(kc.getCurrentUser(), null);
});

/** A temporary directory, removed with what it holds when disposed. */
async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The parts of the emulator's kubeconfig: its one cluster, user and context entries. */
async function kubeconfigParts(api: KubeEmulator) {
  const { clusters: [cluster], users: [user], contexts: [context] } = parse(
    await Deno.readTextFile(api.kubeconfigPath),
  );
  return { cluster, user, context };
}

/** Writes a kubeconfig holding `content` (clusters, users, contexts, current-context) at `path`. */
async function writeKubeconfigAt(path: string, content: Record<string, unknown>): Promise<string> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, stringify({ apiVersion: "v1", kind: "Config", ...content }));
  return path;
}

Deno.test("loadKubeConfig: a ':'-separated list is merged as kubectl merges KUBECONFIG: entries from every file, the first current-context and the first cluster and user of a name win", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  await using dir = await tempDir("kit-client-kubeconfig-list-");
  const { cluster, user, context } = await kubeconfigParts(api);
  // The emulator's kubeconfig cut in three: the request below needs all of them.
  const contexts = await writeKubeconfigAt(`${dir.path}/contexts`, {
    contexts: [context],
    "current-context": context.name,
  });
  const clusters = await writeKubeconfigAt(`${dir.path}/clusters`, { clusters: [cluster] });
  const users = await writeKubeconfigAt(`${dir.path}/users`, { users: [user] });
  // The same names with other values: a closed loopback port, a wrong token and a login (were
  // the two users' fields mixed, the login's Basic header would replace the token), another
  // current context.
  const decoy = await writeKubeconfigAt(`${dir.path}/decoy`, {
    clusters: [{ name: cluster.name, cluster: { server: "https://127.0.0.1:9" } }],
    users: [{ name: user.name, user: { token: "wrong", username: "admin", password: "p" } }],
    contexts: [{ name: "decoy", context: { cluster: cluster.name, user: user.name } }],
    "current-context": "decoy",
  });

  const settings = settingsFor([contexts, clusters, users, decoy].join(":"));
  const kc = loadKubeConfig(settings, {});
  assert.equal(kc.currentContext, context.name);
  assert.deepEqual(kc.contexts.map((c) => c.name), [context.name, "decoy"]);
  assert.equal(kc.getCurrentCluster()?.server, cluster.cluster.server);
  assert.equal(kc.getCurrentUser()?.token, "t");
  assert.equal(kc.getCurrentUser()?.username, undefined, "the first user is kept whole");
  using client = new KubeClient(kc, settings, memoryLogger().log);
  const answer = await client.request("GET", "/api/v1/pods");
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(client.transport, "fetch", "with the CA of the clusters file");

  // The order decides: the decoy first, its current context, cluster and user win.
  const reversed = loadKubeConfig(settingsFor([decoy, contexts, clusters, users].join(":")), {});
  assert.equal(reversed.currentContext, "decoy");
  assert.equal(reversed.getCurrentCluster()?.server, "https://127.0.0.1:9");
  assert.equal(reversed.getCurrentUser()?.token, "wrong");
});

Deno.test("loadKubeConfig: in a kubeconfig list, missing files and empty entries are skipped; an error names the file", async () => {
  await using api = await startKubeEmulator({ tls: true, token: "t" });
  await using dir = await tempDir("kit-client-kubeconfig-missing-");
  const missing = `${dir.path}/missing`;
  const empty = `${dir.path}/empty`;
  await Deno.writeTextFile(empty, "# filled in later\n");
  const settings = settingsFor(`:${missing}::${empty}:${api.kubeconfigPath}:`);
  using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
  assert.equal((await client.request("GET", "/api/v1/pods")).status, 200);

  const refused = (value: string, message: RegExp) =>
    assert.throws(
      () => loadKubeConfig(settingsFor(value), {}),
      (error: Error) => error instanceof ConfigError && message.test(error.message),
      value,
    );
  const quoted = (path: string) => JSON.stringify(path).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // One path names a file that must be there (as kubectl's --kubeconfig).
  refused(missing, new RegExp(`from kubeconfig ${quoted(missing)}: No such file`));
  refused(
    `${missing}:${dir.path}/gone`,
    new RegExp(
      `none of the kubeconfig files exists \\(${quoted(missing)}, ${quoted(`${dir.path}/gone`)}\\)`,
    ),
  );
  refused("::", /the kubeconfig list "::" names no file/);
  // A file that is there but unusable is an error even after a good one (as in client-go).
  const broken = `${dir.path}/broken`;
  await Deno.writeTextFile(broken, "clusters:\n- name: c\n");
  refused(
    `${api.kubeconfigPath}:${broken}`,
    new RegExp(`from kubeconfig ${quoted(broken)}: clusters\\[0\\]\\.cluster is missing`),
  );
  refused(`${dir.path}:${api.kubeconfigPath}`, new RegExp(`from kubeconfig ${quoted(dir.path)}: `));

  // What is wrong only once merged names the file it comes from.
  const { cluster, user, context } = await kubeconfigParts(api);
  const clusters = await writeKubeconfigAt(`${dir.path}/clusters`, { clusters: [cluster] });
  const users = await writeKubeconfigAt(`${dir.path}/users`, { users: [user] });
  const typo = await writeKubeconfigAt(`${dir.path}/typo`, {
    contexts: [{ ...context, context: { ...context.context, user: "nobody" } }],
    "current-context": context.name,
  });
  refused(
    `${clusters}:${typo}:${users}`,
    new RegExp(`^the kubeconfig ${quoted(typo)}: context "${context.name}" names user "nobody"`),
  );
  const contexts = await writeKubeconfigAt(`${dir.path}/contexts`, {
    contexts: [context],
    "current-context": context.name,
  });
  const exec = await writeKubeconfigAt(`${dir.path}/exec`, {
    users: [{ name: user.name, user: { exec: { apiVersion: "v1", command: "aws" } } }],
  });
  refused(
    `${contexts}:${exec}:${clusters}:${users}`,
    new RegExp(`^the kubeconfig ${quoted(exec)}: user "${user.name}" .*exec plugin \\("aws"\\)`),
  );
  refused(
    `${clusters}:${users}`,
    new RegExp(`^the kubeconfig ${quoted(`${clusters}:${users}`)} has no current cluster`),
  );
});

Deno.test("loadKubeConfig: in a kubeconfig list, each file's relative paths (CA, client certificate and key, token file) are its own directory's", async () => {
  for (const credentials of ["token", "certificate"] as const) {
    await using api = await startKubeEmulator(
      credentials === "token" ? { tls: true, token: "t" } : { clientCertificates: true },
    );
    await using dir = await tempDir("kit-client-kubeconfig-relative-");
    const { cluster, user, context } = await kubeconfigParts(api);
    const pem = (data: string) => new TextEncoder().encode(atob(data));
    // Three directories, none the working directory nor the first file's.
    const contexts = await writeKubeconfigAt(`${dir.path}/c/kubeconfig`, {
      contexts: [context],
      "current-context": context.name,
    });
    await Deno.mkdir(`${dir.path}/a/pki`, { recursive: true });
    await Deno.writeFile(
      `${dir.path}/a/pki/ca.crt`,
      pem(cluster.cluster["certificate-authority-data"]),
    );
    const clusters = await writeKubeconfigAt(`${dir.path}/a/kubeconfig`, {
      clusters: [{
        name: cluster.name,
        cluster: { server: cluster.cluster.server, "certificate-authority": "pki/ca.crt" },
      }],
    });
    await Deno.mkdir(`${dir.path}/b/creds`, { recursive: true });
    let fields: Record<string, string>;
    if (credentials === "token") {
      await Deno.writeTextFile(`${dir.path}/b/creds/token`, "t\n");
      fields = { tokenFile: "creds/token" };
    } else {
      await Deno.writeFile(
        `${dir.path}/b/creds/client.crt`,
        pem(user.user["client-certificate-data"]),
      );
      await Deno.writeFile(`${dir.path}/b/creds/client.key`, pem(user.user["client-key-data"]));
      fields = { "client-certificate": "creds/client.crt", "client-key": "creds/client.key" };
    }
    const users = await writeKubeconfigAt(`${dir.path}/b/kubeconfig`, {
      users: [{ name: user.name, user: fields }],
    });
    const settings = settingsFor([contexts, clusters, users].join(":"));
    using client = new KubeClient(loadKubeConfig(settings, {}), settings, memoryLogger().log);
    const answer = await client.request("GET", "/api/v1/pods");
    assert.equal(answer.status, 200, `${credentials}: ${JSON.stringify(answer.body)}`);
  }
});
