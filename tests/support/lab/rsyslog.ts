/**
 * Runs a private rsyslogd (`rsyslogd -n -f CONF -i PIDFILE`) that writes kernel messages logged
 * after it started to one file, in rsyslog's RFC 3339 or traditional file format.
 *
 * Two kernel inputs:
 * - `imkmsg` (default) reads `/dev/kmsg`, which is not destructive, so rsyslogs in parallel test
 *   processes each get every record. It replays the whole ring buffer at start; the config keeps
 *   only records whose kmsg sequence number (`$!sequnum`) is at least the next one at start.
 *   Its lines carry no `[ uptime]` stamp, and the time is the record's kernel time:
 *   `2026-11-25T08:18:44.340043+00:00 vm kernel: kit-02a5: IN=… ` (the fixtures, made with
 *   imklog, have `vm kernel: [  270.680962] kube-iptables-tailer: IN=…`).
 * - `imklog` reads `/proc/kmsg`, which is destructive: one reader at a time, so it runs under
 *   the machine-wide lock "proc-kmsg" until `stop()`. Records nobody consumed yet are drained
 *   before it starts. Its lines are exactly like the fixtures'.
 *
 * @example
 * ```ts
 * await using rs = await startRsyslog({ file: `${dir}/kern.log`, format: "traditional" });
 * await lab.send({ from: "pod1", to: "pod2", proto: "tcp", port: 8080 });
 * const lines = await waitForLines(rs.file, (l) => l.includes(lab.prefix));
 * ```
 * @module
 */

import { closeSync, constants, openSync, readSync } from "node:fs";
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

/** rsyslog's file formats: `RSYSLOG_FileFormat` or `RSYSLOG_TraditionalFileFormat`. */
export type RsyslogFormat = "rfc3339" | "traditional";

/** Options of {@link startRsyslog}. */
export interface RsyslogOptions {
  /** The file kernel messages are written to (created by rsyslog). */
  file: string;
  /** Default "rfc3339". */
  format?: RsyslogFormat;
  /** Default "imkmsg" (parallel-safe); "imklog" reproduces the fixtures' lines exactly. */
  input?: "imkmsg" | "imklog";
}

/** A running rsyslogd. */
export interface RsyslogRunner {
  readonly file: string;
  readonly input: "imkmsg" | "imklog";
  readonly pid: number;
  /** Stops rsyslogd (SIGTERM; it flushes), removes its config. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const TEMPLATES: Record<RsyslogFormat, string> = {
  rfc3339: "RSYSLOG_FileFormat",
  traditional: "RSYSLOG_TraditionalFileFormat",
};

/** The rsyslog configuration for `options`; `fromSeq` is the first kmsg record to keep. */
export function rsyslogConfig(
  options: RsyslogOptions,
  workDir: string,
  fromSeq: number,
): string {
  const template = TEMPLATES[options.format ?? "rfc3339"];
  const action = `action(type="omfile" file="${options.file}" template="${template}")`;
  const head = `global(workDirectory="${workDir}")\n`;
  if ((options.input ?? "imkmsg") === "imklog") {
    return `${head}module(load="imklog")\nkern.* ${action}\n`;
  }
  return `${head}module(load="imkmsg")\n` +
    `if $syslogfacility-text == "kern" and cnum($!sequnum) >= ${fromSeq} then {\n  ${action}\n}\n`;
}

/** Reads and discards what `/proc/kmsg` holds, so a new imklog reader starts with fresh records. */
function drainProcKmsg(): void {
  const fd = openSync("/proc/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      try {
        if (readSync(fd, buffer, 0, buffer.length, null) === 0) break;
      } catch (error) {
        if ((error as { code?: string }).code === "EAGAIN") break;
        throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Starts rsyslogd; resolves once it runs (it has written its pid file). */
export async function startRsyslog(options: RsyslogOptions): Promise<RsyslogRunner> {
  const input = options.input ?? "imkmsg";
  const dir = await makeOwnedTempDir("kit-rsyslog-");
  let lock: HeldLock | undefined;
  let daemon: Daemon | undefined;
  const cleanup = async () => {
    if (daemon) await stopDaemon(daemon);
    await lock?.release();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    if (input === "imklog") {
      lock = await holdLock("proc-kmsg");
      drainProcKmsg();
    }
    const conf = `${dir}/rsyslog.conf`;
    const pidFile = `${dir}/rsyslogd.pid`;
    await Deno.writeTextFile(conf, rsyslogConfig(options, dir, nextKmsgSeq()));
    await run("rsyslogd", ["-N1", "-f", conf]);
    const started = spawnDaemon("rsyslogd", ["-n", "-f", conf, "-i", pidFile]);
    daemon = started;
    await waitUntil("rsyslogd start", async () => {
      try {
        return (await Deno.readTextFile(pidFile)).trim() || undefined;
      } catch {
        return undefined;
      }
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
    file: options.file,
    input,
    pid: daemon.child.pid,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
