/**
 * Real systemd tools for journal tests: `systemd-journal-remote` writes journal files from export
 * format (no daemon; the same file can be appended to, and stays online while its input is open),
 * `journalctl` reads them back as the reference. Plus a deterministic mix of kernel netfilter
 * entries (lines captured from a real kernel, tests fixtures) and other entries.
 *
 * @example
 * ```ts
 * const entries = mixedEntries({ count: 100 });
 * await writeJournal(`${dir}/system.journal`, entries);
 * const reference = await journalctlJson(["--file", `${dir}/system.journal`, "_TRANSPORT=kernel"]);
 * ```
 * @module
 */

import { type ExportEntry, toExportFormat } from "./export_format.ts";

/** Path of systemd-journal-remote on Debian. */
export const JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote";

const FIXTURES = new URL("../../fixtures/kernel/", import.meta.url);

/** How journal-remote should lay the file out (systemd 252 defaults: compact, keyed, zstd). */
export interface JournalLayout {
  /** SYSTEMD_JOURNAL_COMPACT (default true). */
  compact?: boolean;
  /** SYSTEMD_JOURNAL_KEYED_HASH (default true). */
  keyedHash?: boolean;
  /** --compress (default true). */
  compress?: boolean;
}

function remoteArgs(output: string, layout: JournalLayout, input: string) {
  return {
    args: [`--output=${output}`, `--compress=${layout.compress ?? true ? "yes" : "no"}`, input],
    env: {
      SYSTEMD_JOURNAL_COMPACT: layout.compact ?? true ? "1" : "0",
      SYSTEMD_JOURNAL_KEYED_HASH: layout.keyedHash ?? true ? "1" : "0",
      SYSTEMD_LOG_LEVEL: "warning",
    },
  };
}

