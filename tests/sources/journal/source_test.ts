/**
 * JournalSource following journal files that systemd-journal-remote is writing: online files
 * growing, start positions, bounded batches, cursors across rotation, a directory that appears
 * late, vacuumed files, abort.
 */
import assert from "node:assert/strict";
import { JournalSource } from "../../../src/sources/journal/source.ts";
import {
  formatJournaldCursor,
  parseCursor,
  toCursor,
} from "../../../src/sources/journal/location.ts";
import type { LogRecord, SourceEvent } from "../../../src/sources/source.ts";
import { BootClock } from "../../../src/sources/kmsg_boot_time.ts";
import { createLogger } from "../../../src/log.ts";
import { systemTest } from "../../support/system.ts";
import { follow } from "../../support/journal/follow.ts";
import { withFailingWatches } from "../../support/failing_watch.ts";
import { rawHeader } from "../../support/journal/objects.ts";
import {
  JOURNAL_REMOTE,
  journalctlJson,
  JournalRemoteWriter,
  type JsonEntry,
  mixedEntries,
  TEST_BOOT_ID,
  TEST_MACHINE_ID,
  writeJournal,
} from "../../support/journal/tools.ts";
import type { ExportEntry } from "../../support/journal/export_format.ts";

const NEEDS = { needs: [JOURNAL_REMOTE, "journalctl"] };

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "journal-source-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts records are exactly journalctl's entries (text, and time at ms precision). */
function assertRecordsAre(records: LogRecord[], reference: JsonEntry[]): void {
  assert.deepEqual(records.map((r) => r.text), reference.map((e) => e.MESSAGE));
  records.forEach((r, i) => {
    const usec = Number(reference[i].__REALTIME_TIMESTAMP);
    assert.equal(r.time!.getTime(), Math.floor(usec / 1000), `time of record ${i}`);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

systemTest("follows an online file while journal-remote appends to it", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const machine = `${dir}/${TEST_MACHINE_ID}`;
    await Deno.mkdir(machine);
    const path = `${machine}/system.journal`;
    const entries = mixedEntries({ count: 4000, seed: 21, longEvery: 50 });
    const writer = new JournalRemoteWriter(path);
    await writer.write(entries.slice(0, 100));
    while ((await Deno.stat(path).catch(() => undefined)) === undefined) await sleep(10);
    const source = new JournalSource({ directory: dir, start: "beginning", pollIntervalMs: 250 });
    const run = follow(source);
    let sawOnline = false;
    for (let i = 100; i < entries.length; i += 300) {
      await writer.write(entries.slice(i, i + 300));
      await sleep(30);
      sawOnline ||= rawHeader(await Deno.readFile(path)).state === 1;
    }
    await writer.close();
    assert(sawOnline, "the file was online while we read it");
    const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
    const seen = await run.until((records) => records.length >= reference.length);
    assertRecordsAre(seen.records, reference);
    assert(seen.batches.length > 1, "delivered as the file grew");
    const cursor = parseCursor(seen.cursor);
    assert(typeof cursor !== "string");
    assert.equal(formatJournaldCursor(cursor), reference.at(-1)!.__CURSOR);
  });
});

systemTest("start at the end reads only what is written afterwards", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/system.journal`;
    const entries = mixedEntries({ count: 1000, seed: 22 });
    await writeJournal(path, entries.slice(0, 600));
    const before = await journalctlJson(["--file", path, "_TRANSPORT=kernel"]);
    const run = follow(new JournalSource({ directory: dir, pollIntervalMs: 200 }));
    await writeJournal(path, entries.slice(600));
    const reference = (await journalctlJson(["--file", path, "_TRANSPORT=kernel"]))
      .slice(before.length);
    assert(reference.length > 100);
    const seen = await run.until((records) => records.length >= reference.length);
    assertRecordsAre(seen.records, reference);
  });
});

systemTest(
  "started at the end without a checkpoint, the position is handed out at once: a run that read nothing still leaves one",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/system.journal`;
      const entries = mixedEntries({ count: 1000, seed: 24 });
      await writeJournal(path, entries.slice(0, 600));
      const before = await journalctlJson(["--file", path, "_TRANSPORT=kernel"]);
      const first = follow(new JournalSource({ directory: dir, pollIntervalMs: 60_000 }));
      await sleep(100);
      const stopped = await first.stop();
      assert.deepEqual(stopped.records, []);
      assert.equal(stopped.batches.length, 1);
      const position = parseCursor(JSON.parse(JSON.stringify(stopped.cursor)));
      assert(typeof position !== "string");
      assert.equal(formatJournaldCursor(position), before.at(-1)!.__CURSOR, "the newest entry");

      await writeJournal(path, entries.slice(600)); // while no reader runs
      const reference = (await journalctlJson(["--file", path, "_TRANSPORT=kernel"]))
        .slice(before.length);
      assert(reference.length > 100);
      const resumed = new JournalSource({ directory: dir, resumeFrom: stopped.cursor });
      const seen = await follow(resumed).until((records) => records.length >= reference.length);
      assertRecordsAre(seen.records, reference);
    });
  },
);

