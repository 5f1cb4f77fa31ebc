/**
 * Runs a program to completion and reports failures with the command line and its stderr, so a
 * broken lab step says exactly which command failed and why.
 * @module
 */

/** What a finished program produced. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Return the result instead of throwing when the program exits non-zero. */
  allowFailure?: boolean;
  /** Text written to the program's stdin. */
  stdin?: string;
}

const decoder = new TextDecoder();

/** Quotes `args` for error messages (not for a shell). */
export function commandLine(program: string, args: readonly string[]): string {
  return [program, ...args].map((a) => /^[\w./:=@%+,-]+$/.test(a) ? a : JSON.stringify(a))
    .join(" ");
}

/** Runs `program` with `args`; throws on a non-zero exit unless `allowFailure`. */
export async function run(
  program: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const command = new Deno.Command(program, {
    args: [...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (result.code !== 0 && !options.allowFailure) {
    throw new Error(
      `${commandLine(program, args)} failed with exit code ${result.code}: ${
        result.stderr.trim() || result.stdout.trim()
      }`,
    );
  }
  return result;
}

/** Synchronous variant for `unload` handlers, where nothing asynchronous runs any more. */
export function runSync(program: string, args: readonly string[]): RunResult {
  const output = new Deno.Command(program, { args: [...args], stdout: "piped", stderr: "piped" })
    .outputSync();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
