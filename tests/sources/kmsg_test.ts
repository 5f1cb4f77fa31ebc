import { settlesWithin } from "../support/settles.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type KmsgCursor,
  KmsgSource,
  type KmsgSourceOptions,
  parseKmsgCursor,
} from "../../src/sources/kmsg.ts";
import { KmsgLineSplitter } from "../../src/sources/kmsg_lines.ts";
import {
  BootClock,
  estimateBootTimeMs,
  parseUptime,
  readBootId,
} from "../../src/sources/kmsg_boot_time.ts";
import type { KmsgDevice, KmsgReadResult } from "../../src/sources/kmsg_device.ts";
import type { LogRecord, SourceBatch, SourceEvent } from "../../src/sources/source.ts";
import { createLogger } from "../../src/log.ts";
import { systemTest } from "../support/system.ts";
import { KernelLab } from "../support/lab/kernel_lab.ts";
import { TCP4_POD1_TO_POD2, UDP6_POD2_TO_POD3 } from "../support/lab/rules.ts";
import { KmsgTap } from "../support/lab/kmsg_tap.ts";

const FIXTURE = new URL("../fixtures/kernel/kmsg.txt", import.meta.url);
const FIXTURE_TEXT = Deno.readTextFileSync(FIXTURE);
/** The fixture's records: sequence numbers 352..377, all kernel facility, level 4. */
const FIXTURE_LINES = FIXTURE_TEXT.split("\n").filter(Boolean);
const BOOT = Date.UTC(2026, 10, 25, 7, 54, 16, 830);
const encoder = new TextEncoder();

function seqOf(line: string): number {
  return Number(line.split(",")[1]);
}

function messageOf(line: string): string {
  return line.slice(line.indexOf(";") + 1);
}

/** A log that keeps its lines, to assert what was reported. */
function memoryLog() {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", format: "text", write: (l) => lines.push(l) });
  return { log, lines };
}

/** Events reported by a source, summed by kind. */
function eventCounter() {
  const counts: Partial<Record<SourceEvent, number>> = {};
  return {
    counts,
    onEvent: (event: SourceEvent, n = 1) => (counts[event] = (counts[event] ?? 0) + n),
  };
}

/** Collects batches until `enough` says so (or the guard fires), then aborts. */
async function collect(
  options: KmsgSourceOptions,
  enough: (records: LogRecord[], batches: SourceBatch[]) => boolean,
  guardMs = 10_000,
): Promise<{ records: LogRecord[]; batches: SourceBatch[] }> {
  const controller = new AbortController();
  const guard = setTimeout(() => controller.abort(), guardMs);
  const records: LogRecord[] = [];
  const batches: SourceBatch[] = [];
  const source = new KmsgSource({ pollIntervalMs: 5, bootTimeMs: BOOT, ...options });
  try {
    if (enough(records, batches)) return { records, batches };
    for await (const batch of source.read(controller.signal)) {
      assert.equal(batch.kind, "records");
      if (batch.kind === "records") records.push(...batch.records);
      batches.push(batch);
      if (enough(records, batches)) break;
    }
  } finally {
    clearTimeout(guard);
    controller.abort();
  }
  return { records, batches };
}

async function tempFile(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".kmsg" });
  await Deno.writeTextFile(path, text);
  return path;
}

/**
 * The fixture as a kmsg stream with what the real device also produces: dictionary
 * continuation lines, a userspace record (facility 1), an escaped byte, and records 362..364
 * missing (overwritten before they were saved).
 */
function richStream(): { text: string; expected: string[] } {
  const out: string[] = [];
  const expected: string[] = [];
  for (const line of FIXTURE_LINES) {
    const seq = seqOf(line);
    if (seq >= 362 && seq <= 364) continue;
    if (seq === 357) {
      // Userspace wrote this one (facility 1): not delivered, but its number is no gap.
      out.push("14,357,256728821,-;systemd[1]: not a kernel message");
      continue;
    }
    out.push(line);
    expected.push(messageOf(line));
    if (seq === 353) out.push(" SUBSYSTEM=net", " DEVICE=n2");
  }
  out.push("4,378,290000000,-;kube-iptables-tailer: weird\\x09tab and \\x5c backslash");
  expected.push("kube-iptables-tailer: weird\ttab and \\ backslash");
  return { text: out.join("\n") + "\n", expected };
}

// ---------------------------------------------------------------------------------------------
// Pure parts.

Deno.test("KmsgLineSplitter: any chunking gives the same record lines; continuations dropped", () => {
  const { text } = richStream();
  const bytes = encoder.encode(text);
  const whole: string[] = [];
  new KmsgLineSplitter().push(bytes, (l) => whole.push(l));
  assert.equal(whole.filter((l) => l.startsWith(" ")).length, 0);
  assert.equal(whole.length, FIXTURE_LINES.length - 3 + 1);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 20 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
      const lines: string[] = [];
      const splitter = new KmsgLineSplitter();
      for (let i = 1; i < points.length; i++) {
        splitter.push(bytes.subarray(points[i - 1], points[i]), (l) => lines.push(l));
      }
      assert.deepEqual(lines, whole);
    }),
  );
});

Deno.test("KmsgLineSplitter: an endless line is cut at the cap, counted, and skipped whole", () => {
  const splitter = new KmsgLineSplitter(100);
  const lines: string[] = [];
  splitter.push(encoder.encode("4,1,1,-;ok\n4,2,2,-;" + "x".repeat(150)), (l) => lines.push(l));
  splitter.push(encoder.encode("y".repeat(50) + "\n4,3,3,-;next\n"), (l) => lines.push(l));
  assert.deepEqual(lines, ["4,1,1,-;ok", "4,3,3,-;next"]);
  assert.equal(splitter.oversized, 1);
});

