/**
 * Continue tokens as kube-apiserver's etcd3 storage makes them: base64url (unpadded) JSON
 * `{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<next key>\u0000"}` where the key is relative
 * to the list's prefix. `rv: -1` means "continue at the latest revision" (handed out after a
 * token expired). Clients must treat them as opaque.
 * @module
 */

/** A decoded continue token. */
export interface ContinueToken {
  /** The revision of the first page, or -1 for "latest". */
  rv: number;
  /** Where the next page starts, relative to the list prefix (inclusive lower bound). */
  start: string;
}

/** Encodes a token. */
export function encodeContinue(token: ContinueToken): string {
  const json = JSON.stringify({ v: "meta.k8s.io/v1", rv: token.rv, start: token.start });
  const bytes = new TextEncoder().encode(json);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes a token; the error text is what follows "continue key is not valid: ". */
export function decodeContinue(text: string): ContinueToken {
  let json: string;
  try {
    const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    json = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)),
    );
  } catch {
    throw new Error("continue key is not valid: illegal base64 data");
  }
  let parsed: { v?: unknown; rv?: unknown; start?: unknown };
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(`continue key is not valid: ${(error as Error).message}`);
  }
  if (parsed.v !== "meta.k8s.io/v1") {
    throw new Error("continue key is not valid: server does not recognize this encoded version");
  }
  if (typeof parsed.rv !== "number" || parsed.rv === 0 || !Number.isInteger(parsed.rv)) {
    throw new Error(
      "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
    );
  }
  if (typeof parsed.start !== "string" || parsed.start.length === 0) {
    throw new Error("continue key is not valid: encoded start key empty");
  }
  if (parsed.start.startsWith("/") || parsed.start.split("/").includes("..")) {
    throw new Error("continue key is not valid: encoded start key is not a relative path");
  }
  return { rv: parsed.rv, start: parsed.start };
}
