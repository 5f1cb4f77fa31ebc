/**
 * `run --dry-run`: each drop that passes the filters is printed to stdout as NDJSON (the `parse`
 * schema, plus endpoint fields when a locator is given) as soon as its batch has been read. The
 * identical drops of an rsyslog `message repeated N times` line, when the repeat filter lets them
 * all through, are one line with `"count": N`.
 * @module
 */

import type { PacketDrop } from "../netfilter/types.ts";
import { dropToNdjson } from "../netfilter/format.ts";
import type { DropSink } from "../pipeline/pipeline.ts";
import { OutputClosed } from "../output.ts";

/** Something to write bytes to (Deno.stdout). */
export interface Output {
  write(bytes: Uint8Array): Promise<number>;
}

/** Adds fields to a drop's line (e.g. endpoints resolved from the pod index). */
export type Annotate = (
  drop: PacketDrop,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

const encoder = new TextEncoder();

/** When output that stdout does not take is given up. */
export interface GiveUp {
  /** Shutdown: from then on, a write still blocked is waited for only `graceMs`. */
  signal: AbortSignal;
  graceMs: number;
}

/** Stdout did not take the output before the shutdown deadline. */
export class OutputBlockedError extends Error {
  override name = "OutputBlockedError";
}

/**
 * Prints drops as NDJSON; output is flushed after every batch. A reader that stops reading
 * (a full pipe) blocks the flush, and with it the pipeline; at shutdown it is waited for only
 * `giveUp.graceMs`, then the flush fails with {@link OutputBlockedError} (its drops are not
 * checkpointed, so the next run prints them).
 */
export class DryRunSink implements DropSink {
  #out: Output;
  #annotate: Annotate | undefined;
  #giveUp: GiveUp | undefined;
  #pending: (string | Promise<string>)[] = [];

  constructor(out: Output, annotate?: Annotate, giveUp?: GiveUp) {
    this.#out = out;
    this.#annotate = annotate;
    this.#giveUp = giveUp;
  }

  handle(drop: PacketDrop, count: number): void {
    const line = (extra?: Record<string, unknown>) =>
      dropToNdjson(drop, count > 1 ? { count, ...extra } : extra);
    const extra = this.#annotate?.(drop);
    this.#pending.push(extra instanceof Promise ? extra.then(line) : line(extra));
  }

  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const lines = await Promise.all(this.#pending);
    this.#pending = [];
    const bytes = encoder.encode(lines.join(""));
    let written = 0;
    try {
      while (written < bytes.length) {
        written += await this.#untilShutdownGrace(this.#out.write(bytes.subarray(written)));
      }
    } catch (error) {
      if (error instanceof Deno.errors.BrokenPipe) throw new OutputClosed(); // `… | head`
      throw error;
    }
  }

  /** `write`, or {@link OutputBlockedError} once the shutdown grace has passed. */
  #untilShutdownGrace(write: Promise<number>): Promise<number> {
    const giveUp = this.#giveUp;
    if (!giveUp) return write;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort = () => {};
    const blocked = new Promise<never>((_, reject) => {
      const fail = () =>
        reject(new OutputBlockedError(`stdout took no output for ${giveUp.graceMs} ms`));
      onAbort = () => (timer = setTimeout(fail, giveUp.graceMs));
      if (giveUp.signal.aborted) onAbort();
      else giveUp.signal.addEventListener("abort", onAbort, { once: true });
    });
    return Promise.race([write, blocked]).finally(() => {
      clearTimeout(timer);
      giveUp.signal.removeEventListener("abort", onAbort);
    });
  }
}
