/**
 * copytruncate while the tail is stopped: on restart the saved inode is still at the path, but
 * its bytes before the saved offset are gone (shorter file) or different (regrown). The lines
 * not read before the stop are in the copy (`kern.log.1`, or `kern.log.2` after two rotations):
 * the restart finishes the copy from the saved offset, then any newer copy, then the truncated
 * file from 0, as the live path does for a truncation it sees while running. A changed file with
 * no matching copy is an unusable cursor (`cursor_invalid`): the files written since are read from
 * their start, as is a position at the start of the file (no bytes to compare) with a rotation
 * written since it was taken.
 */
import assert from "node:assert/strict";
import { systemTest, which } from "../support/system.ts";
import {
  append,
  DriverOutput,
  DriverProcess,
  EVENTS_ONLY,
  gzip,
  inTempDir,
  lines,
  numbered,
  readNumberedThenStop,
  readThenStop,
  sleep,
  TailRun,
  waitFor,
} from "./file_support.ts";

/** Runs a program (coreutils) and fails the test when it fails. */
async function run(program: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command(which(program) ?? program, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** What logrotate's copytruncate does: copy the file to `copy`, then truncate it in place. */
async function copyTruncate(path: string, copy: string): Promise<void> {
  await run("cp", path, copy);
  await run("truncate", "-s0", path);
}

/** Waits until the driver delivered `count` lines in all (across its runs). */
function untilDelivered(output: DriverOutput, count: number, driver: DriverProcess) {
  return waitFor(
    () => output.batches.reduce((n, batch) => n + batch.lines.length, 0) >= count,
    `${count} lines`,
    () => `${JSON.stringify(output.batches)}\n${driver.stderr.slice(-3000)}`,
  );
}

Deno.test("restart after copytruncate while stopped: 5 drops delivered overall (driver + checkpoint)", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    await append(path, "before the daemon\n");
    const output = new DriverOutput();
    const options = { path, state, start: "end", pollMs: 600_000, output } as const;

    let driver = await DriverProcess.start(options);
    try {
      assert.deepEqual(output.resumes, [null]);
      // The daemon is running (it logged that it follows the file) before the first drops.
      await waitFor(() => driver.logged("following log file") > 0, "the driver to follow");
      await append(path, numbered("drop", 1, 2));
      await untilDelivered(output, 2, driver);
      await driver.stop("SIGTERM");

      await append(path, numbered("drop", 3, 2)); // while stopped: only in the copy later
      await copyTruncate(path, `${path}.1`);
      await append(path, numbered("drop", 5, 1));

      driver = await DriverProcess.start(options);
      assert.deepEqual(output.resumes[1], output.batches.at(-1)?.cursor, "checkpoint flushed");
      await untilDelivered(output, 5, driver);
      await append(path, "drop6\n"); // and it follows the truncated file on
      await untilDelivered(output, 6, driver);
      await driver.stop("SIGTERM");
      const delivered = output.batches.flatMap((batch) => batch.lines);
      assert.deepEqual(delivered, lines(numbered("drop", 1, 6)));
      assert.equal(output.count("cursor_invalid"), 0);
      assert.equal(output.count("truncation"), 1);
      assert.equal(output.count("rotation"), 0);
      assert.equal(driver.logged("saved position cannot be used"), 0);
    } finally {
      await driver.stop("SIGKILL");
    }
  });
});

Deno.test("copytruncate while stopped, then more lines than before: copy, then the file from 0", async () => {
  await inTempDir(async (dir) => {
    const { path, saved: cursor } = await readNumberedThenStop(dir, "l");
    await append(path, numbered("l", 11, 5));
    await copyTruncate(path, `${path}.1`);
    // Regrown past the saved offset: the size alone cannot tell, the bytes before it can.
    const regrown = numbered("after-truncation-", 1, 10);
    assert.ok(regrown.length > (cursor as { offset: number }).offset);
    await append(path, regrown);
    const second = new TailRun({ path, start: "end", resumeFrom: cursor, ...EVENTS_ONLY });
    await second.untilLines(15);
    await append(path, "later\n");
    await second.untilLines(16);
    await second.stop();
    assert.deepEqual(second.lines, [...lines(numbered("l", 11, 5)), ...lines(regrown), "later"]);
    assert.deepEqual(second.problems, []);
    assert.equal(second.count("cursor_invalid"), 0);
    assert.equal(second.count("truncation"), 1);
    assert.equal(second.count("rotation"), 0);
    assert.equal(second.logged("the log file was truncated while stopped"), 1);
    // Its cursor is in the current file now: a third run goes on from there.
    const third = new TailRun({
      path,
      start: "end",
      resumeFrom: second.lastCursor,
      ...EVENTS_ONLY,
    });
    await append(path, "third\n");
    await third.untilLines(1);
    await third.stop();
    assert.deepEqual(third.lines, ["third"]);
    assert.equal(third.count("cursor_invalid"), 0);
  });
});

