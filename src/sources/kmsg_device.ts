/**
 * Reading `/dev/kmsg` (or a file or FIFO standing in for it) in a thread of its own.
 *
 * The kernel's ring buffer (often 128 KiB: some 600 netfilter records) is overwritten within
 * tens of milliseconds by a flood, and a reader that falls behind loses records (EPIPE). Read on
 * the main thread, every pause of it (parsing and handling a batch, garbage collection, another
 * process on the CPU) was a window for that. So a Worker ({@link kmsgReaderWorker}) reads the
 * device as soon as records come and posts them here, into a bounded queue: at `queueBytes`
 * read and not yet taken, it stops reading and the kernel reports what it overwrites meanwhile
 * as a gap, rather than memory growing without bound.
 *
 * The device is opened with `O_NONBLOCK` through `node:fs` (Deno's own `Deno.open` takes no
 * open flags): a read returns one record, `EAGAIN` when there is none yet, `EPIPE` when the
 * records after our position were overwritten (the next read returns the oldest one left). The
 * same calls serve a regular file (0 at its end) and a FIFO (0 without writer, `EAGAIN` while a
 * writer is idle; opening it does not wait for a writer).
 *
 * The Worker inherits the main module's permissions and needs nothing else: it opens `path`.
 * @module
 */

import { type WakeReason, Wakeup } from "../timing.ts";
import {
  kmsgReaderWorker,
  type ReaderError,
  type ReaderMessage,
  type ReaderStart,
} from "./kmsg_reader_worker.ts";

/**
 * Bytes read; `"again"`: the input has nothing more now (end of file included); `"overrun"`:
 * records were overwritten before they were read; `"pending"`: nothing to hand out yet, though
 * the input was not seen empty (its reader thread is still at work: {@link KmsgDevice.wait}).
 */
export type KmsgReadResult = number | "again" | "overrun" | "pending";

/** An open kmsg input. */
export interface KmsgDevice {
  /** Reads into `buffer` without blocking. Throws when the input cannot be read. */
  read(buffer: Uint8Array): KmsgReadResult;
  /**
   * Waits until `read` may have more, `ms` at most, or until `signal` aborts. Without it the
   * reader sleeps `ms`.
   */
  wait?(ms: number, signal: AbortSignal): Promise<unknown>;
  close(): void;
}

/** Opens a kmsg input; throws (or rejects) when it cannot be opened. */
export type KmsgDeviceOpener = (path: string) => KmsgDevice | Promise<KmsgDevice>;

/** Options of {@link openKmsgDevice}. */
export interface KmsgDeviceOptions {
  /** Most bytes read ahead of the caller (default {@link DEFAULT_QUEUE_BYTES}). */
  queueBytes?: number;
  /**
   * Longest wait of the reader thread when the input has nothing, in ms (default and most
   * {@link MAX_IDLE_WAIT_MS}).
   */
  maxWaitMs?: number;
  /** Called when the queue is full and the reader thread stops reading (tests, logs). */
  onFull?: () => void;
}

/**
 * 4 MiB: some 16 000 netfilter records (~250 bytes each), over half a second of a flood of
 * 25 000 records/s, of which the kernel's 128 KiB ring holds 25 ms.
 */
export const DEFAULT_QUEUE_BYTES = 4 * 1024 * 1024;

/**
 * The reader thread's longest wait while the input is quiet, in ms. A flood that starts then
 * overruns a ring of some 600 records before the thread looks again only above 30 000 records/s
 * (with 100 ms, above 6 000: a 50 000-record burst at 25 000/s lost 1 700 of its first records).
 * A look costs about 0.15 ms of CPU (a failing read, EAGAIN, in a thread woken cold): 50 looks a
 * second are some 1% of a core while idle.
 */
export const MAX_IDLE_WAIT_MS = 20;

/** Room for one read: the kernel's records are at most ~8 KiB with their dictionary. */
export const RECORD_BYTES = 16 * 1024;

/** Most bytes in one message from the reader thread. */
const CHUNK_BYTES = 64 * 1024;

const STOP_SLOT = 0;
const CONSUMED_SLOT = 1;

/** The reader thread's error as the main thread's kind of error (`Deno.errors.NotCapable` …). */
export function reviveError(error: ReaderError): Error {
  const known = (Deno.errors as unknown as Record<string, (new (message: string) => Error)>)[
    error.name
  ];
  const revived = typeof known === "function" ? new known(error.message) : new Error(error.message);
  if (error.code !== undefined) Object.assign(revived, { code: error.code });
  return revived;
}

