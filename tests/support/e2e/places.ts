/**
 * Where an end-to-end test puts things so that the production permission set allows them:
 * log files under a unique directory in `/var/log`, the kubeconfig and the checkpoints in a
 * unique directory under `/var/lib/kube-iptables-tailer`, and the kernel log device at
 * `/run/kube-iptables-tailer/kmsg` (Deno opens /dev paths only with --allow-all). Only what a
 * test made is removed again.
 *
 * @example
 * ```ts
 * await using places = await E2ePlaces.create();
 * places.logDir;   // "/var/log/kit-e2e-…"
 * places.stateDir; // "/var/lib/kube-iptables-tailer/kit-e2e-…"
 * ```
 * @module
 */

import { type HeldLock, holdLock } from "../lab/hold_lock.ts";

/** The state directory the permission set lets the daemon write. */
export const STATE_ROOT = "/var/lib/kube-iptables-tailer";
/** Where the permission set lets the daemon read the kernel log device. */
export const KMSG_NODE = "/run/kube-iptables-tailer/kmsg";

const PREFIX = "kit-e2e-";
/** Where {@link E2ePlaces} makes its directories: allowed log, allowed state, and /tmp. */
const ROOTS = ["/var/log", STATE_ROOT, "/tmp"];

function processAlive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

/** Removes the directories of earlier tests whose process died before cleaning up. */
async function sweepStale(): Promise<void> {
  for (const root of ROOTS) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(root)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isDirectory || !entry.name.startsWith(PREFIX)) continue;
      const dir = `${root}/${entry.name}`;
      let owner = NaN;
      try {
        owner = Number(Deno.readTextFileSync(`${dir}/.owner`).trim());
      } catch {
        continue; // being set up, or not made by E2ePlaces
      }
      if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  }
}

/**
 * A test's own directories under /var/log and /var/lib/kube-iptables-tailer (and /tmp), each
 * with a `.owner` file naming the test process, so that a later test removes what a crashed
 * one left.
 */
export class E2ePlaces {
  private constructor(
    /** A fresh directory under /var/log (log files, journal mount point). */
    readonly logDir: string,
    /** A fresh directory under /var/lib/kube-iptables-tailer (checkpoints, kubeconfig). */
    readonly stateDir: string,
    /** A temporary directory outside the allowed paths (the bundle, kubectl's cache). */
    readonly workDir: string,
  ) {}

  /** Makes the three directories (and /var/lib/kube-iptables-tailer when missing), after sweeping. */
  static async create(): Promise<E2ePlaces> {
    await Deno.mkdir(STATE_ROOT, { recursive: true });
    await sweepStale();
    const [logDir, stateDir, workDir] = await Promise.all(ROOTS.map(async (dir) => {
      const made = await Deno.makeTempDir({ dir, prefix: PREFIX });
      await Deno.writeTextFile(`${made}/.owner`, `${Deno.pid}\n`);
      return made;
    }));
    return new E2ePlaces(logDir, stateDir, workDir);
  }

  /** The kubeconfig path the API emulator writes. */
  get kubeconfig(): string {
    return `${this.stateDir}/kubeconfig`;
  }

  /** The checkpoint files the daemon wrote (names). */
  checkpoints(): string[] {
    return [...Deno.readDirSync(this.stateDir)].map((e) => e.name).filter((n) =>
      n.endsWith(".json")
    ).sort();
  }

  /** Removes the three directories. */
  async remove(): Promise<void> {
    for (const dir of [this.logDir, this.stateDir, this.workDir]) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove();
  }
}

/** The device number of `/dev/kmsg` as `mknod` wants it. */
function kmsgDeviceNumbers(): { major: number; minor: number } {
  const rdev = Deno.statSync("/dev/kmsg").rdev!;
  return { major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}

/** The kernel log device at {@link KMSG_NODE}, held for one test. */
export interface KmsgNode extends AsyncDisposable {
  readonly path: string;
  /** Whether this test made the node (and removes it on release). */
  readonly created: boolean;
  release(): Promise<void>;
}

/**
 * Makes sure {@link KMSG_NODE} is the kernel log device (`mknod PATH c 1 11` when missing) and
 * holds the machine-wide lock "kmsg-node" until released, so no other test removes it meanwhile.
 * A node this call made is removed on release, with its directory when this call made that too.
 */
export async function holdKmsgNode(): Promise<KmsgNode> {
  const lock: HeldLock = await holdLock("kmsg-node");
  const dir = KMSG_NODE.slice(0, KMSG_NODE.lastIndexOf("/"));
  let madeDir = false;
  let madeNode = false;
  const release = async () => {
    if (madeNode) await Deno.remove(KMSG_NODE).catch(() => {});
    if (madeDir) await Deno.remove(dir).catch(() => {}); // only when empty
    await lock.release();
  };
  try {
    try {
      await Deno.stat(dir);
    } catch {
      await Deno.mkdir(dir, { recursive: true });
      madeDir = true;
    }
    const { major, minor } = kmsgDeviceNumbers();
    let info: Deno.FileInfo | undefined;
    try {
      info = await Deno.stat(KMSG_NODE);
    } catch {
      // Not there: make it.
    }
    if (info === undefined) {
      const out = await new Deno.Command("mknod", {
        args: [KMSG_NODE, "c", String(major), String(minor)],
        stderr: "piped",
      }).output();
      if (out.code !== 0) throw new Error(`mknod: ${new TextDecoder().decode(out.stderr)}`);
      madeNode = true;
    } else if (!info.isCharDevice || info.rdev !== Deno.statSync("/dev/kmsg").rdev) {
      throw new Error(`${KMSG_NODE} exists but is not the kernel log device`);
    }
  } catch (error) {
    await release();
    throw error;
  }
  let released: Promise<void> | undefined;
  const once = () => (released ??= release());
  return { path: KMSG_NODE, created: madeNode, release: once, [Symbol.asyncDispose]: once };
}
