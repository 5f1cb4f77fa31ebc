/**
 * Journal reading throughput: a 100k-entry journal file written by systemd-journal-remote (90 %
 * kernel netfilter lines, systemd 252's compact zstd layout) read by our native reader, against
 * `journalctl --file F -o cat | wc -l` in the same run. Best of several runs each (warm page
 * cache); journalctl's time includes its process start, as a user would run it.
 * @module
 */

import type { BenchRow } from "./harness.ts";
import { readJournalEntries } from "../../src/sources/journal/read_all.ts";
import { JournalSource } from "../../src/sources/journal/source.ts";
import { JOURNAL_REMOTE, mixedEntries, writeJournal } from "../support/journal/tools.ts";

const ENTRIES = 100_000;
const RUNS = 5;

async function best(
  runs: number,
  fn: () => Promise<number> | number,
): Promise<{ ms: number; count: number }> {
  let ms = Infinity;
  let count = 0;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    count = await fn();
    ms = Math.min(ms, performance.now() - start);
  }
  return { ms, count };
}

async function journalctlLines(args: string): Promise<number> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `journalctl --no-pager ${args} -o cat | wc -l`],
    stdout: "piped",
  }).output();
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** Reads the directory's backlog through the source until `expected` records arrived. */
async function sourceBacklog(dir: string, expected: number): Promise<number> {
  const controller = new AbortController();
  const source = new JournalSource({ directory: dir, start: "beginning", watch: false });
  let records = 0;
  for await (const batch of source.read(controller.signal)) {
    if (batch.kind === "records") records += batch.records.length;
    if (records >= expected) controller.abort();
  }
  return records;
}

/** Runs the journal benchmark. */
export async function run(): Promise<BenchRow[]> {
  const dir = await Deno.makeTempDir({ prefix: "journal-bench-" });
  try {
    const path = `${dir}/system.journal`;
    await writeJournal(path, mixedEntries({ count: ENTRIES, kernelShare: 0.9, seed: 5 }));
    const rows: BenchRow[] = [];
    let kernelCount = 0;
    const cases = [
      { name: "all entries", match: null, filter: "" },
      { name: "kernel entries (_TRANSPORT=kernel)", match: undefined, filter: "_TRANSPORT=kernel" },
    ];
    for (const c of cases) {
      const ours = await best(
        RUNS,
        () => readJournalEntries({ files: [path], match: c.match }).length,
      );
      const theirs = await best(RUNS, () => journalctlLines(`--file ${path} ${c.filter}`));
      if (ours.count !== theirs.count) {
        throw new Error(`${c.name}: we read ${ours.count} entries, journalctl ${theirs.count}`);
      }
      if (c.match === undefined) kernelCount = ours.count;
      const value = ours.count / ours.ms * 1000;
      const baseline = theirs.count / theirs.ms * 1000;
      rows.push({
        name: `journal read, ${c.name} of a 100k-entry file`,
        value,
        unit: "entries/s",
        baseline: { name: "journalctl -o cat (wc -l)", value: baseline },
        target: ">= journalctl",
        met: value >= baseline,
        note: `${ours.count} entries; best of ${RUNS}: ${ours.ms.toFixed(0)} ms vs ${
          theirs.ms.toFixed(0)
        } ms`,
      });
    }
    const source = await best(3, () => sourceBacklog(dir, kernelCount));
    const kernelBaseline = rows[1].baseline!.value;
    rows.push({
      name: "JournalSource backlog to records batches (kernel)",
      value: source.count / source.ms * 1000,
      unit: "entries/s",
      baseline: { name: "journalctl -o cat _TRANSPORT=kernel (wc -l)", value: kernelBaseline },
      target: ">= journalctl",
      met: source.count / source.ms * 1000 >= kernelBaseline,
      note: `${source.count} records in batches of <= 1000; best of 3: ${source.ms.toFixed(0)} ms`,
    });
    return rows;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { renderTable } = await import("./harness.ts");
  if (!(await Deno.stat(JOURNAL_REMOTE).catch(() => undefined))) {
    console.error(`${JOURNAL_REMOTE} is not installed`);
    Deno.exit(1);
  }
  console.log(renderTable(await run()));
}