/** What the reader thread is started with: `options` with their defaults and bounds. */
export function readerStart(
  path: string,
  control: SharedArrayBuffer,
  options: KmsgDeviceOptions,
): ReaderStart {
  return {
    path,
    control,
    stopSlot: STOP_SLOT,
    consumedSlot: CONSUMED_SLOT,
    queueBytes: Math.max(RECORD_BYTES, options.queueBytes ?? DEFAULT_QUEUE_BYTES),
    recordBytes: RECORD_BYTES,
    chunkBytes: CHUNK_BYTES,
    maxWaitMs: Math.min(MAX_IDLE_WAIT_MS, Math.max(1, options.maxWaitMs ?? MAX_IDLE_WAIT_MS)),
  };
}

let workerUrl: string | undefined;

/** The reader Worker's script, made from its function's source (see kmsg_reader_worker.ts). */
function readerScript(): string {
  workerUrl ??= URL.createObjectURL(
    new Blob([`(${kmsgReaderWorker.toString()})();\n`], { type: "text/javascript" }),
  );
  return workerUrl;
}

/**
 * Opens `path` in a reader thread; resolves once it is open, rejects with the error opening
 * it gave (permissions, a missing file …).
 */
export function openKmsgDevice(
  path: string,
  options: KmsgDeviceOptions = {},
): Promise<KmsgDevice> {
  return ThreadedDevice.open(path, options);
}

/** A queue item: read bytes, an EPIPE, an end of what was available, the reader's failure. */
type Item = Uint8Array | "overrun" | "again" | Error;

/** The main thread's side of a reader thread. */
class ThreadedDevice implements KmsgDevice {
  #worker: Worker;
  #control = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  #queue: Item[] = [];
  #arrived = new Wakeup();
  #onFull: (() => void) | undefined;
  #closed = false;

  private constructor(worker: Worker, onFull: (() => void) | undefined) {
    this.#worker = worker;
    this.#onFull = onFull;
  }

  static open(path: string, options: KmsgDeviceOptions): Promise<KmsgDevice> {
    const worker = new Worker(readerScript(), { type: "module" });
    const device = new ThreadedDevice(worker, options.onFull);
    return new Promise<KmsgDevice>((resolve, reject) => {
      let opened = false;
      const fail = (error: Error) => {
        if (opened) {
          device.#push(error);
        } else {
          device.close();
          reject(error);
        }
      };
      worker.onmessage = (event: MessageEvent<ReaderMessage>) => {
        const message = event.data;
        switch (message.kind) {
          case "opened":
            opened = true;
            resolve(device);
            break;
          case "read":
            for (const item of message.items) device.#push(item);
            if (message.drained) device.#push("again");
            break;
          case "full":
            device.#onFull?.();
            break;
          case "failed":
            fail(reviveError(message.error));
            break;
          case "closed":
            worker.terminate();
            break;
        }
      };
      // A failure of the thread itself (a bug): reported as a read error, not a crash.
      worker.onerror = (event) => {
        event.preventDefault();
        fail(new Error(`the kmsg reader thread failed: ${event.message}`));
      };
      worker.postMessage(readerStart(path, device.#control.buffer as SharedArrayBuffer, options));
    });
  }

  read(buffer: Uint8Array): KmsgReadResult {
    const item = this.#queue[0];
    if (item === undefined) return "pending";
    if (item instanceof Error) throw item;
    if (typeof item === "string") {
      this.#queue.shift();
      return item;
    }
    const n = Math.min(item.length, buffer.length);
    buffer.set(item.subarray(0, n));
    if (n === item.length) this.#queue.shift();
    else this.#queue[0] = item.subarray(n);
    // The reader thread may read on: the queue has room again.
    Atomics.add(this.#control, CONSUMED_SLOT, n);
    Atomics.notify(this.#control, CONSUMED_SLOT);
    return n;
  }

  wait(ms: number, signal: AbortSignal): Promise<WakeReason | "ready"> {
    if (this.#queue.length > 0) return Promise.resolve("ready");
    return this.#arrived.wait(ms, signal);
  }

  /** Stops the reader thread: it closes the input and ends within one read pass. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Not `terminate()` at once: a terminated thread leaves its `node:fs` descriptor open.
    Atomics.store(this.#control, STOP_SLOT, 1);
    Atomics.notify(this.#control, STOP_SLOT);
    Atomics.notify(this.#control, CONSUMED_SLOT);
    this.#queue = [];
  }

  #push(item: Item): void {
    if (this.#closed) return;
    this.#queue.push(item);
    this.#arrived.notify();
  }
}
