/**
 * Rotation stress: a writer process appends numbered lines at a high rate (20 000 lines/s, one
 * write each, reopening the path when it names another file, as rsyslog does after a HUP) while
 * the test rotates the file 200 times. Every number must be delivered exactly once, in order.
 *
 * One precondition no tailer can do without: it must see each generation (a file at the path,
 * or the content of a file between two truncations) before that generation is gone. Real
 * rotations are minutes to days apart; here they would come faster than the tail reacts (it
 * shares this process with the rotating loop). So the test rotates only once the tail holds the
 * current file (rename, delete: seen in /proc/self/fd) or has delivered a line of the current
 * generation (copytruncate), then after a random 1–15 ms. Rotations still race with the writer.
 *
 * - rename+create and delete+recreate must lose nothing: the tail keeps the old handle and
 *   drains it (including what the writer appended after the rename or deletion, until it
 *   noticed) before it moves to the new file.
 * - copytruncate loses, by its nature, what the writer appends between the end of the copy and
 *   the truncation: it is in neither file. The test copies the way logrotate does (read to the
 *   end, then truncate), measures the window from the files themselves, and asserts that the
 *   tail loses nothing outside it and repeats nothing. Lines the tail had not read yet at the
 *   truncation are in the copy, and it reads them there.
 */
import assert from "node:assert/strict";
import {
  checkDelivery,
  drainAndStop,
  lastSeqIn,
  lostByCopyTruncate,
  seqsIn,
  sleep,
  summarize,
  TailRun,
  untilTailSeesCurrent,
  WriterProcess,
} from "./file_support.ts";

const ROTATIONS = 200;

type Rotation = "rename+create" | "copytruncate" | "delete+recreate";

async function touch(path: string): Promise<void> {
  // Not exclusive and not truncating: the writer may have created it already.
  (await Deno.open(path, { create: true, append: true })).close();
}

/** One copytruncate as logrotate does it; what the files say about it. */
interface CopyRecord {
  /** The copy's content. */
  copy: Uint8Array;
  /** Size of the file when the copy started. */
  sizeAtStart: number;
  /** Milliseconds from the start of the copy to the truncation. */
  ms: number;
}

async function copyTruncate(path: string): Promise<CopyRecord> {
  // Like logrotate with `rotate 4`: older copies move up a number, the new one is a new .1.
  for (let n = 3; n >= 1; n--) {
    try {
      await Deno.rename(`${path}.${n}`, `${path}.${n + 1}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const started = performance.now();
  const source = await Deno.open(path, { read: true, write: true });
  const target = await Deno.open(`${path}.1`, { write: true, createNew: true });
  try {
    const sizeAtStart = (await source.stat()).size;
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(256 * 1024);
    for (let n = await source.read(buffer); n !== null && n > 0; n = await source.read(buffer)) {
      const chunk = buffer.slice(0, n);
      chunks.push(chunk);
      for (let done = 0; done < n;) done += await target.write(chunk.subarray(done));
    }
    await source.truncate(0);
    const copy = new Uint8Array(chunks.reduce((size, c) => size + c.length, 0));
    chunks.reduce((at, c) => (copy.set(c, at), at + c.length), 0);
    return { copy, sizeAtStart, ms: performance.now() - started };
  } finally {
    source.close();
    target.close();
  }
}

/** Lines appended from the start of each copy to its truncation (the window the issue names). */
function copyWindows(records: CopyRecord[], final: Uint8Array): number[] {
  const contents = [...records.map((r) => r.copy), final];
  return records.map((record, i) => {
    const before = seqsIn(record.copy.subarray(0, record.sizeAtStart)).at(-1);
    const after = seqsIn(contents[i + 1])[0];
    return before === undefined || after === undefined ? 0 : after - before - 1;
  });
}

async function stress(kind: Rotation): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_rotation_" });
  const path = `${dir}/kern.log`;
  try {
    const writer = await WriterProcess.start({ path, rate: 20_000 });
    const run = new TailRun({ path, start: "beginning", pollIntervalMs: 1000 });
    const records: CopyRecord[] = [];
    let last = 0;
    try {
      for (let i = 0; i < ROTATIONS; i++) {
        await untilTailSeesCurrent(run, path, kind === "copytruncate" ? "truncation" : "new file");
        await sleep(1 + Math.floor(Math.random() * 15));
        if (kind === "rename+create") {
          await Deno.rename(path, `${path}.1`);
          await touch(path);
        } else if (kind === "delete+recreate") {
          await Deno.remove(path);
          await touch(path);
        } else {
          records.push(await copyTruncate(path));
        }
      }
    } finally {
      last = await writer.stop();
      // With copytruncate the last lines may have fallen into the last copy's window.
      const survivor = kind === "copytruncate"
        ? lastSeqIn([records.at(-1)?.copy ?? new Uint8Array(), await Deno.readFile(path)])
        : last;
      await drainAndStop(run, survivor);
    }
    const missing = checkDelivery(run, last);
    if (kind === "copytruncate") {
      const final = await Deno.readFile(path);
      const lost = lostByCopyTruncate([...records.map((r) => r.copy), final], last);
      const outside = missing.filter((n) => !lost.has(n));
      console.log(
        `copytruncate, ${last} lines, ${ROTATIONS} rotations: copy start→truncate ${
          summarize(records.map((r) => r.ms))
        } ms, ${summarize(copyWindows(records, final))} lines appended meanwhile; ` +
          `lost by copytruncate itself (end of copy→truncate): ${lost.size}; missed by the tail: ${missing.length}`,
      );
      assert.deepEqual(outside.slice(0, 20), [], `${outside.length} lines lost outside the window`);
      assert.equal(run.count("truncation"), ROTATIONS);
    } else {
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} lines lost`);
      assert.ok(run.count("rotation") >= ROTATIONS / 2, `${run.count("rotation")} rotations`);
      console.log(`${kind}: ${last} lines, ${run.count("rotation")} switches, none lost`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const kind of ["rename+create", "copytruncate", "delete+recreate"] as const) {
  Deno.test(`rotation stress (${kind}, ${ROTATIONS}×) under a fast writer: exactly once, in order`, () =>
    stress(kind));
}