Deno.test("copytruncate while stopped, nothing written since: the copy's rest, then new lines", async () => {
  await inTempDir(async (dir) => {
    const { path, saved: cursor } = await readNumberedThenStop(dir, "l", 3);
    await append(path, numbered("l", 4, 2));
    await copyTruncate(path, `${path}.1`);
    const second = new TailRun({ path, start: "end", resumeFrom: cursor, ...EVENTS_ONLY });
    await second.untilLines(2);
    await append(path, "l6\n"); // the first line of the truncated file
    await second.untilLines(3);
    await second.stop();
    assert.deepEqual(second.lines, ["l4", "l5", "l6"]);
    assert.equal(second.count("cursor_invalid"), 0);
    assert.equal(second.count("rotation"), 0);
  });
});

Deno.test("copytruncate twice while stopped: kern.log.2 from the offset, kern.log.1, then the file", async () => {
  await inTempDir(async (dir) => {
    const { path, saved: cursor } = await readNumberedThenStop(dir, "l");
    await append(path, numbered("l", 11, 3));
    await copyTruncate(path, `${path}.1`);
    await sleep(20); // distinct modification times, as real rotations hours apart have
    await append(path, numbered("l", 14, 3));
    await Deno.rename(`${path}.1`, `${path}.2`);
    await copyTruncate(path, `${path}.1`);
    await sleep(20);
    await append(path, numbered("l", 17, 2));
    await append(`${path}.3.gz`, "compressed siblings are never read\n");
    const second = new TailRun({ path, start: "end", resumeFrom: cursor, ...EVENTS_ONLY });
    await second.untilLines(8);
    await append(path, "l19\n");
    await second.untilLines(9);
    await second.stop();
    assert.deepEqual(second.lines, lines(numbered("l", 11, 9)));
    assert.equal(second.count("cursor_invalid"), 0);
    assert.equal(second.count("rotation"), 0);
    const resumed = second.logs.filter((l) => l.includes("truncated while stopped"));
    assert.equal(resumed.length, 1, second.summary());
    assert.match(resumed[0], /copy=\S+kern\.log\.2 .*newerCopies=1/);
  });
});

Deno.test("a changed file without a matching copy: the files written since are read from their start", async () => {
  await inTempDir(async (dir) => {
    const { path, saved: cursor } = await readNumberedThenStop(dir, "l");
    await append(`${path}.old`, "before the cursor\n");
    await Deno.utime(`${path}.old`, new Date(2020, 0, 1), new Date(2020, 0, 1));
    // Siblings that are no copy of what we read (other bytes before the offset, or too short),
    // written after the cursor was taken: lines in them may be new, so they are read.
    await append(`${path}.2`, "l1\n");
    await sleep(20);
    await append(`${path}.1`, numbered("x", 1, 30));
    await sleep(20);
    // Same inode, rewritten while we were stopped.
    await Deno.writeTextFile(path, numbered("y", 1, 4));
    for (const start of ["beginning", "end"] as const) {
      const run = new TailRun({ path, start, resumeFrom: cursor, ...EVENTS_ONLY });
      await run.untilLines(35);
      await run.stop();
      assert.deepEqual(
        run.lines,
        ["l1", ...lines(numbered("x", 1, 30)), ...lines(numbered("y", 1, 4))],
        start,
      );
      assert.equal(run.count("cursor_invalid"), 1);
      assert.equal(run.count("truncation"), 0);
      assert.equal(run.logged("saved position cannot be used"), 1);
    }
  });
});

