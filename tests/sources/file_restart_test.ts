/**
 * `kill -9` in the middle of a stream, with a checkpoint: the tail driver (FileSource +
 * CheckpointStore, tests/support/tail_driver.ts) follows a file a writer process appends to at a
 * high rate; the test kills it with SIGKILL at random moments, sometimes rotates the file while
 * it is down (once or twice: the saved inode is then in kern.log.1 or kern.log.2), and restarts it.
 *
 * Exactly once, exactly: the driver prints each batch in full before it hands the batch's cursor
 * to the checkpoint store, so every saved cursor belongs to a printed batch, and whatever was
 * printed after the last saved cursor is delivered again after a crash. The consumer treats the
 * checkpoint as the commit point: on each start the driver prints the cursor it resumes from,
 * and the consumer drops the batches it got after the batch with that cursor (uncommitted).
 * No de-duplication by content: if the resume cursor is not one the consumer saw, or the lines
 * it keeps are not exactly 1..N in order, the test fails.
 */
import assert from "node:assert/strict";
import { writerSeq } from "../support/log_writer.ts";
import {
  type DriverBatch,
  DriverOutput,
  DriverProcess,
  sleep,
  waitFor,
  WriterProcess,
} from "./file_support.ts";

const RESTARTS = 8;

/**
 * What the consumer keeps: batches up to each resume point, then the batches after it. Also
 * how many printed lines it dropped as uncommitted (they were delivered again).
 */
function committedLines(output: DriverOutput): { lines: string[]; dropped: number } {
  let kept: DriverBatch[] = [];
  let dropped = 0;
  const drop = (from: number) => {
    dropped += kept.slice(from).reduce((n, batch) => n + batch.lines.length, 0);
    kept = kept.slice(0, from);
  };
  for (const entry of output.log) {
    if ("batch" in entry) {
      kept.push(entry.batch);
      continue;
    }
    if (entry.resume === null) {
      drop(0); // nothing was committed yet: everything comes again
      continue;
    }
    const key = JSON.stringify(entry.resume);
    const at = kept.findLastIndex((batch) => JSON.stringify(batch.cursor) === key);
    assert.ok(at >= 0, `resumed from ${key}, which is no batch the consumer received`);
    drop(at + 1);
  }
  return { lines: kept.flatMap((batch) => batch.lines), dropped };
}

async function rotate(path: string): Promise<void> {
  for (let n = 3; n >= 1; n--) {
    try {
      await Deno.rename(`${path}.${n}`, `${path}.${n + 1}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  await Deno.rename(path, `${path}.1`);
}

Deno.test("kill -9 and restart mid-stream (with rotations while down): exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "file_restart_" });
  const path = `${dir}/kern.log`;
  const state = `${dir}/state`;
  await Deno.mkdir(state);
  const output = new DriverOutput();
  const options = { path, state, start: "beginning", checkpointMs: 50, output } as const;
  const writer = await WriterProcess.start({ path, rate: 10_000 });
  let driver: DriverProcess | undefined;
  let rotations = 0;
  let logs = "";
  try {
    for (let i = 0; i < RESTARTS; i++) {
      driver = await DriverProcess.start(options);
      await sleep(150 + Math.floor(Math.random() * 300));
      const status = await driver.stop("SIGKILL");
      assert.equal(status.signal, "SIGKILL");
      logs += driver.stderr;
      driver = undefined;
      const downtimeRotations = i % 3; // 0, 1 or 2 rotations while it is down
      for (let r = 0; r < downtimeRotations; r++) {
        await sleep(20);
        await rotate(path);
        rotations++;
      }
      await sleep(20);
    }
    driver = await DriverProcess.start(options);
    const last = await writer.stop();
    await waitFor(
      () =>
        output.batches.at(-1)?.lines.at(-1) !== undefined &&
        writerSeq(output.batches.at(-1)!.lines.at(-1)!) === last,
      `line ${last}`,
      () => driver!.stderr.slice(-3000),
    );
    await driver.stop("SIGTERM");
    logs += driver.stderr;
    driver = undefined;

    const committed = committedLines(output);
    const seqs = committed.lines.map(writerSeq);
    const expected = Array.from({ length: last }, (_, k) => k + 1);
    assert.equal(seqs.length, last, `${seqs.length} committed lines for ${last} written`);
    assert.deepEqual(seqs, expected);
    assert.equal(output.resumes.length, RESTARTS + 1);
    assert.equal(output.count("cursor_invalid"), 0);
    // The paths this test is about were taken: resuming inside a rotated file, and lines
    // printed but not committed at a kill, delivered again.
    assert.ok(rotations > 0);
    assert.ok(logs.includes("resuming in a rotated file"), "no resume in a rotated sibling");
    assert.ok(committed.dropped > 0, "no uncommitted lines at any kill");
    console.log(
      `${last} lines, ${RESTARTS} kills, ${rotations} rotations while down, ${committed.dropped} lines delivered again after kills`,
    );

    // A clean stop flushed the checkpoint: a new run delivers only what is new.
    const before = output.batches.length;
    driver = await DriverProcess.start(options);
    assert.deepEqual(output.resumes.at(-1), output.batches.at(-1)?.cursor);
    await Deno.writeTextFile(path, "after restart\n", { append: true });
    await waitFor(() => output.batches.length > before, "the new line", () => driver!.stderr);
    await driver.stop("SIGTERM");
    driver = undefined;
    assert.deepEqual(output.batches.slice(before).flatMap((b) => b.lines), ["after restart"]);
  } finally {
    await driver?.stop("SIGKILL");
    await writer.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
