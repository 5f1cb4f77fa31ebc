import assert from "node:assert/strict";
import { settlesWithin } from "../support/settles.ts";
import { silentLogger } from "../../src/log.ts";
import { FileSource } from "../../src/sources/file.ts";
import { TailedFile } from "../../src/sources/file_reader.ts";
import { listRotatedSiblings } from "../../src/sources/file_siblings.ts";
import { basename } from "node:path";
import {
  append,
  EVENTS_ONLY,
  inTempDir,
  lines,
  numbered,
  processHolds,
  sleep,
  TailRun,
  waitFor,
} from "./file_support.ts";

Deno.test("start at end delivers only lines appended after start", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("old", 1, 5) + "unfinished ");
    const run = new TailRun({ path, start: "end", ...EVENTS_ONLY });
    await run.untilLogged("following log file");
    await append(path, "line\n" + numbered("new", 1, 3));
    await run.untilLines(4);
    await run.stop();
    // The line that was unfinished at start is delivered whole, the older ones not at all.
    assert.deepEqual(run.lines, ["unfinished line", "new1", "new2", "new3"]);
    assert.deepEqual(run.problems, []);
  });
});

Deno.test("start at end inside a last line longer than the look-back: its rest is skipped", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "old\n" + "x".repeat(100_000));
    const run = new TailRun({ path, start: "end", ...EVENTS_ONLY });
    await run.untilLogged("following log file");
    await append(path, "x".repeat(10) + "\nnew\n");
    await run.untilLines(1);
    await run.stop();
    assert.deepEqual(run.lines, ["new"]);
    // Its cursor resumes exactly (the hash covers bytes the look-back had).
    const again = new TailRun({ path, resumeFrom: run.lastCursor, ...EVENTS_ONLY });
    await append(path, "newer\n");
    await again.untilLines(1);
    await again.stop();
    assert.deepEqual(again.lines, ["newer"]);
    assert.equal(again.count("cursor_invalid"), 0);
  });
});

Deno.test("start at beginning delivers the whole file, then appends", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("old", 1, 5));
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(5);
    await append(path, numbered("new", 1, 2));
    await run.untilLines(7);
    await run.stop();
    assert.deepEqual(
      run.lines,
      [...numbered("old", 1, 5).split("\n"), "new1", "new2"].filter(Boolean),
    );
  });
});

Deno.test("the file is read as soon as it is opened, not at the next wake-up", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "there\n");
    // Neither an event nor a poll will come within the test's time.
    const run = new TailRun({ path, start: "beginning", watch: false, pollIntervalMs: 600_000 });
    await run.untilLines(1, 5_000);
    await run.stop();
    assert.deepEqual(run.lines, ["there"]);
  });
});

Deno.test("a partial last line is held until its newline arrives", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "");
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    // One write holding a complete line and the start of the next: once the first is
    // delivered, the read that found it has seen the fragment too.
    await append(path, "first\npar");
    await run.untilLines(1);
    await sleep(30);
    assert.deepEqual(run.lines, ["first"]);
    await append(path, "tial");
    await sleep(30);
    await append(path, "\nthird\n");
    await run.untilLines(3);
    await run.stop();
    assert.deepEqual(run.lines, ["first", "partial", "third"]);
  });
});

Deno.test("a line over maxLineBytes is cut, the rest skipped and counted; the tail goes on", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "");
    // Small chunks, so the long line spans many reads and is held across them.
    const run = new TailRun({
      path,
      start: "beginning",
      maxLineBytes: 100,
      readChunkBytes: 4096,
      ...EVENTS_ONLY,
    });
    await append(path, "short\n" + "é".repeat(40_000) + "\n" + "B".repeat(150) + "\nafter\n");
    await run.untilLines(4);
    await run.stop();
    assert.deepEqual(run.lines, ["short", "é".repeat(50), "B".repeat(100), "after"]);
    assert.equal(run.count("line_truncated"), 2);
  });
});

Deno.test("invalid UTF-8 is delivered as U+FFFD", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, new Uint8Array([0x61, 0xff, 0xfe, 0x62, 0x0a]));
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(1);
    await run.stop();
    assert.deepEqual(run.lines, ["a\uFFFD\uFFFDb"]);
  });
});

