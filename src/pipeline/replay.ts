/**
 * Exactly once across a clean restart. The checkpoint is one position: the first drop whose
 * Events were still unposted at shutdown holds it back, and the next start reads again every
 * drop after it, also those already handled. Events already posted are recognised by their
 * identity, but only the last few per Event (a count would go up again), and drops skipped as
 * repeats would be acted on (the repeat filter lives in memory).
 *
 * So at shutdown a note goes with the checkpoint: how many drops were read after its position,
 * and the identities of those not handled. The next start reads the same log from the same
 * position, so the same drops come in the same order: of the first `drops`, it acts only on
 * those in `pending` and passes over the rest (they still go through the filters, which then
 * remember what the stopped process remembered). A drop in `pending` is acted on wherever it
 * comes; when the log reads differently (the saved position could not be used, records were
 * lost) the caller cancels the note and every drop is acted on, as after a crash.
 *
 * @example
 * ```ts
 * const note = replayNote(tracker.freeze(), fingerprint); // at shutdown, saved with the cursor
 * const replay = Replay.from(savedNote, fingerprint, log);  // at the next start
 * replay?.shouldAct(drop); // false: handled before the stop
 * ```
 * @module
 */

import type { Logger } from "../log.ts";
import type { PacketDrop } from "../netfilter/types.ts";
import type { Unfinished } from "./ack_tracker.ts";
import { dropIdentity } from "./filters.ts";

/** Saved beside the cursor at a clean shutdown. */
export interface ReplayNote {
  /** Drops read after the cursor before the shutdown (counted before the filters). */
  drops: number;
  /** Identities ({@link dropIdentity}) of those whose handling had not finished. */
  pending: string[];
  /** Identity of the last of them: tells at the end whether the log read the same. */
  last: string;
  /** The parser settings the drops were read with; other settings read other drops. */
  parser: string;
}

/** More unfinished drops than this are not noted (the next start then acts on every drop). */
export const MAX_PENDING = 100_000;

/** The note for what `unfinished` holds, or undefined when there is nothing to note. */
export function replayNote(unfinished: Unfinished, parser: string): ReplayNote | undefined {
  if (unfinished.items === 0 || unfinished.unsettled.length > MAX_PENDING) return undefined;
  return {
    drops: unfinished.items,
    pending: unfinished.unsettled.map((drop) => dropIdentity(drop as PacketDrop)),
    last: dropIdentity(unfinished.last as PacketDrop),
    parser,
  };
}

/** Why `value` is not a replay note, or undefined when it is one. */
export function replayNoteProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const note = value as Record<string, unknown>;
  if (!Number.isSafeInteger(note.drops) || (note.drops as number) < 1) return "bad drops";
  if (
    !Array.isArray(note.pending) || note.pending.length > MAX_PENDING ||
    !note.pending.every((id) => typeof id === "string")
  ) {
    return "bad pending";
  }
  if (typeof note.last !== "string" || typeof note.parser !== "string") return "bad last or parser";
  return undefined;
}

/** Decides, for the first drops read after a clean restart, which to act on again. */
export class Replay {
  #left: number;
  #last: string;
  /** Pending identities and how many drops carry each (identical records share one). */
  #pending = new Map<string, number>();
  #log: Logger;

  private constructor(note: ReplayNote, log: Logger) {
    this.#left = note.drops;
    this.#last = note.last;
    for (const id of note.pending) this.#pending.set(id, (this.#pending.get(id) ?? 0) + 1);
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
      unfinished: note.pending.length,
    });
    return new Replay(note, log);
  }

  /** Whether the replay is over (every noted drop read again, or cancelled). */
  get done(): boolean {
    return this.#left <= 0;
  }

  /** Whether to act on `drop`, the next drop read; false for one handled before the stop. */
  shouldAct(drop: PacketDrop): boolean {
    if (this.#left <= 0) return true;
    this.#left--;
    const id = dropIdentity(drop);
    const pending = this.#pending.get(id);
    if (this.#left === 0 && id !== this.#last) {
      this.#log.warn(
        "the log read differently after the restart than before it; some drops may have been passed over",
        { expected: this.#last, found: id },
      );
    }
    if (pending === undefined) return false;
    if (pending > 1) this.#pending.set(id, pending - 1);
    else this.#pending.delete(id);
    return true;
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
