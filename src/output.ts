/**
 * Writing a command's output to stdout. A failed write (a full disk under a redirection, a
 * closed terminal) ends the command with one line naming it, not a stack trace: it is the
 * system's answer, not a bug.
 *
 * @example
 * ```ts
 * try {
 *   printLine("text");
 * } catch (error) {
 *   if (error instanceof OutputError) console.error(error.message);
 * }
 * ```
 * @module
 */

/** stdout refused the output; `message` names why. */
export class OutputError extends Error {
  override name = "OutputError";
}

/**
 * The reader of stdout went away (`… | head` has its lines): like other filters, the command
 * stops quietly.
 */
export class OutputClosed extends Error {
  override name = "OutputClosed";
  constructor() {
    super("stdout was closed");
  }
}

const encoder = new TextEncoder();

/**
 * Writes all of `bytes` to `out`.
 * @throws {OutputClosed} when the reader went away.
 * @throws {OutputError} for any other failure.
 */
export function writeAll(out: { writeSync(bytes: Uint8Array): number }, bytes: Uint8Array): void {
  let written = 0;
  try {
    while (written < bytes.length) written += out.writeSync(bytes.subarray(written));
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) throw new OutputClosed();
    throw new OutputError(`cannot write the output: ${(error as Error).message}`);
  }
}

/** Writes `text` and a newline to stdout (see {@link writeAll}). */
export function printLine(text: string): void {
  writeAll(Deno.stdout, encoder.encode(`${text}\n`));
}
