/**
 * Native reading of systemd journal files: the {@link JournalSource} the daemon runs, and the
 * lower-level pieces it is built from (a directory's files as one ordered stream, one file,
 * cursors).
 *
 * @example
 * ```ts
 * import { JournalSource } from "./src/sources/journal/mod.ts";
 * const source = new JournalSource({ directory: "/var/log/journal", pollIntervalMs: 2000, log });
 * ```
 * @module
 */

export { JournalSource, type JournalSourceOptions } from "./source.ts";
export {
  type JournalEntry,
  JournalSet,
  type JournalSetOptions,
  KERNEL_MATCH,
  type ReadResult,
} from "./journal_set.ts";
export { EntryChain, JournalDamage, JournalFile, type JournalFileOptions } from "./journal_file.ts";
export {
  compareLocations,
  type EntryLocation,
  formatJournaldCursor,
  type JournalCursor,
  parseCursor,
  parseJournaldCursor,
  toCursor,
} from "./location.ts";
export { isJournalFileName, listJournalFiles } from "./directory.ts";
export { readJournalEntries, type ReadJournalOptions } from "./read_all.ts";
