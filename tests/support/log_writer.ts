/**
 * A log writer process for tail tests: appends numbered lines (`… seq=N`) to a file at a high
 * rate and, like rsyslog after a HUP, reopens the path when it names another file than the one
 * it holds (checked before every write). When the path is missing it creates it, or, with
 * `--create-missing false`, keeps writing to the file it holds until something else creates it
 * (as rsyslog does between logrotate's rename and its HUP; creating it then would race
 * logrotate's own O_EXCL create, which moves such a file aside as `*.backup`). Writes are
 * O_APPEND, so an in-place truncation (copytruncate) makes it continue at the new end.
 *
 * Usage:
 *   deno run -A tests/support/log_writer.ts --path FILE [--count N] [--rate LINES_PER_S]
 *     [--per-write K] [--line-bytes B] [--first N] [--create-missing true|false]
 *
 * Stops after `--count` lines (default: unbounded) or on SIGTERM/SIGINT, then prints
 * `last N` (the last number written) on stdout. Prints `ready` once the file is open.
 *
 * @module
 */

import { FollowingFile } from "./following_file.ts";

const encoder = new TextEncoder();

interface WriterArgs {
  path: string;
  createMissing: boolean;
  count: number;
  rate: number;
  perWrite: number;
  lineBytes: number;
  first: number;
}

function parseArgs(args: string[]): WriterArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    if (!args[i].startsWith("--") || i + 1 >= args.length) {
      throw new Error(`log_writer: expected --name value pairs, got ${args.slice(i).join(" ")}`);
    }
    values.set(args[i].slice(2), args[i + 1]);
  }
  const path = values.get("path");
  if (!path) throw new Error("log_writer: --path is required");
  const createMissing = values.get("create-missing") ?? "true";
  if (createMissing !== "true" && createMissing !== "false") {
    throw new Error("log_writer: --create-missing must be true or false");
  }
  const number = (name: string, fallback: number) => {
    const value = Number(values.get(name) ?? fallback);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`log_writer: bad --${name}`);
    return value;
  };
  return {
    path,
    createMissing: createMissing === "true",
    count: number("count", Number.MAX_SAFE_INTEGER),
    rate: number("rate", 20_000),
    perWrite: number("per-write", 1),
    lineBytes: number("line-bytes", 160),
    first: number("first", 1),
  };
}

/**
 * The text of line `n`: a kernel-log-like line padded to about `bytes` bytes. The number comes
 * last, so the bytes before any line end differ (cursor hashes tell positions apart).
 */
export function writerLine(n: number, bytes: number): string {
  const head = "2026-11-25T08:00:00.000000+00:00 node kernel: kube-iptables-tailer: IN=eth0 ";
  const tail = ` seq=${n}\n`;
  return head + "x".repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
}

/** The number in a line written by this writer (with or without its newline), or undefined. */
export function writerSeq(line: string): number | undefined {
  const match = / seq=(\d+)\n?$/.exec(line);
  return match ? Number(match[1]) : undefined;
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  let stop = false;
  const onSignal = () => (stop = true);
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  const out = new FollowingFile(args.path, args.createMissing);
  out.current();
  console.log("ready");
  const started = performance.now();
  let next = args.first;
  const last = args.first + args.count - 1;
  while (!stop && next <= last) {
    // Write what is due by now at the target rate, then let signals and timers in.
    const due = args.first + Math.floor(((performance.now() - started) / 1000) * args.rate);
    while (next <= Math.min(due, last)) {
      let text = "";
      for (let i = 0; i < args.perWrite && next <= Math.min(due, last); i++) {
        text += writerLine(next++, args.lineBytes);
      }
      out.write(encoder.encode(text));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  out.close();
  console.log(`last ${next - 1}`);
  Deno.removeSignalListener("SIGTERM", onSignal);
  Deno.removeSignalListener("SIGINT", onSignal);
}

if (import.meta.main) await main();