systemTest("batches are bounded and a backlog is delivered in order", NEEDS, async () => {
  await withTempDir(async (dir) => {
    await writeJournal(`${dir}/system.journal`, mixedEntries({ count: 5000, seed: 23 }));
    const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
    const source = new JournalSource({ directory: dir, start: "beginning", maxBatchRecords: 100 });
    const seen = await follow(source).until((records) => records.length >= reference.length);
    assertRecordsAre(seen.records, reference);
    assert(seen.batches.every((b) => b.kind === "records" && b.records.length <= 100));
    assert.equal(seen.batches.length, Math.ceil(reference.length / 100));
  });
});

systemTest(
  "a cursor resumes after rotation: archived, new file, nothing lost or repeated",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const current = `${dir}/system.journal`;
      const entries = mixedEntries({ count: 3000, seed: 24 });
      await writeJournal(current, entries.slice(0, 1000));
      const first = await follow(new JournalSource({ directory: dir, start: "beginning" }))
        .until((records) => records.length >= 1);
      const firstAll = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
      // The saved cursor is somewhere in the first file; it then grows and is archived.
      const savedAt = first.records.length;
      assert.equal(savedAt, firstAll.length, "the whole first file arrived in one batch");
      await writeJournal(current, entries.slice(1000, 2000));
      const header = rawHeader(await Deno.readFile(current));
      assert.equal(header.state, 0);
      const seqnumId = (await journalctlJson(["--file", current, "-n", "1"]))[0].__CURSOR.slice(
        2,
        34,
      );
      await Deno.rename(
        current,
        `${dir}/system@${seqnumId}-0000000000000001-0006440000000000.journal`,
      );
      await writeJournal(current, entries.slice(2000));

      const events: SourceEvent[] = [];
      const resumed = new JournalSource({
        directory: dir,
        resumeFrom: JSON.parse(JSON.stringify(first.cursor)),
        onEvent: (e) => events.push(e),
      });
      const cursorText = formatJournaldCursor(parseCursor(first.cursor) as never);
      const reference = await journalctlJson([
        "--directory",
        dir,
        "--after-cursor",
        cursorText,
        "_TRANSPORT=kernel",
      ]);
      const all = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
      assert.equal(reference.length, all.length - savedAt);
      const seen = await follow(resumed).until((records) => records.length >= reference.length);
      assertRecordsAre(seen.records, reference);
      assert.deepEqual(events, []);
    });
  },
);

systemTest(
  "the archived file is followed to its end when rotated while we read",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const current = `${dir}/system.journal`;
      const entries = mixedEntries({ count: 2000, seed: 25 });
      const writer = new JournalRemoteWriter(current);
      await writer.write(entries.slice(0, 500));
      while ((await Deno.stat(current).catch(() => undefined)) === undefined) await sleep(10);
      const events: SourceEvent[] = [];
      const run = follow(
        new JournalSource({
          directory: dir,
          start: "beginning",
          pollIntervalMs: 100,
          onEvent: (e) => events.push(e),
        }),
      );
      await writer.write(entries.slice(500, 1000));
      await sleep(100);
      // Rotation as journald does it: rename the online file, keep writing it to the end, then
      // start a new file.
      await Deno.rename(current, `${dir}/system@0123456789abcdef0123456789abcdef-1-1.journal`);
      await writer.write(entries.slice(1000, 1500));
      await writer.close();
      await writeJournal(current, entries.slice(1500));
      const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
      const seen = await run.until((records) => records.length >= reference.length);
      assertRecordsAre(seen.records, reference);
      assert(events.includes("rotation"));
    });
  },
);

