/**
 * The journal files of one directory read as one stream, like an `sd_journal` opened on it:
 * files come and go ({@link JournalSet.sync}), grow ({@link JournalSet.refresh}), and their
 * entries (optionally only those with one field value, e.g. `_TRANSPORT=kernel`) are interleaved
 * in journalctl's order by {@link Interleaver}. Synchronous; the caller decides when to look.
 *
 * Damage never escapes: a file is read up to its first damage, which is logged once and counted
 * (`corrupt`). A file still being written (online) may look damaged for a moment while journald
 * links a new entry, so there the merge waits (up to `damageGraceMs`) before giving up on it.
 *
 * @example
 * ```ts
 * const set = new JournalSet({ log });
 * set.sync(listJournalFiles("/var/log/journal").files);
 * set.seekHead();
 * for (const entry of set.read(1000).entries) console.log(entry.realtime, entry.message);
 * set.close();
 * ```
 * @module
 */

import type { Logger } from "../../log.ts";
import { silentLogger } from "../../log.ts";
import type { SourceEventSink } from "../source.ts";
import { FileState, stateName } from "./format.ts";
import { type EntryChain, JournalDamage, JournalFile } from "./journal_file.ts";
import { compareLocations, type EntryLocation } from "./location.ts";
import { Interleaver, type MergeStream } from "./merge.ts";
import { WindowCache } from "./window_cache.ts";

/** The field value a journal source keeps by default: messages of the kernel. */
export const KERNEL_MATCH = "_TRANSPORT=kernel";

/** One entry read from the set. */
export interface JournalEntry {
  /** The entry's MESSAGE. */
  message: string;
  /** Wall-clock time in microseconds since the epoch (journalctl's `__REALTIME_TIMESTAMP`). */
  realtime: number;
  /**
   * `_SOURCE_MONOTONIC_TIMESTAMP` when the entry has one (kernel messages): the kernel's time of
   * the record, microseconds since the boot `location.bootId`.
   */
  sourceMonotonic?: number;
  /** Where the entry sits; `toCursor(location)` resumes after it. */
  location: EntryLocation;
  /** The file it was read from. */
  path: string;
}

/** Options of {@link JournalSet}. */
export interface JournalSetOptions {
  /** Keep only entries with this `FIELD=value` (default {@link KERNEL_MATCH}); null keeps all. */
  match?: string | null;
  log?: Logger;
  onEvent?: SourceEventSink;
  /** Read windows, possibly shared (default: a new cache). */
  cache?: WindowCache;
  /** How long an online file may look damaged before it is reported and passed over (5000). */
  damageGraceMs?: number;
  /** Largest field payload decoded, in bytes (default 1 MiB). */
  maxDataSize?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** The result of {@link JournalSet.read}. */
export interface ReadResult {
  entries: JournalEntry[];
  /**
   * Why reading stopped: "limit" (more may follow at once), "end" (caught up), or "blocked" (an
   * online file is momentarily inconsistent: look again soon).
   */
  stop: "limit" | "end" | "blocked";
}

interface Damage {
  key: string;
  since: number;
  reported: boolean;
}

function stampOf(stat: Deno.FileInfo): string {
  return `${stat.size}:${stat.mtime?.getTime()}`;
}

/**
 * Whether the entry at `location` is behind where reading stands: at or before `after` (the
 * last entry read), or, with none read yet after starting at the end, logged before `start`
 * (µs since the epoch).
 */
function passed(
  location: EntryLocation,
  after: EntryLocation | undefined,
  start: number | undefined,
): boolean {
  return after !== undefined
    ? compareLocations(location, after) <= 0
    : start !== undefined && location.realtime < start;
}

/** One file of the set and its reading position. */
class FileStream implements MergeStream {
  readonly file: JournalFile;
  readonly key: string;
  readonly #set: JournalSet;
  chain: EntryChain | undefined;
  /** Offset of the match's DATA object once found. */
  dataOffset = 0;
  /** Damage seen and not yet read past. */
  damage: Damage | undefined;
  /** Given up on (damage reported); tried again when the file changes. */
  ended = false;
  /** Closed after reading all of an archived file. */
  done = false;
  /** Size and mtime when it was closed: a change means the inode was reused. */
  doneStamp = "";
  #pendingOffset = 0;
  #pending: EntryLocation | undefined;
  /** The entry the last {@link take} consumed. */
  taken = 0;
  takenLocation: EntryLocation | undefined;
  /** Header fields whose change means new entries (or a new state). */
  lastChangeMarker = "";
  /** The header changed at the last refresh: look at the chain once more at the next. */
  settling = false;
  /**
   * Gone from the directory (deleted, e.g. vacuumed) with entries still unread: read on through
   * the open descriptor (the data of a deleted file stays readable while it is open), then let go.
   */
  vanished = false;

