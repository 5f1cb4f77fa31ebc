/**
 * `run --dry-run`: each drop that passes the filters is printed to stdout as NDJSON (the `parse`
 * schema, plus endpoint fields when a locator is given) as soon as its batch has been read.
 * @module
 */

import type { PacketDrop } from "../netfilter/types.ts";
import { dropToNdjson } from "../netfilter/format.ts";
import type { DropSink } from "../pipeline/pipeline.ts";

/** Something to write bytes to (Deno.stdout). */
export interface Output {
  write(bytes: Uint8Array): Promise<number>;
}

/** Adds fields to a drop's line (e.g. endpoints resolved from the pod index). */
export type Annotate = (
  drop: PacketDrop,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

const encoder = new TextEncoder();

/** Prints drops as NDJSON; output is flushed after every batch. */
export class DryRunSink implements DropSink {
  #out: Output;
  #annotate: Annotate | undefined;
  #pending: (string | Promise<string>)[] = [];

  constructor(out: Output, annotate?: Annotate) {
    this.#out = out;
    this.#annotate = annotate;
  }

  handle(drop: PacketDrop): void {
    const extra = this.#annotate?.(drop);
    this.#pending.push(
      extra instanceof Promise
        ? extra.then((e) => dropToNdjson(drop, e))
        : dropToNdjson(drop, extra),
    );
  }

  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const lines = await Promise.all(this.#pending);
    this.#pending = [];
    const bytes = encoder.encode(lines.join(""));
    let written = 0;
    while (written < bytes.length) written += await this.#out.write(bytes.subarray(written));
  }
}