Deno.test("a file missing at start is waited for (logged once) and read from its start", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    const run = new TailRun({ path, start: "end", pollIntervalMs: 10 });
    await sleep(200); // some polls find it still missing
    await append(path, numbered("line", 1, 3));
    await run.untilLines(3);
    await run.stop();
    assert.deepEqual(run.lines, ["line1", "line2", "line3"]);
    assert.equal(run.logged("log file does not exist; waiting for it"), 1);
    assert.equal(run.count("read_error"), 0);
  });
});

Deno.test("a missing parent directory is waited for too (polling until it can be watched)", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/sub/kern.log`;
    const run = new TailRun({ path, start: "end", pollIntervalMs: 20 });
    await sleep(100);
    await Deno.mkdir(`${dir}/sub`);
    await append(path, "here\n");
    await run.untilLines(1);
    await append(path, "again\n");
    await run.untilLines(2);
    await run.stop();
    assert.deepEqual(run.lines, ["here", "again"]);
  });
});

Deno.test("the path turning into a directory is a read error (logged once), then recovers", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "one\n");
    const run = new TailRun({
      path,
      start: "beginning",
      pollIntervalMs: 10,
      retryInitialMs: 5,
      retryMaxMs: 20,
    });
    await run.untilLines(1);
    await Deno.remove(path);
    await Deno.mkdir(path);
    await run.untilEvent("read_error", 5);
    assert.equal(run.logged("cannot read log file"), 1);
    assert.match(run.logs.find((l) => l.includes("cannot read log file")) ?? "", /is a directory/);
    await Deno.remove(path);
    await append(path, "two\n");
    await run.untilLines(2);
    await run.stop();
    assert.deepEqual(run.lines, ["one", "two"]);
    assert.equal(run.logged("log file is readable again"), 1);
  });
});

Deno.test("a FIFO at the path is refused (never opened, which would block)", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    const mkfifo = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(mkfifo.success);
    const run = new TailRun({ path, start: "end", pollIntervalMs: 10, retryInitialMs: 5 });
    await run.untilEvent("read_error", 2);
    await run.stop();
    assert.match(run.logs.find((l) => l.includes("cannot read log file")) ?? "", /is a FIFO/);
  });
});

Deno.test("rename+create: the old file is drained (writes after the rename too), then the new one", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "a1\n");
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(1);
    const old = await Deno.open(path, { append: true });
    await Deno.rename(path, `${path}.1`);
    await Deno.writeFile(path, new Uint8Array(0));
    await old.write(new TextEncoder().encode("a2\n")); // the writer has not reopened yet
    await run.untilLines(2);
    await append(path, "b1\n"); // it has now
    await run.untilLines(3); // b1 is only delivered once we switched to the new file
    await old.write(new TextEncoder().encode("a3\n")); // a straggler after the switch: not read
    old.close();
    await append(path, "b2\n");
    await run.untilLines(4);
    await run.stop();
    assert.deepEqual(run.lines, ["a1", "a2", "b1", "b2"]);
    assert.equal(run.count("rotation"), 1);
  });
});

Deno.test("delete+recreate: lines written to the deleted file are read from the held handle", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "a1\n");
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(1);
    const old = await Deno.open(path, { append: true });
    await Deno.remove(path);
    // No inotify event tells of writes to a deleted file; the next event (the new file) does.
    await old.write(new TextEncoder().encode("a2\na3\n"));
    old.close();
    await append(path, "b1\n");
    await run.untilLines(4);
    await run.stop();
    assert.deepEqual(run.lines, ["a1", "a2", "a3", "b1"]);
    assert.equal(run.count("rotation"), 1);
  });
});

Deno.test("copytruncate: lines not read before the truncation are read from the copy", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("a", 1, 10));
    await append(`${path}.2`, numbered("older", 1, 50)); // an older rotation, not the copy
    // Polling only, and slowly: it cannot look between our append, copy and truncate.
    const run = new TailRun({ path, start: "beginning", watch: false, pollIntervalMs: 300 });
    await run.untilLines(10);
    await append(path, numbered("a", 11, 5)); // not read yet when the file is truncated
    await Deno.copyFile(path, `${path}.1`);
    await Deno.truncate(path, 0);
    await append(path, "b1\n");
    await run.untilLines(16);
    await run.stop();
    assert.deepEqual(run.lines, [...lines(numbered("a", 1, 15)), "b1"]);
    assert.equal(run.count("truncation"), 1);
    assert.equal(run.count("rotation"), 0);
    assert.equal(run.logged("reading the rest of the truncated file from its copy"), 1);
  });
});

Deno.test("copytruncate: a file shrinking below our offset is read again from 0", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("a", 1, 100));
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(100);
    await Deno.copyFile(path, `${path}.1`);
    await Deno.truncate(path, 0);
    await append(path, "b1\n");
    await run.untilLines(101);
    await run.stop();
    assert.deepEqual(run.lines.slice(100), ["b1"]);
    assert.equal(run.count("truncation"), 1);
    assert.equal(run.count("rotation"), 0);
  });
});

Deno.test("truncated and regrown past our offset between two looks: caught by the bytes before it", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "short-1\nshort-2\n");
    const events: string[] = [];
    const file = await TailedFile.open(path, {
      maxLineBytes: 1000,
      log: silentLogger,
      onEvent: (event) => events.push(event),
    });
    const buffer = new Uint8Array(4096);
    const signal = new AbortController().signal;
    /** One drain: the texts it yielded and what it returned. */
    const drain = async () => {
      const texts: string[] = [];
      const it = file.drain(buffer, signal);
      for (let step = await it.next();; step = await it.next()) {
        if (step.done) return { texts, truncation: step.value };
        if (step.value.kind === "lines") texts.push(step.value.text);
      }
    };
    assert.deepEqual(await drain(), { texts: ["short-1\nshort-2\n"], truncation: undefined });
    // Truncated and rewritten past our offset: the size alone cannot tell.
    await Deno.writeTextFile(path, numbered("long-line-", 1, 3));
    const noticed = await drain();
    assert.deepEqual(noticed.texts, []);
    assert.equal(noticed.truncation?.offset, 16); // where we were, to find the copy
    assert.deepEqual(events, ["truncation"]);
    assert.deepEqual(await drain(), {
      texts: [numbered("long-line-", 1, 3)],
      truncation: undefined,
    });
    // Appends after that are read normally.
    await append(path, "more\n");
    assert.deepEqual(await drain(), { texts: ["more\n"], truncation: undefined });
    file.close();
  });
});

Deno.test("symlink: appends to the target (another directory) are seen; retargeting is a rotation", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/data`);
    const path = `${dir}/kern.log`;
    await append(`${dir}/data/a.log`, "a1\n");
    await append(`${dir}/data/b.log`, "b1\nb2\n");
    await Deno.symlink(`${dir}/data/a.log`, path);
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(1);
    await append(`${dir}/data/a.log`, "a2\n"); // only the target's directory sees this
    await run.untilLines(2);
    await Deno.remove(path);
    await Deno.symlink(`${dir}/data/b.log`, path);
    await run.untilLines(4);
    await append(`${dir}/data/b.log`, "b3\n");
    await run.untilLines(5);
    await run.stop();
    assert.deepEqual(run.lines, ["a1", "a2", "b1", "b2", "b3"]);
    assert.equal(run.count("rotation"), 1);
  });
});

