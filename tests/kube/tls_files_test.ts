/**
 * The pieces that follow TLS files: when they are looked at (FileChanges, on a test clock),
 * what stat tells through a symlink, and which contents are refused as unusable.
 */
import assert from "node:assert/strict";
import {
  FileChanges,
  fileStamp,
  readTlsMaterial,
  tlsMaterialProblem,
} from "../../src/kube/tls_files.ts";
import { issueClientCertificate, testCertificates } from "../support/kube_emulator/tls.ts";

Deno.test("FileChanges: looks at most every interval, at once after lookSoon, and reports stamps that differ from those settled", () => {
  let now = 0;
  const stamps: Record<string, string> = { "/a": "a1", "/b": "b1" };
  const looked: string[] = [];
  const changes = new FileChanges(["/a", "/b", "/a"], {
    intervalMs: 5000,
    now: () => now,
    stamp: (path) => {
      looked.push(path);
      return stamps[path];
    },
  });
  assert.deepEqual(changes.paths, ["/a", "/b"], "one look per file");
  changes.settle(changes.look());
  looked.length = 0;

  now = 4999;
  stamps["/b"] = "b2";
  assert.equal(changes.poll(), undefined, "too soon: not looked at");
  assert.deepEqual(looked, []);
  now = 5000;
  assert.deepEqual(changes.poll(), ["a1", "b2"], "changed");
  // Not settled (say the read failed at first): reported again at the next look.
  now = 10_000;
  const again = changes.poll();
  assert.deepEqual(again, ["a1", "b2"]);
  changes.settle(again!);
  now = 15_000;
  assert.equal(changes.poll(), undefined, "settled: not reported again");

  now = 15_001;
  stamps["/a"] = "a2";
  assert.equal(changes.poll(), undefined, "within the interval");
  changes.lookSoon();
  assert.deepEqual(changes.poll(), ["a2", "b2"], "after lookSoon: at once");
  assert.equal(changes.poll(), undefined, "lookSoon counts once");

  const none = new FileChanges([], { intervalMs: 0, stamp: () => assert.fail("no files") });
  none.lookSoon();
  assert.equal(none.poll(), undefined);
});

Deno.test("fileStamp: follows a symlink, so re-pointing it changes the stamp; a missing file has a stamp too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-file-stamp-" });
  try {
    await Deno.writeTextFile(`${dir}/one.pem`, "same");
    await Deno.writeTextFile(`${dir}/two.pem`, "same");
    await Deno.symlink(`${dir}/one.pem`, `${dir}/current.pem`);
    const first = fileStamp(`${dir}/current.pem`);
    assert.equal(fileStamp(`${dir}/current.pem`), first, "unchanged");
    assert.equal(first, fileStamp(`${dir}/one.pem`), "the target's");
    await Deno.remove(`${dir}/current.pem`);
    await Deno.symlink(`${dir}/two.pem`, `${dir}/current.pem`);
    assert.notEqual(fileStamp(`${dir}/current.pem`), first, "same size, another file");
    await Deno.remove(`${dir}/two.pem`);
    assert.equal(fileStamp(`${dir}/current.pem`), "unreadable (NotFound)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tlsMaterialProblem: whole PEM is taken (certificate and key in one file too); cut, empty or mismatched is refused, naming the part", async () => {
  const pem = await testCertificates();
  const other = await issueClientCertificate("other");
  const combined = pem.clientCertPem + pem.clientKeyPem;
  const ok = [
    { ca: pem.caCertPem, cert: pem.clientCertPem, key: pem.clientKeyPem },
    { ca: pem.caCertPem, cert: combined, key: combined },
    { ca: `# a bundle\n${pem.caCertPem}${pem.serverCertPem}` },
    {},
  ];
  for (const material of ok) assert.equal(tlsMaterialProblem(material), undefined);

  const cut = (text: string, at: number) => text.slice(0, at);
  const refused: [Parameters<typeof tlsMaterialProblem>[0], string, RegExp][] = [
    [{ ca: "" }, "ca", /no PEM certificate/],
    [{ ca: cut(pem.caCertPem, 200) }, "ca", /cut short/],
    [{ ca: pem.caCertPem + cut(pem.serverCertPem, 100) }, "ca", /cut short/],
    [{ cert: cut(combined, pem.clientCertPem.length + 40), key: combined }, "cert", /cut short/],
    [{ cert: pem.clientCertPem, key: "" }, "key", /no PEM private key/],
    [{ cert: pem.clientCertPem, key: other.keyPem }, "key", /not the key of the client cert/],
    [
      { cert: pem.clientCertPem.replace("-----\nMII", "-----\nAAA"), key: pem.clientKeyPem },
      "cert",
      /does not parse/,
    ],
  ];
  for (const [material, part, problem] of refused) {
    const found = tlsMaterialProblem(material);
    assert.equal(found?.part, part, JSON.stringify(material).slice(0, 120));
    assert.match(found!.problem, problem);
  }
});

Deno.test("readTlsMaterial: reads files (a file wins over inline data) and names the file it cannot use", async () => {
  const pem = await testCertificates();
  const dir = await Deno.makeTempDir({ prefix: "kit-tls-material-" });
  try {
    const base64 = (text: string) => btoa(text);
    await Deno.writeTextFile(`${dir}/client.pem`, pem.clientCertPem + pem.clientKeyPem);
    const read = readTlsMaterial({
      ca: { data: base64(pem.caCertPem) },
      cert: { file: `${dir}/client.pem`, data: base64("ignored") },
      key: { file: `${dir}/client.pem` },
    });
    assert.equal(read.ca, pem.caCertPem);
    assert.equal(read.cert, pem.clientCertPem + pem.clientKeyPem);
    assert.throws(
      () => readTlsMaterial({ ca: { file: `${dir}/missing.crt` } }),
      new RegExp(`cannot read the CA file ${dir}/missing.crt: .*No such file`),
    );
    await Deno.writeTextFile(`${dir}/half.pem`, pem.clientCertPem.slice(0, 100));
    assert.throws(
      () =>
        readTlsMaterial({ cert: { file: `${dir}/half.pem` }, key: { file: `${dir}/client.pem` } }),
      new RegExp(`the client certificate file ${dir}/half.pem: a PEM block is cut short`),
    );
    assert.throws(
      () => readTlsMaterial({ key: { data: base64("nothing") } }),
      /the kubeconfig's client key: no PEM private key/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
