/**
 * A throw-away certificate authority, a server certificate for 127.0.0.1, ::1 and localhost, and
 * a client certificate for the user `kubernetes-admin` (group `system:masters`, as in kubeadm's
 * admin.conf), made with the `openssl` command line. Generated once per process and reused.
 * @module
 */

/** PEM-encoded material for a TLS server and its clients. */
export interface TestCertificates {
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

let cached: Promise<TestCertificates> | undefined;

async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`openssl ${args[0]} failed (${code}): ${new TextDecoder().decode(stderr)}`);
  }
}

async function generate(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "kube-emulator-ca-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "7",
      "-subj",
      "/CN=kube-emulator-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ], dir);
    await openssl([
      "req",
      ...ec,
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=kube-apiserver",
    ], dir);
    await Deno.writeTextFile(
      `${dir}/server.ext`,
      [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc",
      ].join("\n") + "\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "7",
      "-extfile",
      "server.ext",
    ], dir);
    await openssl([
      "req",
      ...ec,
      "-keyout",
      "client.key",
      "-out",
      "client.csr",
      "-subj",
      "/O=system:masters/CN=kubernetes-admin",
    ], dir);
    await Deno.writeTextFile(
      `${dir}/client.ext`,
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      "client.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "client.crt",
      "-days",
      "7",
      "-extfile",
      "client.ext",
    ], dir);
    return {
      caCertPem: await Deno.readTextFile(`${dir}/ca.crt`),
      serverCertPem: await Deno.readTextFile(`${dir}/server.crt`),
      serverKeyPem: await Deno.readTextFile(`${dir}/server.key`),
      clientCertPem: await Deno.readTextFile(`${dir}/client.crt`),
      clientKeyPem: await Deno.readTextFile(`${dir}/client.key`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The process-wide test CA and server certificate (created on first use). */
export function testCertificates(): Promise<TestCertificates> {
  cached ??= generate().catch((error) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
