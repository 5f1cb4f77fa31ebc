/**
 * Turns "this batch's work is done" into "the source may resume after this cursor": a batch's
 * cursor becomes durable only when every drop from it and from all earlier batches has been
 * handled (printed, posted, or deliberately shed). A crash therefore re-reads what was not
 * finished, and nothing that was.
 *
 * @example
 * ```ts
 * const tracker = new AckTracker((cursor) => store.update(cursor));
 * const batch = tracker.begin(cursorAfterBatch);
 * batch.track(postEvents(drop));   // a promise per unit of work
 * batch.seal();                    // no more work for this batch
 * ```
 * @module
 */

/** Work of one batch. */
export interface BatchAck {
  /** Adds a unit of work; the batch completes when all settle (rejections count as done). */
  track(work: Promise<unknown>): void;
  /** Declares that no more work will be added. */
  seal(): void;
}

interface Entry {
  cursor: unknown;
  pending: number;
  sealed: boolean;
}

/** Commits cursors in batch order once their work is complete. */
export class AckTracker {
  #queue: Entry[] = [];
  #head = 0;
  #commit: (cursor: unknown) => void;

  constructor(commit: (cursor: unknown) => void) {
    this.#commit = commit;
  }

  /** Batches begun but not yet committed. */
  get inFlight(): number {
    return this.#queue.length - this.#head;
  }

  /** Starts tracking a batch whose resume position is `cursor`. */
  begin(cursor: unknown): BatchAck {
    const entry: Entry = { cursor, pending: 0, sealed: false };
    this.#queue.push(entry);
    const done = () => {
      entry.pending--;
      this.#advance();
    };
    return {
      track: (work) => {
        entry.pending++;
        work.then(done, done);
      },
      seal: () => {
        entry.sealed = true;
        this.#advance();
      },
    };
  }

  #advance(): void {
    let last: Entry | undefined;
    while (this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head];
      if (!entry.sealed || entry.pending > 0) break;
      last = entry;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (last) this.#commit(last.cursor);
  }
}
