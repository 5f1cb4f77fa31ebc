/**
 * Helpers shared by the FileSource tests: an in-process tail that records what it delivers, and
 * wrappers for the writer (tests/support/log_writer.ts) and driver (tests/support/tail_driver.ts)
 * processes. Not a test file itself.
 * @module
 */

import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { FileSource, type FileSourceOptions } from "../../src/sources/file.ts";
import type { SourceEvent } from "../../src/sources/source.ts";
import { writerSeq } from "../support/log_writer.ts";

const SUPPORT = new URL("../support/", import.meta.url).pathname;

/** Polls `predicate` every 5 ms; throws naming `what` (and `detail()`) after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  detail: () => string = () => "",
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}. ${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One delivered batch, as the tests look at it. */
export interface SeenBatch {
  lines: string[];
  cursor: unknown;
}

/** A FileSource running in this process, recording batches, events and log lines. */
export class TailRun {
  /** Batches with lines. */
  readonly batches: SeenBatch[] = [];
  /** Cursors of the batches without lines that say where reading starts. */
  readonly positions: unknown[] = [];
  #lastCursor: unknown;
  readonly lines: string[] = [];
  readonly events = new Map<SourceEvent, number>();
  readonly logs: string[] = [];
  /** Broken batch invariants (text not newline-terminated, wrong lineCount). */
  readonly problems: string[] = [];
  #controller = new AbortController();
  #done: Promise<void>;

  constructor(options: Omit<FileSourceOptions, "log" | "onEvent">) {
    const log = createLogger({
      level: "debug",
      format: "text",
      write: (line) => this.logs.push(line.trimEnd()),
    });
    const source = new FileSource({
      ...options,
      log,
      onEvent: (event, n = 1) => this.events.set(event, (this.events.get(event) ?? 0) + n),
    });
    this.#done = this.#consume(source);
  }

  async #consume(source: FileSource): Promise<void> {
    for await (const batch of source.read(this.#controller.signal)) {
      if (batch.kind !== "lines") {
        this.problems.push(`unexpected batch kind ${batch.kind}`);
        continue;
      }
      this.#lastCursor = batch.cursor;
      if (batch.lineCount === 0 && batch.text === "") {
        // Where reading starts (no checkpoint placed it): a position without lines.
        this.positions.push(batch.cursor);
        continue;
      }
      if (!batch.text.endsWith("\n")) this.problems.push("batch text does not end in a newline");
      const lines = batch.text.slice(0, -1).split("\n");
      if (lines.length !== batch.lineCount) {
        this.problems.push(`lineCount ${batch.lineCount} but ${lines.length} lines`);
      }
      this.batches.push({ lines, cursor: batch.cursor });
      for (const line of lines) this.lines.push(line); // (a spread overflows the stack)
    }
  }

  /** How often `event` was reported. */
  count(event: SourceEvent): number {
    return this.events.get(event) ?? 0;
  }

  /** How many log lines contain `text`. */
  logged(text: string): number {
    return this.logs.filter((line) => line.includes(text)).length;
  }

  /** The cursor of the last batch (with lines or not). */
  get lastCursor(): unknown {
    return this.#lastCursor;
  }

  /** Writer sequence numbers of the delivered lines (lines without one are skipped). */
  seqs(): number[] {
    return this.lines.map(writerSeq).filter((n): n is number => n !== undefined);
  }

  /** Waits until at least `n` lines were delivered. */
  untilLines(n: number, timeoutMs?: number): Promise<void> {
    return waitFor(() => this.lines.length >= n, `${n} lines`, () => this.summary(), timeoutMs);
  }

  /** Waits until `event` was reported at least `n` times. */
  untilEvent(event: SourceEvent, n = 1): Promise<void> {
    return waitFor(() => this.count(event) >= n, `${n}× ${event}`, () => this.summary());
  }

  /** Waits until a log line containing `text` was written. */
  untilLogged(text: string): Promise<void> {
    return waitFor(() => this.logged(text) > 0, `log "${text}"`, () => this.summary());
  }

  /** Aborts and waits until `read()` returned. */
  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#done;
  }

  summary(): string {
    return `lines=${this.lines.length} last=${JSON.stringify(this.lines.at(-1))} events=${
      JSON.stringify([...this.events])
    } problems=${JSON.stringify(this.problems)}\nlines: ${
      JSON.stringify(this.lines.slice(0, 20))
    }\nlogs:\n${this.logs.slice(-15).join("\n")}`;
  }
}

