/**
 * A test-side reader of the kernel log (`/dev/kmsg`), independent of the product's kmsg source so
 * lab tests do not test the code with itself. `/dev/kmsg` is not destructive: every open file gets
 * every record, so any number of taps, journald and rsyslog `imkmsg` can read in parallel.
 *
 * The device is opened non-blocking (`O_NONBLOCK`): a read returns one record, `EAGAIN` when none
 * is left, `EPIPE` when records were overwritten before we read them.
 *
 * @example
 * ```ts
 * const tap = KmsgTap.open();            // positioned after the newest record
 * await lab.send({ from: "pod1", to: "pod2", proto: "udp", port: 53 });
 * const lines = await tap.waitFor((r) => r.text.startsWith(lab.prefix), { count: 1 });
 * tap.close();
 * ```
 * @module
 */

import { closeSync, constants, openSync, readSync } from "node:fs";
import { parseKmsgHeader, unescapeKmsg } from "../../../src/netfilter/kmsg_record.ts";

/** One kernel log record. */
export interface KernelRecord {
  seq: number;
  /** Microseconds since boot. */
  usec: number;
  facility: number;
  level: number;
  /** The message, unescaped. */
  text: string;
}

/** Options of {@link KmsgTap.waitFor}. */
export interface WaitForOptions {
  /** How many matching records to wait for (default 1). */
  count?: number;
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
}

const RECORD_BUFFER = 16 * 1024;
const MAX_KEPT = 20_000;

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

/** Reads kernel log records appended after it was opened. */
export class KmsgTap {
  /** The sequence number the first record after opening will have. */
  readonly startSeq: number;
  /** Every record read since opening (the newest {@link MAX_KEPT}). */
  readonly records: KernelRecord[] = [];
  /** Records lost to `EPIPE` while the tap was not reading. */
  lost = 0;
  #fd: number | undefined;
  #buffer = new Uint8Array(RECORD_BUFFER);
  #decoder = new TextDecoder();
  #lastSeq = -1;

  private constructor(fd: number) {
    this.#fd = fd;
    this.#drain(false);
    this.startSeq = this.#lastSeq + 1;
  }

  /** Opens `path` (default `/dev/kmsg`) and skips every record already in the ring buffer. */
  static open(path = "/dev/kmsg"): KmsgTap {
    return new KmsgTap(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
  }

  /** Reads every record available now and returns them (they are also kept in `records`). */
  poll(): KernelRecord[] {
    return this.#drain(true);
  }

  /**
   * Waits until `count` records read since opening match `predicate`, polling every 20 ms, and
   * returns the first `count` of them. Throws after `timeoutMs` naming what it did see.
   */
  async waitFor(
    predicate: (record: KernelRecord) => boolean,
    options: WaitForOptions = {},
  ): Promise<KernelRecord[]> {
    const count = options.count ?? 1;
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      this.poll();
      const matched = this.records.filter(predicate);
      if (matched.length >= count) return matched.slice(0, count);
      if (Date.now() > deadline) {
        const tail = this.records.slice(-5).map((r) => `  ${r.seq}: ${r.text}`).join("\n");
        throw new Error(
          `kmsg: ${matched.length} of ${count} expected records after ${
            options.timeoutMs ?? 10_000
          }` +
            ` ms (${this.records.length} records read since seq ${this.startSeq}; newest:\n${tail})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Closes the device. Idempotent. */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #drain(keep: boolean): KernelRecord[] {
    if (this.#fd === undefined) throw new Error("KmsgTap is closed");
    const fresh: KernelRecord[] = [];
    for (;;) {
      let n: number;
      try {
        n = readSync(this.#fd, this.#buffer, 0, this.#buffer.length, null);
      } catch (error) {
        const code = errorCode(error);
        if (code === "EAGAIN") break;
        if (code === "EPIPE") {
          this.lost++;
          continue;
        }
        throw error;
      }
      if (n === 0) break;
      const line = this.#decoder.decode(this.#buffer.subarray(0, n));
      const header = parseKmsgHeader(line);
      if (!header) continue;
      const end = line.indexOf("\n", header.messageStart);
      this.#lastSeq = header.seq;
      if (!keep) continue;
      fresh.push({
        seq: header.seq,
        usec: header.usec,
        facility: header.facility,
        level: header.level,
        text: unescapeKmsg(line.slice(header.messageStart, end < 0 ? undefined : end)),
      });
    }
    this.records.push(...fresh);
    if (this.records.length > MAX_KEPT) this.records.splice(0, this.records.length - MAX_KEPT);
    return fresh;
  }
}

/** The sequence number the next kernel log record will get. */
export function nextKmsgSeq(path = "/dev/kmsg"): number {
  const tap = KmsgTap.open(path);
  tap.close();
  return tap.startSeq;
}
