/**
 * JournalSource against a real systemd-journald reading the real kernel log: records written to
 * /dev/kmsg arrive in order across journald's own rotations, a restart resumes from the cursor
 * with nothing lost or repeated, vacuumed archives are forgotten, and the exact microsecond
 * timestamps agree with journalctl.
 */
import assert from "node:assert/strict";
import { JournalSource } from "../../../src/sources/journal/source.ts";
import { readJournalEntries } from "../../../src/sources/journal/read_all.ts";
import type { LogRecord, SourceEvent } from "../../../src/sources/source.ts";
import { systemTest } from "../../support/system.ts";
import { follow } from "../../support/journal/follow.ts";
import { JOURNALD, withJournald } from "../../support/journal/journald.ts";
import { journalctlJson } from "../../support/journal/tools.ts";
import { createLogger } from "../../../src/log.ts";

let run = crypto.randomUUID().slice(0, 8);
const tag = (n: number) => `kitjournal run=${run} n=${n}`;
let TAGGED = new RegExp(`^kitjournal run=${run} n=(\\d+)$`);

/** Tags the records of the next test apart (journald reads the kernel's whole ring buffer). */
function newRun(): void {
  run = crypto.randomUUID().slice(0, 8);
  TAGGED = new RegExp(`^kitjournal run=${run} n=(\\d+)$`);
}

/** The numbers of our tagged records, in arrival order (other kernel messages ignored). */
function numbers(records: LogRecord[]): number[] {
  return records.flatMap((r) => {
    const m = TAGGED.exec(r.text);
    return m ? [Number(m[1])] : [];
  });
}

/** Waits until journald has stored the kernel record `message` (it reads /dev/kmsg on its own). */
async function stored(directory: string, message: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = await journalctlJson(["--directory", directory, "_TRANSPORT=kernel", "-n", "50"]);
    if (found.some((e) => e.MESSAGE === message)) return;
    if (Date.now() > deadline) throw new Error(`journald did not store "${message}"`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

systemTest(
  "follows journald across rotations and restarts, vacuum included",
  { needs: ["root", JOURNALD, "journalctl"] },
  async () => {
    await withJournald(async (journald) => {
      const events: SourceEvent[] = [];
      const options = {
        directory: journald.directory,
        pollIntervalMs: 500,
        onEvent: (e: SourceEvent) => events.push(e),
      };
      // Started at the end: journald's backlog of older kernel messages is not delivered.
      const first = follow(new JournalSource(options));
      for (const n of range(0, 50)) await journald.kmsg(tag(n));
      await journald.rotate();
      for (const n of range(50, 100)) await journald.kmsg(tag(n));
      const seen = await first.until((records) => numbers(records).length >= 100);
      assert.deepEqual(numbers(seen.records), range(0, 100));
      assert(journald.archived().length >= 1);

      // Down for a while: journald goes on, rotates twice; the restart resumes at the cursor.
      for (const n of range(100, 150)) await journald.kmsg(tag(n));
      await journald.rotate();
      for (const n of range(150, 200)) await journald.kmsg(tag(n));
      await journald.rotate();
      const second = follow(new JournalSource({ ...options, resumeFrom: seen.cursor }));
      for (const n of range(200, 220)) await journald.kmsg(tag(n));
      const resumed = await second.until((records) => numbers(records).includes(219));
      assert.deepEqual(numbers(resumed.records), range(100, 220));

      // Vacuum: journald's archives deleted while we follow; reading goes on.
      const third = follow(new JournalSource({ ...options, resumeFrom: resumed.cursor }));
      await journald.vacuum();
      for (const n of range(220, 240)) await journald.kmsg(tag(n));
      await journald.rotate();
      for (const n of range(240, 260)) await journald.kmsg(tag(n));
      const afterVacuum = await third.until((records) => numbers(records).includes(259));
      assert.deepEqual(numbers(afterVacuum.records), range(220, 260));
      assert(!events.includes("corrupt"), `events: ${events}`);

      // Exact timestamps: our reader and journalctl agree to the microsecond.
      const reference = (await journalctlJson([
        "--directory",
        journald.directory,
        "_TRANSPORT=kernel",
      ])).filter((e) => TAGGED.test(String(e.MESSAGE)));
      const ours = readJournalEntries({ directory: journald.directory })
        .filter((e) => TAGGED.test(e.message));
      assert(ours.length >= 20, `only ${ours.length} tagged entries after vacuum`);
      assert.deepEqual(
        ours.map((e) => [e.message, String(e.realtime), String(e.sourceMonotonic)]),
        reference.map((e) => [e.MESSAGE, e.__REALTIME_TIMESTAMP, e._SOURCE_MONOTONIC_TIMESTAMP]),
      );
      // Records of this boot are timed by the kernel (boot time + its timestamp), which journald,
      // running all along, received at once.
      const bootTimeMs = (afterVacuum.cursor as { bootTimeMs: number }).bootTimeMs;
      assert(typeof bootTimeMs === "number");
      const entries = new Map(ours.map((e) => [e.message, e]));
      for (const record of afterVacuum.records.filter((r) => TAGGED.test(r.text))) {
        const entry = entries.get(record.text)!;
        const time = record.time!.getTime();
        assert.equal(time, bootTimeMs + Math.floor(entry.sourceMonotonic! / 1000));
        assert(Math.abs(time - entry.realtime / 1000) < 1000, `${time} vs ${entry.realtime}`);
      }
    });
  },
);

systemTest(
  "a restart after the saved position was vacuumed away warns and counts the gap",
  { needs: ["root", JOURNALD, "journalctl"] },
  async () => {
    newRun();
    await withJournald(async (journald) => {
      const gaps: number[] = [];
      const lines: string[] = [];
      const log = createLogger({ level: "info", format: "text", write: (l) => lines.push(l) });
      const options = {
        directory: journald.directory,
        pollIntervalMs: 500,
        log,
        onEvent: (e: SourceEvent, n = 1) => e === "gap" && gaps.push(n),
      };
      const first = follow(new JournalSource(options));
      for (const n of range(0, 10)) await journald.kmsg(tag(n));
      const stopped = await first.until((records) => numbers(records).includes(9));
      assert.deepEqual(numbers(stopped.records), range(0, 10));

      // While stopped: more drops, two rotations, and a vacuum down to the current file.
      for (const n of range(10, 30)) await journald.kmsg(tag(n));
      await stored(journald.directory, tag(29));
      await journald.rotate();
      for (const n of range(30, 40)) await journald.kmsg(tag(n));
      await stored(journald.directory, tag(39));
      await journald.rotate();
      await journald.vacuum();
      for (const n of range(40, 50)) await journald.kmsg(tag(n));

      const second = follow(new JournalSource({ ...options, resumeFrom: stopped.cursor }));
      const resumed = await second.until((records) => numbers(records).includes(49));
      assert.deepEqual(numbers(resumed.records), range(40, 50));
      assert.equal(gaps.length, 1, `gap events: ${gaps}`);
      // At least our 30 kernel records were lost (journald logs entries of its own too).
      assert(gaps[0] >= 30, `missing ${gaps[0]}`);
      const warning = lines.find((l) => l.includes("WARN") && l.includes("missing"));
      assert(warning, lines.join(""));
      assert(warning.includes(`missing=${gaps[0]}`), warning);
    });
  },
);
