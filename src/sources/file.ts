/**
 * `FileSource`: follows a text log file such as `/var/log/kern.log` (the path in
 * `IPTABLES_LOG_PATH`) without losing or repeating a line, across rotation, truncation,
 * deletion and restarts.
 *
 * How it follows the file:
 * - Woken within milliseconds by `Deno.watchFs` on the file's parent directory (and the symlink
 *   target's directory), so renames and new files are seen; a stat poll every `pollIntervalMs`
 *   is the safety net where inotify misses events.
 * - Reads big chunks and hands over one decoded text per chunk (`lines` batches), never
 *   splitting into per-line strings. A partial last line waits for its newline; a line over
 *   `maxLineBytes` is cut and counted (`line_truncated`).
 * - Rotation is told by device and inode, not by content: when the path names another file
 *   (rename+create, delete+recreate, a retargeted symlink), the old handle is kept and read on
 *   until the new file has data (the writer has moved on), drained once more (a last line left
 *   without a newline is delivered as it is), then closed (`rotation`). A file that shrinks below
 *   our offset was truncated in place (copytruncate): read again from 0 (`truncation`).
 * - Each batch's cursor `{dev, ino, offset, hash}` pins the exact position. On restart it resumes
 *   there, or in the rotated sibling (`kern.log.1`, `kern.log-20261125`) that now holds that
 *   inode, then the newer files. When the file was truncated in place while we were stopped
 *   (same inode, shorter or other bytes before the offset), it resumes in the copy whose bytes
 *   before the offset match, then the newer copies, then the truncated file from 0, as when it
 *   sees the truncation live (at offset 0, where no bytes tell, a rotation written since the
 *   position was taken does: the files written since are read from their start). A file that
 *   moved out of the path's name (a retargeted symlink) is found at the real path the cursor
 *   saved. A file compressed with gzip while we were
 *   stopped (`kern.log.1.gz`, also after copytruncate) is decompressed as a stream and read
 *   from the saved offset of its uncompressed bytes, found by the same hash; then the newer
 *   files. When the saved file is gone (deleted, or compressed some other way) or rewritten,
 *   the files written since the cursor was taken — newer rotated siblings, gzip ones too, and
 *   the current file — are read from their start: a few lines may come twice, none is
 *   skipped. That and an unreadable cursor are logged and counted (`cursor_invalid`).
 * - Without a cursor the file is read from its end (or start, per `start`), and that position
 *   is handed out at once as a batch without lines: a run that stops before any line arrives
 *   still leaves a checkpoint, so the next run reads what was logged in between.
 * - Errors (permission denied, the path being a directory, I/O errors) are logged once per
 *   failure streak, counted (`read_error`) and retried with capped exponential backoff.
 *
 * @example
 * ```ts
 * const source = new FileSource({ path: "/var/log/kern.log", log, resumeFrom: await store.load() });
 * for await (const batch of source.read(signal)) {
 *   if (batch.kind === "lines") handle(batch.text);
 *   store.update(batch.cursor);
 * }
 * ```
 * @module
 */

import { basename, dirname } from "node:path";
import { type Logger, silentLogger } from "../log.ts";
import {
  type LogSource,
  problemOf,
  type SourceBatch,
  type SourceEventSink,
  type SourceOptions,
  type StartPosition,
} from "./source.ts";
import { type FileCursor, hashBytes, parseFileCursor, sameFile } from "./file_cursor.ts";
import {
  NotRegularFileError,
  TailedFile,
  type TailedFileOptions,
  type Truncation,
} from "./file_reader.ts";
import { listRotatedSiblings, type RotatedSibling } from "./file_siblings.ts";
import { CompressedLog } from "./file_compressed.ts";
import { DirectoryWakeup } from "./file_wake.ts";
import { retryDelay } from "../timing.ts";