/** Sequence numbers of the complete writer lines in `bytes`. */
export function seqsIn(bytes: Uint8Array): number[] {
  const text = new TextDecoder().decode(bytes);
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  return complete.split("\n").map(writerSeq).filter((n): n is number => n !== undefined);
}

/** Sequence number of the first line now in `path`, if it has one. */
export async function firstSeq(path: string): Promise<number | undefined> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(4096);
    const n = await file.read(head);
    return seqsIn(head.subarray(0, n ?? 0))[0];
  } finally {
    file.close();
  }
}

/** Whether this process (where the tail runs) has the file now at `path` open. */
export async function processHolds(path: string): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return false;
  }
  for await (const fd of Deno.readDir("/proc/self/fd")) {
    try {
      const target = await Deno.stat(`/proc/self/fd/${fd.name}`);
      if (target.dev === info.dev && target.ino === info.ino) return true;
    } catch {
      // Closed meanwhile.
    }
  }
  return false;
}

/**
 * Waits until the tail has seen the generation now at `path`: it holds the file (after
 * rename or delete rotations) or delivered a line of it (after copytruncate, same file).
 */
export async function untilTailSeesCurrent(
  run: TailRun,
  path: string,
  rotation: "new file" | "truncation",
): Promise<void> {
  if (rotation === "new file") {
    await waitFor(() => processHolds(path), "the tail to open the new file", () => run.summary());
    return;
  }
  await waitFor(
    async () => {
      const first = await firstSeq(path);
      return first !== undefined && (writerSeq(run.lines.at(-1) ?? "") ?? 0) >= first;
    },
    "the tail to read the new generation",
    () => run.summary(),
  );
}

/**
 * Checks that the tail delivered writer lines in strictly increasing order (nothing repeated,
 * no fragment) and returns the numbers up to `last` it did not deliver.
 */
export function checkDelivery(run: TailRun, last: number): number[] {
  assert.deepEqual(run.problems, []);
  const seqs = run.seqs();
  assert.equal(seqs.length, run.lines.length, "every delivered line is a whole writer line");
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] <= seqs[i - 1]) {
      assert.fail(`out of order or repeated: ${seqs[i - 1]} then ${seqs[i]} (line ${i})`);
    }
  }
  const seen = new Set(seqs);
  const missing: number[] = [];
  for (let n = 1; n <= last; n++) if (!seen.has(n)) missing.push(n);
  return missing;
}

/**
 * Waits until the tail delivered writer line `last` (the last one any file still holds), then
 * stops it.
 */
export async function drainAndStop(run: TailRun, last: number): Promise<void> {
  try {
    await waitFor(
      () => writerSeq(run.lines.at(-1) ?? "") === last,
      `the last line (${last}) to be delivered`,
      () => run.summary(),
    );
  } finally {
    await run.stop();
  }
}

/** The highest writer number in any of `contents`. */
export function lastSeqIn(contents: Uint8Array[]): number {
  return Math.max(0, ...contents.map((content) => seqsIn(content).at(-1) ?? 0));
}

/**
 * Numbers up to `last` in none of `contents` (the copies copytruncate made, and the file at
 * the end): what copytruncate itself lost between the end of a copy and the truncation.
 */
export function lostByCopyTruncate(contents: Uint8Array[], last: number): Set<number> {
  const kept = new Set(contents.flatMap(seqsIn));
  const lost = new Set<number>();
  for (let n = 1; n <= last; n++) if (!kept.has(n)) lost.add(n);
  return lost;
}

/** "mean m, p50 p, max x" of `values`. */
export function summarize(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return `mean ${mean.toFixed(2)}, p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(2)}, max ${
    sorted.at(-1)?.toFixed(2)
  }`;
}

/** Appends `text` to `path` (creating it). */
export async function append(path: string, text: string | Uint8Array): Promise<void> {
  const data = typeof text === "string" ? new TextEncoder().encode(text) : text;
  await Deno.writeFile(path, data, { append: true, create: true });
}

/**
 * Compresses `path` with the real gzip, as logrotate's `compress` does: `path.gz` replaces it
 * (with its modification time). Returns the new path.
 */
