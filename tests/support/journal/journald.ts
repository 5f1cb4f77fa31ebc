/**
 * A real `systemd-journald` for a test, started standalone (no systemd needed): it reads the
 * kernel log from /dev/kmsg and writes /run/log/journal/<machine-id>/system.journal. Only one
 * journald can run on the machine, so this holds the machine-wide "journald" lock, and it removes
 * what it created (/run/log/journal, /run/systemd/journal) afterwards.
 *
 * @example
 * ```ts
 * await withJournald(async (journald) => {
 *   await journald.kmsg("hello");   // a kernel log record, _TRANSPORT=kernel
 *   await journald.rotate();        // SIGUSR2: system.journal archived, a new one started
 * });
 * ```
 * @module
 */

import { withLock } from "../lock.ts";

/** Path of systemd-journald on Debian. */
export const JOURNALD = "/lib/systemd/systemd-journald";
/** Where a journald without a flush request writes. */
export const RUNTIME_JOURNAL = "/run/log/journal";

/** A running journald. */
export interface Journald {
  /** The journal directory it writes (for `JOURNAL_DIRECTORY`). */
  directory: string;
  /** Its machine-id subdirectory. */
  machineDirectory: string;
  /** Writes one record to the kernel log (priority 4), which journald stores. */
  kmsg(message: string): Promise<void>;
  /** Asks journald to rotate (archive the current file), and waits until it did. */
  rotate(): Promise<void>;
  /** The archived files now present. */
  archived(): string[];
  /** Deletes every archived file (`journalctl --vacuum-files=1`), and checks they are gone. */
  vacuum(): Promise<void>;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, test: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`journald: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs `fn` with a standalone journald running. */
export function withJournald<T>(fn: (journald: Journald) => Promise<T>): Promise<T> {
  return withLock("journald", async () => {
    const hadRuntimeJournal = exists(RUNTIME_JOURNAL);
    const hadSockets = exists("/run/systemd/journal");
    const machineId = Deno.readTextFileSync("/etc/machine-id").trim();
    const machineDirectory = `${RUNTIME_JOURNAL}/${machineId}`;
    const current = `${machineDirectory}/system.journal`;
    const child = new Deno.Command(JOURNALD, {
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const archived = () => {
      try {
        return [...Deno.readDirSync(machineDirectory)]
          .map((e) => e.name)
          .filter((n) => n.startsWith("system@") && n.endsWith(".journal"))
          .sort();
      } catch {
        return [];
      }
    };
    try {
      await waitFor("system.journal", () => exists(current));
      const journald: Journald = {
        directory: RUNTIME_JOURNAL,
        machineDirectory,
        async kmsg(message) {
          await Deno.writeTextFile("/dev/kmsg", `<4>${message}\n`);
        },
        async rotate() {
          const before = archived().length;
          child.kill("SIGUSR2");
          await waitFor("rotation", () => archived().length > before && exists(current));
        },
        archived,
        async vacuum() {
          const done = await new Deno.Command("journalctl", {
            args: ["--directory", RUNTIME_JOURNAL, "--vacuum-files=1"],
            stdout: "null",
            stderr: "null",
          }).output();
          if (!done.success) throw new Error("journalctl --vacuum-files=1 failed");
          if (archived().length > 0) throw new Error(`archives left: ${archived().join(", ")}`);
        },
      };
      return await fn(journald);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      if (!hadRuntimeJournal) {
        await Deno.remove(RUNTIME_JOURNAL, { recursive: true }).catch(() => {});
      }
      if (!hadSockets) {
        await Deno.remove("/run/systemd/journal", { recursive: true }).catch(() => {});
      }
    }
  });
}
