/**
 * kube-iptables-tailer: follows the kernel log, turns netfilter LOG drops into Kubernetes Events
 * on the Pods involved, and serves Prometheus metrics.
 *
 * Exit codes: 0 success (and clean shutdown), 2 configuration or start-up error, 1 unexpected.
 * @module
 */

import { parseCommandLine } from "./cli.ts";
import { cannotRead, PARSE_USAGE, parseBootTime, parseHelp, runParse } from "./commands/parse.ts";
import { lazyBootTime } from "./commands/boot_time.ts";
import { ConfigError, loadConfig, optionsHelp, readEnvironment } from "./config.ts";
import { VERSION } from "./version.ts";
import { OutputClosed, OutputError, printLine } from "./output.ts";

const USAGE = `kube-iptables-tailer ${VERSION}
Turns packets dropped by iptables/nftables LOG rules into Kubernetes Events on the Pods involved.

Usage:
  kube-iptables-tailer [run] [OPTIONS]      follow the log and post Events (the daemon)
  kube-iptables-tailer run --dry-run ...    follow the log and print drops as NDJSON, post no Events
  ${PARSE_USAGE}
                                            print every drop of whole logs (any header format,
                                            a /dev/kmsg dump, gzip too): see parse --help
  kube-iptables-tailer version              print the version

Every option is also an environment variable (in brackets); a flag wins over the environment.

`;

/**
 * Sets up node:process for the npm libraries the daemon loads (loaded here, not at start: it
 * costs `parse` and `version` 20 ms).
 */
async function prepareNodeProcess(): Promise<void> {
  const { default: process } = await import("node:process");
  // A dependency of client-node loads node:punycode, which prints a deprecation warning that
  // would end up in every log; our own code uses none of the deprecated APIs.
  process.noDeprecation = true;
  // npm libraries see exactly the variables we may read: some enumerate process.env at load
  // time (the `debug` package), which Deno refuses under a list of allowed variables.
  const visible: Record<string, string> = {};
  for (const [name, value] of Object.entries(readEnvironment())) {
    if (value !== undefined) visible[name] = value;
  }
  (process as { env: Record<string, string> }).env = visible;
}

async function main(args: string[]): Promise<number> {
  const line = parseCommandLine(args);
  switch (line.command) {
    case "help":
      printLine(line.helpTopic === "parse" ? parseHelp() : USAGE + optionsHelp());
      return 0;
    case "version":
      printLine(VERSION);
      return 0;
    case "parse": {
      const env = readEnvironment();
      const prefixes = line.parse.prefixes.length > 0
        ? line.parse.prefixes.flatMap((p) => p.split(","))
        : (line.flags.prefixes ?? env.IPTABLES_LOG_PREFIX ?? "").split(",");
      if (prefixes.every((p) => p.trim() === "")) {
        throw new ConfigError(
          'parse needs the LOG prefix of your drop rules: give --prefix (-p), e.g. "-p calico-drop:", ' +
            "or set IPTABLES_LOG_PREFIX (see parse --help)",
        );
      }
      const config = loadConfig(
        {
          env: { ...env, IPTABLES_LOG_PREFIX: prefixes.join(",") || undefined },
          flags: { ...line.flags, prefixes: undefined },
        },
        false,
      );
      const format = line.parse.format ?? "ndjson";
      if (format !== "ndjson" && format !== "table") {
        throw new ConfigError(
          `invalid --format=${JSON.stringify(format)}: expected ndjson or table`,
        );
      }
      for (const file of line.parse.files) {
        if (file === "-") continue;
        let info: Deno.FileInfo;
        try {
          info = await Deno.stat(file);
        } catch (error) {
          throw cannotRead(file, error);
        }
        if (info.isDirectory) throw new ConfigError(`cannot read ${file}: it is a directory`);
      }
      const summary = await runParse({
        prefixes: config.prefixes,
        format,
        timeLayout: config.timeLayout,
        // Estimated (like the daemon's, to the millisecond) only if a kmsg or dmesg time needs it.
        bootTimeMs: line.parse.bootTime ? parseBootTime(line.parse.bootTime) : lazyBootTime({
          onNote: () =>
            console.error(
              "kube-iptables-tailer: cannot read the uptime: kmsg and dmesg records are dated " +
                "with the time they are read (give --boot-time)",
            ),
        }),
        maxLineBytes: config.maxLineBytes,
        files: line.parse.files,
        stdout: Deno.stdout,
        stdin: Deno.stdin,
        stderr: (text) => console.error(text),
      });
      return summary.unreadableFiles ? 1 : 0;
    }
    case "run": {
      const config = loadConfig({ env: readEnvironment(), flags: line.flags });
      await prepareNodeProcess();
      const { runDaemon } = await import("./daemon.ts");
      return await runDaemon(config);
    }
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`kube-iptables-tailer: ${error.message}`);
      Deno.exit(2);
    }
    if (error instanceof OutputClosed) Deno.exit(0); // `… --help | head`
    if (error instanceof OutputError) {
      console.error(`kube-iptables-tailer: ${error.message}`);
      Deno.exit(1);
    }
    console.error(`kube-iptables-tailer: unexpected error: ${(error as Error)?.stack ?? error}`);
    Deno.exit(1);
  }
}

export { main };