  constructor(file: JournalFile, key: string, set: JournalSet) {
    this.file = file;
    this.key = key;
    this.#set = set;
  }

  head(after: EntryLocation | undefined): EntryLocation | undefined | "blocked" {
    if (this.ended || this.done || this.chain === undefined) return undefined;
    const pending = this.#pending;
    if (pending !== undefined && (after === undefined || compareLocations(pending, after) > 0)) {
      return pending;
    }
    this.#pending = undefined;
    // Nothing read yet after starting at the end: entries logged before the start are passed.
    const start = after === undefined ? this.#set.startRealtime : undefined;
    try {
      for (;;) {
        const offset = this.chain.peek();
        if (offset === 0) {
          this.damage = undefined;
          return undefined;
        }
        const location = this.locationAt(offset);
        if (passed(location, after, start)) {
          this.chain.advance();
          continue;
        }
        this.damage = undefined;
        this.#pendingOffset = offset;
        this.#pending = location;
        return location;
      }
    } catch (error) {
      return this.#set.problem(this, error);
    }
  }

  take(): void {
    this.taken = this.#pendingOffset;
    this.takenLocation = this.#pending;
    this.chain?.advance();
    this.#pending = undefined;
  }

  /** Forgets a looked-up candidate (after repositioning). */
  resetPending(): void {
    this.#pending = undefined;
  }

  locationAt(offset: number): EntryLocation {
    const head = this.file.entryHead(offset);
    return {
      seqnumId: this.file.header!.seqnumId,
      seqnum: head.seqnum,
      bootId: head.bootId,
      monotonic: head.monotonic,
      realtime: head.realtime,
      xorHash: head.xorHash,
    };
  }

  /** Whether entries are known to be in the file and not read yet. */
  get unread(): boolean {
    return this.#pending !== undefined ||
      (this.chain !== undefined && this.chain.index < this.chain.total);
  }
}

/** Journal files read as one ordered stream. */
export class JournalSet {
  #streams = new Map<string, FileStream>();
  #merge = new Interleaver<FileStream>();
  #cache: WindowCache;
  #match: string | null;
  #log: Logger;
  #onEvent: SourceEventSink;
  #grace: number;
  #maxDataSize: number | undefined;
  #now: () => number;
  #undecodableLogged = new Set<string>();
  #openFailures = new Map<string, string>();
  /** Once positioned, files found later are read from their start (after the location). */
  #positioned = false;
  /**
   * Started at the end with no entry to place us after (no readable file yet): the wall-clock
   * time of the start, in µs. Files found later skip the entries logged before it.
   */
  #startRealtime: number | undefined;
  /** A saved cursor whose continuity with the files is still to be checked. */
  #continuity: EntryLocation | undefined;

  constructor(options: JournalSetOptions = {}) {
    this.#cache = options.cache ?? new WindowCache();
    this.#match = options.match === undefined ? KERNEL_MATCH : options.match;
    this.#log = options.log ?? silentLogger;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#grace = options.damageGraceMs ?? 5000;
    this.#maxDataSize = options.maxDataSize;
    this.#now = options.now ?? (() => Date.now());
  }

  /** The last entry read (or the position sought): reading continues after it. */
  get location(): EntryLocation | undefined {
    return this.#merge.location;
  }

