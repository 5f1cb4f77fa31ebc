/**
 * Damaged journal files (journald crashed mid-write, a disk lost a block, a field compressed
 * with something we cannot decode) are read up to the damage, reported once, and never throw.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { readJournalEntries } from "../../../src/sources/journal/read_all.ts";
import { JournalSet } from "../../../src/sources/journal/journal_set.ts";
import { formatJournaldCursor } from "../../../src/sources/journal/location.ts";
import { createLogger } from "../../../src/log.ts";
import type { SourceEvent } from "../../../src/sources/source.ts";
import { systemTest } from "../../support/system.ts";
import { listObjects, rawHeader } from "../../support/journal/objects.ts";
import {
  JOURNAL_REMOTE,
  journalctlJson,
  type JsonEntry,
  mixedEntries,
  writeJournal,
} from "../../support/journal/tools.ts";

const NEEDS = { needs: [JOURNAL_REMOTE, "journalctl"] };

interface Recorded {
  events: SourceEvent[];
  lines: string[];
}

function recorder(): Recorded & {
  log: ReturnType<typeof createLogger>;
  onEvent: (e: SourceEvent) => void;
} {
  const events: SourceEvent[] = [];
  const lines: string[] = [];
  return {
    events,
    lines,
    log: createLogger({ level: "warn", format: "text", write: (l) => lines.push(l) }),
    onEvent: (e) => events.push(e),
  };
}

/** A real file and journalctl's view of its kernel entries. */
async function realFile(dir: string, count = 3000) {
  const path = `${dir}/system.journal`;
  await writeJournal(path, mixedEntries({ count, seed: 11, longEvery: 30 }));
  const bytes = await Deno.readFile(path);
  const reference = await journalctlJson(["--file", path, "_TRANSPORT=kernel"]);
  return { path, bytes, reference };
}

function seqnumOf(entry: JsonEntry): number {
  return Number.parseInt(/;i=([0-9a-f]+);/.exec(entry.__CURSOR)![1], 16);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "journal-damage-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

systemTest("a truncated file is read up to where it ends, reported once", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const { bytes, reference } = await realFile(dir);
    const tail = rawHeader(bytes).tailObjectOffset;
    // journal-remote sizes the data hash table for a large file: entries start after it.
    const table = listObjects(bytes).find((o) => o.type === 4)!;
    const arena = table.offset + table.size;
    const cuts = [
      { at: table.offset + 1000, some: false }, // inside the hash table: nothing to read
      ...[0.1, 0.5, 0.9].map((f) => ({ at: Math.floor(arena + (tail - arena) * f), some: true })),
    ];
    for (const { at, some } of cuts) {
      const copy = `${dir}/cut.journal`;
      await Deno.writeFile(copy, bytes.subarray(0, at));
      const r = recorder();
      const ours = readJournalEntries({ files: [copy], log: r.log, onEvent: r.onEvent });
      assert(ours.length < reference.length, `cut at ${at}: ${ours.length}`);
      assert.equal(ours.length > 0, some, `cut at ${at}: ${ours.length}`);
      ours.forEach((entry, i) => {
        assert.equal(formatJournaldCursor(entry.location), reference[i].__CURSOR);
        assert.equal(entry.message, reference[i].MESSAGE);
      });
      assert.deepEqual(r.events, ["corrupt"]);
      assert.equal(r.lines.length, 1);
      assert.match(r.lines[0], /damaged.*path=.*cut\.journal/);
    }
  });
});

systemTest("a destroyed entry ends the file there", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const { bytes, reference } = await realFile(dir);
    // Destroy the ENTRY object of a kernel entry in the middle.
    const view = new DataView(bytes.buffer);
    const victimSeqnum = seqnumOf(reference[700]);
    const victim = listObjects(bytes).find((o) =>
      o.type === 3 && Number(view.getBigUint64(o.offset + 16, true)) === victimSeqnum
    )!;
    const copy = bytes.slice();
    copy.fill(0, victim.offset, victim.offset + victim.size);
    await Deno.writeFile(`${dir}/zeroed.journal`, copy);
    const r = recorder();
    const ours = readJournalEntries({ files: [`${dir}/zeroed.journal`], onEvent: r.onEvent });
    const expected = reference.filter((e) => seqnumOf(e) < victimSeqnum);
    assert.equal(expected.length, 700);
    assert.deepEqual(
      ours.map((e) => formatJournaldCursor(e.location)),
      expected.map((e) => e.__CURSOR),
    );
    assert.deepEqual(r.events, ["corrupt"]);
  });
});

