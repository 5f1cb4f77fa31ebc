/**
 * A small Dockerfile reader for tests: logical instructions (continuations joined, comment lines
 * inside them dropped, as BuildKit does), grouped into stages, with their flags, the global
 * ARGs, LABEL pairs and exec-form arrays. Enough to check a Dockerfile's structure and to run
 * its RUN commands with /bin/sh.
 *
 * @example
 * ```ts
 * const file = parseDockerfile(await Deno.readTextFile("Dockerfile"));
 * file.stages.at(-1)!.from; // "gcr.io/distroless/cc-debian12:nonroot"
 * ```
 * @module
 */

/** One instruction. */
export interface Instruction {
  keyword: string;
  /** `--name=value` flags before the arguments (FROM, COPY, RUN …). */
  flags: Record<string, string>;
  /** The arguments after the flags, continuation lines joined. */
  args: string;
  line: number;
}

/** One build stage. */
export interface Stage {
  from: string;
  name?: string;
  platform?: string;
  instructions: Instruction[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** Parser directives (`# syntax=…`). */
  directives: Record<string, string>;
  /** ARGs before the first FROM, with their defaults. */
  globalArgs: Record<string, string | undefined>;
  stages: Stage[];
}

/** Parses `text`; throws on an instruction before the first FROM other than ARG. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split("\n");
  const directives: Record<string, string> = {};
  let i = 0;
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-z]+)\s*=\s*(\S+)\s*$/.exec(lines[i]);
    if (!m) break;
    directives[m[1]] = m[2];
  }
  const instructions: Instruction[] = [];
  for (; i < lines.length; i++) {
    const first = lines[i];
    if (/^\s*(#|$)/.test(first)) continue;
    const start = i;
    const parts: string[] = [];
    let line = first;
    while (/\\\s*$/.test(line)) {
      parts.push(line.replace(/\\\s*$/, ""));
      i++;
      while (i < lines.length && /^\s*#/.test(lines[i])) i++;
      line = lines[i] ?? "";
    }
    parts.push(line);
    // An escaped newline is removed, as the builder does: the lines run on.
    const joined = parts.join("").trim();
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(joined);
    if (!m) throw new Error(`line ${start + 1}: cannot read ${JSON.stringify(joined)}`);
    let args = m[2];
    const flags: Record<string, string> = {};
    for (;;) {
      const f = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(args);
      if (!f) break;
      flags[f[1]] = f[2] ?? "";
      args = args.slice(f[0].length);
    }
    instructions.push({ keyword: m[1].toUpperCase(), flags, args, line: start + 1 });
  }

  const globalArgs: Record<string, string | undefined> = {};
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [from, as, name] = instruction.args.split(/\s+/);
      stages.push({
        from,
        name: as?.toUpperCase() === "AS" ? name : undefined,
        platform: instruction.flags.platform,
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG") {
        throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      }
      Object.assign(globalArgs, parseArg(instruction.args));
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { directives, globalArgs, stages };
}

/** `NAME` or `NAME=default` (quotes removed). */
export function parseArg(args: string): Record<string, string | undefined> {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(args.trim());
  if (!m) throw new Error(`not an ARG: ${args}`);
  return { [m[1]]: m[2] === undefined ? undefined : unquote(m[2]) };
}

function unquote(value: string): string {
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(value) ?? /^'([^']*)'$/.exec(value);
  return m ? m[1].replace(/\\(.)/g, "$1") : value;
}

/** The `key="value"` pairs of a LABEL instruction. */
export function parseLabels(args: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S+)/g;
  for (const m of args.matchAll(re)) labels[m[1]] = unquote(m[2]);
  return labels;
}

/** The array of an exec-form instruction (`["/bin", "arg"]`), or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  try {
    const value = JSON.parse(args);
    return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `${NAME}` and `$NAME` replaced by `values` (unknown names are left as they are). */
export function expand(text: string, values: Record<string, string | undefined>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (all, braced, bare) => values[braced ?? bare] ?? all,
  );
}