/** Options of {@link FileSource}. */
export interface FileSourceOptions extends SourceOptions {
  /** The log file to follow (may be a symlink). */
  path: string;
  /** Logger; silent by default. */
  log?: Logger;
  /** Safety-net stat poll interval, ms (default 5000: WATCH_LOGS_INTERVAL_SECONDS). */
  pollIntervalMs?: number;
  /** Longer lines are cut to this many bytes (default 65536). */
  maxLineBytes?: number;
  /** Bytes read per chunk; one batch per chunk at most (default 122880). */
  readChunkBytes?: number;
  /** First retry delay after a read error, ms (default 100); doubles per failure. */
  retryInitialMs?: number;
  /** Longest retry delay after read errors, ms (default 5000). */
  retryMaxMs?: number;
  /** Use inotify (`Deno.watchFs`); false polls only (default true). */
  watch?: boolean;
}

/** Defaults of the tuning options of {@link FileSourceOptions}. */
export const FILE_SOURCE_DEFAULTS = {
  pollIntervalMs: 5000,
  maxLineBytes: 64 * 1024,
  // Under V8's 128 KiB bound for ordinary heap objects: a larger chunk's text is a large object,
  // freed only by a full collection, and under a flood of 100 000 drop lines/s some 30 MB of
  // dead ones piled up (peak RSS 233 MB with 512 KiB, 208 MB with this). Catching up on a
  // backlog goes at 1.2-1.3 GB/s instead of 2.7, more than any log is written at.
  readChunkBytes: 120 * 1024,
  retryInitialMs: 100,
  retryMaxMs: 5000,
} as const;

/** How many of the newest rotated siblings are checked for being the copy of a truncated file. */
const COPY_CANDIDATES = 5;

/** The cursor hash of no bytes (the start of a file). */
const EMPTY_HASH = hashBytes(new Uint8Array(0));

/**
 * File times come from the kernel's coarse clock, up to a tick (10 ms at HZ=100) behind
 * `Date.now()`, which old checkpoints saved as their time: a file written just after such a
 * cursor was taken may look a little older than it.
 */
const MTIME_SLACK_MS = 50;

/** Most newer files (without data yet) held open besides the one we read. */
const MAX_PENDING = 8;

/** A deleted file we hold is let go after this many poll intervals without growth. */
const DELETED_IDLE_POLLS = 3;

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result < 1) {
    throw new RangeError(`FileSource option ${name} must be a positive integer, got ${value}`);
  }
  return result;
}

/** Follows one log file; see the module documentation. */
export class FileSource implements LogSource {
  readonly kind = "file";
  /** The followed path (the checkpoint's identity). */
  readonly id: string;
  #options: FileSourceOptions;
  #settings: Settings;

  constructor(options: FileSourceOptions) {
    if (typeof options.path !== "string" || options.path === "") {
      throw new TypeError("FileSource option path must be a non-empty string");
    }
    this.id = options.path;
    this.#options = options;
    const retryInitialMs = positiveInteger(
      "retryInitialMs",
      options.retryInitialMs,
      FILE_SOURCE_DEFAULTS.retryInitialMs,
    );
    this.#settings = {
      path: options.path,
      log: (options.log ?? silentLogger).with({ source: "file", path: options.path }),
      onEvent: options.onEvent ?? (() => {}),
      pollIntervalMs: positiveInteger(
        "pollIntervalMs",
        options.pollIntervalMs,
        FILE_SOURCE_DEFAULTS.pollIntervalMs,
      ),
      maxLineBytes: positiveInteger(
        "maxLineBytes",
        options.maxLineBytes,
        FILE_SOURCE_DEFAULTS.maxLineBytes,
      ),
      readChunkBytes: positiveInteger(
        "readChunkBytes",
        options.readChunkBytes,
        FILE_SOURCE_DEFAULTS.readChunkBytes,
      ),
      retryInitialMs,
      retryMaxMs: Math.max(
        retryInitialMs,
        positiveInteger("retryMaxMs", options.retryMaxMs, FILE_SOURCE_DEFAULTS.retryMaxMs),
      ),
      watch: options.watch ?? true,
    };
  }

  /**
   * Follows the file until `signal` aborts, starting from `resumeFrom` (or per `start`).
   * Each call starts afresh from the constructor's options; run one at a time.
   */
  async *read(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const tail = new Tail(this.#settings, this.#options.resumeFrom, this.#options.start ?? "end");
    try {
      yield* tail.run(signal);
    } finally {
      await tail.close();
    }
  }
}

