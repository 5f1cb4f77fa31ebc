/**
 * Turns "this batch's work is done" into "the source may resume after this cursor": a batch's
 * cursor becomes durable only when every drop from it and from all earlier batches has been
 * handled (printed, posted, or deliberately shed). A crash therefore re-reads what was not
 * finished, and nothing that was.
 *
 * At a clean shutdown {@link AckTracker.freeze} also tells which items read after the last
 * committed cursor are finished, so that the next start can pass over those. At most
 * `maxKept` items are kept for that; beyond it nothing is told.
 *
 * @example
 * ```ts
 * const tracker = new AckTracker((cursor) => store.update(cursor));
 * const batch = tracker.begin(cursorAfterBatch);
 * const at = batch.count(() => id(drop)); // every item read, handled or filtered out
 * batch.track(postEvents(drop), at);     // a promise per unit of work
 * batch.seal();                        // no more work for this batch
 * ```
 * @module
 */

/** Work of one batch. */
export interface BatchAck {
  /**
   * Counts an item read in this batch (in reading order), whether or not it has work; `key`
   * names it, asked only while items are kept. Returns where it is kept (for `track`), or -1.
   */
  count(key: () => string): number;
  /**
   * Adds a unit of work, for the item `count` put at `at` when given; the batch completes when
   * all settle (rejections count as done).
   */
  track(work: Promise<unknown>, at?: number): void;
  /** Declares that no more work will be added. */
  seal(): void;
}

/** What was read after the last committed cursor, when the tracker was frozen. */
export interface ReadSince {
  /** Items counted after the committed cursor, in sealed batches. */
  items: number;
  /** The keys of those whose work has settled (or that had none), in reading order. */
  finished: string[];
}

interface Entry {
  cursor: unknown;
  pending: number;
  sealed: boolean;
  /**
   * Its items' keys, in order; undefined once more than `maxKept` were kept. (Keys, not the
   * items: items kept alive past a garbage collection or two made V8 allocate all of them in
   * the old generation, and a flood's RSS rose by half.)
   */
  items: string[] | undefined;
  /** Where the items whose work has not settled are kept. */
  unsettled: Set<number>;
}

/** Commits cursors in batch order once their work is complete. */
export class AckTracker {
  #queue: Entry[] = [];
  #head = 0;
  #commit: (cursor: unknown) => void;
  #frozen = false;
  #maxKept: number;
  /** Items kept in uncommitted entries. */
  #kept = 0;

  constructor(commit: (cursor: unknown) => void, maxKept = 20_000) {
    this.#commit = commit;
    this.#maxKept = maxKept;
  }

  /** Batches begun but not yet committed. */
  get inFlight(): number {
    return this.#queue.length - this.#head;
  }

  /** Starts tracking a batch whose resume position is `cursor`. */
  begin(cursor: unknown): BatchAck {
    const entry: Entry = { cursor, pending: 0, sealed: false, items: [], unsettled: new Set() };
    this.#queue.push(entry);
    return {
      count: (key) => {
        if (entry.items === undefined) return -1;
        if (this.#kept >= this.#maxKept) {
          // Memory stays bounded while the checkpoint is held back: this batch is not told.
          this.#kept -= entry.items.length;
          entry.items = undefined;
          return -1;
        }
        this.#kept++;
        return entry.items.push(key()) - 1;
      },
      track: (work, at = -1) => {
        entry.pending++;
        if (at >= 0) entry.unsettled.add(at);
        const done = () => {
          entry.pending--;
          if (at >= 0) entry.unsettled.delete(at);
          this.#advance();
        };
        work.then(done, done);
      },
      seal: () => {
        entry.sealed = true;
        this.#advance();
      },
    };
  }

  /**
   * Stops committing (the cursor committed last stays the durable one) and tells what was read
   * after it: the sealed batches' items and which of them are finished. A batch not sealed (its
   * output undelivered) and everything after it count as not read. Undefined when a batch's
   * items were not kept.
   */
  freeze(): ReadSince | undefined {
    this.#frozen = true;
    let items = 0;
    const finished: string[] = [];
    for (let i = this.#head; i < this.#queue.length; i++) {
      const entry = this.#queue[i];
      if (!entry.sealed) break;
      if (entry.items === undefined) return undefined;
      items += entry.items.length;
      entry.items.forEach((key, at) => {
        if (!entry.unsettled.has(at)) finished.push(key);
      });
    }
    return { items, finished };
  }

  #advance(): void {
    if (this.#frozen) return;
    let last: Entry | undefined;
    while (this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head];
      if (!entry.sealed || entry.pending > 0) break;
      last = entry;
      this.#kept -= entry.items?.length ?? 0;
      entry.items = undefined;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (last) this.#commit(last.cursor);
  }
}
