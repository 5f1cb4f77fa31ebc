/**
 * One-shot reading of journal files: everything `journalctl --file F…` or
 * `journalctl --directory D` would show (optionally after a cursor), with exact microsecond
 * timestamps. For tools, tests and benchmarks; the daemon follows with {@link JournalSource}.
 *
 * @example
 * ```ts
 * const entries = readJournalEntries({ directory: "/var/log/journal" });
 * for (const e of entries) console.log(e.realtime, e.message);
 * ```
 * @module
 */

import type { Logger } from "../../log.ts";
import type { SourceEventSink } from "../source.ts";
import { listJournalFiles } from "./directory.ts";
import { type JournalEntry, JournalSet } from "./journal_set.ts";
import type { EntryLocation } from "./location.ts";

/** Options of {@link readJournalEntries}: give `files` or `directory`. */
export interface ReadJournalOptions {
  /** Journal files to read together (like repeated `journalctl --file`). */
  files?: string[];
  /** A journal directory (like `journalctl --directory`). */
  directory?: string;
  /** `FIELD=value` entries must carry (default `_TRANSPORT=kernel`); null keeps every entry. */
  match?: string | null;
  /** Start after this entry instead of at the beginning. */
  after?: EntryLocation;
  /** Stop after this many entries. */
  limit?: number;
  log?: Logger;
  onEvent?: SourceEventSink;
}

/** Reads the entries of journal files in journal order. Never throws for damaged files. */
export function readJournalEntries(options: ReadJournalOptions): JournalEntry[] {
  const set = new JournalSet({
    match: options.match,
    log: options.log,
    onEvent: options.onEvent,
    // Nothing is being written here: damage is final at once.
    damageGraceMs: 0,
  });
  try {
    const files = [...options.files ?? []];
    if (options.directory !== undefined) files.push(...listJournalFiles(options.directory).files);
    set.sync(files);
    if (options.after) set.seekAfter(options.after);
    else set.seekHead();
    const limit = options.limit ?? Infinity;
    const entries: JournalEntry[] = [];
    while (entries.length < limit) {
      const result = set.read(Math.min(10_000, limit - entries.length));
      entries.push(...result.entries);
      if (result.stop !== "limit") break;
    }
    return entries;
  } finally {
    set.close();
  }
}
