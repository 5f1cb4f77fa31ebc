/**
 * A throw-away certificate authority, a server certificate for 127.0.0.1, ::1 and localhost, and
 * a client certificate for the user `kubernetes-admin` (group `system:masters`, as in kubeadm's
 * admin.conf), made with the `openssl` command line. Generated once per process and reused.
 * {@link issueClientCertificate} makes more client certificates of that CA (a rotated one, an
 * expired one).
 * @module
 */

/** PEM-encoded material for a TLS server and its clients. */
export interface TestCertificates {
  caCertPem: string;
  /** The CA's key, to sign more certificates ({@link issueClientCertificate}). */
  caKeyPem: string;
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

/** `openssl ca` settings: any subject, kept as asked; no record of what was issued. */
const CA_CONFIG = `[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_subject
unique_subject = no
[any_subject]
commonName = supplied
organizationName = optional
`;

/** When a certificate is valid: for 7 days from now, or between two times. */
type Validity = { days: number } | { notBefore: Date; notAfter: Date };

/** A time as `openssl ca` takes it: YYYYMMDDHHMMSSZ. */
function opensslTime(time: Date): string {
  return time.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * Makes `<name>.key` and `<name>.crt` in `dir`: a new key for `subject`, certified by the CA
 * there (`ca.crt`, `ca.key`) with the given extensions. `openssl ca` rather than `x509 -req`:
 * only it can date a certificate in the past (an expired one).
 */
async function signed(
  dir: string,
  name: string,
  subject: string,
  extensions: string[],
  validity: Validity = { days: 7 },
) {
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
  await Deno.writeTextFile(`${dir}/ca.cnf`, CA_CONFIG);
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // a positive number
  await Deno.writeTextFile(
    `${dir}/serial`,
    Array.from(serial, (b) => b.toString(16).padStart(2, "0")).join("") + "\n",
  );
  const dates = "days" in validity
    ? ["-days", String(validity.days)]
    : ["-startdate", opensslTime(validity.notBefore), "-enddate", opensslTime(validity.notAfter)];
  await openssl([
    "ca",
    "-batch",
    "-notext",
    "-preserveDN",
    "-config",
    "ca.cnf",
    "-cert",
    "ca.crt",
    "-keyfile",
    "ca.key",
    "-in",
    `${name}.csr`,
    "-out",
    `${name}.crt`,
    "-extfile",
    `${name}.ext`,
    ...dates,
  ], dir);
}

const CLIENT_EXTENSIONS = [
  "basicConstraints=CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=clientAuth",
];

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
    await signed(dir, "client", "/O=system:masters/CN=kubernetes-admin", CLIENT_EXTENSIONS);
    return {
      caCertPem: await Deno.readTextFile(`${dir}/ca.crt`),
      caKeyPem: await Deno.readTextFile(`${dir}/ca.key`),
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

/**
 * A new client certificate of the test CA for the user `commonName` (group `system:masters`)
 * and its key, valid for 7 days from now or, `expired`, for a day that ended a day ago.
 */
export async function issueClientCertificate(
  commonName: string,
  options: { expired?: boolean } = {},
): Promise<{ certPem: string; keyPem: string }> {
  const ca = await testCertificates();
  const dir = await Deno.makeTempDir({ prefix: "kube-emulator-client-" });
  try {
    await Deno.writeTextFile(`${dir}/ca.crt`, ca.caCertPem);
    await Deno.writeTextFile(`${dir}/ca.key`, ca.caKeyPem);
    const day = 86_400_000;
    const validity = options.expired
      ? { notBefore: new Date(Date.now() - 2 * day), notAfter: new Date(Date.now() - day) }
      : undefined;
    await signed(
      dir,
      "client",
      `/O=system:masters/CN=${commonName}`,
      CLIENT_EXTENSIONS,
      validity,
    );
    return {
      certPem: await Deno.readTextFile(`${dir}/client.crt`),
      keyPem: await Deno.readTextFile(`${dir}/client.key`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