systemTest(
  "a directory that appears later is read from its start (logged since we started)",
  NEEDS,
  async () => {
    await withTempDir(async (parent) => {
      const dir = `${parent}/journal`;
      const events: SourceEvent[] = [];
      const run = follow(
        new JournalSource({ directory: dir, pollIntervalMs: 100, onEvent: (e) => events.push(e) }),
      );
      await sleep(150);
      await Deno.mkdir(`${dir}/${TEST_MACHINE_ID}`, { recursive: true });
      await writeJournal(
        `${dir}/${TEST_MACHINE_ID}/system.journal`,
        mixedEntries({ count: 200, startRealtime: Date.now() * 1000 }),
      );
      const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
      const seen = await run.until((records) => records.length >= reference.length);
      assertRecordsAre(seen.records, reference);
      assert.deepEqual(events, ["read_error"], "the missing directory is reported once");
    });
  },
);

systemTest("vacuumed files are forgotten; reading goes on", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const entries = mixedEntries({ count: 1500, seed: 26 });
    await writeJournal(`${dir}/system@aaaa.journal`, entries.slice(0, 500));
    await writeJournal(`${dir}/system.journal`, entries.slice(500, 1000));
    const events: SourceEvent[] = [];
    const run = follow(
      new JournalSource({
        directory: dir,
        start: "beginning",
        pollIntervalMs: 100,
        onEvent: (e) => events.push(e),
      }),
    );
    const before = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
    await Deno.remove(`${dir}/system@aaaa.journal`);
    await writeJournal(`${dir}/system.journal`, entries.slice(1000));
    const after = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
    const fresh = after.filter((e) => !before.some((b) => b.__CURSOR === e.__CURSOR));
    const reference = [...before, ...fresh];
    const seen = await run.until((records) => records.length >= reference.length);
    assertRecordsAre(seen.records, reference);
    assert(!events.includes("gap"), "a file read to its end leaves no gap");
  });
});

systemTest("an unusable saved cursor is reported and the start position used", NEEDS, async () => {
  await withTempDir(async (dir) => {
    await writeJournal(`${dir}/system.journal`, mixedEntries({ count: 300, seed: 27 }));
    const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
    for (const resumeFrom of [{ v: 9 }, "s=garbage", 42]) {
      const events: SourceEvent[] = [];
      const source = new JournalSource({
        directory: dir,
        resumeFrom,
        start: "beginning",
        onEvent: (e) => events.push(e),
      });
      const seen = await follow(source).until((records) => records.length >= reference.length);
      assertRecordsAre(seen.records, reference);
      assert.deepEqual(events, ["cursor_invalid"]);
    }
  });
});

systemTest(
  "abort ends read promptly and leaves no open files or watchers",
  { ...NEEDS, sanitizeResources: true, sanitizeOps: true },
  async () => {
    await withTempDir(async (dir) => {
      await writeJournal(`${dir}/system.journal`, mixedEntries({ count: 100 }));
      const controller = new AbortController();
      const source = new JournalSource({ directory: dir, pollIntervalMs: 60_000 });
      const reading = (async () => {
        const batches = [];
        for await (const batch of source.read(controller.signal)) batches.push(batch);
        return batches;
      })();
      await sleep(50);
      controller.abort();
      // Only where reading started (the end: no entries), handed out as a position.
      const batches = await reading;
      assert.deepEqual(batches.map((b) => b.kind === "records" && b.records.length), [0]);
    });
  },
);