Deno.test("parseKmsgCursor: accepts { seq, boot?, bootTimeMs? } only", () => {
  assert.deepEqual(parseKmsgCursor({ seq: 5 }), { seq: 5 });
  assert.deepEqual(parseKmsgCursor({ seq: 0, boot: "b" }), { seq: 0, boot: "b" });
  assert.deepEqual(parseKmsgCursor({ seq: 7, bootTimeMs: 1.5, x: 1 }), { seq: 7, bootTimeMs: 1.5 });
  const bads: unknown[] = [null, 5, "x", {}, { seq: -1 }, { seq: 1.5 }, { seq: "1" }];
  bads.push({ seq: 1, boot: 2 }, { seq: 1, bootTimeMs: "x" });
  for (const bad of bads) {
    assert.equal(parseKmsgCursor(bad), undefined, JSON.stringify(bad));
  }
});

Deno.test("boot time: parses /proc/uptime and agrees with the system's uptime", () => {
  assert.equal(parseUptime("12345.67 23456.78\n"), 12345.67);
  assert.throws(() => parseUptime("garbage"), /unexpected uptime/);
  const boot = estimateBootTimeMs();
  // Deno.osUptime() has whole seconds; both describe the same boot.
  const coarse = Date.now() - Deno.osUptime() * 1000;
  assert.ok(Math.abs(boot - coarse) < 1500, `estimate ${boot} vs ${coarse}`);
  assert.match(
    readBootId() ?? "",
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  );
  assert.equal(readBootId("/nonexistent/boot_id"), undefined);
});

