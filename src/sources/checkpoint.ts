/**
 * Durable source positions: one small JSON file per source in the state directory, replaced
 * atomically (write to a temporary file, fsync, rename) so a crash leaves either the old or the
 * new position, never a torn one.
 *
 * @example
 * ```ts
 * const store = new CheckpointStore({ dir: "/var/lib/kube-iptables-tailer", kind: "file", id: "/var/log/kern.log", log });
 * const cursor = await store.load();
 * store.update(batch.cursor); // written at most once a second
 * await store.flush();        // on shutdown
 * ```
 * @module
 */

import type { Logger } from "../log.ts";
import { fnv1a32 } from "../hash.ts";

/** Options of {@link CheckpointStore}. */
export interface CheckpointOptions {
  /** State directory; without one, nothing is loaded or saved. */
  dir?: string;
  /** Source kind, part of the file name. */
  kind: string;
  /** Source identity (its path); stored in the file and checked on load. */
  id: string;
  log: Logger;
  /** Minimum time between two writes, in ms (default 1000). */
  minIntervalMs?: number;
  /** Called with the error of a failed write (metrics). */
  onWriteError?: (error: unknown) => void;
  /**
   * Clock (ms) for the interval between writes; monotonic by default: a wall clock stepped back
   * (NTP) would hold every write back by the step. For tests.
   */
  now?: () => number;
}

interface CheckpointFile {
  version: 1;
  kind: string;
  id: string;
  savedAt: string;
  cursor: unknown;
  /** At a clean shutdown: which drops after the cursor were already handled (replay.ts). */
  replay?: unknown;
}

/** Saves and loads the resume position of one source. */
export class CheckpointStore {
  readonly path: string | undefined;
  #opts: CheckpointOptions;
  #pending: unknown = undefined;
  #dirty = false;
  #lastWrite = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  #failing = false;
  #lock: Deno.FsFile | undefined;
  /** The cursor load() found, and the note saved with it. */
  #loaded: unknown = undefined;
  #loadedNote: unknown = undefined;
  /** The note the shutdown write carries. */
  #note: unknown = undefined;

  constructor(opts: CheckpointOptions) {
    this.#opts = opts;
    this.path = opts.dir
      ? `${opts.dir.replace(/\/+$/, "")}/${opts.kind}-${fnv1a32(opts.id)}.json`
      : undefined;
  }

