/**
 * Writes a kubeconfig that kubectl and client-node both load: one cluster (server URL and, for
 * HTTPS, the CA inline as `certificate-authority-data`; for plain HTTP
 * `insecure-skip-tls-verify: true`, without which client-node 1.4 refuses an http:// server),
 * one user (a bearer token, a client certificate inline, or nothing), one context, made current.
 * @module
 */

/** What goes into the kubeconfig. */
export interface KubeconfigInput {
  server: string;
  caCertPem?: string;
  token?: string;
  /** A client certificate and its key (PEM), as `client-certificate-data`/`client-key-data`. */
  clientCertPem?: string;
  clientKeyPem?: string;
  namespace?: string;
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The kubeconfig YAML text. Values are JSON-quoted, which YAML reads as plain strings. */
export function renderKubeconfig(input: KubeconfigInput): string {
  const q = JSON.stringify;
  const lines = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: kube-emulator",
    "  cluster:",
    `    server: ${q(input.server)}`,
  ];
  if (input.caCertPem) lines.push(`    certificate-authority-data: ${q(base64(input.caCertPem))}`);
  // client-node refuses an http:// server unless the cluster says insecure-skip-tls-verify.
  if (input.server.startsWith("http:")) lines.push("    insecure-skip-tls-verify: true");
  const certificate = input.clientCertPem && input.clientKeyPem;
  lines.push(
    "users:",
    "- name: kube-emulator",
    input.token || certificate ? "  user:" : "  user: {}",
  );
  if (input.token) lines.push(`    token: ${q(input.token)}`);
  if (certificate) {
    lines.push(
      `    client-certificate-data: ${q(base64(input.clientCertPem!))}`,
      `    client-key-data: ${q(base64(input.clientKeyPem!))}`,
    );
  }
  lines.push(
    "contexts:",
    "- name: kube-emulator",
    "  context:",
    "    cluster: kube-emulator",
    "    user: kube-emulator",
    `    namespace: ${q(input.namespace ?? "default")}`,
    "current-context: kube-emulator",
    "preferences: {}",
  );
  return lines.join("\n") + "\n";
}

/** Writes the kubeconfig atomically (write a sibling, then rename). */
export async function writeKubeconfig(path: string, input: KubeconfigInput): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, renderKubeconfig(input), { mode: 0o600 });
  await Deno.rename(tmp, path);
}