export async function gzip(path: string): Promise<string> {
  const out = await new Deno.Command("gzip", { args: ["--", path], stderr: "piped" }).output();
  if (!out.success) throw new Error(`gzip ${path}: ${new TextDecoder().decode(out.stderr)}`);
  return `${path}.gz`;
}

/** A fresh temporary directory, removed after `fn`. */
export async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_source_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A run that wakes only on inotify events: the poll is too slow to matter within a test. */
export const EVENTS_ONLY = { pollIntervalMs: 600_000 };

/** The lines of `text` (as {@link numbered} makes it). */
export function lines(text: string): string[] {
  return text.trimEnd().split("\n");
}

/** A first run that delivers `count` lines of `path` from its start, then stops; its cursor. */
export async function readThenStop(path: string, count: number): Promise<unknown> {
  const first = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
  await first.untilLines(count);
  await first.stop();
  if (first.lines.length !== count) {
    throw new Error(`read ${first.lines.length} lines, not ${count}: ${first.summary()}`);
  }
  return JSON.parse(JSON.stringify(first.lastCursor)); // as a checkpoint would
}

/**
 * `dir`/kern.log with lines `prefix`1…`count`, read by a run that then stopped: its path and the
 * cursor a checkpoint would hold.
 */
export async function readNumberedThenStop(
  dir: string,
  prefix: string,
  count = 10,
): Promise<{ path: string; saved: unknown }> {
  const path = `${dir}/kern.log`;
  await append(path, numbered(prefix, 1, count));
  return { path, saved: await readThenStop(path, count) };
}

/** `count` lines `prefix1`… joined with newlines, ending in one. */
export function numbered(prefix: string, from: number, count: number): string {
  let text = "";
  for (let i = from; i < from + count; i++) text += `${prefix}${i}\n`;
  return text;
}

/** Reads a child's stream to the end, as text. */
async function readAll(stream: ReadableStream<Uint8Array>, into: (text: string) => void) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into(decoder.decode(chunk, { stream: true }));
  into(decoder.decode());
}

/** Options of {@link WriterProcess.start}; see tests/support/log_writer.ts. */
export interface WriterOptions {
  path: string;
  count?: number;
  rate?: number;
  perWrite?: number;
  lineBytes?: number;
  first?: number;
  /** Create the path when it is missing (default), or keep writing to the held file. */
  createMissing?: boolean;
}

/** The log writer running as its own process. */
export class WriterProcess {
  #child: Deno.ChildProcess;
  #out = "";
  #reading: Promise<void>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#reading = readAll(child.stdout, (text) => (this.#out += text));
  }

  /** Starts the writer and waits until its file is open. */
  static async start(options: WriterOptions): Promise<WriterProcess> {
    const args = ["run", "-A", `${SUPPORT}log_writer.ts`, "--path", options.path];
    for (
      const [flag, value] of [
        ["count", options.count],
        ["rate", options.rate],
        ["per-write", options.perWrite],
        ["line-bytes", options.lineBytes],
        ["first", options.first],
        ["create-missing", options.createMissing],
      ] as const
    ) {
      if (value !== undefined) args.push(`--${flag}`, String(value));
    }
    const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "inherit" })
      .spawn();
    const writer = new WriterProcess(child);
    await waitFor(() => writer.#out.includes("ready"), "the writer to start");
    return writer;
  }

  /** Waits for the writer to finish on its own; returns the last number written. */
  async finished(): Promise<number> {
    const status = await this.#child.status;
    await this.#reading;
    if (!status.success) throw new Error(`log writer failed: ${status.code}`);
    const match = /last (\d+)/.exec(this.#out);
    if (!match) throw new Error(`log writer printed no last number: ${this.#out}`);
    return Number(match[1]);
  }

  /** Stops the writer (SIGTERM); returns the last number written. */
  stop(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    return this.finished();
  }
}

/** One batch the driver printed. */
export interface DriverBatch {
  cursor: unknown;
  lines: string[];
}