Deno.test("polling alone (no inotify) still follows appends and rotation", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "a1\n");
    const run = new TailRun({ path, start: "beginning", watch: false, pollIntervalMs: 10 });
    await run.untilLines(1);
    await append(path, "a2\n");
    await run.untilLines(2);
    await Deno.rename(path, `${path}.1`);
    await append(path, "b1\n");
    await run.untilLines(3);
    await run.stop();
    assert.deepEqual(run.lines, ["a1", "a2", "b1"]);
    assert.equal(run.count("rotation"), 1);
  });
});

Deno.test("many new files without data: only a bounded number stays open", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "a1\n");
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(1);
    for (let i = 1; i <= 30; i++) {
      await Deno.rename(path, `${path}.${i}`);
      await Deno.writeFile(path, new Uint8Array(0));
      await waitFor(() => processHolds(path), "the tail to open the new file");
    }
    let held = 0;
    for await (const fd of Deno.readDir("/proc/self/fd")) {
      try {
        if ((await Deno.realPath(`/proc/self/fd/${fd.name}`)).startsWith(`${dir}/`)) held++;
      } catch {
        // Closed meanwhile.
      }
    }
    assert.ok(held <= 10, `${held} files held open`);
    await append(path, "b1\n");
    await run.untilLines(2);
    await run.stop();
    assert.deepEqual(run.lines, ["a1", "b1"]);
  });
});