interface Settings {
  path: string;
  log: Logger;
  onEvent: SourceEventSink;
  pollIntervalMs: number;
  maxLineBytes: number;
  readChunkBytes: number;
  retryInitialMs: number;
  retryMaxMs: number;
  watch: boolean;
}

/** The state of one `read()` run. */
class Tail {
  #s: Settings;
  #fileOptions: TailedFileOptions;
  #buffer: Uint8Array;
  #wake: DirectoryWakeup;
  /** The file we read now. */
  #active: TailedFile | undefined;
  /** Newer files (oldest first) we switch to once one of them has data. */
  #pending: TailedFile[] = [];
  /** Copies (copytruncate) being finished: leaving one is no rotation. */
  #copies = new WeakSet<TailedFile>();
  /**
   * Compressed rotations to read before the files above (found on restart: the saved position
   * was in a file compressed while we were stopped), oldest first.
   */
  #compressed: CompressedLog[] = [];
  /** A saved cursor still to be located; undefined once done. */
  #resume: unknown;
  #start: StartPosition;
  /** Whether the next file opened is the first one (placed per `start`; later ones from 0). */
  #firstOpen = true;
  /** A file placed per `start` whose position is still to be handed out (as a batch). */
  #announce: TailedFile | undefined;
  #missing = false;
  #pathIdentity = "";
  #watchStale = true;