systemTest(
  "entries appended to a file that is then rotated and vacuumed before we looked are still read",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const current = `${dir}/system.journal`;
      const entries = mixedEntries({ count: 1500, seed: 28 });
      await writeJournal(current, entries.slice(0, 500));
      const events: SourceEvent[] = [];
      const source = new JournalSource({
        directory: dir,
        start: "beginning",
        pollIntervalMs: 50,
        watch: false,
        onEvent: (e) => events.push(e),
      });
      const controller = new AbortController();
      const reading = source.read(controller.signal)[Symbol.asyncIterator]();
      const records: LogRecord[] = [];
      const first = await reading.next();
      assert(!first.done && first.value.kind === "records");
      records.push(...first.value.records);
      assert(records.length > 0);
      // The reader is held at its yield (as if SIGSTOPped): the file grows, is archived, a new
      // file is started, and the archive is deleted, all before the reader looks again.
      await writeJournal(current, entries.slice(500, 1000));
      const full = await journalctlJson(["--file", current, "_TRANSPORT=kernel"]);
      assert(full.length > records.length + 100);
      const archived = `${dir}/system@0123456789abcdef0123456789abcdef-1-1.journal`;
      await Deno.rename(current, archived);
      await writeJournal(current, entries.slice(1000));
      const later = await journalctlJson(["--file", current, "_TRANSPORT=kernel"]);
      await Deno.remove(archived);
      const reference = [...full, ...later];
      // Aborting ends the source's wait, so `next()` returns at the deadline at the latest.
      const deadline = setTimeout(() => controller.abort(), 5_000);
      try {
        while (records.length < reference.length) {
          const next = await reading.next();
          if (next.done) break;
          if (next.value.kind === "records") records.push(...next.value.records);
        }
      } finally {
        clearTimeout(deadline);
        controller.abort();
        await reading.return(undefined);
      }
      assertRecordsAre(records, reference);
      assert(!events.includes("gap"), `events: ${events}`);
    });
  },
);

systemTest(
  "kernel entries of the running boot are timed by the kernel, not by journald's late receipt",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const bootTimeMs = Date.UTC(2026, 10, 25, 8);
      const otherBoot = "0badb007000000000000000000000001";
      // Drops the kernel logged 2 s after boot that journald received only at 40 s (it started
      // late, or was down), one of another boot, and one without the kernel's time.
      const entries: ExportEntry[] = [];
      const kernel = (message: string, sourceUs: number | undefined, receivedUs: number) => ({
        realtime: bootTimeMs * 1000 + receivedUs,
        monotonic: receivedUs,
        bootId: TEST_BOOT_ID,
        fields: {
          _TRANSPORT: "kernel",
          PRIORITY: "4",
          ...(sourceUs === undefined ? {} : { _SOURCE_MONOTONIC_TIMESTAMP: String(sourceUs) }),
          MESSAGE: message,
        },
      });
      entries.push(kernel("early 1", 2_000_123, 40_000_000));
      entries.push(kernel("early 2", 2_500_999, 40_000_100));
      entries.push(kernel("no kernel time", undefined, 40_000_200));
      entries.push({
        ...kernel("other boot", 1_000_000, 9_000_000),
        bootId: otherBoot,
        realtime: (bootTimeMs - 3_600_000) * 1000 + 9_000_000,
      });
      await writeJournal(`${dir}/system.journal`, entries);
      const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
      const byMessage = new Map(reference.map((e) => [String(e.MESSAGE), e]));
      const expected = (boot: number) => (message: string) => {
        const e = byMessage.get(message)!;
        const source = e._SOURCE_MONOTONIC_TIMESTAMP;
        return e._BOOT_ID === TEST_BOOT_ID && source !== undefined
          ? boot + Math.floor(Number(source) / 1000)
          : Math.floor(Number(e.__REALTIME_TIMESTAMP) / 1000);
      };
      const times = (records: LogRecord[]) =>
        Object.fromEntries(records.map((r) => [r.text, r.time!.getTime()]));
      const want = (boot: number) =>
        Object.fromEntries(reference.map((e) => [e.MESSAGE, expected(boot)(String(e.MESSAGE))]));

      // The running boot known by its id, and recognised by its entries' clocks without it.
      for (const bootId of [TEST_BOOT_ID, null]) {
        const source = new JournalSource({
          directory: dir,
          start: "beginning",
          bootClock: new BootClock({ bootTimeMs }),
          bootId,
        });
        const seen = await follow(source).until((r) => r.length >= reference.length);
        assert.deepEqual(times(seen.records), want(bootTimeMs), `boot id ${bootId}`);
        assert.equal(seen.records[0].time!.toISOString(), "2026-11-25T08:00:02.000Z");
      }

      // A restart in the same boot keeps the boot time saved with the cursor (estimates differ
      // by a few ms), so a replayed drop has the same time.
      const first = await follow(
        new JournalSource({
          directory: dir,
          start: "beginning",
          bootClock: new BootClock({ bootTimeMs: bootTimeMs + 4 }),
          bootId: TEST_BOOT_ID,
        }),
      ).until((r) => r.length >= 1);
      const saved = JSON.parse(JSON.stringify(first.cursor));
      assert.equal(saved.bootTimeMs, bootTimeMs + 4);
      const firstEntry = parseCursor(reference[0].__CURSOR);
      assert(typeof firstEntry !== "string");
      const resumed = await follow(
        new JournalSource({
          directory: dir,
          resumeFrom: { ...toCursor(firstEntry), bootTimeMs: saved.bootTimeMs },
          bootClock: new BootClock({ bootTimeMs }),
          bootId: TEST_BOOT_ID,
        }),
      ).until((r) => r.length >= reference.length - 1);
      const later = want(bootTimeMs + 4);
      delete later["early 1"];
      assert.deepEqual(times(resumed.records), later);
    });
  },
);

