/**
 * FileSource benchmarks, on real netfilter lines (tests/fixtures/kernel/kern-rfc3339.log):
 *
 * - append-to-delivery latency: one line appended every 2 ms (1000 lines) while FileSource
 *   follows the file (inotify wake-up); time from just before the write to the batch reaching
 *   the consumer, p50 and p99. Baseline: GNU `tail -F -n0` on the same kind of stream, timed to
 *   the line on its stdout.
 * - catch-up throughput: a 200 MB backlog read from the beginning (decoded text handed over in
 *   batches), best of 3. Baseline: `wc -l`, which only counts newlines.
 * @module
 */

import { type BenchRow, percentile } from "./harness.ts";
import { FILE_SOURCE_DEFAULTS, FileSource } from "../../src/sources/file.ts";

const FIXTURE = new URL("../fixtures/kernel/kern-rfc3339.log", import.meta.url);
const SAMPLES = 1000;
const INTERVAL_MS = 2;
const BACKLOG_BYTES = 200 * 1024 * 1024;
const encoder = new TextEncoder();

async function fixtureLines(): Promise<string[]> {
  const text = await Deno.readTextFile(FIXTURE);
  return text.split("\n").filter((line) => line.length > 0);
}

const MARK = /BENCH=(\d+)/g;

/**
 * Appends SAMPLES marked lines, one every INTERVAL_MS, and returns the latency of each as seen
 * by `deliveries` (called with each chunk of delivered text).
 */
async function measureLatency(
  path: string,
  lines: string[],
  follow: (onText: (text: string) => void) => Promise<() => Promise<void>>,
  samples = SAMPLES,
  intervalMs = INTERVAL_MS,
): Promise<number[]> {
  const sentAt = new Array<number>(samples);
  const latency: number[] = [];
  const stop = await follow((text) => {
    const now = performance.now();
    for (const match of text.matchAll(MARK)) latency.push(now - sentAt[Number(match[1])]);
  });
  const file = await Deno.open(path, { append: true });
  try {
    for (let i = 0; i < samples; i++) {
      const line = encoder.encode(`${lines[i % lines.length]} BENCH=${i}\n`);
      sentAt[i] = performance.now();
      file.writeSync(line);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    const deadline = Date.now() + 5000;
    while (latency.length < samples && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    file.close();
    await stop();
  }
  if (latency.length !== samples) throw new Error(`${latency.length}/${samples} lines delivered`);
  return latency.sort((a, b) => a - b);
}

async function followWithFileSource(path: string, onText: (text: string) => void) {
  const controller = new AbortController();
  const source = new FileSource({ path, start: "end" });
  const done = (async () => {
    for await (const batch of source.read(controller.signal)) {
      if (batch.kind === "lines") onText(batch.text);
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 200)); // opened and at the end
  return async () => {
    controller.abort();
    await done;
  };
}

async function followWithTail(path: string, onText: (text: string) => void) {
  const child = new Deno.Command("tail", {
    args: ["-F", "-n", "0", path],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) onText(decoder.decode(chunk, { stream: true }));
  })();
  await new Promise((resolve) => setTimeout(resolve, 200));
  return async () => {
    child.kill("SIGTERM");
    await child.status;
    await reading;
  };
}

/**
 * `tail -F -n0` append-to-stdout latencies (sorted, ms) of `samples` netfilter lines written
 * `intervalMs` apart: the floor any follower of a file sees, as a baseline for other benchmarks.
 */
export async function tailFollowLatencies(samples: number, intervalMs: number): Promise<number[]> {
  const dir = await Deno.makeTempDir({ prefix: "kit-bench-tail-baseline-" });
  try {
    const path = `${dir}/kern.log`;
    await Deno.writeTextFile(path, "");
    return await measureLatency(
      path,
      await fixtureLines(),
      (onText) => followWithTail(path, onText),
      samples,
      intervalMs,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function catchUp(path: string, expectedLines: number): Promise<number> {
  const controller = new AbortController();
  const source = new FileSource({ path, start: "beginning", watch: false });
  let lines = 0;
  const start = performance.now();
  for await (const batch of source.read(controller.signal)) {
    if (batch.kind === "lines") lines += batch.lineCount;
    if (lines >= expectedLines) controller.abort();
  }
  return performance.now() - start;
}

async function wcLines(path: string): Promise<{ ms: number; lines: number }> {
  const start = performance.now();
  const out = await new Deno.Command("wc", { args: ["-l", path], stdout: "piped" }).output();
  const ms = performance.now() - start;
  return { ms, lines: Number(new TextDecoder().decode(out.stdout).trim().split(" ")[0]) };
}

/** Runs the tail benchmark. */
export async function run(): Promise<BenchRow[]> {
  const lines = await fixtureLines();
  const dir = await Deno.makeTempDir({ prefix: "tail-bench-" });
  try {
    const rows: BenchRow[] = [];

    const ours = await measureLatency(
      `${dir}/ours.log`,
      lines,
      (
        onText,
      ) => (Deno.writeFileSync(`${dir}/ours.log`, new Uint8Array()),
        followWithFileSource(`${dir}/ours.log`, onText)),
    );
    const tail = await measureLatency(
      `${dir}/tail.log`,
      lines,
      (
        onText,
      ) => (Deno.writeFileSync(`${dir}/tail.log`, new Uint8Array()),
        followWithTail(`${dir}/tail.log`, onText)),
    );
    for (const p of [50, 99]) {
      const value = percentile(ours, p);
      rows.push({
        name: `tail: append→delivery latency p${p}`,
        value,
        unit: "ms",
        baseline: { name: "tail -F", value: percentile(tail, p) },
        target: "within milliseconds (< 10 ms)",
        met: value < 10,
        note: `${SAMPLES} lines, one per ${INTERVAL_MS} ms, inotify wake-up`,
      });
    }

    // A 200 MB backlog of real netfilter lines.
    const block = lines.join("\n") + "\n";
    const copies = Math.ceil(BACKLOG_BYTES / block.length);
    const backlog = `${dir}/backlog.log`;
    const file = await Deno.open(backlog, { write: true, create: true });
    const blockBytes = encoder.encode(block.repeat(1000));
    for (let written = 0; written < copies; written += 1000) file.writeSync(blockBytes);
    file.close();
    const { size } = await Deno.stat(backlog);
    const wc = await wcLines(backlog);
    let best = Infinity;
    let wcBest = wc.ms;
    for (let i = 0; i < 3; i++) {
      best = Math.min(best, await catchUp(backlog, wc.lines));
      wcBest = Math.min(wcBest, (await wcLines(backlog)).ms);
    }
    const mb = size / 1e6;
    rows.push({
      name: `tail: catch-up of a ${mb.toFixed(0)} MB backlog`,
      value: mb / (best / 1000),
      unit: "MB/s",
      baseline: { name: "wc -l", value: mb / (wcBest / 1000) },
      note: `${wc.lines} lines, decoded to text in ${
        FILE_SOURCE_DEFAULTS.readChunkBytes / 1024
      } KiB batches, best of 3`,
    });
    return rows;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { renderTable } = await import("./harness.ts");
  console.log(renderTable(await run()));
}