  /**
   * When started at the end with no entry to place us after: the start's wall-clock time (µs);
   * entries logged before it are not read. Undefined otherwise.
   */
  get startRealtime(): number | undefined {
    return this.#merge.location === undefined ? this.#startRealtime : undefined;
  }

  /** Paths of the files currently tracked. */
  get paths(): string[] {
    return [...this.#streams.values()].map((s) => s.file.path);
  }

  /**
   * Makes the set hold exactly the files at `paths` (a fresh directory listing): opens new files,
   * follows renames (the same inode under a new name, e.g. `system.journal` archived as
   * `system@….journal`) and forgets files that are gone.
   */
  sync(paths: readonly string[]): void {
    const seen = new Set<string>();
    for (const path of paths) {
      let stat: Deno.FileInfo;
      try {
        stat = Deno.statSync(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) this.#readError(path, error);
        continue;
      }
      if (!stat.isFile) continue;
      const key = `${stat.dev}:${stat.ino}`;
      seen.add(key);
      let known = this.#streams.get(key);
      if (known?.done && (known.doneStamp !== stampOf(stat) || known.file.path !== path)) {
        // A closed, finished file whose inode now holds something else (deleted, inode reused).
        this.#drop(key, known);
        known = undefined;
      }
      if (known !== undefined) {
        if (known.file.path !== path) {
          this.#log.info("journal file renamed", { from: known.file.path, to: path });
          this.#onEvent("rotation");
          known.file.path = path;
        }
        continue;
      }
      this.#add(path, key);
    }
    for (const [key, stream] of this.#streams) {
      if (seen.has(key) || stream.vanished) continue;
      if (stream.done) {
        this.#drop(key, stream);
        continue;
      }
      // The counts seen at the last refresh may be stale (entries appended since, then the file
      // rotated and vacuumed before we looked): look at the open file once more. If entries are
      // left, keep reading them from the open descriptor; the file is let go once read.
      this.#refreshStream(stream);
      if (stream.unread && !stream.ended) {
        stream.vanished = true;
        this.#log.info("journal file removed before it was read to the end; reading the rest", {
          path: stream.file.path,
        });
        continue;
      }
      this.#dropVanished(key, stream);
    }
    this.#checkContinuity();
  }

