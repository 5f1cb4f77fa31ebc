/**
 * Drives a {@link LogSource} in a test: reads batches in the background until a condition holds
 * (or a generous deadline passes, which fails the test with what was seen), then aborts it and
 * waits for `read` to return.
 *
 * @example
 * ```ts
 * const run = follow(source);
 * await writeMore();
 * const seen = await run.until((records) => records.length >= 10);
 * ```
 * @module
 */

import type { LogRecord, LogSource, SourceBatch } from "../../../src/sources/source.ts";

/** What a followed source delivered. */
export interface Followed {
  records: LogRecord[];
  batches: SourceBatch[];
  /** The cursor of the last batch. */
  cursor: unknown;
}

/** A source being read in the background. */
export interface FollowRun {
  /** Resolves once `condition` holds for the records so far; the source is then stopped. */
  until(condition: (records: LogRecord[]) => boolean, deadlineMs?: number): Promise<Followed>;
  /** Stops the source now and returns what it delivered. */
  stop(): Promise<Followed>;
}

/**
 * Starts reading `source`. The source's `read` runs synchronously up to its first wait, so when
 * this returns the source has listed its input and positioned itself.
 */
export function follow(source: LogSource): FollowRun {
  const controller = new AbortController();
  const seen: Followed = { records: [], batches: [], cursor: undefined };
  let check: () => void = () => {};
  const iterator = source.read(controller.signal)[Symbol.asyncIterator]();
  // The first next() runs the source up to its first wait: it has listed and positioned.
  let first: Promise<IteratorResult<SourceBatch>> | undefined = iterator.next();
  const done = (async () => {
    for (;;) {
      const step = first ?? iterator.next();
      first = undefined;
      const result = await step;
      if (result.done) return;
      const batch = result.value;
      seen.batches.push(batch);
      if (batch.kind === "records") seen.records.push(...batch.records);
      seen.cursor = batch.cursor;
      check();
    }
  })();
  const stop = async () => {
    controller.abort();
    await done;
    return seen;
  };
  return {
    stop,
    until(condition, deadlineMs = 30_000) {
      return new Promise<Followed>((resolve, reject) => {
        const timer = setTimeout(() => {
          check = () => {};
          stop().then(() =>
            reject(
              new Error(
                `condition not met in ${deadlineMs} ms; ${seen.records.length} records: ${
                  JSON.stringify(seen.records.slice(-3).map((r) => r.text))
                }`,
              ),
            )
          );
        }, deadlineMs);
        check = () => {
          if (!condition(seen.records)) return;
          check = () => {};
          clearTimeout(timer);
          stop().then(resolve, reject);
        };
        check();
      });
    },
  };
}
