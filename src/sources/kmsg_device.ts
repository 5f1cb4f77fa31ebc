/**
 * Non-blocking reads of `/dev/kmsg` (or a file or FIFO standing in for it).
 *
 * The device is opened with `O_NONBLOCK` through `node:fs` (Deno's own `Deno.open` takes no
 * open flags): a read returns one record, `EAGAIN` when there is none yet, `EPIPE` when the
 * records after our position were overwritten (the next read returns the oldest one left). A
 * read never blocks a thread, so shutting down needs no cancellation. The same calls serve a
 * regular file (0 at its end) and a FIFO (0 without writer, `EAGAIN` while a writer is idle;
 * opening it does not wait for a writer).
 * @module
 */

import { closeSync, constants, openSync, readSync } from "node:fs";

/** Bytes read, `"again"` when nothing is available now (end of file included), `"overrun"`. */
export type KmsgReadResult = number | "again" | "overrun";

/** An open kmsg input. */
export interface KmsgDevice {
  /** Reads into `buffer` without blocking. Throws on errors other than EAGAIN and EPIPE. */
  read(buffer: Uint8Array): KmsgReadResult;
  close(): void;
}

/** Opens a kmsg input; throws when it cannot be opened. */
export type KmsgDeviceOpener = (path: string) => KmsgDevice;

/** The error code of a `node:fs` error ("EAGAIN", "EPIPE", …). */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Opens `path` for non-blocking reads. */
export const openKmsgDevice: KmsgDeviceOpener = (path) => {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let open = true;
  return {
    read(buffer) {
      try {
        const n = readSync(fd, buffer, 0, buffer.length, null);
        return n === 0 ? "again" : n;
      } catch (error) {
        const code = errorCode(error);
        if (code === "EAGAIN") return "again";
        if (code === "EPIPE") return "overrun";
        throw error;
      }
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
};
