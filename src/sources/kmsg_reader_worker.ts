/**
 * The body of the kmsg reader thread (see `kmsg_device.ts`): it reads the device as fast as the
 * kernel writes it, into a bounded queue the main thread drains, so the time the main thread
 * spends parsing and handling drops no longer lets the kernel overwrite records before they
 * are read.
 *
 * {@link kmsgReaderWorker} runs in a Worker made from its source text (`toString()`), so it
 * works the same under `deno run`, in the bundle and in a compiled binary, which have no module
 * file to start a worker from. Hence its rule: **it refers to nothing outside its own body**
 * (no imports but the dynamic `node:fs`, no module constants, no nested named functions a
 * bundler could wrap in a helper). What both sides share comes in the start message.
 * @module
 */

/** What the main thread sends once, to start the reader. */
export interface ReaderStart {
  path: string;
  /** An `Int32Array` over it: `[stop, bytes consumed]`, see the slot numbers below. */
  control: SharedArrayBuffer;
  /** Slot of `control` the main thread sets to 1 to stop the reader. */
  stopSlot: number;
  /** Slot of `control` counting (modulo 2^32) the bytes the main thread has taken. */
  consumedSlot: number;
  /** Most bytes posted and not yet taken; at that many the reader stops reading. */
  queueBytes: number;
  /** Room for one read: a kmsg read returns one whole record or fails (EINVAL). */
  recordBytes: number;
  /** Most bytes posted in one message. */
  chunkBytes: number;
  /** Longest wait when the input has nothing, in ms (waits start at 1 ms). */
  maxWaitMs: number;
}

/** An error as it crosses the thread boundary. */
export interface ReaderError {
  name: string;
  message: string;
  code?: string;
}

/** What the reader thread posts, in order. */
export type ReaderMessage =
  /** The input is open; `read` messages follow. */
  | { kind: "opened" }
  /**
   * Bytes read (each element whole records, in order) and `"overrun"` where the kernel said
   * records were overwritten (EPIPE). `drained`: the input had nothing more after them.
   */
  | { kind: "read"; items: Array<Uint8Array | "overrun">; drained: boolean }
  /** The queue is full: reading stopped until the main thread takes some. */
  | { kind: "full" }
  /** Opening or reading failed. */
  | { kind: "failed"; error: ReaderError }
  /** The last message: the input is closed (after a failure or a stop) and the thread ends. */
  | { kind: "closed" };

/**
 * Runs in the reader Worker: waits for its {@link ReaderStart}, reads until the stop slot is set
 * or a read fails, then closes the input and ends. Reads are non-blocking (a thread blocked in
 * `read(2)` keeps the process from exiting); when the input has nothing the thread waits on
 * `control` (1 ms after records came, doubling to `maxWaitMs`), woken at once by a stop.
 */
export function kmsgReaderWorker(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<ReaderStart>) => void) | null;
    postMessage(message: ReaderMessage, transfer?: Transferable[]): void;
    close(): void;
  };
  const describe = (error: unknown): ReaderError => {
    const e = error as { name?: unknown; message?: unknown; code?: unknown } | null;
    const described: ReaderError = {
      name: typeof e?.name === "string" ? e.name : "Error",
      message: typeof e?.message === "string" ? e.message : String(error),
    };
    if (typeof e?.code === "string") described.code = e.code;
    return described;
  };
  scope.onmessage = async (event) => {
    scope.onmessage = null;
    const start = event.data;
    const fs = await import("node:fs");
    const control = new Int32Array(start.control);
    let fd: number;
    try {
      fd = fs.openSync(start.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (error) {
      scope.postMessage({ kind: "failed", error: describe(error) });
      scope.postMessage({ kind: "closed" });
      scope.close();
      return;
    }
    scope.postMessage({ kind: "opened" });
    let failure: ReaderError | undefined;
    try {
      const buffer = new Uint8Array(start.chunkBytes);
      // Bytes posted, modulo 2^32 like the consumed count: their difference is what is queued.
      let posted = 0;
      let waitMs = 1;
      let full = false;
      // Whether the last message said the input was drained (an idle reader posts nothing).
      let saidDrained = false;
      while (!failure && Atomics.load(control, start.stopSlot) === 0) {
        const consumed = Atomics.load(control, start.consumedSlot);
        let room = start.queueBytes - ((posted - consumed) | 0);
        if (room < start.recordBytes) {
          // Better the kernel reports a gap than memory grows without bound.
          if (!full) scope.postMessage({ kind: "full" });
          full = true;
          Atomics.wait(control, start.consumedSlot, consumed, start.maxWaitMs);
          continue;
        }
        full = false;
        const items: Array<Uint8Array | "overrun"> = [];
        const transfer: ArrayBuffer[] = [];
        let used = 0;
        let drained = false;
        const take = () => {
          if (used === 0) return;
          const bytes = buffer.slice(0, used);
          items.push(bytes);
          transfer.push(bytes.buffer);
          posted = (posted + used) | 0;
          room -= used;
          used = 0;
        };
        while (used + start.recordBytes <= Math.min(buffer.length, room)) {
          let n: number;
          try {
            n = fs.readSync(fd, buffer, used, start.recordBytes, null);
          } catch (error) {
            const code = describe(error).code;
            if (code === "EAGAIN") {
              drained = true;
              break;
            }
            take();
            if (code === "EPIPE") {
              items.push("overrun");
              continue;
            }
            failure = describe(error);
            break;
          }
          if (n === 0) {
            drained = true;
            break;
          }
          used += n;
        }
        take();
        if (items.length > 0 || (drained && !saidDrained)) {
          scope.postMessage({ kind: "read", items, drained }, transfer);
          saidDrained = drained;
        }
        if (drained) {
          waitMs = items.length > 0 ? 1 : Math.min(start.maxWaitMs, waitMs * 2);
          Atomics.wait(control, start.stopSlot, 0, waitMs);
        }
      }
    } catch (error) {
      // A fault of this loop itself: reported as a read failure, and the descriptor still closed.
      failure ??= describe(error);
    }
    // Here, not by terminating the thread: that leaves `node:fs` descriptors open.
    fs.closeSync(fd);
    if (failure) scope.postMessage({ kind: "failed", error: failure });
    scope.postMessage({ kind: "closed" });
    scope.close();
  };
}
