/**
 * Wakes the file tailer when something may have changed: inotify events (`Deno.watchFs`) on the
 * directories holding the log file, filtered to names that matter, or else a poll timer as a
 * safety net for mounts where inotify misses events (NFS, some overlay and FUSE file systems).
 *
 * Bursts coalesce: events set one flag, and the next {@link DirectoryWakeup.wait} consumes it, however
 * many arrived while the tailer was reading.
 *
 * @example
 * ```ts
 * const wake = new DirectoryWakeup(log);
 * wake.watch(["/var/log"], ["kern.log"]);
 * await wake.wait(5000, signal); // "notified", "timeout" or "aborted"
 * await wake.close();
 * ```
 * @module
 */

import { basename } from "node:path";
import type { Logger } from "../log.ts";
import { sleep, type WakeReason, Wakeup } from "../timing.ts";

interface ActiveWatch {
  watcher: Deno.FsWatcher;
  loop: Promise<void>;
  key: string;
  /** dev:ino of each watched directory when the watch began, to notice a replaced directory. */
  identity: string;
}

async function directoryIdentity(dirs: string[]): Promise<string> {
  const parts: string[] = [];
  for (const dir of dirs) {
    try {
      const info = await Deno.stat(dir);
      parts.push(`${info.dev}:${info.ino}`);
    } catch {
      parts.push("-");
    }
  }
  return parts.join(",");
}

/** A {@link Wakeup} fed by a directory watch. */
export class DirectoryWakeup {
  #log: Logger;
  #wakeup = new Wakeup();
  #watch: ActiveWatch | undefined;
  #prefixes: string[] = [];
  #watchFailed = false;
  #closed = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Watches `dirs` (non-recursively) for events on names starting with one of `prefixes`.
   * Restarts the watch when the set of directories changed, when a directory was replaced, or
   * when the previous attempt failed; otherwise does nothing. Never throws: without a watch the
   * poll timer of {@link wait} still wakes the tailer.
   */
  async watch(dirs: string[], prefixes: string[]): Promise<void> {
    if (this.#closed) return;
    this.#prefixes = prefixes;
    const unique = [...new Set(dirs)].sort();
    const key = unique.join("\0");
    const identity = await directoryIdentity(unique);
    if (this.#watch && this.#watch.key === key && this.#watch.identity === identity) return;
    await this.#stop();
    try {
      const watcher = Deno.watchFs(unique, { recursive: false });
      const loop = this.#consume(watcher);
      this.#watch = { watcher, loop, key, identity };
      if (this.#watchFailed) this.#log.info("watching for file changes again", { dirs: unique });
      this.#watchFailed = false;
    } catch (error) {
      if (!this.#watchFailed) {
        this.#log.warn("cannot watch directory; relying on polling", { dirs: unique, error });
      }
      this.#watchFailed = true;
    }
    // Whatever happened while no watch was running is unknown: look once more.
    this.#notify();
  }

  /** Resolves on the next relevant event (or at once if one came since the last wait). */
  wait(timeoutMs: number, signal: AbortSignal): Promise<WakeReason> {
    return this.#wakeup.wait(timeoutMs, signal);
  }

  /** Sleeps `ms` (error backoff), ignoring events; returns early only on abort. */
  async sleep(ms: number, signal: AbortSignal): Promise<WakeReason> {
    return await sleep(ms, signal) ? "timeout" : "aborted";
  }

  /** Stops the watch and waits for its reader to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop();
  }

  #notify(): void {
    this.#wakeup.notify();
  }

  #relevant(event: Deno.FsEvent): boolean {
    // A `rescan` event stands for events that were dropped (the queue overflowed while we were
    // busy): it names the watched directory, not the files, and any of them may have been ours.
    if (event.flag === "rescan" || event.kind === "other" || event.paths.length === 0) return true;
    return event.paths.some((path) => {
      const name = basename(path);
      return this.#prefixes.some((prefix) => name.startsWith(prefix));
    });
  }

  async #consume(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (this.#relevant(event)) this.#notify();
      }
    } catch (error) {
      if (!this.#closed) this.#log.warn("directory watch failed; relying on polling", { error });
    }
    // Ended without close(): close it (its resource and its share of the inotify watch stay
    // taken until then) and forget it, so the next watch() starts a new one.
    if (this.#watch?.watcher === watcher) {
      this.#watch = undefined;
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
    }
  }

  async #stop(): Promise<void> {
    const watch = this.#watch;
    if (!watch) return;
    this.#watch = undefined;
    try {
      watch.watcher.close();
    } catch {
      // Already closed.
    }
    await watch.loop;
  }
}