/** Writes (or appends) `entries` to the journal file `output` with systemd-journal-remote. */
export async function writeJournal(
  output: string,
  entries: Iterable<ExportEntry>,
  layout: JournalLayout = {},
): Promise<void> {
  const input = await Deno.makeTempFile({ suffix: ".export" });
  try {
    await Deno.writeFile(input, toExportFormat(entries));
    const { args, env } = remoteArgs(output, layout, input);
    const result = await new Deno.Command(JOURNAL_REMOTE, {
      args,
      env,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!result.success) {
      throw new Error(`journal-remote failed: ${new TextDecoder().decode(result.stderr)}`);
    }
  } finally {
    await Deno.remove(input);
  }
}

/** A journal-remote process fed through stdin: its output file stays online until closed. */
export class JournalRemoteWriter {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(output: string, layout: JournalLayout = {}) {
    const { args, env } = remoteArgs(output, layout, "-");
    this.#child = new Deno.Command(JOURNAL_REMOTE, {
      args,
      env,
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
  }

  /** Sends entries; journal-remote appends them as it reads them. */
  async write(entries: Iterable<ExportEntry>): Promise<void> {
    await this.#writer.write(toExportFormat(entries));
  }

  /** Ends the input and waits for journal-remote to close the file (state offline). */
  async close(): Promise<void> {
    await this.#writer.close();
    const status = await this.#child.status;
    if (!status.success) throw new Error(`journal-remote exited with ${status.code}`);
  }
}

/** One entry as `journalctl -o json` prints it. */
export type JsonEntry = Record<string, unknown> & {
  MESSAGE?: unknown;
  __REALTIME_TIMESTAMP: string;
  __CURSOR: string;
};

/** Runs `journalctl -o json ARGS…` and parses its output. */
export async function journalctlJson(args: string[]): Promise<JsonEntry[]> {
  const result = await new Deno.Command("journalctl", {
    args: ["-o", "json", "--no-pager", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stdout);
  if (!result.success && text.trim() === "") {
    throw new Error(`journalctl failed: ${new TextDecoder().decode(result.stderr)}`);
  }
  return text.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

/** Messages of kernel netfilter LOG records captured on a real kernel (kmsg fixture). */
export function netfilterMessages(): string[] {
  const text = Deno.readTextFileSync(new URL("kmsg.txt", FIXTURES));
  return text.split("\n").filter((line) => line.includes(";")).map((line) =>
    line.slice(line.indexOf(";") + 1)
  );
}

/**
 * A boot id for generated entries: made up, so never the running boot's (entries of the running
 * boot are timed by the kernel, see src/sources/journal/entry_time.ts; tests that want that pass
 * this id to the source as the running boot's).
 */
export const TEST_BOOT_ID = "5eb7c0de5eb7c0de5eb7c0de5eb7c0de";
/** A machine id for generated entries. */
export const TEST_MACHINE_ID = "3d1219c7c4c5404aaa1f6d2a48adfda4";

/** Options of {@link mixedEntries}. */
export interface MixOptions {
  count: number;
  /** Fraction of kernel entries (default 0.5). */
  kernelShare?: number;
  /** Seed of the deterministic choice (default 1). */
  seed?: number;
  /** Realtime of the first entry, µs (default 2026-11-25T08:00:00Z). */
  startRealtime?: number;
  /** Monotonic time of the first entry, µs (default 250 s). */
  startMonotonic?: number;
  bootId?: string;
  /** Extra bytes appended to some kernel messages to force compression (> 512 bytes). */
  longEvery?: number;
}

/**
 * A deterministic mix of kernel netfilter entries (`_TRANSPORT=kernel`, real LOG lines, some
 * repeated verbatim so their data objects are shared, most with a varying `ID=`) and other
 * entries (syslog, stdout), with increasing timestamps.
 */
export function mixedEntries(options: MixOptions): ExportEntry[] {
  const lines = netfilterMessages();
  let state = options.seed ?? 1;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 0x1_0000_0000;
  };
  const kernelShare = options.kernelShare ?? 0.5;
  const bootId = options.bootId ?? TEST_BOOT_ID;
  let realtime = options.startRealtime ?? Date.UTC(2026, 10, 25, 8) * 1000;
  let monotonic = options.startMonotonic ?? 250_000_000;
  const entries: ExportEntry[] = [];
  for (let i = 0; i < options.count; i++) {
    const step = 1 + Math.floor(random() * 5000);
    realtime += step;
    monotonic += step;
    const common = { _MACHINE_ID: TEST_MACHINE_ID, _HOSTNAME: "node-1" };
    if (random() < kernelShare) {
      let message = lines[Math.floor(random() * lines.length)];
      if (random() < 0.7) message = message.replace(/ ID=\d+/, ` ID=${i}`);
      if (options.longEvery && i % options.longEvery === 0) {
        message += ` PAD=${"x".repeat(600)}`;
      }
      entries.push({
        realtime,
        monotonic,
        bootId,
        fields: {
          ...common,
          _TRANSPORT: "kernel",
          PRIORITY: "4",
          SYSLOG_FACILITY: "0",
          SYSLOG_IDENTIFIER: "kernel",
          _SOURCE_MONOTONIC_TIMESTAMP: String(monotonic - 17),
          MESSAGE: message,
        },
      });
    } else {
      const stdout = random() < 0.5;
      entries.push({
        realtime,
        monotonic,
        bootId,
        fields: {
          ...common,
          _TRANSPORT: stdout ? "stdout" : "syslog",
          PRIORITY: "6",
          SYSLOG_IDENTIFIER: stdout ? "kubelet" : "containerd",
          _PID: String(1000 + Math.floor(random() * 50)),
          MESSAGE: `${stdout ? "kubelet" : "containerd"} message ${i} SRC=10.0.0.${i % 250}`,
        },
      });
    }
  }
  return entries;
}

/** Kernel entries only, with the given messages (for precise expectations). */
export function kernelEntries(
  messages: string[],
  start: { realtime: number; monotonic: number; bootId?: string },
): ExportEntry[] {
  const bootId = start.bootId ?? TEST_BOOT_ID;
  return messages.map((message, i) => ({
    realtime: start.realtime + i * 1000,
    monotonic: start.monotonic + i * 1000,
    bootId,
    fields: { _TRANSPORT: "kernel", PRIORITY: "4", SYSLOG_FACILITY: "0", MESSAGE: message },
  }));
}
