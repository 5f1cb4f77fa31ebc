/**
 * Interleaving the entries of several journal files into one stream, as sd-journal does: at each
 * step the earliest next entry of all files wins ({@link compareLocations}); then every file skips
 * what is not after the entry just shown. That skip is what shows an entry stored in two files
 * (same seqnum source, seqnum, boot, times and content) once, and keeps the stream from going
 * backwards when a file holds older entries than what was already shown.
 *
 * Pure: files are seen through {@link MergeStream}.
 *
 * @example
 * ```ts
 * const merge = new Interleaver();
 * for (let s = merge.next(streams); s !== undefined && s !== "blocked"; s = merge.next(streams)) {
 *   console.log(merge.location);
 * }
 * ```
 * @module
 */

import { compareLocations, type EntryLocation } from "./location.ts";

/** One file's entries in file order, as the interleaver sees them. */
export interface MergeStream {
  /**
   * The next entry that comes after `after` (entries that do not are passed over for good), or
   * undefined when there is none yet, or "blocked" when the stream cannot tell right now (a file
   * being written is momentarily inconsistent) and the merge must wait for it.
   */
  head(after: EntryLocation | undefined): EntryLocation | undefined | "blocked";
  /** Consumes the entry the last {@link head} returned. */
  take(): void;
}

/** Picks entries from several streams in journal order. */
export class Interleaver<S extends MergeStream = MergeStream> {
  /** The last entry returned: every later entry comes after it. */
  location: EntryLocation | undefined;

  constructor(location?: EntryLocation) {
    this.location = location;
  }

  /**
   * Takes the next entry: returns the stream it came from (its location is now
   * {@link location}), undefined when no stream has one, or "blocked" when a stream must be
   * waited for.
   */
  next(streams: Iterable<S>): S | undefined | "blocked" {
    let best: S | undefined;
    let bestLocation: EntryLocation | undefined;
    for (const stream of streams) {
      const head = stream.head(this.location);
      if (head === "blocked") return "blocked";
      if (head === undefined) continue;
      if (bestLocation === undefined || compareLocations(head, bestLocation) < 0) {
        best = stream;
        bestLocation = head;
      }
    }
    if (best === undefined) return undefined;
    best.take();
    this.location = bestLocation;
    return best;
  }
}