/** Parses the driver's stdout protocol (see tests/support/tail_driver.ts). */
export class DriverOutput {
  /** Cursors of the `R` lines, one per driver start. */
  readonly resumes: unknown[] = [];
  readonly batches: DriverBatch[] = [];
  readonly events = new Map<string, number>();
  /** What happened, in order: batches and resumes (for consumers that replay). */
  readonly log: Array<{ resume: unknown } | { batch: DriverBatch }> = [];
  #partial = "";
  #open: { cursor: unknown; expect: number; lines: string[] } | undefined;

  push(text: string): void {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop()!;
    for (const line of parts) this.#line(line);
  }

  /** The stream ended (the driver exited or was killed): an unfinished batch is dropped. */
  end(): void {
    this.#partial = "";
    this.#open = undefined;
  }

  count(event: string): number {
    return this.events.get(event) ?? 0;
  }

  #line(line: string): void {
    if (this.#open) {
      this.#open.lines.push(line);
      if (this.#open.lines.length === this.#open.expect) {
        const batch = { cursor: this.#open.cursor, lines: this.#open.lines };
        this.batches.push(batch);
        this.log.push({ batch });
        this.#open = undefined;
      }
      return;
    }
    const [tag, rest] = [line.slice(0, 1), line.slice(2)];
    if (tag === "R") {
      const resume = JSON.parse(rest);
      this.resumes.push(resume);
      this.log.push({ resume });
    } else if (tag === "B") {
      const space = rest.indexOf(" ");
      const expect = Number(rest.slice(0, space));
      const cursor = JSON.parse(rest.slice(space + 1));
      if (expect === 0) {
        // A position without lines (where reading starts).
        const batch = { cursor, lines: [] };
        this.batches.push(batch);
        this.log.push({ batch });
      } else {
        this.#open = { cursor, expect, lines: [] };
      }
    } else if (tag === "E") {
      const [event, n] = rest.split(" ");
      this.events.set(event, (this.events.get(event) ?? 0) + Number(n));
    } else {
      throw new Error(`tail driver printed an unexpected line: ${JSON.stringify(line)}`);
    }
  }
}

/** Options of {@link DriverProcess.start}; see tests/support/tail_driver.ts. */
export interface DriverOptions {
  path: string;
  state: string;
  start?: "end" | "beginning";
  pollMs?: number;
  checkpointMs?: number;
  retryMaxMs?: number;
  /** A command prefix, e.g. `["setpriv", "--bounding-set=-dac_override", "--"]`. */
  wrap?: string[];
  /** Parse into this output (shared across restarts); a new one by default. */
  output?: DriverOutput;
}

/** The tail driver running as its own process. */
export class DriverProcess {
  readonly output: DriverOutput;
  stderr = "";
  #child: Deno.ChildProcess;
  #reading: Promise<void>;

  private constructor(child: Deno.ChildProcess, output: DriverOutput) {
    this.#child = child;
    this.output = output;
    this.#reading = Promise.all([
      readAll(child.stdout, (text) => output.push(text)).then(() => output.end()),
      readAll(child.stderr, (text) => (this.stderr += text)),
    ]).then(() => {});
  }

  /** Starts the driver and waits for its `R` line. */
  static async start(options: DriverOptions): Promise<DriverProcess> {
    const args = ["run", "-A", `${SUPPORT}tail_driver.ts`, "--path", options.path];
    args.push("--state", options.state, "--start", options.start ?? "end");
    if (options.pollMs !== undefined) args.push("--poll-ms", String(options.pollMs));
    if (options.checkpointMs !== undefined) {
      args.push("--checkpoint-ms", String(options.checkpointMs));
    }
    if (options.retryMaxMs !== undefined) args.push("--retry-max-ms", String(options.retryMaxMs));
    const [program, ...prefix] = [...(options.wrap ?? []), Deno.execPath()];
    const child = new Deno.Command(program, {
      args: [...prefix, ...args],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = options.output ?? new DriverOutput();
    const driver = new DriverProcess(child, output);
    const resumes = output.resumes.length;
    await waitFor(
      () => output.resumes.length > resumes,
      "the tail driver to start",
      () => driver.stderr,
    );
    return driver;
  }

  /** How many log lines on stderr contain `text`. */
  logged(text: string): number {
    return this.stderr.split("\n").filter((line) => line.includes(text)).length;
  }

  /** Sends `signal` and waits for the process and its streams to end. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
    const status = await this.#child.status;
    await this.#reading;
    return status;
  }
}