Deno.test("a deleted file that stays quiet is let go of (a last line left without a newline delivered), and a later file read from 0", async () => {
  for (const unfinished of [[], ["a2 without a newline"]]) {
    await inTempDir(async (dir) => {
      const path = `${dir}/kern.log`;
      await append(path, ["a1\n", ...unfinished].join(""));
      const run = new TailRun({ path, start: "beginning", pollIntervalMs: 10 });
      await run.untilLines(1);
      await Deno.remove(path);
      await run.untilLogged("let go of the deleted log file");
      await append(path, "b1\n");
      await run.untilLines(2 + unfinished.length);
      await run.stop();
      assert.deepEqual(run.lines, ["a1", ...unfinished, "b1"]);
      assert.deepEqual(run.problems, []);
    });
  }
});

Deno.test("resume from a cursor continues exactly after the last delivered line", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10) + "half");
    const first = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await first.untilLines(10);
    await first.stop();
    const cursor = JSON.parse(JSON.stringify(first.lastCursor)); // as a checkpoint would
    await append(path, "-line\n" + numbered("l", 11, 5));
    const second = new TailRun({ path, start: "end", resumeFrom: cursor, ...EVENTS_ONLY });
    await second.untilLines(6);
    await second.stop();
    assert.deepEqual(second.lines, ["half-line", ...lines(numbered("l", 11, 5))]);
    assert.equal(second.count("cursor_invalid"), 0);
  });
});

Deno.test("resume after rotation while stopped: finish kern.log.1 from the offset, then kern.log", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    const first = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await first.untilLines(10);
    await first.stop();
    await append(path, numbered("l", 11, 5)); // written before the rotation, never read
    await Deno.rename(path, `${path}.1`);
    await append(path, numbered("l", 16, 5));
    await append(`${path}.2.gz`, "compressed siblings are ignored\n");
    await append(`${dir}/other.log`, "unrelated\n");
    const second = new TailRun({
      path,
      start: "end",
      resumeFrom: first.lastCursor,
      ...EVENTS_ONLY,
    });
    await second.untilLines(10);
    await append(path, "l21\n");
    await second.untilLines(11);
    await second.stop();
    assert.deepEqual(second.lines, lines(numbered("l", 11, 11)));
    assert.equal(second.count("cursor_invalid"), 0);
    assert.equal(second.count("rotation"), 1);
  });
});

Deno.test("resume after two rotations while stopped: .2 from the offset, then .1, then the file (also with the clock stepped back in between)", async () => {
  for (const steppedBack of [false, true]) {
    await inTempDir(async (dir) => {
      const path = `${dir}/kern.log`;
      await append(path, numbered("l", 1, 3));
      const first = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
      await first.untilLines(3);
      await first.stop();
      await append(path, "l4\n");
      await Deno.rename(path, `${path}.1`);
      await append(path, numbered("l", 5, 2));
      if (steppedBack) {
        // Written after the clock was stepped an hour back (NTP): stamped older than kern.log.1.
        const stepped = new Date(Date.now() - 3_600_000);
        await Deno.utime(path, stepped, stepped);
      } else {
        await sleep(20); // distinct modification times, as real rotations have
      }
      await Deno.rename(`${path}.1`, `${path}.2`);
      await Deno.rename(path, `${path}.1`);
      await sleep(20);
      await append(path, "l7\n");
      const second = new TailRun({
        path,
        start: "end",
        resumeFrom: first.lastCursor,
        ...EVENTS_ONLY,
      });
      await second.untilLines(4);
      await sleep(50); // nothing more may come
      await second.stop();
      assert.deepEqual(second.lines, lines(numbered("l", 4, 4)), `stepped back: ${steppedBack}`);
      assert.equal(second.count("rotation"), 2);
    });
  }
});

Deno.test("rotated siblings: numbered ones by their number, whatever their times; dated ones by time", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    const at = (name: string, ms: number) =>
      append(`${dir}/${name}`, "x\n").then(() =>
        Deno.utime(`${dir}/${name}`, new Date(ms), new Date(ms))
      );
    const now = Date.now();
    await at("kern.log.2.gz", now - 3000);
    await at("kern.log.1", now - 5000); // written after the clock was stepped back
    await at("kern.log-2025", now - 2000); // `dateformat -%Y`: a year, not a number
    await at("kern.log-2026", now - 1000);
    const names = (await listRotatedSiblings([path], { gzip: true })).map((s) => basename(s.path));
    assert.deepEqual(names, ["kern.log.2.gz", "kern.log.1", "kern.log-2025", "kern.log-2026"]);
  });
});