systemTest("a field in an unsupported compression is skipped and counted", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const { bytes, reference } = await realFile(dir);
    const copy = bytes.slice();
    // Claim XZ for every zstd DATA object (and in the header), as an old journald would write.
    const compressed = listObjects(copy).filter((o) => o.type === 1 && o.flags === 4);
    assert(compressed.length > 10);
    for (const o of compressed) copy[o.offset + 1] = 1;
    new DataView(copy.buffer).setUint32(12, rawHeader(copy).incompatibleFlags | 1, true);
    await Deno.writeFile(`${dir}/xz.journal`, copy);
    const r = recorder();
    const ours = readJournalEntries({
      files: [`${dir}/xz.journal`],
      log: r.log,
      onEvent: r.onEvent,
    });
    // Every long (compressed) MESSAGE is gone, everything else is there.
    const expected = reference.filter((e) => String(e.MESSAGE).length <= 512);
    assert(expected.length < reference.length);
    assert.deepEqual(ours.map((e) => e.message), expected.map((e) => e.MESSAGE));
    // Counted once per DATA object (a repeated MESSAGE shares one).
    const undecodable = r.events.filter((e) => e === "undecodable").length;
    const distinctLong = new Set(
      reference.map((e) => e.MESSAGE).filter((m) => String(m).length > 512),
    );
    assert.equal(undecodable, distinctLong.size);
    assert.equal(r.lines.length, 1, "one log line per file");
    assert.match(r.lines[0], /cannot be decoded.*xz/);
  });
});

systemTest(
  "damage in a file still being written waits for a grace period, then is reported",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const { bytes, reference } = await realFile(dir);
      const copy = bytes.slice(0, Math.floor(rawHeader(bytes).tailObjectOffset * 0.9));
      copy[16] = 1; // state online: journald may be writing (or crashed while writing)
      await Deno.writeFile(`${dir}/online.journal`, copy);
      let now = 1_000_000;
      const r = recorder();
      const set = new JournalSet({
        damageGraceMs: 5000,
        now: () => now,
        log: r.log,
        onEvent: r.onEvent,
      });
      try {
        set.sync([`${dir}/online.journal`]);
        set.seekHead();
        const first = set.read(100_000);
        assert.equal(first.stop, "blocked");
        assert(first.entries.length > 0);
        assert.deepEqual(r.events, []);
        now += 4000;
        set.refresh();
        assert.deepEqual(set.read(100_000), { entries: [], stop: "blocked" });
        now += 1001;
        const after = set.read(100_000);
        assert.deepEqual(after, { entries: [], stop: "end" });
        assert.deepEqual(r.events, ["corrupt"]);
        assert.match(r.lines[0], /state=online/);
        first.entries.forEach((e, i) => assert.equal(e.message, reference[i].MESSAGE));
        now += 60_000;
        set.refresh();
        set.read(10);
        assert.deepEqual(r.events, ["corrupt"], "reported once");
      } finally {
        set.close();
      }
    });
  },
);

systemTest("random damage to real files never throws out of the reader", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const { bytes } = await realFile(dir, 400);
    const tail = rawHeader(bytes).tailObjectOffset + 64;
    const target = `${dir}/fuzzed.journal`;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(tail - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.option(fc.integer({ min: 0, max: tail }), { nil: undefined }),
        async (mutations, cut) => {
          const copy = bytes.slice(0, cut ?? tail);
          for (const [at, value] of mutations) if (at < copy.length) copy[at] = value;
          await Deno.writeFile(target, copy);
          for (const match of [undefined, null, "MESSAGE=x"]) {
            const r = recorder();
            const entries = readJournalEntries({ files: [target], match, onEvent: r.onEvent });
            for (const e of entries) {
              assert.equal(typeof e.message, "string");
              assert(Number.isSafeInteger(e.realtime));
            }
            assert(r.events.filter((e) => e === "corrupt").length <= 1);
          }
        },
      ),
      { numRuns: 150, seed: 42 },
    );
  });
});

Deno.test("random bytes, empty files and directories named *.journal never throw", async () => {
  const dir = await Deno.makeTempDir({ prefix: "journal-garbage-" });
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 4096 }),
        fc.boolean(),
        async (garbage, signed) => {
          const bytes = garbage.slice();
          if (signed && bytes.length >= 8) bytes.set(new TextEncoder().encode("LPKSHHRH"));
          await Deno.writeFile(`${dir}/g.journal`, bytes);
          const r = recorder();
          const entries = readJournalEntries({ directory: dir, onEvent: r.onEvent });
          assert.deepEqual(entries, []);
          assert(r.events.every((e) => e === "corrupt" || e === "undecodable"));
        },
      ),
      { numRuns: 300, seed: 7 },
    );
    await Deno.mkdir(`${dir}/d.journal`);
    assert.deepEqual(readJournalEntries({ directory: dir }), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
