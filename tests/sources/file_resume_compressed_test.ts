/**
 * Restarts after our file was compressed with gzip while we were stopped (logrotate's
 * `compress`, with and without `delaycompress`, and with `copytruncate`): reading resumes at the
 * saved offset inside the `.gz` — every line once, none skipped — then goes on in the newer
 * files. A position taken inside a compressed file is found again; a damaged `.gz` is read up to
 * the damage and counted. Files are compressed by the real gzip.
 */
import assert from "node:assert/strict";
import {
  append,
  EVENTS_ONLY,
  gzip,
  inTempDir,
  lines,
  numbered,
  readThenStop,
  sleep,
  TailRun,
} from "./file_support.ts";

/** A resumed run from `saved` that delivers `count` lines, then stops. */
async function resumed(path: string, saved: unknown, count: number): Promise<TailRun> {
  const run = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
  await run.untilLines(count);
  await sleep(50); // nothing more may come
  await run.stop();
  assert.deepEqual(run.problems, []);
  return run;
}

Deno.test("compress while stopped: resumes at the saved offset inside kern.log.1.gz, then the new file", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    const saved = await readThenStop(path, 10);
    await append(path, numbered("l", 11, 5)); // only in the compressed file by the restart
    await Deno.rename(path, `${path}.1`);
    await append(path, numbered("l", 16, 5));
    await gzip(`${path}.1`);
    const run = await resumed(path, saved, 10);
    assert.deepEqual(run.lines, lines(numbered("l", 11, 10)));
    assert.equal(run.count("cursor_invalid"), 0);
    assert.equal(run.logged("resuming in a compressed rotation"), 1);
  });
});

Deno.test("compress with delaycompress, rotated twice while stopped: kern.log.2.gz from the offset, kern.log.1, then the file", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    await append(`${path}.3.gz`, "an older rotation, not gzip at all\n");
    const saved = await readThenStop(path, 10);
    await append(path, numbered("l", 11, 2));
    await Deno.rename(path, `${path}.1`); // first rotation: kept plain (delaycompress)
    await append(path, numbered("l", 13, 3));
    await sleep(20);
    await Deno.rename(`${path}.1`, `${path}.2`); // second rotation: .1 → .2, compressed
    await gzip(`${path}.2`);
    await Deno.rename(path, `${path}.1`);
    await sleep(20);
    await append(path, numbered("l", 16, 2));
    const run = await resumed(path, saved, 7);
    assert.deepEqual(run.lines, lines(numbered("l", 11, 7)));
    assert.equal(run.count("cursor_invalid"), 0);
  });
});

Deno.test("copytruncate and compress while stopped: the rest of the copy from kern.log.1.gz, then the truncated file from 0", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    const saved = await readThenStop(path, 10);
    await append(path, numbered("l", 11, 3));
    await Deno.copyFile(path, `${path}.1`);
    await Deno.truncate(path, 0);
    await gzip(`${path}.1`);
    await append(path, numbered("l", 14, 3));
    const run = await resumed(path, saved, 6);
    assert.deepEqual(run.lines, lines(numbered("l", 11, 6)));
    assert.equal(run.count("cursor_invalid"), 0);
  });
});

Deno.test("stopped again while reading a compressed file: the next run goes on from that batch, no line twice or skipped", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    const saved = await readThenStop(path, 10);
    // About 1.3 MB uncompressed: several batches from the compressed file.
    await append(path, numbered("l", 11, 100_000));
    await Deno.rename(path, `${path}.1`);
    await gzip(`${path}.1`);
    await append(path, numbered("n", 1, 3));
    const first = await resumed(path, saved, 100_003);
    assert.ok(first.batches.length >= 3, `${first.batches.length} batches`);
    const cut = first.batches[1];
    const delivered = first.batches[0].lines.length + cut.lines.length;
    const checkpoint = JSON.parse(JSON.stringify(cut.cursor));
    assert.ok(
      checkpoint.path.endsWith(".gz"),
      `a position in the compressed file: ${checkpoint.path}`,
    );

    const second = await resumed(path, checkpoint, 100_003 - delivered);
    assert.deepEqual(second.lines, first.lines.slice(delivered));
    assert.equal(second.count("cursor_invalid"), 0);
    assert.equal(second.logged("resuming in a compressed rotation"), 1);
  });
});

Deno.test("a damaged kern.log.1.gz: read up to the damage (counted), then the new file", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    const saved = await readThenStop(path, 10);
    await append(path, numbered("l", 11, 50_000));
    await Deno.rename(path, `${path}.1`);
    const compressed = await Deno.readFile(await gzip(`${path}.1`));
    await Deno.writeFile(`${path}.1.gz`, compressed.subarray(0, compressed.length >> 1));
    await append(path, numbered("n", 1, 3));
    const run = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
    await run.untilLines(3 + 1000);
    await run.untilLogged("cannot read the compressed log file to its end");
    await sleep(50);
    await run.stop();
    assert.equal(run.count("corrupt"), 1);
    // A run of the compressed lines from the offset on, with no gap, then the new file.
    const fromGz = run.lines.slice(0, -3);
    assert.deepEqual(fromGz, lines(numbered("l", 11, fromGz.length)));
    assert.ok(fromGz.length < 50_000);
    assert.deepEqual(run.lines.slice(-3), lines(numbered("n", 1, 3)));
  });
});

Deno.test("not gzip though named .gz, our file gone: the files written since are read from their start", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    const saved = await readThenStop(path, 10);
    await sleep(20);
    await append(path, numbered("l", 11, 5));
    await Deno.rename(path, `${path}.1.gz`); // compressed by something else than gzip
    await append(path, numbered("l", 16, 5));
    const run = await resumed(path, saved, 5);
    assert.deepEqual(run.lines, lines(numbered("l", 16, 5)));
    assert.equal(run.count("cursor_invalid"), 1);
    assert.equal(run.count("corrupt"), 1);
    assert.equal(run.logged("reading the files written since from their start"), 1);
  });
});