/** Runs `body` with a log file in a new directory and the real logrotate set to copytruncate it. */
async function withCopytruncate(
  body: (path: string, logrotate: () => Promise<unknown>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_resume_ct_" }); // 0700: logrotate insists
  try {
    const path = `${dir}/kern.log`;
    const conf = `${dir}/logrotate.conf`;
    await Deno.writeTextFile(
      conf,
      `${path} {\n  rotate 5\n  copytruncate\n  missingok\n  nocompress\n}\n`,
    );
    await body(path, () => run("logrotate", "-f", "-s", `${dir}/logrotate.state`, conf));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

systemTest("logrotate copytruncate twice while stopped: every line once, in order", {
  needs: ["root", "logrotate"],
}, async () => {
  await withCopytruncate(async (path, logrotate) => {
    await append(path, numbered("l", 1, 20));
    const cursor = await readThenStop(path, 20);
    await append(path, numbered("l", 21, 5));
    await logrotate();
    await sleep(20);
    await append(path, numbered("l", 26, 5));
    await logrotate();
    await append(path, numbered("l", 31, 5));
    assert.deepEqual(
      (await Deno.readTextFile(`${path}.2`)).split("\n").at(-2),
      "l25",
      "kern.log.2 is the first copy",
    );
    const second = new TailRun({ path, start: "end", resumeFrom: cursor, ...EVENTS_ONLY });
    await second.untilLines(15);
    await second.stop();
    assert.deepEqual(second.lines, lines(numbered("l", 21, 15)));
    assert.equal(second.count("cursor_invalid"), 0);
    assert.equal(second.count("truncation"), 1);
  });
});

systemTest(
  "an empty file's position (offset 0), logrotate copytruncate while stopped: the copy, then the file, once",
  {
    needs: ["root", "logrotate"],
  },
  async () => {
    await withCopytruncate(async (path, logrotate) => {
      await append(path, numbered("old", 1, 3));
      await logrotate(); // the copy of an earlier rotation; the file is empty
      await sleep(20);
      // Started on the empty file: its position is the start, where no bytes tell a truncation.
      const first = new TailRun({ path, start: "end", ...EVENTS_ONLY });
      await waitFor(() => first.positions.length > 0, "the position where reading starts");
      await first.stop();
      const cursor = JSON.parse(JSON.stringify(first.lastCursor));
      assert.equal(cursor.offset, 0);
      await sleep(20);
      await append(path, numbered("l", 1, 5)); // while stopped: only in the copy by the restart
      await logrotate();
      await append(path, numbered("l", 6, 2));
      const second = new TailRun({ path, start: "end", resumeFrom: cursor, ...EVENTS_ONLY });
      await second.untilLines(7);
      await append(path, "l8\n");
      await second.untilLines(8);
      await sleep(50); // nothing more may come
      await second.stop();
      assert.deepEqual(second.lines, lines(numbered("l", 1, 8)), second.summary());
      assert.deepEqual(second.problems, []);
    });
  },
);

Deno.test("stopped after reading past the copy (the lines between copy and truncation), restarted after the truncation: only the new lines", async () => {
  for (const compressed of [false, true]) {
    await inTempDir(async (dir) => {
      const path = `${dir}/kern.log`;
      await append(path, numbered("a", 1, 100));
      const first = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
      await first.untilLines(100);
      await Deno.copyFile(path, `${path}.1`); // logrotate's copy …
      await append(path, numbered("gap", 1, 5)); // … the writer goes on …
      await first.untilLines(105); // … we read that too …
      await first.stop(); // … and are stopped before the truncation.
      const saved = JSON.parse(JSON.stringify(first.lastCursor));
      await Deno.truncate(path, 0);
      if (compressed) await gzip(`${path}.1`);
      await append(path, numbered("b", 1, 3));
      const run = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
      await run.untilLines(3);
      await sleep(100);
      await run.stop();
      // The copy holds only what was read already: it is not read again.
      assert.deepEqual(run.lines, lines(numbered("b", 1, 3)), `compressed: ${compressed}`);
    });
  }
});
