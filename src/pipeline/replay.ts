/**
 * Fewer repeats across a clean restart. The checkpoint is one position: the first drop whose
 * Events were still unposted at shutdown holds it back, and the next start reads again every
 * drop after it, also those already handled. Events already posted are recognised by their
 * identity, but only the last few per Event (a count would go up again), and drops skipped as
 * repeats would be acted on (the repeat filter lives in memory).
 *
 * So at shutdown a note goes with the checkpoint: how many drops were read after its position,
 * and the identities of those handled (posted, shed, skipped). The next start reads on from the
 * same position: of its first `drops` drops, it passes over those it recognises and acts on every
 * other one, without asking the repeat filter (the stopped process had decided to act on them,
 * with a memory the new process lacks). A drop that reads differently this time (its time taken
 * from the clock, another boot's estimate) is not recognised and is acted on again: the note
 * can cause a repeat, never a loss. When the log reads differently as a whole (the saved
 * position could not be used, records were lost) the caller cancels the note.
 *
 * @example
 * ```ts
 * const note = replayNote(tracker.freeze(), fingerprint); // at shutdown, saved with the cursor
 * const replay = Replay.from(savedNote, fingerprint, log);  // at the next start
 * replay?.verdict(dropIdentity(drop)); // "pass": handled before the stop
 * ```
 * @module
 */

import type { Logger } from "../log.ts";
import type { ReadSince } from "./ack_tracker.ts";

/** Saved beside the cursor at a clean shutdown. */
export interface ReplayNote {
  /**
   * Drops read after the cursor before the shutdown (counted before the filters); an rsyslog
   * `message repeated N times` line is one.
   */
  drops: number;
  /** Identities (`dropIdentity`, filters.ts) of those whose handling had finished. */
  handled: string[];
  /** The parser settings the drops were read with; other settings read other drops. */
  parser: string;
}

/** What to do with a drop read again after a clean restart. */
export type ReplayVerdict =
  /** Handled before the stop. */
  | "pass"
  /** Not handled before the stop: act on it, whatever the repeat filter says. */
  | "act"
  /** Past the noted drops: as usual. */
  | "usual";

/** More noted drops than this are not noted (the tracker keeps no more). */
export const MAX_NOTED = 20_000;

/** The note for `read`, or undefined when there is nothing to note. */
export function replayNote(read: ReadSince | undefined, parser: string): ReplayNote | undefined {
  if (read === undefined || read.items === 0 || read.items > MAX_NOTED) return undefined;
  return {
    drops: read.items,
    handled: read.finished,
    parser,
  };
}

/** Why `value` is not a replay note, or undefined when it is one. */
export function replayNoteProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const note = value as Record<string, unknown>;
  if (!Number.isSafeInteger(note.drops) || (note.drops as number) < 1) return "bad drops";
  if (
    !Array.isArray(note.handled) || note.handled.length > MAX_NOTED ||
    !note.handled.every((id) => typeof id === "string")
  ) {
    return "bad handled";
  }
  if (typeof note.parser !== "string") return "bad parser";
  return undefined;
}

/** Decides, for the first drops read after a clean restart, which to act on again. */
export class Replay {
  #left: number;
  /** Handled identities and how many drops carry each (identical records share one). */
  #handled = new Map<string, number>();
  #log: Logger;

  private constructor(note: ReplayNote, log: Logger) {
    this.#left = note.drops;
    for (const id of note.handled) this.#handled.set(id, (this.#handled.get(id) ?? 0) + 1);
    this.#log = log;
  }

  /**
   * The replay of a saved note, or undefined when there is none or it cannot be used (logged):
   * read with other parser settings (`parser`), or damaged.
   */
  static from(saved: unknown, parser: string, log: Logger): Replay | undefined {
    if (saved === undefined) return undefined;
    const problem = replayNoteProblem(saved);
    if (problem) {
      log.warn("the checkpoint's note of handled drops is damaged; acting on every drop after it", {
        problem,
      });
      return undefined;
    }
    const note = saved as ReplayNote;
    if (note.parser !== parser) {
      log.info(
        "the prefixes or time layout changed since the stop; acting on every drop after the checkpoint",
      );
      return undefined;
    }
    log.info("drops after the checkpoint were handled before the stop; acting on the rest", {
      read: note.drops,
      handled: note.handled.length,
    });
    return new Replay(note, log);
  }

  /** Whether the replay is over (every noted drop read again, or cancelled). */
  get done(): boolean {
    return this.#left <= 0;
  }

  /** What to do with the next drop read, whose `dropIdentity` (filters.ts) is `id`. */
  verdict(id: string): ReplayVerdict {
    if (this.#left <= 0) return "usual";
    this.#left--;
    const handled = this.#handled.get(id);
    if (handled === undefined) return "act";
    if (handled > 1) this.#handled.set(id, handled - 1);
    else this.#handled.delete(id);
    return "pass";
  }

  /** Stops passing drops over: the log does not read as it did (`reason`). */
  cancel(reason: string): void {
    if (this.#left <= 0) return;
    this.#log.warn("the log changed while stopped; acting on every drop from here on", {
      reason,
      stillToRead: this.#left,
    });
    this.#left = 0;
  }
}
