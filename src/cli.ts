/**
 * Command-line parsing with `node:util` `parseArgs`: the sub-command, the daemon's flags (one per
 * option in {@link OPTIONS}), and the glog flags the original's manifests pass (`-v=2`,
 * `--log_dir=/x`, `--logtostderr`), which are accepted in their single- or double-dash forms.
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, OPTIONS, type OptionSpec } from "./config.ts";

/** The sub-commands. */
export type Command = "run" | "parse" | "version" | "help";

/** Parsed command line. */
export interface CommandLine {
  command: Command;
  /** Daemon options given as flags: option key → raw value. */
  flags: Partial<Record<OptionSpec["key"], string>>;
  /** With the `help` command: the help of which command was asked for (`parse --help`). */
  helpTopic?: "parse";
  /** `parse` options. */
  parse: { prefixes: string[]; format?: string; bootTime?: string; files: string[] };
}

const BOOL_FLAGS = new Set(OPTIONS.filter((o) => o.kind.type === "bool").map((o) => o.flag));
const GLOG_SINGLE_DASH = /^-(v|log_dir|logtostderr|alsologtostderr|stderrthreshold|vmodule)(=|$)/;

/**
 * Rewrites `-v=2` to `--v=2`, and takes out `--bool=true|false` (parseArgs has no value for a
 * boolean flag) into `bools`: an explicit false must still win over the environment.
 */
function normalize(args: string[]): { args: string[]; bools: Map<string, string> } {
  const out: string[] = [];
  const bools = new Map<string, string>();
  for (const arg of args) {
    if (arg === "--") {
      out.push(...args.slice(args.indexOf(arg)));
      break;
    }
    let a = arg;
    if (GLOG_SINGLE_DASH.test(a)) a = `-${a}`;
    if (a.startsWith("--") && BOOL_FLAGS.has(a.slice(2))) {
      bools.set(a.slice(2), "true"); // here too, so that the last of `--x=false --x` wins
      continue;
    }
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (m && BOOL_FLAGS.has(m[1])) {
      const v = m[2].toLowerCase();
      if (["true", "1", "yes"].includes(v)) bools.set(m[1], "true");
      else if (["false", "0", "no"].includes(v)) bools.set(m[1], "false");
      else {
        throw new ConfigError(`invalid --${m[1]}=${JSON.stringify(m[2])}: expected true or false`);
      }
      continue;
    }
    out.push(a);
  }
  return { args: out, bools };
}

/**
 * The words of one dash and more than one letter (`-name`, `-name=x`) before a `--`, each with
 * its name.
 */
function* oneDashWords(args: string[]): Generator<[word: string, name: string]> {
  for (const arg of args) {
    if (arg === "--") return;
    const name = /^-([^-=][^=]+)(=|$)/.exec(arg)?.[1];
    if (name !== undefined) yield [arg, name];
  }
}

/**
 * A long option written with one dash (`-help`, `-prefix=x`, as Go programs take them), said
 * before parseArgs reads it as short options: `-n -a …` naming only `-n`, or, when its first
 * letter is an option, that option with the rest as its value (`-prefix=x` as `-p refix=x`,
 * `-version` as `-v ersion`), mostly without a word.
 */
function oneDashOption(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): string | undefined {
  for (const [arg, name] of oneDashWords(args)) {
    if (Object.hasOwn(options, name)) {
      return `unknown option '${arg}': long options take two dashes: --${name}`;
    }
  }
  return undefined;
}

/**
 * What parseArgs refused, said plainly. It reads `-name=x` as the short options `-n -a …` and
 * names only `-n`: such a word (whose first letter is no short option) is named whole.
 * parseArgs' advice on positional arguments that start with `-` is left out: an unknown option
 * is far likelier than a file named `-q`.
 */
function argumentError(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  error: Error,
): string {
  const shorts = new Set(Object.values(options).map((o) => o.short).filter((s) => s));
  for (const [arg, name] of oneDashWords(args)) {
    if (!shorts.has(name[0])) return `unknown option '${arg}'`;
  }
  return error.message.split("\n")[0].replace(/ To specify a positional argument .*$/, "");
}

/** Parses `args` (without the program name); throws {@link ConfigError} on unknown flags. */
export function parseCommandLine(args: string[]): CommandLine {
  const normalized = normalize(args);
  let rest = normalized.args;
  let command: Command = "run";
  const first = rest[0];
  if (first === "run" || first === "parse" || first === "version" || first === "help") {
    command = first;
    rest = rest.slice(1);
  } else if (first !== undefined && !first.startsWith("-")) {
    throw new ConfigError(
      `unknown command ${JSON.stringify(first)}: expected run, parse, version or help (see --help)`,
    );
  }
  const options: NonNullable<ParseArgsConfig["options"]> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean" },
    // glog flags we accept and ignore.
    stderrthreshold: { type: "string" },
    vmodule: { type: "string" },
  };
  for (const spec of OPTIONS) {
    options[spec.flag] = { type: spec.kind.type === "bool" ? "boolean" : "string" };
  }
  if (command === "parse") {
    options.prefix = { type: "string", multiple: true, short: "p" };
    options.format = { type: "string" };
    options["boot-time"] = { type: "string" };
  }
  const oneDash = oneDashOption(rest, options);
  if (oneDash) throw new ConfigError(`${oneDash} (see --help)`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options,
      // `help parse`: the command whose help is asked for.
      allowPositionals: command === "parse" || command === "help",
      strict: true,
    });
  } catch (error) {
    throw new ConfigError(`${argumentError(rest, options, error as Error)} (see --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  let helpTopic: CommandLine["helpTopic"];
  if (command === "help") {
    const [topic, ...more] = parsed.positionals;
    if (more.length > 0 || (topic !== undefined && !["run", "parse", "version"].includes(topic))) {
      throw new ConfigError(
        `help takes one command: run, parse or version, not ${
          JSON.stringify(parsed.positionals.join(" "))
        }`,
      );
    }
    if (topic === "parse") helpTopic = "parse";
  } else if (values.help) {
    if (command === "parse") helpTopic = "parse";
    command = "help";
  } else if (values.version) command = "version";
  const flags: CommandLine["flags"] = {};
  for (const spec of OPTIONS) {
    const v = normalized.bools.get(spec.flag) ?? values[spec.flag];
    if (v === undefined) continue;
    flags[spec.key] = String(v);
  }
  return {
    command,
    ...(helpTopic ? { helpTopic } : {}),
    flags,
    parse: {
      prefixes: (values.prefix as string[] | undefined) ?? [],
      format: values.format as string | undefined,
      bootTime: values["boot-time"] as string | undefined,
      files: parsed.positionals,
    },
  };
}