Deno.test("a cursor whose bytes changed: the file is read from its start, whatever `start` says; counted, logged", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 10));
    const first = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await first.untilLines(10);
    await first.stop();
    // Same inode, different bytes before the offset (rewritten in place while we were stopped):
    // every line in it may be new, so none is skipped.
    await Deno.writeTextFile(path, numbered("x", 1, 20));
    for (const start of ["beginning", "end"] as const) {
      const run = new TailRun({ path, start, resumeFrom: first.lastCursor, ...EVENTS_ONLY });
      await run.untilLines(20);
      await run.stop();
      assert.equal(run.count("cursor_invalid"), 1, start);
      assert.equal(run.logged("saved position cannot be used"), 1, start);
      assert.deepEqual(run.lines, lines(numbered("x", 1, 20)), start);
    }
  });
});

Deno.test("a cursor for a file that is gone, or a malformed one, is invalid", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "a\n");
    const first = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await first.untilLines(1);
    await first.stop();
    await Deno.rename(path, `${path}.1.gz`); // compressed: its inode is not looked at
    await append(path, "b\n");
    for (const resumeFrom of [first.lastCursor, { dev: 1 }, "garbage"]) {
      const run = new TailRun({ path, start: "beginning", resumeFrom, ...EVENTS_ONLY });
      await run.untilLines(1);
      await run.stop();
      assert.equal(run.count("cursor_invalid"), 1);
      assert.deepEqual(run.lines, ["b"]);
    }
  });
});

Deno.test("abort returns promptly while waiting, and read() can run again", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "a\n");
    const source = new FileSource({ path, start: "beginning", pollIntervalMs: 600_000 });
    for (let round = 0; round < 2; round++) {
      const controller = new AbortController();
      const texts: string[] = [];
      const done = (async () => {
        for await (const batch of source.read(controller.signal)) {
          if (batch.kind === "lines" && batch.lineCount > 0) texts.push(batch.text);
        }
      })();
      while (texts.length === 0) await sleep(5);
      controller.abort();
      // The poll is ten minutes away: only the abort ends the wait. The test's op and resource
      // sanitizers check that nothing is left open.
      await settlesWithin(done, 5_000, "read() after abort");
      assert.deepEqual(texts, ["a\n"]);
    }
  });
});

Deno.test("constructor options are validated with a clear error", () => {
  assert.throws(() => new FileSource({ path: "" }), /path must be a non-empty string/);
  assert.throws(() => new FileSource({ path: "/x", maxLineBytes: 0 }), /maxLineBytes/);
  assert.throws(() => new FileSource({ path: "/x", pollIntervalMs: 1.5 }), /pollIntervalMs/);
});

Deno.test("copytruncate under a writer that does not append: the hole of NULs before its next line is skipped", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, numbered("l", 1, 3));
    const run = new TailRun({ path, start: "beginning", maxLineBytes: 1024, ...EVENTS_ONLY });
    await run.untilLines(3);
    // The writer keeps its offset (no O_APPEND) while the file is truncated under it: its next
    // write leaves a hole of NULs before it, here longer than the line cap.
    const writer = await Deno.open(path, { write: true });
    await writer.truncate(0);
    await writer.seek(5000, Deno.SeekMode.Start);
    await writer.write(new TextEncoder().encode(numbered("l", 4, 2)));
    await run.untilLines(5);
    // And once more: truncated again, written further on.
    await writer.truncate(0);
    await writer.seek(9000, Deno.SeekMode.Start);
    await writer.write(new TextEncoder().encode("l6\n"));
    await run.untilLines(6);
    writer.close();
    await run.stop();
    assert.deepEqual(run.lines, lines(numbered("l", 1, 6)));
    assert.equal(run.count("truncation"), 2);
    assert.equal(run.count("line_truncated"), 0);
    assert.deepEqual(run.problems, []);
  });
});

Deno.test("rename+create: a last line the writer left without a newline is delivered when we move on", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "a1\na2-unfinished");
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLines(1);
    await Deno.rename(path, `${path}.1`);
    await append(path, "b1\n");
    await run.untilLines(3);
    await run.stop();
    assert.deepEqual(run.lines, ["a1", "a2-unfinished", "b1"]);
    // The position after it is the old file's end: resuming there finds nothing more in it.
    const resumed = new TailRun({
      path,
      start: "beginning",
      resumeFrom: JSON.parse(JSON.stringify(run.batches[1].cursor)),
      ...EVENTS_ONLY,
    });
    await resumed.untilLines(1);
    await resumed.stop();
    assert.deepEqual(resumed.lines, ["b1"]);
    assert.equal(resumed.count("cursor_invalid"), 0);
  });
});
