/**
 * Runs `/lib/systemd/systemd-journald` standalone (there is no systemd on the test machines),
 * capturing kernel messages from `/dev/kmsg` into a private journal directory.
 *
 * journald is started in a private mount namespace (`unshare --mount`) where a temporary
 * directory is bind-mounted over `/run` and a private `journald.conf` (volatile storage, no rate
 * limit) over `/etc/systemd/journald.conf`; the machine's `/run` and `/var/log/journal` are never
 * touched, and nothing is left behind. The journal appears at `<root>/log/journal/<machine-id>/`
 * (`journalDir`), readable while journald runs: `journalctl -D <journalDir> -k`.
 *
 * journald replays the whole kernel ring buffer when it starts, unless its
 * `/run/systemd/journal/kernel-seqnum` file says where to resume: by default that file is
 * pre-written with the next kmsg sequence number, so the journal holds only kernel records
 * logged after the start (`since: "boot"` keeps the replay).
 *
 * Only one runs at a time (machine-wide lock "journald", held until `stop()`): it logs its own
 * start/stop lines into the kernel log, and tests expect one writer per machine.
 *
 * @example
 * ```ts
 * await using journald = await startJournald();
 * await lab.send({ from: "pod1", to: "pod2", proto: "tcp", port: 8080 });
 * // read journald.journalDir with the journal source, or: journalctl -D journald.journalDir -k
 * ```
 * @module
 */

import { run } from "./exec.ts";
import {
  type Daemon,
  exitedEarly,
  makeOwnedTempDir,
  spawnDaemon,
  stopDaemon,
  waitUntil,
} from "./daemon.ts";
import { type HeldLock, holdLock } from "./hold_lock.ts";
import { nextKmsgSeq } from "./kmsg_tap.ts";

/** The journald binary on Debian. */
export const JOURNALD = "/lib/systemd/systemd-journald";

/** Options of {@link startJournald}. */
export interface JournaldOptions {
  /** "start" (default): only kernel records logged after the start; "boot": the ring too. */
  since?: "start" | "boot";
  /** Extra `[Journal]` settings, e.g. `{ Compress: "no" }`. */
  settings?: Record<string, string>;
}

/** A running journald. */
export interface JournaldRunner {
  /** The directory holding the journal files (`journalctl -D`). */
  readonly journalDir: string;
  /** The private `/run` of journald (its sockets are under `systemd/journal/`). */
  readonly root: string;
  readonly pid: number;
  /** Stops journald (SIGTERM, it syncs), releases the lock and deletes the files. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The `journald.conf` the runner uses. */
export function journaldConfig(settings: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    Storage: "volatile",
    RateLimitIntervalSec: "0",
    ReadKMsg: "yes",
    ForwardToSyslog: "no",
    ForwardToKMsg: "no",
    ForwardToConsole: "no",
    ForwardToWall: "no",
    ...settings,
  };
  return "[Journal]\n" + Object.entries(all).map(([k, v]) => `${k}=${v}\n`).join("");
}

/** Encodes a sequence number as journald's `kernel-seqnum` file (u64, little endian). */
export function kernelSeqnumFile(seq: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(seq), true);
  return bytes;
}

/** Starts journald; resolves once its journal file and sockets exist. */
export async function startJournald(options: JournaldOptions = {}): Promise<JournaldRunner> {
  const machineId = (await Deno.readTextFile("/etc/machine-id")).trim();
  const lock: HeldLock = await holdLock("journald");
  const base = await makeOwnedTempDir("kit-journald-");
  const root = `${base}/run`;
  const journalDir = `${root}/log/journal/${machineId}`;
  let daemon: Daemon | undefined;
  const cleanup = async () => {
    if (daemon) await stopDaemon(daemon);
    await lock.release();
    await Deno.remove(base, { recursive: true }).catch(() => {});
  };
  try {
    await Deno.mkdir(`${root}/log/journal`, { recursive: true });
    await Deno.mkdir(`${root}/systemd/journal`, { recursive: true });
    await Deno.writeTextFile(`${base}/journald.conf`, journaldConfig(options.settings));
    if ((options.since ?? "start") === "start") {
      await Deno.writeFile(
        `${root}/systemd/journal/kernel-seqnum`,
        kernelSeqnumFile(nextKmsgSeq()),
      );
    }
    // Fail early with a clear message if the mount namespace cannot be made.
    await run("unshare", ["--mount", "--propagation", "private", "true"]);
    const script = `mount --bind "$1" /run && mount --bind "$2" /etc/systemd/journald.conf && ` +
      `exec ${JOURNALD}`;
    const started = spawnDaemon("unshare", [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      "sh",
      root,
      `${base}/journald.conf`,
    ]);
    daemon = started;
    await waitUntil("journald start", async () => {
      try {
        await Deno.stat(`${root}/systemd/journal/socket`);
        for await (const entry of Deno.readDir(journalDir)) {
          if (entry.name.endsWith(".journal")) return true;
        }
      } catch {
        // Not there yet.
      }
      return undefined;
    }, {
      failFast: () => exitedEarly(started),
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= cleanup());
  return {
    journalDir,
    root,
    pid: daemon.child.pid,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