Deno.test("boot time: a frozen uptime still gives an estimate; a clock step is followed", async () => {
  const path = await tempFile("100.00 1.00\n");
  try {
    let now = 1_000_000;
    const fixed = estimateBootTimeMs({ path, now: () => (now += 1), maxSpinMs: 3 });
    assert.ok(Math.abs(fixed - (1_000_000 - 100_000 - 5)) < 10, String(fixed));
    const notes: string[] = [];
    now = 2_000_000;
    const clock = new BootClock({
      uptimePath: path,
      now: () => (now += 1),
      refreshMs: 1000,
      onNote: (m) => notes.push(m),
    });
    assert.equal(clock.mode, "proc");
    const first = clock.bootTimeMs()!;
    assert.ok(Math.abs(first - (2_000_000 - 100_000)) < 40, String(first));
    now += 500; // within refreshMs: not looked at again
    assert.equal(clock.bootTimeMs(), first);
    now += 1000; // the uptime file did not move while the wall clock advanced 1.5 s: a step
    assert.ok(clock.bootTimeMs()! - first > 1000);
    assert.deepEqual(notes, ["wall clock stepped; boot time re-estimated"]);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("boot time: without /proc/uptime, whole-second osUptime calibrated at its tick", async () => {
  const precise = estimateBootTimeMs();
  const clock = new BootClock({ uptimePath: "/nonexistent/uptime" });
  assert.equal(clock.mode, "os");
  assert.ok(Math.abs(clock.bootTimeMs()! - precise) <= 600, "coarse: within half a second");
  await clock.calibrate(new AbortController().signal);
  const error = clock.bootTimeMs()! - precise;
  assert.ok(Math.abs(error) < 100, `calibrated estimate off by ${error} ms`);

  // Aborting the calibration returns at once (it waits for the next second's tick otherwise)
  // and keeps the coarse estimate.
  const aborted = new BootClock({ uptimePath: "/nonexistent/uptime", osUptime: () => 42 });
  await settlesWithin(aborted.calibrate(AbortSignal.abort()), 500, "an aborted calibration");
  assert.equal(aborted.mode, "os");

  const notes: string[] = [];
  const none = new BootClock({
    uptimePath: "/nonexistent/uptime",
    osUptime: () => {
      throw new Deno.errors.NotCapable('Requires sys access to "osUptime"');
    },
    onNote: (m) => notes.push(m),
  });
  assert.equal(none.bootTimeMs(), undefined);
  assert.equal(none.mode, "none");
  assert.deepEqual(notes, ["cannot read the uptime; kmsg records get no time"]);
});

// ---------------------------------------------------------------------------------------------
// The source on recorded records (regular files and FIFOs).

Deno.test("KmsgSource: recorded records from the beginning, with a gap, continuations, escapes", async () => {
  const { text, expected } = richStream();
  const path = await tempFile(text + "not a record at all\n");
  const { counts, onEvent } = eventCounter();
  const { log, lines } = memoryLog();
  try {
    const { records, batches } = await collect(
      { path, start: "beginning", onEvent, log, maxBatchRecords: 7, bootId: "boot-a" },
      (r) => r.length >= expected.length,
    );
    assert.deepEqual(records.map((r) => r.text), expected);
    // Every time is boot time + the record's microseconds (ms precision).
    assert.equal(records[0].time?.getTime(), BOOT + Math.floor(252707962 / 1000));
    assert.ok(batches.every((b) => b.kind === "records" && b.records.length <= 7));
    // Records 362..364 are missing: one gap of 3.
    assert.equal(counts.gap, 3);
    assert.equal(counts.undecodable, 1);
    assert.ok(
      lines.some((l) => l.includes("kernel log records are missing") && l.includes("lost=3")),
    );
    assert.deepEqual(batches.at(-1)!.cursor, { seq: 378, boot: "boot-a", bootTimeMs: BOOT });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: every gap is counted, repeated warnings are held back", async () => {
  const odd = [1, 3, 5, 7, 9].map((seq) => `4,${seq},${seq * 1000},-;kernel: ${seq}`).join("\n");
  const path = await tempFile(odd + "\n");
  const { counts, onEvent } = eventCounter();
  const { log, lines } = memoryLog();
  try {
    const { records } = await collect(
      { path, start: "beginning", onEvent, log, bootId: null },
      (r) => r.length >= 5,
    );
    assert.equal(records.length, 5);
    assert.equal(counts.gap, 4);
    assert.equal(lines.filter((l) => l.includes("records are missing")).length, 1);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: resumes after a saved cursor, counting what was lost meanwhile", async () => {
  const path = await tempFile(FIXTURE_TEXT);
  try {
    const after360 = await collect(
      { path, resumeFrom: { seq: 360, boot: "b" }, bootId: "b" },
      (r) => r.length >= 17,
    );
    assert.deepEqual(after360.records.map((r) => r.text), FIXTURE_LINES.slice(9).map(messageOf));

    // The ring buffer starts at 352: records 301..351 were overwritten while we were away.
    const { counts, onEvent } = eventCounter();
    const after300 = await collect(
      { path, resumeFrom: { seq: 300 }, bootId: null, onEvent },
      (r) => r.length >= FIXTURE_LINES.length,
    );
    assert.equal(after300.records.length, FIXTURE_LINES.length);
    assert.equal(counts.gap, 51);
    assert.deepEqual(after300.batches.at(-1)!.cursor, { seq: 377, bootTimeMs: BOOT });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: a cursor of another boot reads the whole ring buffer", async () => {
  const path = await tempFile(FIXTURE_TEXT);
  const { counts, onEvent } = eventCounter();
  const everything = (r: LogRecord[]) => r.length >= FIXTURE_LINES.length;
  try {
    // Told by the boot id when both sides know it.
    const byId = await collect(
      { path, resumeFrom: { seq: 370, boot: "old", bootTimeMs: BOOT }, bootId: "new", onEvent },
      everything,
    );
    assert.equal(byId.records.length, FIXTURE_LINES.length);
    // Else by the boot time: an hour apart is another boot…
    const byTime = await collect(
      { path, resumeFrom: { seq: 370, bootTimeMs: BOOT - 3_600_000 }, bootId: null, onEvent },
      everything,
    );
    assert.equal(byTime.records.length, FIXTURE_LINES.length);
    // …a second apart (estimates of one boot differ by milliseconds) is the same boot.
    const same = await collect(
      { path, resumeFrom: { seq: 370, bootTimeMs: BOOT + 1000 }, bootId: null, onEvent },
      (r) => r.length >= 7,
    );
    assert.deepEqual(same.records.map((r) => r.text), FIXTURE_LINES.slice(19).map(messageOf));
    // Said for the other boots (the daemon's note of handled drops is void then), not the same.
    assert.deepEqual(counts, { new_boot: 2 });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: unusable cursors are reported and the start option applies", async () => {
  const path = await tempFile(FIXTURE_TEXT);
  try {
    // Not a cursor at all: cursor_invalid, then start "beginning".
    const bad = eventCounter();
    const fromStart = await collect(
      { path, resumeFrom: { offset: 5 }, start: "beginning", onEvent: bad.onEvent },
      (r) => r.length >= FIXTURE_LINES.length,
    );
    assert.equal(fromStart.records.length, FIXTURE_LINES.length);
    assert.equal(bad.counts.cursor_invalid, 1);

    // Ahead of everything the input holds: cursor_invalid, follow from the end.
    const ahead = eventCounter();
    let ready = false;
    const appended = "4,400,300000000,-;kube-iptables-tailer: after the end\n";
    const result = collect(
      {
        path,
        resumeFrom: { seq: 1000 },
        bootId: null,
        onEvent: ahead.onEvent,
        onReady: () => {
          ready = true;
          Deno.writeTextFileSync(path, appended, { append: true });
        },
      },
      (r) => r.length >= 1,
    );
    const { records, batches } = await result;
    assert.ok(ready);
    assert.deepEqual(records.map((r) => r.text), ["kube-iptables-tailer: after the end"]);
    assert.equal(ahead.counts.cursor_invalid, 1);
    assert.equal(ahead.counts.gap, 22, "377 → 400 skips 22 sequence numbers");
    assert.deepEqual(batches[0].cursor, { seq: 400, bootTimeMs: BOOT });
  } finally {
    await Deno.remove(path);
  }
});

/** Records as the Event recorder sees them: text and time in ms (what a replay must repeat). */
function timed(records: LogRecord[]): Array<{ text: string; ms: number | undefined }> {
  return records.map((r) => ({ text: r.text, ms: r.time?.getTime() }));
}

/** What the fixture's records from `seq` on are when timed from `bootTimeMs`. */
function fixtureTimed(bootTimeMs: number, fromSeq = 0) {
  return FIXTURE_LINES.filter((line) => seqOf(line) >= fromSeq).map((line) => ({
    text: messageOf(line),
    ms: bootTimeMs + Math.floor(Number(line.split(",")[2]) / 1000),
  }));
}

Deno.test("KmsgSource: a record delivered again after a restart keeps its exact time", async () => {
  const path = await tempFile(FIXTURE_TEXT);
  try {
    // The first run estimates the boot time at BOOT + 0.6 ms: its records and cursors use the
    // whole millisecond, BOOT + 1.
    const first = await collect(
      { path, start: "beginning", bootTimeMs: BOOT + 0.6, bootId: "b", maxBatchRecords: 5 },
      (r) => r.length >= FIXTURE_LINES.length,
    );
    assert.deepEqual(timed(first.records), fixtureTimed(BOOT + 1));
    // Killed after the second batch was checkpointed: the records after it come again.
    const saved = first.batches[1].cursor;
    assert.deepEqual(saved, { seq: 361, boot: "b", bootTimeMs: BOOT + 1 });
    const replayed = timed(first.records.slice(10));
    // Each restart estimates the boot time again: 1 ms later (same boot id), 40 ms earlier
    // (no boot id: the same boot by its time), 1.4 s later (a coarse whole-second estimate).
    const restarts: Array<[number, string | null]> = [
      [BOOT + 1.6, "b"],
      [BOOT - 40.2, null],
      [BOOT + 1400, "b"],
    ];
    for (const [estimate, bootId] of restarts) {
      const { log, lines } = memoryLog();
      const again = await collect(
        { path, resumeFrom: saved, bootTimeMs: estimate, bootId, log },
        (r) => r.length >= replayed.length,
      );
      assert.deepEqual(timed(again.records), replayed, `estimate ${estimate}`);
      // Its cursors carry the same boot time on, so a third run times them alike.
      assert.equal((again.batches.at(-1)!.cursor as KmsgCursor).bootTimeMs, BOOT + 1);
      const note = lines.find((l) => l.includes("saved cursor's boot time"));
      assert.match(note ?? "", /DEBUG/);
      assert.match(
        note ?? "",
        new RegExp(`differenceMs=${Math.round(estimate - BOOT - 1)}`),
      );
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: a wall clock step while resumed moves the saved boot time by the step", async () => {
  const uptime = await tempFile("100.00 1.00\n"); // frozen: a step shows as the clock moving alone
  const path = await tempFile(FIXTURE_LINES.slice(0, 20).join("\n") + "\n");
  let now = BOOT + 100_000;
  const clock = new BootClock({ uptimePath: uptime, now: () => (now += 0.001), refreshMs: 1000 });
  const estimate = clock.bootTimeMs()!;
  const saved = Math.round(estimate) + 3; // an earlier run's estimate, 3 ms off this one
  try {
    let stepped = false;
    const { records } = await collect(
      {
        path,
        bootClock: clock,
        resumeFrom: { seq: 360, bootTimeMs: saved },
        bootId: null,
        onReady: () => {
          if (stepped) return;
          stepped = true;
          now += 60_000; // NTP steps the wall clock a minute forward, then more records come
          Deno.writeTextFileSync(path, FIXTURE_LINES.slice(20).join("\n") + "\n", { append: true });
        },
      },
      (r) => r.length >= FIXTURE_LINES.length - 9,
    );
    const before = fixtureTimed(saved, 361).slice(0, 11);
    assert.deepEqual(timed(records.slice(0, 11)), before, "timed with the saved boot time");
    const step = clock.bootTimeMs()! - estimate;
    assert.ok(Math.abs(step - 60_000) < 50, `the clock followed the step: ${step}`);
    const after = fixtureTimed(Math.round(saved + step), 372);
    assert.deepEqual(timed(records.slice(11)), after, "moved by the step");
  } finally {
    await Deno.remove(uptime);
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: another boot, or a wall clock step between runs, times from the new estimate", async () => {
  const path = await tempFile(FIXTURE_TEXT);
  const { log, lines } = memoryLog();
  try {
    const everything = (r: LogRecord[]) => r.length >= FIXTURE_LINES.length;
    const byId = await collect(
      { path, resumeFrom: { seq: 370, boot: "old", bootTimeMs: BOOT + 1 }, bootId: "new" },
      everything,
    );
    assert.deepEqual(timed(byId.records), fixtureTimed(BOOT));
    const byTime = await collect(
      { path, resumeFrom: { seq: 370, bootTimeMs: BOOT - 3_600_000 }, bootId: null },
      everything,
    );
    assert.deepEqual(timed(byTime.records), fixtureTimed(BOOT));
    // The same boot, but the wall clock was stepped (NTP) since the cursor was saved: its boot
    // time was wrong by the step, and new records would be too.
    const stepped = await collect(
      { path, resumeFrom: { seq: 370, boot: "b", bootTimeMs: BOOT - 30_000 }, bootId: "b", log },
      (r) => r.length >= 7,
    );
    assert.deepEqual(timed(stepped.records), fixtureTimed(BOOT, 371));
    assert.equal((stepped.batches.at(-1)!.cursor as KmsgCursor).bootTimeMs, BOOT);
    assert.ok(lines.some((l) => l.includes("INFO") && l.includes("differenceMs=30000")));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: start at the end skips what is there and delivers what follows", async () => {
  const path = await tempFile(FIXTURE_TEXT);
  const next = [
    "4,378,290000000,-;kube-iptables-tailer: first new",
    " SUBSYSTEM=net",
    "4,379,290000001,-;kube-iptables-tailer: second new",
  ];
  let readySeq: number | undefined;
  try {
    const { records, batches } = await collect(
      {
        path,
        start: "end",
        bootId: null,
        onReady: (seq) => {
          readySeq = seq;
          Deno.writeTextFileSync(path, next.join("\n") + "\n", { append: true });
        },
      },
      (r) => r.length >= 2,
    );
    assert.equal(readySeq, 377);
    assert.deepEqual(records.map((r) => r.text), [
      "kube-iptables-tailer: first new",
      "kube-iptables-tailer: second new",
    ]);
    assert.deepEqual(batches.at(-1)!.cursor, { seq: 379, bootTimeMs: BOOT });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: a read-ahead queue far smaller than the input still delivers every record, in order", async () => {
  const total = 3000; // ~280 KiB through a queue of 16 KiB: it fills and drains over and over
  const lines: string[] = [];
  for (let seq = 1; seq <= total; seq++) {
    lines.push(`4,${seq},${seq * 1000},-;kube-iptables-tailer: record ${seq} ${"x".repeat(50)}`);
  }
  const path = await tempFile(lines.join("\n") + "\n");
  const { counts, onEvent } = eventCounter();
  try {
    const { records, batches } = await collect(
      { path, start: "beginning", queueBytes: 16 * 1024, onEvent, bootId: null },
      (r) => r.length >= total,
    );
    assert.deepEqual(records.map((r) => r.text), lines.map(messageOf));
    assert.deepEqual(counts, {});
    assert.equal((batches.at(-1)!.cursor as KmsgCursor).seq, total);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KmsgSource: follows a FIFO while it is written, across writers and split records", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/kmsg.fifo`;
  const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.equal(mk.code, 0);
  const controller = new AbortController();
  const guard = setTimeout(() => controller.abort(), 10_000);
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const source = new KmsgSource({
    path: fifo,
    start: "beginning",
    pollIntervalMs: 5,
    bootTimeMs: BOOT,
    bootId: null,
    onReady: () => ready(),
  });
  const received: string[] = [];
  const want = FIXTURE_LINES.length;
  const reading = (async () => {
    for await (const batch of source.read(controller.signal)) {
      if (batch.kind === "records") received.push(...batch.records.map((r) => r.text));
      if (received.length >= want) break;
    }
  })();
  try {
    await isReady; // the reader holds the FIFO open: opening it for writing does not block
    const bytes = encoder.encode(FIXTURE_TEXT);
    const half = Math.floor(bytes.length / 2) + 7; // in the middle of a record
    for (const part of [bytes.subarray(0, half), bytes.subarray(half)]) {
      // Two writers one after the other: between them the FIFO has no writer (reads give EOF).
      const writer = await Deno.open(fifo, { write: true });
      for (let i = 0; i < part.length; i += 1000) {
        await writer.write(part.subarray(i, Math.min(part.length, i + 1000)));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      writer.close();
    }
    await reading;
    assert.deepEqual(received, FIXTURE_LINES.map(messageOf));
  } finally {
    clearTimeout(guard);
    controller.abort();
    await reading;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KmsgSource: an input that appears later is picked up after read errors", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kmsg`;
  const { counts, onEvent } = eventCounter();
  const { log, lines } = memoryLog();
  try {
    const { records } = await collect(
      {
        path,
        start: "beginning",
        log,
        retryMinMs: 5,
        retryMaxMs: 20,
        bootId: null,
        onEvent: (event, n) => {
          onEvent(event, n);
          // The device shows up after the second failed open.
          if (event === "read_error" && counts.read_error === 2) {
            Deno.writeTextFileSync(path, FIXTURE_TEXT);
          }
        },
      },
      (r) => r.length >= FIXTURE_LINES.length,
    );
    assert.equal(records.length, FIXTURE_LINES.length);
    assert.ok((counts.read_error ?? 0) >= 2);
    // Logged once for the streak of one error (counted each time), with what to do, and
    // once when it ends.
    const failed = lines.filter((l) => l.includes("cannot open the kernel log; retrying"));
    assert.equal(failed.length, 1, lines.join("\n"));
    assert.match(failed[0], /mknod .*kmsg c 1 11/);
    assert.equal(lines.filter((l) => l.includes("kernel log is readable again")).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Conditions a test cannot make the kernel produce safely (an overrun of the machine's ring
// buffer would cost every other reader on the machine its records): a device that answers like
// the kernel, measured on Linux 6.18 — EPIPE once when our position was overwritten, then the
// oldest record left; other errors propagate.

class RingDevice implements KmsgDevice {
  #lines: string[];
  #script: Map<number, "overrun" | Error>;
  #reads = 0;
  closed = false;
  constructor(lines: readonly string[], script: Map<number, "overrun" | Error>) {
    this.#lines = [...lines];
    this.#script = script;
  }
  read(buffer: Uint8Array): KmsgReadResult {
    const step = this.#script.get(this.#reads++);
    if (step === "overrun") return "overrun";
    if (step instanceof Error) throw step;
    const line = this.#lines.shift();
    if (line === undefined) return "again";
    return encoder.encodeInto(line + "\n", buffer).written;
  }
  close() {
    this.closed = true;
  }
}

Deno.test("KmsgSource: EPIPE counts the overwritten records as one gap and reading goes on", async () => {
  // Read 352..355, then records 356..365 were overwritten: EPIPE, then 366 onwards.
  const lines = FIXTURE_LINES.filter((l) => seqOf(l) <= 355 || seqOf(l) >= 366);
  const device = new RingDevice(lines, new Map([[4, "overrun"]]));
  const { counts, onEvent } = eventCounter();
  const { log, lines: logged } = memoryLog();
  const { records } = await collect(
    { openDevice: () => device, start: "beginning", onEvent, log, bootId: null },
    (r) => r.length >= lines.length,
  );
  assert.equal(records.length, lines.length);
  assert.equal(counts.gap, 10);
  assert.ok(
    logged.some((l) => l.includes("overwritten before they were read") && l.includes("lost=10")),
  );
  assert.ok(device.closed);
});

Deno.test("KmsgSource: EPIPE while passing over records handled before is no gap", async () => {
  // Resumed after 360: the device is back at 352 and, while we pass over 352..360, the ring
  // buffer wraps over records we had handled (EPIPE). The next new record is 361: none lost.
  const device = new RingDevice(
    FIXTURE_LINES.filter((l) => seqOf(l) !== 355),
    new Map([[3, "overrun"]]),
  );
  const { counts, onEvent } = eventCounter();
  const { records } = await collect(
    { openDevice: () => device, resumeFrom: { seq: 360 }, onEvent, bootId: null },
    (r) => r.length >= FIXTURE_LINES.filter((l) => seqOf(l) > 360).length,
  );
  assert.deepEqual(
    records.map((r) => r.text),
    FIXTURE_LINES.filter((l) => seqOf(l) > 360).map(messageOf),
  );
  assert.equal(counts.gap, undefined);
});

Deno.test("KmsgSource: EPIPE while passing over handled records, then the very next new one, is no gap", async () => {
  // Resumed after 360: while we pass over 352..354 the ring wraps past every record we had
  // handled (355..360 gone). The kernel answers EPIPE and puts us at the oldest left, 361: the
  // record right after our position, so nothing we needed was lost.
  const device = new RingDevice(
    FIXTURE_LINES.filter((l) => seqOf(l) < 355 || seqOf(l) > 360),
    new Map([[3, "overrun"]]),
  );
  const { counts, onEvent } = eventCounter();
  const { log, lines: logged } = memoryLog();
  const { records } = await collect(
    { openDevice: () => device, resumeFrom: { seq: 360 }, onEvent, log, bootId: null },
    (r) => r.length >= FIXTURE_LINES.filter((l) => seqOf(l) > 360).length,
  );
  assert.deepEqual(
    records.map((r) => r.text),
    FIXTURE_LINES.filter((l) => seqOf(l) > 360).map(messageOf),
  );
  assert.equal(counts.gap, undefined);
  assert.ok(!logged.some((l) => l.includes("overwritten")), logged.join("\n"));
});

Deno.test("KmsgSource: from the beginning, EPIPE before the first record is no gap (reading starts at the oldest left)", async () => {
  // A full ring moves on between the open and the first read: the kernel answers EPIPE, then
  // gives the oldest record left. Nothing was read yet, so nothing was skipped. An overrun after
  // that first record is a gap as usual.
  const lines = FIXTURE_LINES.filter((l) => seqOf(l) <= 360 || seqOf(l) >= 364);
  const device = new RingDevice(lines, new Map([[0, "overrun"], [10, "overrun"]]));
  const { counts, onEvent } = eventCounter();
  const { log, lines: logged } = memoryLog();
  const { records } = await collect(
    { openDevice: () => device, start: "beginning", onEvent, log, bootId: null },
    (r) => r.length >= lines.length,
  );
  assert.deepEqual(records.map((r) => r.text), lines.map(messageOf));
  assert.equal(counts.gap, 3, "361..363 only");
  assert.deepEqual(
    logged.filter((l) => l.includes("overwritten before they were read")).length,
    1,
    logged.join("\n"),
  );
  assert.ok(logged.some((l) => l.includes("lost=3") && l.includes("after=360")), logged.join("\n"));
});

Deno.test("KmsgSource: started at the end without a checkpoint, the position is handed out at once; resuming there reads what came after", async () => {
  const first = await collect(
    { openDevice: () => new RingDevice(FIXTURE_LINES.slice(0, 10), new Map()), bootId: null },
    (_records, batches) => batches.length >= 1,
  );
  assert.equal(first.records.length, 0);
  const position = first.batches[0].cursor as KmsgCursor;
  assert.equal(position.seq, seqOf(FIXTURE_LINES[9]));
  const second = await collect(
    {
      openDevice: () => new RingDevice(FIXTURE_LINES, new Map()),
      resumeFrom: position,
      bootId: null,
    },
    (records) => records.length >= FIXTURE_LINES.length - 10,
  );
  assert.deepEqual(second.records.map((r) => r.text), FIXTURE_LINES.slice(10).map(messageOf));
});

Deno.test("KmsgSource: other read errors are reported, the device reopened, nothing repeated", async () => {
  const opened: RingDevice[] = [];
  const { counts, onEvent } = eventCounter();
  const { records } = await collect(
    {
      openDevice: () => {
        // Like the real device, every open starts at the oldest record.
        const failing = opened.length === 0
          ? new Map([[5, Object.assign(new Error("I/O error"), { code: "EIO" })]])
          : new Map();
        opened.push(new RingDevice([...FIXTURE_LINES], failing));
        return opened.at(-1)!;
      },
      start: "beginning",
      onEvent,
      retryMinMs: 1,
      bootId: null,
    },
    (r) => r.length >= FIXTURE_LINES.length,
  );
  assert.deepEqual(records.map((r) => r.text), FIXTURE_LINES.map(messageOf));
  assert.equal(counts.read_error, 1);
  assert.equal(counts.gap, undefined);
  assert.equal(opened.length, 2);
  assert.ok(opened[0].closed);
});

Deno.test("KmsgSource: abort ends read() while it waits for records", async () => {
  const path = await tempFile(FIXTURE_TEXT);
  try {
    const controller = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    const source = new KmsgSource({ path, pollIntervalMs: 60_000, onReady: () => ready() });
    const iterator = source.read(controller.signal)[Symbol.asyncIterator]();
    // Started at the end without a checkpoint: first the position, as a batch without records.
    const position = await iterator.next();
    assert.deepEqual(position.value?.kind === "records" && position.value.records, []);
    assert.equal((position.value?.cursor as KmsgCursor).seq, 377);
    const next = iterator.next();
    await isReady; // now sleeping for up to a minute
    controller.abort();
    assert.deepEqual(await settlesWithin(next, 5_000, "read() after abort"), {
      value: undefined,
      done: true,
    });
  } finally {
    await Deno.remove(path);
  }
});

// ---------------------------------------------------------------------------------------------
// The real /dev/kmsg with the kernel lab.

const KMSG_NEEDS = ["root", "ip", "iptables", "ip6tables", "bash"];

systemTest("KmsgSource on /dev/kmsg delivers the lab's real LOG lines", {
  needs: KMSG_NEEDS,
}, async () => {
  await using lab = await KernelLab.create();
  await lab.dropWithLog(TCP4_POD1_TO_POD2);
  await lab.dropWithLog(UDP6_POD2_TO_POD3);
  // Logged before the source starts at the end: never delivered.
  await lab.send({ from: "pod1", to: "pod2", proto: "tcp", port: 8080 });
  using tap = KmsgTap.open();
  const { counts, onEvent } = eventCounter();
  let sent: Promise<void> | undefined;
  const { records, batches } = await collect(
    {
      bootTimeMs: undefined, // the real estimate from /proc/uptime
      onEvent,
      onReady: () => {
        sent ??= (async () => {
          await lab.send({ from: "pod1", to: "pod2", proto: "tcp", port: 8080, count: 2 });
          await lab.send({ from: "pod2", to: "pod3", proto: "udp", port: 53, family: 6, count: 2 });
        })();
      },
    },
    (r) => r.filter((x) => x.text.startsWith(lab.prefix)).length >= 4,
  );
  await sent;
  const mine = records.filter((r) => r.text.startsWith(lab.prefix));
  assert.equal(mine.length, 4);
  // The very records the kernel holds (the tap reads the device independently).
  const expected = await tap.waitFor((r) => r.text.startsWith(lab.prefix), { count: 4 });
  assert.deepEqual(mine.map((r) => r.text), expected.map((r) => r.text));
  assert.ok(mine[0].text.includes(`SRC=${lab.ips.pod1.v4} DST=${lab.ips.pod2.v4} `));
  assert.ok(mine[3].text.includes(`SRC=${lab.ips.pod2.v6Kernel} DST=${lab.ips.pod3.v6Kernel} `));
  // Wall-clock times: these records were logged within the last few seconds.
  for (const record of mine) {
    const age = Date.now() - record.time!.getTime();
    assert.ok(
      age > -2000 && age < 10_000,
      `record time ${record.time?.toISOString()} (age ${age} ms)`,
    );
  }
  const cursor = batches.at(-1)!.cursor as { seq: number; boot: string };
  assert.ok(cursor.seq >= expected[3].seq);
  assert.equal(cursor.boot, readBootId());
  assert.equal(counts.gap, undefined);
});

systemTest("KmsgSource on /dev/kmsg resumes from its cursor with what was logged meanwhile", {
  needs: KMSG_NEEDS,
}, async () => {
  await using lab = await KernelLab.create();
  await lab.dropWithLog({
    backend: "iptables",
    chain: "FORWARD",
    from: "pod3",
    to: "pod1",
    proto: "udp",
    dport: 514,
  });
  let sent: Promise<void> | undefined;
  const first = await collect(
    {
      onReady: () =>
        void (sent ??= lab.send({ from: "pod3", to: "pod1", proto: "udp", port: 514, count: 2 })),
    },
    (r) => r.filter((x) => x.text.startsWith(lab.prefix)).length >= 2,
  );
  await sent;
  const cursor = first.batches.at(-1)!.cursor;
  // While no source runs: three more drops.
  await lab.send({ from: "pod3", to: "pod1", proto: "udp", port: 514, count: 3 });
  const { counts, onEvent } = eventCounter();
  const second = await collect(
    { resumeFrom: cursor, onEvent },
    (r) => r.filter((x) => x.text.startsWith(lab.prefix)).length >= 3,
  );
  const mine = second.records.filter((r) => r.text.startsWith(lab.prefix));
  assert.equal(mine.length, 3, "exactly the records logged after the cursor");
  assert.equal(counts.gap, undefined);
  assert.equal(counts.cursor_invalid, undefined);
});

systemTest("KmsgSource on /dev/kmsg: abort returns at once while no record arrives", {
  needs: ["root"],
}, async () => {
  const controller = new AbortController();
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  // A long poll interval: only the abort can end the wait.
  const source = new KmsgSource({ pollIntervalMs: 60_000, onReady: () => ready() });
  const iterator = source.read(controller.signal)[Symbol.asyncIterator]();
  assert.deepEqual((await iterator.next()).value?.kind, "records", "the start position");
  const next = iterator.next();
  await isReady;
  const t0 = performance.now();
  controller.abort();
  const result = await settlesWithin(next, 5_000, "read() after abort"); // the poll is a minute
  const elapsed = performance.now() - t0;
  assert.equal(result.done, true);
  console.log(`abort → read() returned in ${elapsed.toFixed(2)} ms`);
});

/** What {@link probe} printed. */
interface ProbeResult {
  records: number;
  withTime: number;
  events: string[];
  cursor?: KmsgCursor;
  /** Each batch's cursor and the time (ms) of its last record. */
  batches: Array<{ cursor: KmsgCursor; ms: number | undefined }>;
  logs: string;
}

/**
 * Runs a small program using KmsgSource under `permissions` (more source options in `extra`);
 * returns what it printed.
 */
async function probe(
  permissions: string[],
  path: string,
  extra: { resumeFrom?: KmsgCursor; maxBatchRecords?: number } = {},
): Promise<ProbeResult> {
  const module = new URL("../../src/sources/kmsg.ts", import.meta.url).href;
  const logModule = new URL("../../src/log.ts", import.meta.url).href;
  const script = `
    import { KmsgSource } from "${module}";
    import { createLogger } from "${logModule}";
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 3000);
    const events = [];
    const source = new KmsgSource({
      path: ${JSON.stringify(path)},
      start: "beginning",
      ...${JSON.stringify(extra)},
      retryMinMs: 100,
      log: createLogger({ level: "warn", format: "json" }),
      onEvent: (e) => events.push(e),
      onReady: () => controller.abort(),
    });
    let records = 0, withTime = 0, cursor;
    const batches = [];
    for await (const batch of source.read(controller.signal)) {
      records += batch.records.length;
      withTime += batch.records.filter((r) => r.time).length;
      cursor = batch.cursor;
      if (batch.records.length > 0) batches.push({ cursor, ms: batch.records.at(-1).time?.getTime() });
    }
    console.log(JSON.stringify({ records, withTime, events, cursor, batches }));
  `;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", ...permissions, `${dir}/probe.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const logs = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, logs);
    return { ...JSON.parse(new TextDecoder().decode(out.stdout)), logs };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

systemTest("KmsgSource without -A: /dev/kmsg is refused by Deno, with a hint in the log", {
  needs: ["root"],
}, async () => {
  const result = await probe(
    ["--allow-read=/dev/kmsg,/proc/uptime", "--allow-sys=osUptime"],
    "/dev/kmsg",
  );
  assert.equal(result.records, 0);
  assert.ok(result.events.length >= 1 && result.events.every((e) => e === "read_error"));
  assert.match(result.logs, /only with --allow-all/);
});

systemTest("KmsgSource without -A reads the device node mounted elsewhere", {
  needs: ["root", "mknod"],
}, async () => {
  // What a DaemonSet gets from a hostPath volume of type CharDevice mounted outside /dev.
  const dir = await Deno.makeTempDir();
  try {
    const node = `${dir}/kmsg`;
    const { major, minor } = (() => {
      const info = Deno.statSync("/dev/kmsg");
      const rdev = info.rdev!;
      return { major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
    })();
    const made = await new Deno.Command("mknod", {
      args: [node, "c", String(major), String(minor)],
    })
      .output();
    assert.equal(made.code, 0);
    const result = await probe([`--allow-read=${dir}`, "--allow-sys=osUptime"], node);
    assert.deepEqual(result.events, []);
    assert.ok(result.records > 0, "the ring buffer holds kernel records");
    assert.equal(result.withTime, result.records, "times from osUptime");
    assert.equal(result.cursor?.boot, undefined, "no boot id without /proc");
    const precise = estimateBootTimeMs();
    assert.ok(Math.abs(result.cursor!.bootTimeMs! - precise) < 100, JSON.stringify(result.cursor));

    // A restart estimates the boot time again (osUptime, calibrated at its tick: a few ms
    // apart), yet the records it delivers again after an older checkpoint keep their times.
    const permissions = [`--allow-read=${dir}`, "--allow-sys=osUptime"];
    const first = await probe(permissions, node, { maxBatchRecords: 1 });
    assert.ok(first.batches.length >= 4, "the ring buffer holds kernel records");
    const checkpoint = first.batches[first.batches.length >> 1].cursor;
    const replay = await probe(permissions, node, { resumeFrom: checkpoint, maxBatchRecords: 1 });
    const timesOf = (batches: ProbeResult["batches"]) =>
      new Map(batches.map((b) => [b.cursor.seq, b.ms]));
    const before = timesOf(first.batches);
    const again = [...timesOf(replay.batches)].filter(([seq]) => before.has(seq));
    assert.ok(again.length >= 2, "records delivered again");
    assert.deepEqual(again, again.map(([seq]) => [seq, before.get(seq)]));
    assert.equal(replay.cursor!.bootTimeMs, checkpoint.bootTimeMs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A device the kernel writes to at `perSecond` records, in real time, into a ring of `capacity`
 * records: a reader that falls further behind is told so (EPIPE) and put at the oldest left.
 */
/**
 * A kernel ring of `capacity` records written at `perSecond` on a virtual clock, which moves only
 * by the waits the source asks for (`wait`) and a few microseconds a read: the source's wait
 * policy decides alone whether it keeps up, whatever the machine's load.
 */
class VirtualRing implements KmsgDevice {
  #nowMs = 0;
  #next = 1;
  constructor(readonly perSecond: number, readonly capacity: number, readonly total: number) {}
  read(buffer: Uint8Array): KmsgReadResult {
    this.#nowMs += 0.005;
    const written = Math.min(this.total, Math.floor((this.#nowMs / 1000) * this.perSecond));
    if (this.#next > written) return "again";
    const oldest = Math.max(1, written - this.capacity + 1);
    if (this.#next < oldest) {
      this.#next = oldest;
      return "overrun";
    }
    const seq = this.#next++;
    return encoder.encodeInto(`6,${seq},${seq * 50},-;calico-packet: record ${seq}\n`, buffer)
      .written;
  }
  /** Whether every record has been written (read or overwritten). */
  get over(): boolean {
    return this.#nowMs / 1000 * this.perSecond >= this.total + this.capacity;
  }
  wait(ms: number): Promise<void> {
    this.#nowMs += ms;
    // A macrotask, so that the test's guard timer can still fire.
    return new Promise((resolve) => setTimeout(resolve, 0));
  }
  close() {}
}

Deno.test("KmsgSource: a flood of 20 000 records/s into a ring of 600 is read without overruns (the waits it asks for while records flow are short)", async () => {
  const total = 12_000; // 0.6 s of flood
  const { counts, onEvent } = eventCounter();
  const ring = new VirtualRing(20_000, 600, total);
  const { records } = await collect(
    {
      openDevice: () => ring,
      start: "beginning",
      pollIntervalMs: 100, // the default: quiet waits are long, waits in a flood must not be
      onEvent,
      bootId: null,
    },
    (r) => r.length >= total || ring.over,
  );
  assert.equal(counts.gap, undefined, `lost ${counts.gap} records`);
  assert.equal(records.length, total);
  assert.equal(records.at(-1)!.text, `calico-packet: record ${total}`);
});