systemTest(
  "a directory without journal files is warned about once, naming the machine-id subdirectory",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const machine = `${dir}/${TEST_MACHINE_ID}`;
      await Deno.mkdir(machine);
      const lines: string[] = [];
      const log = createLogger({ level: "info", format: "text", write: (l) => lines.push(l) });
      const run = follow(
        new JournalSource({ directory: dir, start: "beginning", pollIntervalMs: 30, log }),
      );
      await sleep(200); // several listings
      const warnings = () => lines.filter((l) => l.includes("WARN"));
      assert.equal(warnings().length, 1, lines.join(""));
      assert(warnings()[0].includes("no journal files found"), warnings()[0]);
      assert(warnings()[0].includes(TEST_MACHINE_ID), warnings()[0]);
      // Reading starts once journald writes there; no further warning.
      await writeJournal(`${machine}/system.journal`, mixedEntries({ count: 100, seed: 29 }));
      const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
      const seen = await run.until((records) => records.length >= reference.length);
      assertRecordsAre(seen.records, reference);
      assert.equal(warnings().length, 1, lines.join(""));
    });
  },
);

systemTest(
  "started at the end before any file was there: a file found later gives only what was logged since",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const machine = `${dir}/${TEST_MACHINE_ID}`;
      await Deno.mkdir(machine);
      const startedAt = Date.now() * 1000;
      const run = follow(new JournalSource({ directory: dir, pollIntervalMs: 50 }));
      await sleep(100);
      // The file shows up only now (absent, or unreadable, when we started): it holds entries
      // logged an hour before our start, then entries logged after it.
      const before = mixedEntries({ count: 300, seed: 30, startRealtime: startedAt - 3600e6 });
      const after = mixedEntries({
        count: 300,
        seed: 31,
        startRealtime: Date.now() * 1000,
        startMonotonic: before.at(-1)!.monotonic + 3600e6,
      });
      await writeJournal(`${machine}/system.journal`, [...before, ...after]);
      const reference = (await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]))
        .filter((e) => Number(e.__REALTIME_TIMESTAMP) >= startedAt);
      assert(reference.length > 50);
      const seen = await run.until((records) => records.length >= reference.length);
      assertRecordsAre(seen.records, reference);
    });
  },
);

Deno.test("JournalSource: a directory watch that fails is closed (its inotify watch released), not only forgotten", async () => {
  await withTempDir(async (dir) => {
    await withFailingWatches(async (watchers) => {
      const run = follow(new JournalSource({ directory: dir, pollIntervalMs: 30 }));
      await new Promise((r) => setTimeout(r, 200));
      await run.stop();
      assert.ok(watchers.length >= 2, `re-armed after the failure (${watchers.length} watches)`);
      assert.ok(watchers.every((w) => w.closed), "every watch that failed is closed");
    });
  });
});
