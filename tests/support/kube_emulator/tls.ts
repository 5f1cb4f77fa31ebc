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

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Makes `<name>.key` and `<name>.crt` in `dir`: a new key for `subject`, certified by the CA
 * there with the given extensions.
 */
async function signed(dir: string, name: string, subject: string, extensions: string[]) {
  await openssl([
    "req",
    ...EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ], dir);
  await Deno.writeTextFile(`${dir}/${name}.ext`, extensions.join("\n") + "\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "7",
    "-extfile",
    `${name}.ext`,
  ], dir);
}

async function generate(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "kube-emulator-ca-" });
  try {
    await openssl([
      "req",
      "-x509",
      ...EC_KEY,
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
    await signed(dir, "server", "/CN=kube-apiserver", [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc",
    ]);
    await signed(dir, "client", "/O=system:masters/CN=kubernetes-admin", [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=clientAuth",
    ]);
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

/** The process-wide test CA, server and client certificates (created on first use). */
export function testCertificates(): Promise<TestCertificates> {
  cached ??= generate().catch((error) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
