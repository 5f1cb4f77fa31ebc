/**
 * A kernel-log writer for fault tests, as its own process: appends numbered drop lines
 * ({@link seqLine}, with the current time) to a file at a set rate and, like rsyslog after a HUP,
 * reopens the path whenever it names another file than the one it holds (checked before every
 * write); a missing path is created. Writes are O_APPEND, so after an in-place truncation
 * (copytruncate) it continues at the new end.
 *
 * Usage:
 *   deno run -A tests/support/faults/drop_writer.ts --path FILE [--rate LINES_PER_S]
 *     [--count N] [--first N] [--pod-every K] [--per-write W]
 *
 * Prints `ready` once the file is open; stops after `--count` lines or on SIGTERM, then prints
 * `last N` (the last number written). {@link DropWriter} runs it from a test.
 * @module
 */

import { seqLine } from "./drops.ts";
import { FollowingFile } from "../following_file.ts";

const SELF = new URL(import.meta.url).pathname;
const encoder = new TextEncoder();

/** Options of {@link DropWriter.start}. */
export interface DropWriterOptions {
  path: string;
  /** Lines per second (default 1000). */
  rate?: number;
  /** Stop after this many lines (default: until stopped). */
  count?: number;
  /** Number of the first line (default 1). */
  first?: number;
  /** Every this many-th line is a pod drop with an Event (default 10). */
  podEvery?: number;
  /** Lines per write(2) at most (default 1: each line its own write, as rsyslog). */
  perWrite?: number;
}

/** The writer process, from a test. */
export class DropWriter {
  #child: Deno.ChildProcess;
  #out = "";
  #reading: Promise<void>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#reading = (async () => {
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#out += text;
      }
    })();
  }

  /** Starts the writer; resolves once its file is open. */
  static async start(options: DropWriterOptions): Promise<DropWriter> {
    const args = ["run", "-A", SELF, "--path", options.path];
    const numbers: [string, number | undefined][] = [
      ["rate", options.rate],
      ["count", options.count],
      ["first", options.first],
      ["pod-every", options.podEvery],
      ["per-write", options.perWrite],
    ];
    for (const [flag, value] of numbers) {
      if (value !== undefined) args.push(`--${flag}`, String(value));
    }
    const child = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const writer = new DropWriter(child);
    const deadline = Date.now() + 15_000;
    while (!writer.#out.includes("ready")) {
      if (Date.now() > deadline) {
        await writer.stop();
        throw new Error("the drop writer did not start");
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return writer;
  }

  /** Resolves when the writer has written `--count` lines; returns the last number. */
  async finished(): Promise<number> {
    await this.#child.status;
    await this.#reading;
    return this.#last();
  }

  /** Stops the writer (SIGTERM); returns the last number written. */
  async stop(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    return await this.finished();
  }

  #last(): number {
    const match = /last (\d+)/.exec(this.#out);
    if (!match) throw new Error(`the drop writer did not report its last line: ${this.#out}`);
    return Number(match[1]);
  }
}

function flags(args: string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    if (!args[i].startsWith("--") || i + 1 >= args.length) {
      throw new Error(`drop_writer: expected --name value pairs, got ${args.slice(i).join(" ")}`);
    }
    values.set(args[i].slice(2), args[i + 1]);
  }
  return values;
}

async function main(): Promise<void> {
  const values = flags(Deno.args);
  const path = values.get("path");
  if (!path) throw new Error("drop_writer: --path is required");
  const number = (name: string, fallback: number) => {
    const value = Number(values.get(name) ?? fallback);
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`drop_writer: bad --${name}`);
    return value;
  };
  const rate = number("rate", 1000);
  const first = number("first", 1);
  const last = first + number("count", Number.MAX_SAFE_INTEGER - first) - 1;
  const podEvery = number("pod-every", 10);
  const perWrite = number("per-write", 1);
  let stop = false;
  const onSignal = () => (stop = true);
  Deno.addSignalListener("SIGTERM", onSignal);
  const out = new FollowingFile(path, true);
  out.current();
  console.log("ready");
  const started = performance.now();
  let next = first;
  while (!stop && next <= last) {
    // Write what is due at the target rate, then let the signal in.
    const due = Math.min(last, first + Math.floor(((performance.now() - started) / 1000) * rate));
    const time = new Date();
    while (next <= due) {
      let text = "";
      for (let i = 0; i < perWrite && next <= due; i++) text += seqLine(next++, podEvery, time);
      out.write(encoder.encode(text));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  out.close();
  console.log(`last ${next - 1}`);
  Deno.removeSignalListener("SIGTERM", onSignal);
}

if (import.meta.main) await main();
