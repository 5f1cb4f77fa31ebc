/**
 * The cluster's CA and the client certificate and key, as files that change while we run:
 * kubelet rotates its client certificate by writing a new kubelet-client-<time>.pem and
 * re-pointing the symlink kubelet-client-current.pem at it; a mounted Secret or ConfigMap
 * changes by a symlink swap; an administrator may rewrite a file in place.
 *
 * client-go reads certificate and key files again at each TLS handshake (at most once a
 * second), closes its connections when they changed (checked every 5 minutes), and with
 * ClientsAllowCARotation reads the CA file again every 5 minutes. Deno's `fetch` has no hook
 * into its handshakes, so {@link FileChanges} stats the files instead (through symlinks) at
 * most every few seconds, and at the next request after one failed; the client then reads them
 * ({@link readTlsMaterial}) and makes new connections with what they hold, once
 * {@link tlsMaterialProblem} finds it whole. A file caught missing or half-written keeps the
 * credentials in use.
 * @module
 */

import { Buffer } from "node:buffer";
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import * as k8s from "@kubernetes/client-node";

/** What stat says of a file, through symlinks: another stamp means it may hold another text. */
export function fileStamp(path: string): string {
  try {
    const info = Deno.statSync(path);
    return [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()].join(":");
  } catch (error) {
    return `unreadable (${(error as Error).name})`;
  }
}

/** Options of {@link FileChanges}. */
export interface FileChangesOptions {
  /** Least time between two looks at the files, in ms. */
  intervalMs: number;
  /** The clock, in ms (default `performance.now`). */
  now?: () => number;
  /** A file's stamp (default {@link fileStamp}). */
  stamp?: (path: string) => string;
}

/**
 * Tells when any of a few files changed since their stamps were last {@link settle}d, looking
 * at most every `intervalMs`, or at the next {@link poll} after {@link lookSoon}.
 */
export class FileChanges {
  readonly paths: readonly string[];
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #stamp: (path: string) => string;
  #settled: readonly string[] | undefined;
  #lookedAt = -Infinity;
  #soon = false;

  constructor(paths: readonly string[], options: FileChangesOptions) {
    this.paths = [...new Set(paths)];
    this.#intervalMs = options.intervalMs;
    this.#now = options.now ?? (() => performance.now());
    this.#stamp = options.stamp ?? fileStamp;
  }