  constructor(settings: Settings, resumeFrom: unknown, start: StartPosition) {
    this.#s = settings;
    this.#fileOptions = {
      maxLineBytes: settings.maxLineBytes,
      log: settings.log,
      onEvent: settings.onEvent,
    };
    this.#buffer = new Uint8Array(settings.readChunkBytes);
    this.#wake = new DirectoryWakeup(settings.log);
    this.#resume = resumeFrom;
    this.#start = start;
  }

  async *run(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const { log, onEvent } = this.#s;
    let failures = 0;
    let lastProblem = "";
    while (!signal.aborted) {
      try {
        if (this.#resume !== undefined) await this.#locateCursor(signal);
        yield* this.#readCompressed(signal);
        if (this.#watchStale) await this.#refreshWatch();
        yield* this.#pass(signal);
        if (failures > 0) log.info("log file is readable again", { failures });
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        onEvent("read_error");
        const delay = retryDelay(this.#s.retryInitialMs, this.#s.retryMaxMs, failures - 1);
        const problem = problemOf(error);
        if (failures === 1 || problem !== lastProblem) {
          log.error("cannot read log file; retrying with backoff", { error, retryInMs: delay });
        }
        lastProblem = problem;
        await this.#wake.sleep(delay, signal);
        continue;
      }
      // The path names another file now (rotation, a retargeted symlink): watch what it names
      // and look again at once — what was written while the watch was the old one woke nobody.
      if (this.#watchStale) continue;
      const reason = await this.#wake.wait(this.#s.pollIntervalMs, signal);
      if (reason === "timeout") this.#watchStale = true;
    }
  }

  async close(): Promise<void> {
    await this.#wake.close();
    this.#active?.close();
    for (const file of this.#pending) file.close();
    for (const file of this.#compressed) file.close();
    this.#active = undefined;
    this.#pending = [];
    this.#compressed = [];
  }

  /** One look at everything: read the current file, notice a new one, switch if it is time. */
  async *#pass(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    yield* this.#drainActive(signal);
    if (await this.#checkPath()) {
      const placed = this.#announce;
      this.#announce = undefined;
      if (placed) yield { kind: "lines", text: "", lineCount: 0, cursor: placed.positionCursor() };
      yield* this.#drainActive(signal); // just opened: read it now
    }
    yield* this.#switchFiles(signal);
  }

  /** Reads the compressed files waiting to be read, in order. */
  async *#readCompressed(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    while (this.#compressed.length > 0 && !signal.aborted) {
      yield* this.#compressed[0].batches(signal);
      if (!signal.aborted) this.#compressed.shift();
    }
  }

  /**
   * Reads the active file to its end. When it turns out truncated in place (copytruncate), the
   * lines we had not read yet are in the copy (`kern.log.1`, or `kern.log.1.gz` when it was
   * compressed before we looked): read them there first, then any newer copies (when we fell
   * behind by more than one truncation), then the truncated file from 0. Only what was written
   * between the end of a copy and its truncation is lost, which no reader can get.
   */
  async *#drainActive(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    while (this.#active && !signal.aborted) {
      const file = this.#active;
      const truncation = yield* file.drain(this.#buffer, signal);
      if (!truncation) return;
      const copies = await this.#findCopies(file, truncation);
      // Truncated before its turn: all of the copy is unread.
      if (copies.length > 0 && truncation.fromStart) await copies[0].startAt(0, EMPTY_HASH);
      if (copies.length > 0) {
        this.#s.log.info("reading the rest of the truncated file from its copy", {
          copy: copies[0].path,
          offset: truncation.fromStart ? 0 : truncation.offset,
          newerCopies: copies.length - 1,
        });
        for (const copy of copies) this.#copies.add(copy);
        this.#active = copies[0];
        this.#pending.unshift(...copies.slice(1), file);
        continue;
      }
      // The copy was made just now: it is among the newest (gzip keeps the copy's time), and
      // the tail must not stall looking through old rotations.
      const hit = await this.#compressedCopy(truncation, signal, COPY_CANDIDATES);
      if (!hit) continue;
      let found: CompressedLog | undefined = hit.found;
      if (truncation.fromStart) {
        found.close();
        found = await CompressedLog.open(found.path, this.#fileOptions);
      }
      const [compressed, plain] = await this.#openFrom0(hit.newer, found ? [found] : [], false);
      this.#s.log.info("reading the rest of the truncated file from its compressed copy", {
        copy: hit.found.path,
        offset: truncation.fromStart ? 0 : truncation.offset,
        newerCopies: compressed.length + plain.length - 1,
      });
      for (const copy of plain) this.#copies.add(copy);
      if (plain.length > 0) {
        this.#active = plain[0];
        this.#pending.unshift(...plain.slice(1), file);
      }
      this.#compressed.push(...compressed);
      yield* this.#readCompressed(signal);
    }
  }

  /**
   * The rotated sibling holding the same bytes before `at.offset` as `file` did (its copy),
   * positioned there, followed by the siblings rotated after it (from 0); or none.
   */
  async #findCopies(file: TailedFile, at: Truncation): Promise<TailedFile[]> {
    if (at.offset === 0) return [];
    let siblings: RotatedSibling[];
    try {
      siblings = await this.#rotatedSiblings();
    } catch {
      return []; // a directory we cannot list: no copy to read
    }
    const candidates = siblings
      .filter((s) => !sameFile(s.info, file) && !this.#holds(s.info))
      .slice(-COPY_CANDIDATES);
    for (let i = candidates.length - 1; i >= 0; i--) {
      if (candidates[i].info.size < at.offset) continue;
      const copy = await this.#openQuietly(candidates[i].path);
      if (!copy) continue;
      let matches = false;
      try {
        matches = await copy.startAt(at.offset, at.hash);
      } catch {
        // Unreadable: no copy we can use.
      }
      if (!matches) {
        copy.close();
        continue;
      }
      const found = [copy];
      for (const newer of candidates.slice(i + 1)) {
        const next = await this.#openQuietly(newer.path);
        if (next) found.push(next);
      }
      return found;
    }
    return [];
  }

  /** Opens a rotated sibling, or undefined when it is gone (compressed and removed) or unreadable. */
  async #openQuietly(path: string): Promise<TailedFile | undefined> {
    try {
      return await TailedFile.open(path, this.#fileOptions);
    } catch {
      return undefined;
    }
  }

  /**
   * Opens the file now at the path if it is one we do not hold yet: as the file to read when we
   * have none (returns true), else as a newer file to switch to.
   */
  async #checkPath(): Promise<boolean> {
    const first = this.#firstOpen;
    this.#firstOpen = false;
    const { path, log } = this.#s;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      this.#noteIdentity("missing");
      if (!this.#missing) {
        // Normal for a moment during rotation; worth a warning only when we have nothing to read.
        if (this.#active) log.debug("log file path is missing; waiting for a new file");
        else log.warn("log file does not exist; waiting for it");
      }
      this.#missing = true;
      return false;
    }
    this.#noteIdentity(`${info.dev}:${info.ino}`);
    if (!info.isFile) throw new NotRegularFileError(path, info);
    if (this.#missing && !this.#active) log.info("log file appeared");
    this.#missing = false;
    if (this.#holds(info)) return false;
    const file = await TailedFile.open(path, this.#fileOptions);
    if (this.#holds(file)) {
      file.close(); // it was rotated in between and we already hold it
      return false;
    }
    if (this.#active) {
      this.#pending.push(file);
      return false;
    }
    try {
      if (first && this.#start === "end") await file.startAtEnd();
    } catch (error) {
      file.close();
      throw error;
    }
    if (first) this.#announce = file;
    this.#active = file;
    log.info("following log file", { ino: file.ino, offset: file.offset });
    return true;
  }

  /**
   * Moves on to a newer file once one has data: the writer has switched to it, so everything it
   * wrote to the older files came first. Those are drained to their end (and closed) in order.
   */
  async *#switchFiles(signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const active = this.#active;
    if (!active) return;
    let target = -1;
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      if (await this.#pending[i].size() > 0) {
        target = i;
        break;
      }
    }
    if (target < 0 && this.#pending.length > MAX_PENDING) {
      // Many new files and no data in any (no writer came): hold only the newest few.
      target = this.#pending.length - MAX_PENDING - 1;
    }
    if (target < 0 && active.links === 0 && this.#idleTooLong(active)) {
      // Deleted and quiet: stop pinning its disk space (the writer has moved on or died).
      if (this.#pending.length > 0) {
        target = 0;
      } else {
        this.#s.log.info("let go of the deleted log file", { ino: active.ino });
        // A last line it left without a newline will not be finished: delivered as it is, as
        // when we move on to a newer file.
        const unfinished = this.#copies.has(active) ? undefined : active.finishLine();
        active.close();
        this.#active = undefined;
        if (unfinished) yield unfinished;
        return;
      }
    }
    if (target < 0) return;
    const goal = this.#pending[target];
    while (this.#active && this.#active !== goal) {
      const old = this.#active;
      yield* old.drain(this.#buffer, signal); // the last look: the writer has moved on
      if (signal.aborted) return;
      // A last line it left without a newline: delivered as it is rather than lost. (Not from a
      // copy: the rest of that line went on in the truncated file.)
      const unfinished = this.#copies.has(old) ? undefined : old.finishLine();
      if (unfinished) yield unfinished;
      old.close();
      this.#active = this.#pending.shift();
      if (this.#copies.has(old)) {
        this.#s.log.debug("finished the copy; back to the truncated file", { copy: old.path });
      } else {
        this.#s.onEvent("rotation");
        this.#s.log.info("log file rotated; following the new file", {
          oldIno: old.ino,
          ino: this.#active?.ino,
        });
      }
    }
    yield* this.#drainActive(signal);
  }

  #idleTooLong(file: TailedFile): boolean {
    return performance.now() - file.lastGrowth > DELETED_IDLE_POLLS * this.#s.pollIntervalMs;
  }

  #holds(file: { dev: number; ino: number | null }): boolean {
    return (this.#active !== undefined && sameFile(this.#active, file)) ||
      this.#pending.some((pending) => sameFile(pending, file));
  }

  #noteIdentity(identity: string): void {
    if (identity !== this.#pathIdentity) this.#watchStale = true;
    this.#pathIdentity = identity;
  }

  /** Watches the directories of the path and, when it is a symlink, of its target. */
  async #refreshWatch(): Promise<void> {
    this.#watchStale = false;
    if (!this.#s.watch) return;
    const { path } = this.#s;
    const dirs = [dirname(path)];
    const prefixes = [basename(path)];
    try {
      if ((await Deno.lstat(path)).isSymlink) {
        const target = await Deno.realPath(path);
        dirs.push(dirname(target));
        prefixes.push(basename(target));
      }
    } catch {
      // Missing or dangling: the parent directory is enough to see it appear.
    }
    await this.#wake.watch(dirs, prefixes);
  }

  /** Places the read position per the saved cursor (or gives it up: `cursor_invalid`). */
  async #locateCursor(signal: AbortSignal): Promise<void> {
    let cursor: FileCursor;
    try {
      cursor = parseFileCursor(this.#resume);
    } catch (error) {
      this.#cursorInvalid((error as Error).message);
      return;
    }
    const { path, log } = this.#s;
    const current = await statIfExists(path);
    const opened: TailedFile[] = [];
    try {
      if (current?.isFile && sameFile(current, cursor)) {
        const file = await TailedFile.open(path, this.#fileOptions);
        opened.push(file);
        if (!sameFile(file, cursor)) throw new Error(`${path} was replaced while resuming`);
        if (!await file.startAt(cursor.offset, cursor.hash)) {
          // Shorter, or other bytes before the offset: truncated in place while we were stopped
          // (copytruncate) if a rotated sibling holds the bytes we had read up to the offset.
          const copies = await this.#findCopies(file, cursor);
          if (copies.length === 0) {
            file.close();
            await this.#readSince(cursor, "the content before the saved offset changed", signal, {
              truncatedInPlace: true,
            });
            return;
          }
          for (const copy of copies) this.#copies.add(copy);
          await this.#adopt([...copies, file]); // the truncated file from 0 once the copies are read
          this.#s.onEvent("truncation");
          log.info("the log file was truncated while stopped; resuming in its copy", {
            copy: copies[0].path,
            offset: cursor.offset,
            newerCopies: copies.length - 1,
          });
          return;
        }
        if (cursor.offset === 0 && (await this.#siblingsSince(cursor, true)).length > 0) {
          // At the start of the file no bytes tell a truncation in place, but a rotation written
          // since the position was taken does: it is the copy (copytruncate) of lines written
          // after it, which the file no longer holds.
          file.close();
          await this.#readSince(cursor, "rotated by copy and truncation at its start", signal, {
            truncatedInPlace: true,
          });
          return;
        }
        await this.#adopt(opened);
        log.info("resuming at the saved position", { ino: file.ino, offset: cursor.offset });
        return;
      }
      const siblings = await this.#rotatedSiblings();
      const index = siblings.findIndex((sibling) => sameFile(sibling.info, cursor));
      if (index < 0) {
        if (await this.#resumeAtSavedPath(cursor, current)) return;
        await this.#readSince(cursor, "the saved file is gone (deleted or compressed)", signal);
        return;
      }
      const rotated = await TailedFile.open(siblings[index].path, this.#fileOptions);
      opened.push(rotated);
      if (!sameFile(rotated, cursor) || !await rotated.startAt(cursor.offset, cursor.hash)) {
        rotated.close();
        opened.length = 0;
        await this.#readSince(cursor, `the content of ${siblings[index].path} changed`, signal);
        return;
      }
      // Then whatever was rotated after it, oldest first, and the current file.
      for (const newer of siblings.slice(index + 1)) {
        if (current && sameFile(newer.info, current)) continue;
        opened.push(await TailedFile.open(newer.path, this.#fileOptions));
      }
      if (current?.isFile) opened.push(await TailedFile.open(path, this.#fileOptions));
      await this.#adopt(opened);
      log.info("resuming in a rotated file", {
        rotated: siblings[index].path,
        offset: cursor.offset,
        newerFiles: opened.length - 1,
      });
    } catch (error) {
      for (const file of opened) file.close();
      throw error;
    }
  }

  /**
   * The saved file still at the real path the cursor names, while the followed path names
   * another one (a retargeted symlink): resumes there, then reads the current file from 0.
   */
  async #resumeAtSavedPath(cursor: FileCursor, current: Deno.FileInfo | undefined) {
    if (cursor.path === undefined) return false;
    const file = await this.#openQuietly(cursor.path);
    if (!file) return false;
    const opened = [file];
    try {
      if (!sameFile(file, cursor) || !await file.startAt(cursor.offset, cursor.hash)) {
        file.close();
        return false;
      }
      if (current?.isFile && !sameFile(current, file)) {
        opened.push(await TailedFile.open(this.#s.path, this.#fileOptions));
      }
    } catch (error) {
      for (const each of opened) each.close();
      throw error;
    }
    await this.#adopt(opened);
    this.#s.log.info("resuming in the file the path named before", {
      file: cursor.path,
      offset: cursor.offset,
    });
    return true;
  }

  /**
   * The saved file was compressed while we were stopped (`kern.log.1.gz`): resumes at the saved
   * offset of its uncompressed bytes (the bytes before it must hash as saved), then reads the
   * rotations after it and the current file from their start. Returns whether it did.
   */
  async #resumeInCompressed(cursor: FileCursor, signal: AbortSignal): Promise<boolean> {
    const hit = await this.#compressedCopy(cursor, signal);
    if (!hit) return false;
    const [compressed, files] = await this.#openFrom0(hit.newer, [hit.found]);
    await this.#adopt(files, compressed);
    this.#s.log.info("resuming in a compressed rotation", {
      rotated: hit.found.path,
      offset: cursor.offset,
      newerFiles: compressed.length + files.length - 1,
    });
    return true;
  }

  /**
   * The gzip rotation whose uncompressed bytes before `at.offset` hash to `at.hash`, opened
   * there, and the rotations after it (oldest first); undefined when there is none. Only the
   * `newest` gzip rotations are looked at.
   */
  async #compressedCopy(
    at: { offset: number; hash: string; at?: number },
    signal: AbortSignal,
    newest = Infinity,
  ): Promise<{ found: CompressedLog; newer: RotatedSibling[] } | undefined> {
    // At offset 0 nothing identifies the file: every file starts with the same no bytes.
    if (at.offset === 0) return undefined;
    const siblings = await this.#rotatedSiblings(true);
    // Newest first, those modified since the position first (ours is one of them, unless the
    // cursor is an old one): each look decompresses up to the offset.
    const since = (s: RotatedSibling) => at.at === undefined || modifiedSince(s, at.at);
    const candidates = siblings.filter((s) => s.gzip).reverse().slice(0, newest);
    candidates.sort((a, b) => Number(since(b)) - Number(since(a)));
    for (const candidate of candidates) {
      if (signal.aborted) return undefined;
      const found = await CompressedLog.openAt(
        candidate.path,
        at.offset,
        at.hash,
        this.#fileOptions,
        signal,
      );
      if (found) return { found, newer: siblings.slice(siblings.indexOf(candidate) + 1) };
    }
    return undefined;
  }

  /**
   * Opens `siblings` (oldest first) and the current file (`withCurrent`) to be read from their
   * start: the compressed ones after `compressed`, the others as files to follow. Siblings
   * that are gone or unreadable, or that are the current file, are passed over.
   */
  async #openFrom0(
    siblings: RotatedSibling[],
    compressed: CompressedLog[] = [],
    withCurrent = true,
  ): Promise<[CompressedLog[], TailedFile[]]> {
    const current = await statIfExists(this.#s.path);
    const files: TailedFile[] = [];
    try {
      for (const sibling of siblings) {
        if (current && sameFile(sibling.info, current)) continue;
        if (sibling.gzip) {
          const log = await CompressedLog.open(sibling.path, this.#fileOptions);
          if (log) compressed.push(log);
        } else {
          const file = await this.#openQuietly(sibling.path);
          if (file) files.push(file);
        }
      }
      if (withCurrent && current?.isFile) {
        files.push(await TailedFile.open(this.#s.path, this.#fileOptions));
      }
    } catch (error) {
      for (const file of [...compressed, ...files]) file.close();
      throw error;
    }
    return [compressed, files];
  }

  /**
   * The saved position is lost — its file is gone (deleted, compressed) or was rewritten. If it
   * is in a compressed rotation, reading resumes there. Else what was logged since is still
   * read: the rotated siblings changed since the cursor was taken (oldest first; compressed
   * ones first, as logrotate compresses only older rotations) and the current file, from their
   * start. Lines logged shortly before the cursor may be read again; the expiry and repeat
   * filters bound what that does.
   */
  async #readSince(
    cursor: FileCursor,
    reason: string,
    signal: AbortSignal,
    { truncatedInPlace = false } = {},
  ): Promise<void> {
    if (await this.#resumeInCompressed(cursor, signal)) return;
    if (signal.aborted) return; // stopping while we looked: nothing was given up
    const since = await this.#siblingsSince(cursor, truncatedInPlace);
    const [compressed, files] = await this.#openFrom0(since);
    this.#s.log.warn(
      "saved position cannot be used; reading the files written since from their start",
      { reason, files: [...compressed, ...files].map((file) => file.path) },
    );
    this.#s.onEvent("cursor_invalid");
    await this.#adopt(files, compressed);
  }

  /**
   * The rotated siblings (gzip ones too) modified since `cursor` was taken, oldest first: those
   * that may hold lines logged after it. None when the cursor does not say when it was taken.
   */
  async #siblingsSince(cursor: FileCursor, truncatedInPlace: boolean): Promise<RotatedSibling[]> {
    const at = cursor.at;
    if (at === undefined) return [];
    // Truncated in place with no copy holding the offset: we had read past the end of the copy
    // (lines written between the copy and the truncation). The copy was made before what we
    // read, so it is older than `at`; only files strictly newer than it hold unread lines.
    return (await this.#rotatedSiblings(true)).filter((s) =>
      truncatedInPlace ? (s.info.mtime?.getTime() ?? 0) > at : modifiedSince(s, at)
    );
  }

  /** Rotated siblings of the path and, when it is a symlink, of its target; oldest first. */
  async #rotatedSiblings(gzip = false): Promise<RotatedSibling[]> {
    const { path } = this.#s;
    let target = path;
    try {
      target = await Deno.realPath(path);
    } catch {
      // Missing or dangling: only the path's own directory.
    }
    return await listRotatedSiblings([path, target], { gzip });
  }

  /**
   * Reads `compressed`, then `files`, in order (from where each is placed); with no file, the
   * file from 0 once it is there.
   */
  async #adopt(files: TailedFile[], compressed: CompressedLog[] = []): Promise<void> {
    // A file read from 0 after others may be truncated in place before its turn.
    for (const file of files) await file.noteWaiting();
    this.#compressed = compressed;
    this.#active = files[0];
    this.#pending = files.slice(1);
    this.#resume = undefined;
    this.#firstOpen = false;
  }

  #cursorInvalid(reason: string): void {
    this.#s.log.warn("saved position cannot be used; starting afresh", {
      reason,
      start: this.#start,
    });
    this.#s.onEvent("cursor_invalid");
    this.#resume = undefined;
  }
}

/** Whether `sibling` was modified at or after `at` (epoch ms), give or take a clock tick. */
function modifiedSince(sibling: RotatedSibling, at: number): boolean {
  return (sibling.info.mtime?.getTime() ?? 0) >= at - MTIME_SLACK_MS;
}

async function statIfExists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
