/**
 * Our reader against the real thing: journal files written by systemd 252's journal-remote in
 * every layout it can write, read by us and by `journalctl`, must give the same entries in the
 * same order with the same MESSAGE, microsecond timestamp and cursor.
 */
import assert from "node:assert/strict";
import { readJournalEntries } from "../../../src/sources/journal/read_all.ts";
import { type JournalEntry, JournalSet } from "../../../src/sources/journal/journal_set.ts";
import { formatJournaldCursor } from "../../../src/sources/journal/location.ts";
import { JournalFile } from "../../../src/sources/journal/journal_file.ts";
import { WindowCache } from "../../../src/sources/journal/window_cache.ts";
import { systemTest } from "../../support/system.ts";
import { listObjects, rawHeader } from "../../support/journal/objects.ts";
import {
  JOURNAL_REMOTE,
  journalctlJson,
  type JournalLayout,
  type JsonEntry,
  mixedEntries,
  TEST_MACHINE_ID,
  writeJournal,
} from "../../support/journal/tools.ts";

const NEEDS = { needs: [JOURNAL_REMOTE, "journalctl"] };

/** Asserts our entries are journalctl's, field by field, in order. */
function assertSameEntries(ours: JournalEntry[], reference: JsonEntry[]): void {
  assert.equal(ours.length, reference.length, "entry count");
  for (let i = 0; i < ours.length; i++) {
    const want = reference[i];
    assert.equal(ours[i].message, want.MESSAGE, `MESSAGE of entry ${i}`);
    assert.equal(String(ours[i].realtime), want.__REALTIME_TIMESTAMP, `realtime of entry ${i}`);
    assert.equal(formatJournaldCursor(ours[i].location), want.__CURSOR, `cursor of entry ${i}`);
  }
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "journal-reader-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const LAYOUTS: Array<{ name: string; layout: JournalLayout; flags: number }> = [
  // What systemd 252 writes by default: COMPRESSED_ZSTD | KEYED_HASH | COMPACT.
  { name: "compact (252 default)", layout: {}, flags: 0x1c },
  { name: "regular", layout: { compact: false }, flags: 0x0c },
  {
    name: "regular, Jenkins hash, uncompressed",
    layout: { compact: false, keyedHash: false, compress: false },
    flags: 0,
  },
  { name: "compact, Jenkins hash", layout: { keyedHash: false }, flags: 0x18 },
];

for (const { name, layout, flags } of LAYOUTS) {
  systemTest(`reader matches journalctl on a ${name} file`, NEEDS, async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/system.journal`;
      await writeJournal(path, mixedEntries({ count: 3000, longEvery: 40 }), layout);
      const bytes = await Deno.readFile(path);
      assert.equal(rawHeader(bytes).incompatibleFlags, flags, "header incompatible flags");
      const compressed = listObjects(bytes).filter((o) => o.type === 1 && (o.flags & 4) !== 0);
      if (layout.compress === false) assert.equal(compressed.length, 0);
      else assert(compressed.length > 0, "no zstd-compressed DATA object in the file");

      const kernel = readJournalEntries({ files: [path] });
      const reference = await journalctlJson(["--file", path, "_TRANSPORT=kernel"]);
      assert(reference.length > 1000, `only ${reference.length} kernel entries`);
      assertSameEntries(kernel, reference);
      if (layout.compress !== false) {
        assert(kernel.some((e) => e.message.length > 512), "no long (compressed) MESSAGE read");
      }

      const all = readJournalEntries({ files: [path], match: null });
      assertSameEntries(all, await journalctlJson(["--file", path]));
      assert.equal(all.length, 3000);
    });
  });
}

systemTest("fields() gives every field of an entry as journalctl shows it", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/system.journal`;
    await writeJournal(path, mixedEntries({ count: 50, longEvery: 7 }));
    const reference = await journalctlJson(["--file", path]);
    const file = JournalFile.open(path, { cache: new WindowCache() });
    try {
      assert.equal(typeof file.refresh(), "object");
      const chain = file.allEntries();
      const decoder = new TextDecoder();
      for (const want of reference) {
        const offset = chain.peek();
        chain.advance();
        const fields = Object.fromEntries(
          file.fields(offset).map(([k, v]) => [k, decoder.decode(v)]),
        );
        for (const [key, value] of Object.entries(want)) {
          if (key.startsWith("__") || key === "_BOOT_ID") continue;
          assert.equal(fields[key], value, key);
        }
      }
      assert.equal(chain.peek(), 0);
    } finally {
      file.close();
    }
  });
});

