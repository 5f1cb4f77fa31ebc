/**
 * Restarts where the saved position cannot be found as it was: nothing logged since may be
 * skipped. A first run that read no line still leaves a position; a file gone while we were
 * stopped (deleted, or compressed into something we cannot read) makes the files written since
 * be read from their start; a file the path no longer names (a retargeted symlink) is found at
 * the real path the cursor saved. (Files compressed with gzip: file_resume_compressed_test.ts.)
 */
import assert from "node:assert/strict";
import {
  append,
  EVENTS_ONLY,
  inTempDir,
  lines,
  numbered,
  readNumberedThenStop,
  readThenStop,
  sleep,
  TailRun,
} from "./file_support.ts";

/** A run started at the end without a cursor and stopped before any line: the cursor it saved. */
async function savedAtEnd(path: string): Promise<{ offset: number }> {
  const first = new TailRun({ path, start: "end", ...EVENTS_ONLY });
  await first.untilLogged("following log file");
  await first.stop();
  assert.deepEqual(first.lines, []);
  assert.equal(first.positions.length, 1, "one position batch");
  const saved = JSON.parse(JSON.stringify(first.lastCursor));
  assert.equal(saved.offset, (await Deno.stat(path)).size, "the position is the end");
  return saved;
}

Deno.test("a first run that reads no line still hands out where it started: the next run reads what came in between", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("old", 1, 5));
    const saved = await savedAtEnd(path);

    await append(path, numbered("while-stopped", 1, 3));
    const second = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
    await second.untilLines(3);
    await append(path, "after\n");
    await second.untilLines(4);
    await second.stop();
    assert.deepEqual(second.lines, [...lines(numbered("while-stopped", 1, 3)), "after"]);
    assert.equal(second.positions.length, 0, "a resumed run has its position already");
    assert.equal(second.count("cursor_invalid"), 0);
  });
});

Deno.test("rotated while stopped and the old file deleted: the new file is read from its start", async () => {
  await inTempDir(async (dir) => {
    const { path, saved } = await readNumberedThenStop(dir, "l");
    await sleep(20);
    await append(path, numbered("l", 11, 5)); // lost with the file: nobody can read them
    await Deno.rename(path, `${path}.1`);
    await Deno.remove(`${path}.1`);
    await append(path, numbered("l", 16, 5));
    for (const start of ["end", "beginning"] as const) {
      const run = new TailRun({ path, start, resumeFrom: saved, ...EVENTS_ONLY });
      await run.untilLines(5);
      await run.stop();
      assert.deepEqual(run.lines, lines(numbered("l", 16, 5)), start);
      assert.equal(run.count("cursor_invalid"), 1, start);
      assert.equal(run.logged("reading the files written since from their start"), 1, start);
    }
  });
});

Deno.test("rotated twice while stopped, our file deleted: the plain rotation written since is read too, then the file", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    await append(`${path}.9`, "long before the cursor\n");
    await Deno.utime(`${path}.9`, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const saved = await savedAtEnd(path);
    await sleep(20);
    await append(path, numbered("l", 11, 2));
    await Deno.remove(path); // our file: gone at the second rotation
    await append(`${path}.1`, numbered("l", 13, 3)); // the first rotation's file
    await sleep(20);
    await append(path, numbered("l", 16, 2));
    const run = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
    await run.untilLines(5);
    await append(path, "l18\n");
    await run.untilLines(6);
    await run.stop();
    assert.deepEqual(run.lines, lines(numbered("l", 13, 6)));
    assert.equal(run.count("cursor_invalid"), 1);
  });
});

Deno.test("a symlink retargeted while stopped: the rest of the old target, then the new one from its start", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/current.log`;
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await append(`${dir}/a/0.log`, numbered("a", 1, 10));
    await Deno.symlink(`${dir}/a/0.log`, path);
    const saved = await readThenStop(path, 10);
    assert.equal((saved as { path: string }).path, await Deno.realPath(`${dir}/a/0.log`));
    await append(`${dir}/a/0.log`, numbered("a", 11, 5));
    await append(`${dir}/b/0.log`, numbered("b", 1, 5));
    await Deno.remove(path);
    await Deno.symlink(`${dir}/b/0.log`, path);
    const run = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
    await run.untilLines(10);
    await run.stop();
    assert.deepEqual(run.lines, [...lines(numbered("a", 11, 5)), ...lines(numbered("b", 1, 5))]);
    assert.equal(run.count("cursor_invalid"), 0);
    assert.equal(run.logged("resuming in the file the path named before"), 1);
  });
});
