import assert from "node:assert/strict";
import { settlesWithin } from "../support/settles.ts";
import {
  type KmsgDevice,
  type KmsgReadResult,
  openKmsgDevice,
  readerStart,
  RECORD_BYTES,
  reviveError,
} from "../../src/sources/kmsg_device.ts";

const encoder = new TextEncoder();

/** `count` kmsg records of about 100 bytes each, as one stream. */
function records(count: number): Uint8Array {
  let text = "";
  for (let seq = 1; seq <= count; seq++) {
    text += `4,${seq},${seq * 1000},-;kube-iptables-tailer: record ${seq} ${"x".repeat(60)}\n`;
  }
  return encoder.encode(text);
}

/** Takes what the device holds now, without waiting: the bytes and the result that ended it. */
function takeNow(device: KmsgDevice): { bytes: number[]; end: KmsgReadResult } {
  const buffer = new Uint8Array(RECORD_BYTES);
  const bytes: number[] = [];
  for (;;) {
    const result = device.read(buffer);
    if (typeof result !== "number") return { bytes, end: result };
    bytes.push(...buffer.subarray(0, result));
  }
}

/** Reads until the device says the input has nothing more ("again"), waiting as needed. */
async function readToEnd(device: KmsgDevice, signal: AbortSignal): Promise<number[]> {
  const bytes: number[] = [];
  for (;;) {
    const taken = takeNow(device);
    bytes.push(...taken.bytes);
    if (taken.end === "again") return bytes;
    assert.equal(taken.end, "pending");
    await device.wait!(1000, signal);
    assert.ok(!signal.aborted, "the device delivered the whole file in time");
  }
}

Deno.test("openKmsgDevice: a full queue stops the reader thread until records are taken; nothing lost or reordered", async () => {
  const queueBytes = 2 * RECORD_BYTES;
  const stream = records(4000); // ~400 KiB: twelve queues' worth
  const path = await Deno.makeTempFile({ suffix: ".kmsg" });
  await Deno.writeFile(path, stream);
  const guard = AbortSignal.timeout(20_000);
  let fulls = 0;
  let full!: () => void;
  const isFull = new Promise<void>((resolve) => (full = resolve));
  const device = await openKmsgDevice(path, {
    queueBytes,
    onFull: () => {
      fulls++;
      full();
    },
  });
  try {
    await settlesWithin(isFull, 10_000, "the reader thread to fill its queue");
    // Everything the thread read ahead is here now (messages arrive between tasks only).
    const ahead = takeNow(device);
    assert.equal(ahead.end, "pending", "the reader stopped before the end of the input");
    assert.ok(ahead.bytes.length > 0);
    assert.ok(
      ahead.bytes.length <= queueBytes,
      `${ahead.bytes.length} bytes read ahead with a queue of ${queueBytes}`,
    );
    const rest = await readToEnd(device, guard);
    assert.deepEqual(new Uint8Array([...ahead.bytes, ...rest]), stream);
    assert.ok(fulls >= 2, `the queue filled ${fulls} times`);
  } finally {
    device.close();
    await Deno.remove(path);
  }
});

Deno.test("openKmsgDevice: a read error is thrown after what was read before it, and again until closed", async () => {
  // A directory opens, and reading it fails (EISDIR).
  const dir = await Deno.makeTempDir();
  const device = await openKmsgDevice(dir);
  try {
    const signal = AbortSignal.timeout(10_000);
    const buffer = new Uint8Array(RECORD_BYTES);
    let error: unknown;
    while (error === undefined && !signal.aborted) {
      try {
        assert.equal(device.read(buffer), "pending");
        await device.wait!(1000, signal);
      } catch (thrown) {
        error = thrown;
      }
    }
    assert.ok(error instanceof Error);
    assert.equal((error as { code?: string }).code, "EISDIR");
    assert.throws(() => device.read(buffer), /EISDIR/);
  } finally {
    device.close();
    await Deno.remove(dir);
  }
});

Deno.test("openKmsgDevice: an input that cannot be opened rejects with its error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      openKmsgDevice(`${dir}/missing`),
      (error: Error & { code?: string }) =>
        error.code === "ENOENT" && /missing/.test(error.message),
    );
  } finally {
    await Deno.remove(dir);
  }
});

/** How many of this process's file descriptors are open on `path`. */
function descriptorsOn(path: string): number {
  let count = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === path) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

Deno.test("openKmsgDevice: close stops a reader thread waiting on a full queue and closes the input", async () => {
  const path = await Deno.makeTempFile({ suffix: ".kmsg" });
  await Deno.writeFile(path, records(2000));
  let full!: () => void;
  const isFull = new Promise<void>((resolve) => (full = resolve));
  const device = await openKmsgDevice(path, { queueBytes: RECORD_BYTES, onFull: () => full() });
  try {
    await settlesWithin(isFull, 10_000, "the reader thread to fill its queue");
    assert.equal(descriptorsOn(path), 1, "the reader thread holds the input open");
  } finally {
    device.close();
  }
  assert.deepEqual(takeNow(device), { bytes: [], end: "pending" }, "nothing after close");
  // The thread ends and its descriptor with it (not at once: it is another thread).
  const closed = (async () => {
    while (descriptorsOn(path) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  })();
  await settlesWithin(closed, 10_000, "the reader thread to close the input");
  await Deno.remove(path);
});

Deno.test("reviveError: errors of the reader thread keep their kind and code", () => {
  const refused = reviveError({ name: "NotCapable", message: "Requires read access" });
  assert.ok(refused instanceof Deno.errors.NotCapable);
  assert.equal(refused.message, "Requires read access");
  const missing = reviveError({ name: "Error", message: "ENOENT: no such file", code: "ENOENT" });
  assert.equal((missing as { code?: string }).code, "ENOENT");
  assert.ok(!(missing instanceof Deno.errors.NotCapable));
});

Deno.test("readerStart: while the input is quiet the reader thread looks again within 20 ms", () => {
  // A ring of ~600 records is overrun in 24 ms by a flood of 25 000 records/s starting after a
  // quiet time: a longer wait (the source's poll interval, 100 ms) lost the burst's first records.
  const control = new SharedArrayBuffer(8);
  assert.equal(readerStart("/dev/kmsg", control, {}).maxWaitMs, 20);
  assert.equal(readerStart("/dev/kmsg", control, { maxWaitMs: 100 }).maxWaitMs, 20);
  assert.equal(readerStart("/dev/kmsg", control, { maxWaitMs: 5 }).maxWaitMs, 5);
  assert.equal(readerStart("/dev/kmsg", control, { maxWaitMs: 0 }).maxWaitMs, 1);
});