  /** The saved cursor, or undefined when there is none or it is unreadable (logged). */
  async load(): Promise<unknown> {
    if (!this.path) return undefined;
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#opts.log.warn("cannot read checkpoint; starting without it", {
          path: this.path,
          error,
        });
      }
      return undefined;
    }
    let file: Partial<CheckpointFile>;
    try {
      file = JSON.parse(text);
    } catch (error) {
      this.#opts.log.warn("checkpoint is not valid JSON; ignoring it", { path: this.path, error });
      return undefined;
    }
    if (typeof file !== "object" || file === null || Array.isArray(file)) {
      this.#opts.log.warn("checkpoint is not a JSON object; ignoring it", { path: this.path });
      return undefined;
    }
    if (file.version !== 1) {
      this.#opts.log.warn("checkpoint has an unknown version; ignoring it", {
        path: this.path,
        version: JSON.stringify(file.version),
      });
      return undefined;
    }
    if (file.kind !== this.#opts.kind || file.id !== this.#opts.id) {
      this.#opts.log.warn("checkpoint belongs to another source; ignoring it", {
        path: this.path,
        kind: file.kind,
        id: file.id,
      });
      return undefined;
    }
    this.#loaded = file.cursor;
    this.#loadedNote = file.cursor === undefined ? undefined : file.replay;
    return file.cursor;
  }

  /** The note saved with the cursor load() returned (see pipeline/replay.ts), unchecked. */
  get savedNote(): unknown {
    return this.#loadedNote;
  }

  /**
   * The shutdown write: the position stays the last one given (or the one loaded), and `note`
   * goes with it. Nothing is written when there is no position. Call {@link flush} next.
   */
  finish(note: unknown): void {
    if (!this.path || note === undefined) return;
    const cursor = this.#pending ?? this.#loaded;
    if (cursor === undefined) return;
    this.#pending = cursor;
    this.#note = note;
    this.#dirty = true;
  }

  /** Records the newest position; it is written within `minIntervalMs`. */
  update(cursor: unknown): void {
    if (!this.path) return;
    this.#pending = cursor;
    this.#dirty = true;
    if (this.#timer !== undefined || this.#writing) return;
    const now = this.#now();
    const wait = Math.max(0, this.#lastWrite + (this.#opts.minIntervalMs ?? 1000) - now);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, wait);
  }

  /** Writes the newest position now if it has not been written. Never throws. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#writing) await this.#writing;
    if (!this.#dirty || !this.path) return;
    const cursor = this.#pending;
    this.#dirty = false;
    this.#writing = this.#write(cursor).finally(() => (this.#writing = undefined));
    await this.#writing;
    // A newer update arrived while writing: schedule it rather than losing it.
    if (this.#dirty && this.#timer === undefined) this.update(this.#pending);
  }

  /**
   * Takes the checkpoint's lock (`<checkpoint>.lock`, holding our pid): two processes following
   * one source with one state directory (a `run --dry-run` started inside the daemon's pod)
   * would overwrite each other's position. Returns undefined when taken (or there is no state
   * directory), else the pid written by the process that holds it ("" when unknown). The lock
   * goes with the process, however it ends. A lock file that cannot be made or written (a full
   * or read-only state directory) is logged and gone without: checkpoints then fail and are
   * counted as before, and the daemon runs.
   */
  async lock(): Promise<string | undefined> {
    if (!this.path || this.#lock) return undefined;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(`${this.path}.lock`, { read: true, write: true, create: true });
    } catch (error) {
      this.#opts.log.warn("cannot make the checkpoint's lock file; running without it", {
        path: `${this.path}.lock`,
        error,
      });
      return undefined;
    }
    try {
      if (!await file.tryLock(true)) {
        const holder = new Uint8Array(32);
        const n = (await file.read(holder)) ?? 0;
        file.close();
        return new TextDecoder().decode(holder.subarray(0, n)).trim();
      }
    } catch (error) {
      file.close();
      this.#opts.log.warn("cannot lock the checkpoint; running without the lock", { error });
      return undefined;
    }
    this.#lock = file;
    try {
      await file.truncate(0);
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    } catch {
      // Held all the same; only who holds it cannot be told (a full disk).
    }
    return undefined;
  }

  /** Lets go of the lock (at shutdown). */
  unlock(): void {
    this.#lock?.close();
    this.#lock = undefined;
  }

  /** Stops the timer without writing (tests); use {@link flush} on shutdown. */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #now(): number {
    return this.#opts.now ? this.#opts.now() : performance.now();
  }

  async #write(cursor: unknown): Promise<void> {
    const path = this.path!;
    const tmp = `${path}.tmp`;
    const file: CheckpointFile = {
      version: 1,
      kind: this.#opts.kind,
      id: this.#opts.id,
      savedAt: new Date().toISOString(),
      cursor,
      ...(this.#note === undefined ? {} : { replay: this.#note }),
    };
    try {
      const data = new TextEncoder().encode(JSON.stringify(file) + "\n");
      const handle = await Deno.open(tmp, { write: true, create: true, truncate: true });
      try {
        let written = 0;
        while (written < data.length) written += await handle.write(data.subarray(written));
        await handle.sync();
      } finally {
        handle.close();
      }
      await Deno.rename(tmp, path);
      this.#lastWrite = this.#now();
      if (this.#failing) this.#opts.log.info("checkpoint writes work again", { path });
      this.#failing = false;
    } catch (error) {
      // Keep the position dirty so the next update retries; log once per failure streak.
      if (!this.#dirty) {
        this.#dirty = true;
        this.#pending = cursor;
      }
      this.#lastWrite = this.#now();
      this.#opts.onWriteError?.(error);
      if (!this.#failing) {
        this.#opts.log.error("cannot write checkpoint; will retry", { path, error });
      }
      this.#failing = true;
      try {
        await Deno.remove(tmp);
      } catch {
        // The temporary file may not exist; nothing to clean up.
      }
    }
  }
}
