/**
 * Runs the real Debian `logrotate` on one log file with a configuration the test writes, the
 * two ways kernel logs are rotated on nodes:
 * - `create`: the file is renamed to `<file>.1` and a new one created; a `postrotate` HUP makes
 *   rsyslog reopen the path (until then it keeps writing to the renamed file).
 * - `copytruncate`: the file is copied to `<file>.1` and truncated in place; the writer keeps
 *   its descriptor (O_APPEND) and goes on at the new end.
 *
 * @example
 * ```ts
 * await rotate({ file: "/var/log/kit-e2e-x/kern.log", mode: "create", hupPid: rsyslog.pid, stateDir });
 * ```
 * @module
 */

/** Options of {@link rotate}. */
export interface RotateOptions {
  /** The log file. */
  file: string;
  mode: "create" | "copytruncate";
  /** The writer to send SIGHUP after a `create` rotation (rsyslogd). */
  hupPid?: number;
  /** Where the configuration and logrotate's state file go (not the log's directory). */
  stateDir: string;
}

/** The logrotate configuration for `options`. */
export function logrotateConfig(options: RotateOptions): string {
  const lines = [
    `${options.file} {`,
    "  rotate 5",
    "  missingok",
    "  notifempty",
    "  nocompress",
    "  nodateext",
  ];
  if (options.mode === "create") {
    lines.push("  create 0640 root adm");
    if (options.hupPid !== undefined) {
      lines.push("  postrotate", `    /bin/kill -HUP ${options.hupPid}`, "  endscript");
    }
  } else {
    lines.push("  copytruncate");
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

/** Rotates `options.file` now (`logrotate -f`); throws with logrotate's output when it fails. */
export async function rotate(options: RotateOptions): Promise<void> {
  const config = `${options.stateDir}/logrotate-${options.mode}.conf`;
  await Deno.writeTextFile(config, logrotateConfig(options), { mode: 0o644 });
  const out = await new Deno.Command("logrotate", {
    args: ["-f", "-s", `${options.stateDir}/logrotate.state`, config],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    const decoder = new TextDecoder();
    throw new Error(
      `logrotate (${options.mode}) failed with ${out.code}: ${decoder.decode(out.stderr)}${
        decoder.decode(out.stdout)
      }`,
    );
  }
}