  /** The files' stamps now, whenever asked (before a first read). */
  look(): string[] {
    this.#lookedAt = this.#now();
    this.#soon = false;
    return this.paths.map(this.#stamp);
  }

  /** Makes the next {@link poll} look whatever the interval: new files may cure a failure. */
  lookSoon(): void {
    this.#soon = true;
  }

  /**
   * The files' stamps when it is time to look and they differ from those settled last;
   * undefined otherwise. Stamp before reading, settle after: a change while reading is seen
   * at the next look.
   */
  poll(): string[] | undefined {
    if (this.paths.length === 0) return undefined;
    if (!this.#soon && this.#now() - this.#lookedAt < this.#intervalMs) return undefined;
    const stamps = this.look();
    const same = this.#settled !== undefined && stamps.every((s, i) => s === this.#settled![i]);
    return same ? undefined : stamps;
  }

  /** Records stamps as handled, whether what the files held was taken or refused. */
  settle(stamps: readonly string[]): void {
    this.#settled = stamps;
  }
}

/** The TLS settings of a kubeconfig's current context as PEM text; absent parts are unset. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

/** Where each part of the TLS settings comes from: a file (followed) or inline data. */
export type TlsSources = { [part in keyof TlsMaterial]?: { file?: string; data?: string } };

const PART_NAMES: Record<keyof TlsMaterial, string> = {
  ca: "CA",
  cert: "client certificate",
  key: "client key",
};

/** Where the current context's CA, client certificate and key come from. */
export function tlsSources(kc: k8s.KubeConfig): TlsSources {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const source = (file?: string, data?: string) => (file || data ? { file, data } : undefined);
  return {
    ca: source(cluster?.caFile, cluster?.caData),
    cert: source(user?.certFile, user?.certData),
    key: source(user?.keyFile, user?.keyData),
  };
}

/** The files among `sources`, the ones to follow. */
export function tlsFiles(sources: TlsSources): string[] {
  return Object.values(sources).flatMap((s) => (s?.file ? [s.file] : []));
}

/** Names a part of the TLS settings by where it comes from, for messages. */
function describeTlsPart(part: keyof TlsMaterial, sources: TlsSources): string {
  const file = sources[part]?.file;
  return file ? `the ${PART_NAMES[part]} file ${file}` : `the kubeconfig's ${PART_NAMES[part]}`;
}

/**
 * Reads the TLS settings (a file wins over inline data, as client-node has it). Throws an Error
 * naming the file that cannot be read or what it holds that cannot be used.
 */
export function readTlsMaterial(sources: TlsSources): TlsMaterial {
  const material: TlsMaterial = {};
  for (const part of ["ca", "cert", "key"] as const) {
    const source = sources[part];
    if (!source) continue;
    try {
      material[part] = source.file
        ? Deno.readTextFileSync(source.file)
        : Buffer.from(source.data!, "base64").toString("utf-8");
    } catch (error) {
      throw new Error(`cannot read ${describeTlsPart(part, sources)}: ${(error as Error).message}`);
    }
  }
  const problem = tlsMaterialProblem(material);
  if (problem) throw new Error(`${describeTlsPart(problem.part, sources)}: ${problem.problem}`);
  return material;
}

/**
 * A copy of `kc` whose current context carries `material` as inline data in place of files,
 * so that client-node applies what was read and checked here, without reading anything itself.
 * With an empty `material`, a copy without TLS settings (for headers alone).
 */
export function withTlsMaterial(kc: k8s.KubeConfig, material: TlsMaterial): k8s.KubeConfig {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const base64 = (text?: string) =>
    text === undefined ? undefined : Buffer.from(text).toString("base64");
  const copy = new k8s.KubeConfig();
  copy.loadFromOptions({
    clusters: kc.clusters.map((c) =>
      c.name === cluster?.name ? { ...c, caFile: undefined, caData: base64(material.ca) } : c
    ),
    users: kc.users.map((u) =>
      u.name === user?.name
        ? {
          ...u,
          certFile: undefined,
          keyFile: undefined,
          certData: base64(material.cert),
          keyData: base64(material.key),
        }
        : u
    ),
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return copy;
}

/** A PEM block: its label (CERTIFICATE, PRIVATE KEY, …) and its whole text. */
interface PemBlock {
  label: string;
  text: string;
}

/** The PEM blocks of `text`, or a problem when one is begun and not ended (cut short). */
function pemBlocks(text: string): PemBlock[] | string {
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)]
    .map((m) => ({ label: m[1], text: m[0] }));
  const begun = text.match(/-----BEGIN /g)?.length ?? 0;
  return begun > blocks.length ? "a PEM block is cut short (written halfway?)" : blocks;
}

/** Parses every certificate in `text` (at least one); a problem otherwise. */
function certificates(text: string): X509Certificate[] | string {
  const blocks = pemBlocks(text);
  if (typeof blocks === "string") return blocks;
  const found = blocks.filter((b) => b.label === "CERTIFICATE");
  if (found.length === 0) return "no PEM certificate in it";
  try {
    return found.map((b) => new X509Certificate(b.text));
  } catch (error) {
    return `a certificate does not parse: ${(error as Error).message}`;
  }
}

/** Parses the first private key in `text`; a problem otherwise. */
function privateKey(text: string): KeyObject | string {
  const blocks = pemBlocks(text);
  if (typeof blocks === "string") return blocks;
  const block = blocks.find((b) => b.label.endsWith("PRIVATE KEY"));
  if (!block) return "no PEM private key in it";
  try {
    return createPrivateKey(block.text);
  } catch (error) {
    return `the private key does not parse: ${(error as Error).message}`;
  }
}

/**
 * Why TLS settings cannot be used, naming the part at fault; undefined when they can: every
 * PEM block whole, the CA and the client certificate parse, the key parses and belongs to the
 * certificate.
 */
export function tlsMaterialProblem(
  material: TlsMaterial,
): { part: keyof TlsMaterial; problem: string } | undefined {
  if (material.ca !== undefined) {
    const ca = certificates(material.ca);
    if (typeof ca === "string") return { part: "ca", problem: ca };
  }
  let leaf: X509Certificate | undefined;
  if (material.cert !== undefined) {
    const chain = certificates(material.cert);
    if (typeof chain === "string") return { part: "cert", problem: chain };
    leaf = chain[0];
  }
  if (material.key !== undefined) {
    const key = privateKey(material.key);
    if (typeof key === "string") return { part: "key", problem: key };
    if (leaf && !leaf.checkPrivateKey(key)) {
      return { part: "key", problem: "it is not the key of the client certificate" };
    }
  }
  return undefined;
}