  /** Lets go of a file that is gone from the directory; warns when entries were left unread. */
  #dropVanished(key: string, stream: FileStream): void {
    if (stream.unread) {
      this.#log.warn("journal file vanished before it was read to the end", {
        path: stream.file.path,
      });
      this.#onEvent("gap");
    }
    this.#drop(key, stream);
  }

  #add(path: string, key: string): void {
    let file: JournalFile;
    try {
      file = JournalFile.open(path, {
        cache: this.#cache,
        maxDataSize: this.#maxDataSize,
        onUndecodable: (problem) => this.#undecodable(file, problem.offset, problem.reason),
      });
    } catch (error) {
      this.#readError(path, error);
      return;
    }
    this.#openFailures.delete(path);
    const stream = new FileStream(file, key, this);
    this.#streams.set(key, stream);
    this.#log.debug("journal file added", { path });
    this.#refreshStream(stream);
    if (this.#positioned) this.#skipToLocation(stream);
  }

  #drop(key: string, stream: FileStream): void {
    this.#streams.delete(key);
    if (!stream.done) stream.file.close();
    this.#log.debug("journal file removed", { path: stream.file.path });
  }

  /** Re-reads the headers of open files to see new entries. */
  refresh(): void {
    for (const stream of this.#streams.values()) {
      if (!stream.done) this.#refreshStream(stream);
    }
    this.#checkContinuity();
  }

  #refreshStream(stream: FileStream): void {
    let header;
    try {
      header = stream.file.refresh();
    } catch (error) {
      this.problem(stream, error);
      return;
    }
    if (typeof header === "string") {
      // A file being created has no header yet; say so only if it stays that way.
      this.problem(stream, new JournalDamage(0, header), true);
      return;
    }
    const marker = `${header.fileId}:${header.nEntries}:${header.nObjects}:${header.state}`;
    if (marker === stream.lastChangeMarker) {
      if (!stream.settling) return;
      // journald counts an entry in the header before it links it into the DATA objects'
      // chains: look once more, with fresh bytes, after the header stopped changing.
      stream.settling = false;
      stream.file.forget();
    }
    if (stream.lastChangeMarker !== "" && !stream.lastChangeMarker.startsWith(header.fileId)) {
      // Same inode, different file id: rewritten in place. Start over.
      stream.chain = undefined;
      stream.dataOffset = 0;
    }
    try {
      if (stream.chain === undefined) {
        if (this.#match === null) {
          stream.chain = stream.file.allEntries();
        } else {
          stream.dataOffset = stream.file.findData(this.#match);
          if (stream.dataOffset !== 0) stream.chain = stream.file.dataChain(stream.dataOffset);
        }
      }
      stream.chain?.refresh();
    } catch (error) {
      // Looked at again on the next refresh (the marker stays stale).
      this.problem(stream, error);
      return;
    }
    stream.settling = stream.lastChangeMarker !== marker;
    stream.lastChangeMarker = marker;
    stream.ended = false;
  }

  /**
   * Handles an error met while reading `stream`: damage in a file that is still written is
   * "blocked" for a grace period (it may be a write in progress); otherwise, and after that, it is
   * logged once, counted and the file is read no further until it changes.
   */
  problem(stream: FileStream, error: unknown, header = false): "blocked" | undefined {
    const damage = error instanceof JournalDamage;
    const reason = error instanceof Error ? error.message : String(error);
    const key = header ? `header:${reason}` : reason;
    const now = this.#now();
    if (stream.damage?.key !== key) stream.damage = { key, since: now, reported: false };
    // `.journal~` files were set aside by journald: online in the header, but nobody writes.
    const writing = header ||
      (stream.file.header?.state === FileState.ONLINE && !stream.file.path.endsWith("~"));
    if (writing && now - stream.damage.since < this.#grace) return header ? undefined : "blocked";
    if (!stream.damage.reported) {
      stream.damage.reported = true;
      const state = stream.file.header ? stateName(stream.file.header.state) : "unknown";
      if (damage) {
        this.#log.warn("journal file is damaged; read up to the damage", {
          path: stream.file.path,
          state,
          problem: reason,
        });
        this.#onEvent("corrupt");
      } else {
        this.#log.warn("cannot read journal file", { path: stream.file.path, error: reason });
        this.#onEvent("read_error");
      }
    }
    stream.ended = true;
    return undefined;
  }

  /** Logs and counts a file that cannot be opened, once until that changes. */
  #readError(path: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.#openFailures.get(path) === message) return;
    if (this.#openFailures.size > 1000) this.#openFailures.clear();
    this.#openFailures.set(path, message);
    this.#log.warn("cannot open journal file; will retry", { path, error: message });
    this.#onEvent("read_error");
  }

  #undecodable(file: JournalFile, offset: number, reason: string): void {
    this.#onEvent("undecodable");
    if (this.#undecodableLogged.has(file.path)) return;
    this.#undecodableLogged.add(file.path);
    this.#log.warn("journal field cannot be decoded; skipped (logged once per file)", {
      path: file.path,
      offset,
      problem: reason,
    });
  }

  /** Positions at the start of every file: everything will be read. */
  seekHead(): void {
    this.#merge.location = undefined;
    this.#startRealtime = undefined;
    this.#positioned = true;
  }

  /** Positions after the newest entry present: only entries written from now on will be read. */
  seekTail(): void {
    let newest: EntryLocation | undefined;
    for (const stream of this.#streams.values()) {
      stream.resetPending();
      if (stream.chain === undefined || stream.ended) continue;
      try {
        const last = stream.chain.seekEnd();
        if (last === 0) continue;
        const location = stream.locationAt(last);
        if (newest === undefined || compareLocations(location, newest) > 0) newest = location;
      } catch (error) {
        this.problem(stream, error);
      }
    }
    this.#merge.location = newest;
    this.#startRealtime = newest === undefined ? this.#now() * 1000 : undefined;
    this.#positioned = true;
  }

  /**
   * Positions just after `location` (a saved cursor) in every file. When the files of the
   * cursor's writer (same seqnum source) begin after the entry that followed it, the entries in
   * between were removed (rotated and vacuumed) before we could read them: warned and counted as
   * a `gap`. Decided as soon as a file of that writer holds entries (now, or at a later
   * {@link sync} or {@link refresh}: journald's current file may still be empty).
   */
  seekAfter(location: EntryLocation): void {
    this.#merge.location = location;
    this.#startRealtime = undefined;
    this.#positioned = true;
    for (const stream of this.#streams.values()) this.#skipToLocation(stream);
    this.#continuity = location;
    this.#checkContinuity();
  }

  #checkContinuity(): void {
    const location = this.#continuity;
    if (location === undefined) return;
    let oldest: number | undefined;
    for (const stream of this.#streams.values()) {
      const header = stream.file.header;
      if (header === undefined || header.seqnumId !== location.seqnumId) continue;
      if (header.nEntries === 0 || header.headEntrySeqnum <= 0) continue;
      if (oldest === undefined || header.headEntrySeqnum < oldest) oldest = header.headEntrySeqnum;
    }
    if (oldest === undefined) return;
    this.#continuity = undefined;
    const missing = oldest - location.seqnum - 1;
    if (missing <= 0) return;
    this.#log.warn(
      "journal entries after the saved cursor are missing (removed before they were read)",
      { missing, after: location.seqnum, oldest },
    );
    this.#onEvent("gap", missing);
  }

  #skipToLocation(stream: FileStream): void {
    const location = this.#merge.location;
    const start = this.#startRealtime;
    stream.resetPending();
    if (stream.chain === undefined || stream.ended) return;
    try {
      // Started at the end before any file could be read (`start`): what was logged before
      // the start is not ours to deliver.
      if (location !== undefined || start !== undefined) {
        stream.chain.skipWhile((offset) => passed(stream.locationAt(offset), location, start));
      }
    } catch (error) {
      this.problem(stream, error);
    }
  }

  /** Reads up to `max` entries in journal order. */
  read(max: number): ReadResult {
    const entries: JournalEntry[] = [];
    const streams = [...this.#streams.values()].filter((s) => !s.done);
    while (entries.length < max) {
      const stream = this.#merge.next(streams);
      if (stream === "blocked") return { entries, stop: "blocked" };
      if (stream === undefined) {
        this.#closeFinished();
        return { entries, stop: "end" };
      }
      let record;
      try {
        record = stream.file.record(stream.taken);
      } catch (error) {
        this.problem(stream, error);
        continue;
      }
      const { message, sourceMonotonic } = record;
      if (message === undefined) continue;
      const location = stream.takenLocation!;
      const entry: JournalEntry = {
        message,
        realtime: location.realtime,
        location,
        path: stream.file.path,
      };
      if (sourceMonotonic !== undefined) entry.sourceMonotonic = sourceMonotonic;
      entries.push(entry);
    }
    return { entries, stop: "limit" };
  }

  /**
   * Closes archived files read to their end: they will not change any more. Lets go of files
   * gone from the directory once read (or unreadable).
   */
  #closeFinished(): void {
    for (const [key, stream] of this.#streams) {
      if (stream.vanished) {
        if (!stream.unread || stream.ended) this.#dropVanished(key, stream);
        continue;
      }
      if (stream.done || stream.file.header?.state !== FileState.ARCHIVED) continue;
      if (stream.unread && !stream.ended) continue;
      try {
        stream.doneStamp = stampOf(Deno.statSync(stream.file.path));
      } catch {
        stream.doneStamp = "";
      }
      stream.done = true;
      stream.file.close();
      this.#log.debug("journal file read to the end and closed", { path: stream.file.path });
    }
  }

  /** Closes every file. */
  close(): void {
    for (const [key, stream] of this.#streams) this.#drop(key, stream);
  }
}
