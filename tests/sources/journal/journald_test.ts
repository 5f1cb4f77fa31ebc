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

const run = crypto.randomUUID().slice(0, 8);
const tag = (n: number) => `kitjournal run=${run} n=${n}`;
const TAGGED = new RegExp(`^kitjournal run=${run} n=(\\d+)$`);

/** The numbers of our tagged records, in arrival order (other kernel messages ignored). */
function numbers(records: LogRecord[]): number[] {
  return records.flatMap((r) => {
    const m = TAGGED.exec(r.text);
    return m ? [Number(m[1])] : [];
  });
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
      const vacuum = await new Deno.Command("journalctl", {
        args: ["--directory", journald.directory, "--vacuum-files=1"],
        stdout: "null",
        stderr: "null",
      }).output();
      assert(vacuum.success);
      assert.equal(journald.archived().length, 0, "journalctl --vacuum-files removed archives");
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
        ours.map((e) => [e.message, String(e.realtime)]),
        reference.map((e) => [e.MESSAGE, e.__REALTIME_TIMESTAMP]),
      );
      const times = new Map(ours.map((e) => [e.message, e.realtime]));
      for (const record of afterVacuum.records.filter((r) => TAGGED.test(r.text))) {
        assert.equal(record.time!.getTime(), Math.floor(times.get(record.text)! / 1000));
      }
    });
  },
);