systemTest(
  "a directory reads like journalctl --directory: machine-id subdirectories, archived copies, other seqnum sources",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const machine = `${dir}/${TEST_MACHINE_ID}`;
      await Deno.mkdir(machine);
      // One journald's history: the first half archived, then the current file holding all of
      // it again (entries stored twice must be shown once).
      const history = mixedEntries({ count: 2400, seed: 7 });
      await writeJournal(`${machine}/system.journal`, history.slice(0, 1200));
      const head = rawHeader(await Deno.readFile(`${machine}/system.journal`));
      assert.equal(head.state, 0);
      await Deno.copyFile(
        `${machine}/system.journal`,
        `${machine}/system@0123456789abcdef0123456789abcdef-0000000000000001-0006440000000000.journal`,
      );
      await writeJournal(`${machine}/system.journal`, history.slice(1200));
      // Another writer (another seqnum source), same boot, interleaved in time.
      await writeJournal(
        `${machine}/user-1000.journal`,
        mixedEntries({ count: 800, seed: 8, startRealtime: history[0].realtime + 333 }),
      );
      // A different boot with a clock that disagrees with the monotonic order, in a file journald
      // set aside as corrupt (`.journal~`, still read).
      await writeJournal(
        `${dir}/remote.journal`,
        mixedEntries({
          count: 500,
          seed: 9,
          bootId: "0badb007000000000000000000000001",
          startRealtime: history[600].realtime,
          startMonotonic: 1_000,
        }),
      );
      await Deno.rename(`${dir}/remote.journal`, `${dir}/remote.journal~`);
      // Not read by sd-journal: namespace directories, other names, deeper levels.
      await Deno.mkdir(`${dir}/${TEST_MACHINE_ID}.ns`);
      await Deno.mkdir(`${machine}/deeper`);
      await writeJournal(
        `${dir}/${TEST_MACHINE_ID}.ns/system.journal`,
        mixedEntries({ count: 20 }),
      );
      await writeJournal(`${machine}/deeper/system.journal`, mixedEntries({ count: 20 }));
      await Deno.writeTextFile(`${machine}/notes.txt`, "not a journal");

      const reference = await journalctlJson(["--directory", dir, "_TRANSPORT=kernel"]);
      const ours = readJournalEntries({ directory: dir });
      assertSameEntries(ours, reference);
      const allReference = await journalctlJson(["--directory", dir]);
      // The 1200 entries stored twice are shown once; entries of the clock-skewed boot that sort
      // before what was already shown are passed over (sd-journal never goes backwards).
      assert.equal(new Set(allReference.map((e) => e.__CURSOR)).size, allReference.length);
      assert(allReference.length < 2400 + 800 + 500 && allReference.length > 3000);
      assertSameEntries(readJournalEntries({ directory: dir, match: null }), allReference);
    });
  },
);

systemTest("reading after a cursor gives what journalctl --after-cursor gives", NEEDS, async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/system.journal`;
    await writeJournal(path, mixedEntries({ count: 5000, seed: 3 }));
    const reference = await journalctlJson(["--file", path, "_TRANSPORT=kernel"]);
    for (const index of [0, 1, 777, reference.length - 2, reference.length - 1]) {
      const cursor = reference[index].__CURSOR;
      const after = await journalctlJson([
        "--file",
        path,
        "--after-cursor",
        cursor,
        "_TRANSPORT=kernel",
      ]);
      const mine = readJournalEntries({ files: [path] })[index].location;
      assertSameEntries(readJournalEntries({ files: [path], after: mine }), after);
    }
  });
});

systemTest(
  "positional reads: the tail of a big file is found without reading it",
  NEEDS,
  async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/system.journal`;
      await writeJournal(path, mixedEntries({ count: 20_000, seed: 4 }));
      const { size } = await Deno.stat(path);
      const cache = new WindowCache();
      const set = new JournalSet({ cache });
      try {
        set.sync([path]);
        set.seekTail();
        assert.deepEqual(set.read(1000).entries, []);
        assert(cache.reads * cache.windowSize < size / 4, `${cache.reads} window reads`);
        const reference = await journalctlJson(["--file", path, "_TRANSPORT=kernel", "-n", "1"]);
        assert.equal(formatJournaldCursor(set.location!), reference[0].__CURSOR);
      } finally {
        set.close();
      }
    });
  },
);
