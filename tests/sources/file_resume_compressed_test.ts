/**
 * Restarts after our file was compressed with gzip while we were stopped (logrotate's
 * `compress`, with and without `delaycompress`, and with `copytruncate`): reading resumes at the
 * saved offset inside the `.gz` — every line once, none skipped — then goes on in the newer
 * files. A position taken inside a compressed file is found again; a damaged `.gz` is read up to
 * the damage and counted. Files are compressed by the real gzip, and rotated by the real
 * logrotate where the order of its renames matters: many rotations while stopped, a stop inside
 * a compressed backlog, our file deleted by `rotate N`, copytruncate+compress under a running
 * tail. Also: a `.gz` still being written beside its plain file, inode reuse at offset 0, and
 * bounded batches from a file that inflates 500:1.
 */
import assert from "node:assert/strict";
import { systemTest, which } from "../support/system.ts";
import {
  append,
  EVENTS_ONLY,
  gzip,
  inTempDir,
  lines,
  numbered,
  readNumberedThenStop,
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
    const { path, saved } = await readNumberedThenStop(dir, "l");
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
    const { path, saved } = await readNumberedThenStop(dir, "l");
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
    const { path, saved } = await readNumberedThenStop(dir, "l");
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
    const { path, saved } = await readNumberedThenStop(dir, "l");
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
    const { path, saved } = await readNumberedThenStop(dir, "l");
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

/** Runs the real logrotate with `conf`. */
async function logrotate(conf: string, state: string): Promise<void> {
  const out = await new Deno.Command(which("logrotate")!, {
    args: ["-f", "-s", state, conf],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`logrotate: ${new TextDecoder().decode(out.stderr)}`);
}

/** A logrotate configuration for `path` with `options` (one per line). */
async function logrotateConf(path: string, ...options: string[]): Promise<string> {
  const conf = `${path}.conf`.replace("/kern.log.conf", "/logrotate.conf");
  await Deno.writeTextFile(conf, `${path} {\n  ${options.join("\n  ")}\n  missingok\n}\n`);
  return conf;
}

systemTest(
  "logrotate: six compressed rotations while stopped (rotate 10): resumes in kern.log.6.gz, nothing read twice",
  { needs: ["logrotate"] },
  async () => {
    await inTempDir(async (dir) => {
      const path = `${dir}/kern.log`;
      const conf = await logrotateConf(path, "rotate 10", "create 0640 root root", "compress");
      await append(path, numbered("a", 1, 10));
      const saved = await readThenStop(path, 10);
      let expected = "";
      for (let i = 1; i <= 6; i++) {
        expected += numbered(`r${i}-`, 1, 3);
        await append(path, numbered(`r${i}-`, 1, 3));
        await logrotate(conf, `${dir}/state`);
      }
      expected += numbered("now", 1, 3);
      await append(path, numbered("now", 1, 3));
      const run = await resumed(path, saved, 21);
      assert.deepEqual(run.lines, lines(expected));
      assert.match(run.logs.join("\n"), /resuming in a compressed rotation .*kern\.log\.6\.gz/);
    });
  },
);

systemTest(
  "logrotate: stopped inside a compressed backlog, then three more rotations: the rest of it, then every newer file",
  { needs: ["logrotate"] },
  async () => {
    await inTempDir(async (dir) => {
      const path = `${dir}/kern.log`;
      const conf = await logrotateConf(path, "rotate 20", "create 0640 root root", "compress");
      const state = `${dir}/state`;
      await append(path, numbered("a", 1, 10));
      const saved = await readThenStop(path, 10);
      let expected = "";
      const rotateWith = async (text: string) => {
        expected += text;
        await append(path, text);
        await logrotate(conf, state);
      };
      await rotateWith(numbered("b", 1, 60_000)); // several batches in a .gz
      await rotateWith(numbered("c", 1, 5));
      await rotateWith(numbered("d", 1, 5)); // b, c, d: kern.log.3.gz, .2.gz, .1.gz
      // The run that reads the backlog (later than it was written) stops after its first batch:
      // that batch's cursor is the checkpoint.
      const backlog = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
      await backlog.untilLines(60_010);
      await backlog.stop();
      const checkpoint = JSON.parse(JSON.stringify(backlog.batches[0].cursor));
      const delivered = backlog.batches[0].lines.length;
      assert.ok(delivered < 60_000);
      await rotateWith(numbered("e", 1, 5));
      await rotateWith(numbered("f", 1, 5));
      await rotateWith(numbered("g", 1, 5)); // the checkpoint's file is kern.log.6.gz now
      expected += numbered("now", 1, 2);
      await append(path, numbered("now", 1, 2));
      const all = lines(expected);
      const run = await resumed(path, checkpoint, all.length - delivered);
      assert.deepEqual(run.lines, all.slice(delivered));
      assert.equal(run.count("cursor_invalid"), 0);
    });
  },
);

systemTest(
  "logrotate: our compressed file deleted (rotate 2) while stopped inside it: the newer rotations from their start",
  { needs: ["logrotate"] },
  async () => {
    await inTempDir(async (dir) => {
      const path = `${dir}/kern.log`;
      const conf = await logrotateConf(path, "rotate 2", "create 0640 root root", "compress");
      const state = `${dir}/state`;
      await append(path, numbered("a", 1, 10));
      const saved = await readThenStop(path, 10);
      await append(path, numbered("b", 1, 60_000));
      await logrotate(conf, state);
      await append(path, numbered("m", 1, 5));
      await logrotate(conf, state); // b, m: kern.log.2.gz, kern.log.1.gz
      await sleep(200);
      // Read later than it was written: the checkpoint is the first batch, inside b.
      const backlog = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
      await backlog.untilLines(60_005);
      await backlog.stop();
      const checkpoint = JSON.parse(JSON.stringify(backlog.batches[0].cursor));
      await append(path, numbered("n", 1, 5));
      await logrotate(conf, state); // kern.log.2.gz (ours) is deleted
      await append(path, numbered("o", 1, 5));
      const run = await resumed(path, checkpoint, 15);
      assert.deepEqual(
        run.lines,
        lines(numbered("m", 1, 5) + numbered("n", 1, 5) + numbered("o", 1, 5)),
      );
      assert.equal(run.count("cursor_invalid"), 1);
    });
  },
);

systemTest(
  "logrotate: copytruncate and compress under a running tail that polls: the unread lines come from kern.log.1.gz",
  { needs: ["logrotate"] },
  async () => {
    await inTempDir(async (dir) => {
      const path = `${dir}/kern.log`;
      const conf = await logrotateConf(path, "rotate 5", "copytruncate", "compress");
      await append(path, numbered("a", 1, 10));
      // No inotify: the truncation is seen at the next poll, after gzip has replaced the copy.
      const run = new TailRun({ path, start: "beginning", pollIntervalMs: 300, watch: false });
      await run.untilLines(10);
      await append(path, numbered("b", 1, 10));
      await logrotate(conf, `${dir}/state`);
      await append(path, numbered("c", 1, 3));
      await run.untilLines(23);
      await sleep(400);
      await run.stop();
      assert.deepEqual(
        run.lines,
        lines(numbered("a", 1, 10) + numbered("b", 1, 10) + numbered("c", 1, 3)),
      );
      assert.equal(run.count("truncation"), 1);
      assert.equal(run.logged("from its compressed copy"), 1);
    });
  },
);

Deno.test("restart while gzip still writes kern.log.1.gz beside kern.log.1: the whole plain file is read, once", async () => {
  await inTempDir(async (dir) => {
    const { path, saved } = await readNumberedThenStop(dir, "a");
    await append(path, numbered("b", 1, 5));
    await Deno.rename(path, `${path}.2`);
    await gzip(`${path}.2`); // ours
    await append(`${path}.1`, numbered("c", 1, 20_000));
    const whole = await Deno.readFile(await gzip(`${path}.1`));
    await append(`${path}.1`, numbered("c", 1, 20_000)); // back as it was: gzip is not done
    await Deno.writeFile(`${path}.1.gz`, whole.subarray(0, whole.length >> 1));
    await append(path, numbered("d", 1, 3));
    const run = await resumed(path, saved, 20_008);
    assert.deepEqual(
      run.lines,
      lines(numbered("b", 1, 5) + numbered("c", 1, 20_000) + numbered("d", 1, 3)),
    );
    assert.equal(run.count("corrupt"), 0);
  });
});

Deno.test("an empty file's position (offset 0) whose inode a new file got after the old was compressed: the .gz and the new file are read", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "");
    const first = new TailRun({ path, start: "end", ...EVENTS_ONLY });
    await first.untilLogged("following log file");
    await first.stop();
    const old = JSON.parse(JSON.stringify(first.lastCursor));
    assert.equal(old.offset, 0);
    await sleep(20);
    await append(path, numbered("b", 1, 3));
    await Deno.rename(path, `${path}.1`);
    await gzip(`${path}.1`);
    await append(path, numbered("c", 1, 3));
    // The file system gave the freed inode number to the new kern.log (ext4 often does). Where
    // it keeps birth times they tell the files apart; where it does not (ramfs, for one),
    // the rotation written since the position was taken does (at offset 0 no bytes tell a
    // truncation): either way the .gz and the new file are read.
    const info = await Deno.stat(path);
    const reused = { ...old, dev: info.dev, ino: info.ino };
    const run = await resumed(path, reused, 6);
    assert.deepEqual(run.lines, lines(numbered("b", 1, 3) + numbered("c", 1, 3)));
    assert.equal(run.count("cursor_invalid"), 1);
  });
});

Deno.test("a compressed file inflates in bounded batches, and a hole of NULs at its start is no line", async () => {
  await inTempDir(async (dir) => {
    const { path, saved } = await readNumberedThenStop(dir, "a");
    // 2 M identical lines compress about 500:1: one small read inflates to megabytes.
    await append(path, "x\n".repeat(2_000_000));
    await Deno.rename(path, `${path}.2`);
    await gzip(`${path}.2`);
    const nuls = new Uint8Array(4096 + 6);
    nuls.set(new TextEncoder().encode("n1\nn2\n"), 4096);
    await append(`${path}.1`, nuls);
    await gzip(`${path}.1`);
    await append(path, "now\n");
    const run = await resumed(path, saved, 2_000_003);
    assert.deepEqual(run.lines.slice(-3), ["n1", "n2", "now"]);
    const largest = Math.max(...run.batches.map((b) => b.lines.length));
    assert.ok(largest <= 256 * 1024 / 2, `largest batch ${largest} lines`);
  });
});

Deno.test("stopped while a large .gz is looked through for the saved offset: nothing is given up or counted", async () => {
  await inTempDir(async (dir) => {
    const { path, saved } = await readNumberedThenStop(dir, "l");
    // 64 MB of lines in each of two rotations: decompressing them to the offset takes a while.
    const big = new TextEncoder().encode("x".repeat(63) + "\n");
    const chunk = new Uint8Array(big.length * 16384);
    for (let i = 0; i < 16384; i++) chunk.set(big, i * big.length);
    for (const name of [`${path}.1`, `${path}.2`]) {
      const file = await Deno.open(name, { write: true, create: true });
      for (let i = 0; i < 64; i++) await file.write(chunk);
      file.close();
      await gzip(name);
    }
    const far = { ...(saved as object), offset: 60 * 1024 * 1024, hash: "00000000", ino: 1 };
    const run = new TailRun({ path, start: "end", resumeFrom: far, ...EVENTS_ONLY });
    await sleep(30);
    await run.stop();
    assert.equal(run.count("cursor_invalid"), 0, run.summary());
    assert.equal(run.logged("saved position cannot be used"), 0, run.summary());
    assert.deepEqual(run.lines, []);
  });
});

Deno.test("the current file, waiting its turn behind a compressed backlog, is copytruncated meanwhile: its lines come from the copy, once", async () => {
  await inTempDir(async (dir) => {
    const { path, saved } = await readNumberedThenStop(dir, "l");
    await append(path, numbered("backlog-", 1, 1_000_000)); // ~17 MB: read for a while
    await Deno.rename(path, `${path}.1`);
    await gzip(`${path}.1`);
    await append(path, numbered("b", 1, 100)); // the current file, queued to be read from 0
    const run = new TailRun({ path, start: "end", resumeFrom: saved, ...EVENTS_ONLY });
    await run.untilLines(1);
    // logrotate (copytruncate, delaycompress) while the backlog is being read.
    await Deno.rename(`${path}.1.gz`, `${path}.2.gz`);
    await Deno.copyFile(path, `${path}.1`);
    await Deno.truncate(path, 0);
    const during = run.lines.length;
    await append(path, numbered("c", 1, 5));
    await run.untilLines(1_000_105);
    await sleep(100);
    await run.stop();
    assert.ok(during < 1_000_000, `the truncation came after the backlog (${during} lines)`);
    assert.deepEqual(
      run.lines.slice(1_000_000),
      lines(numbered("b", 1, 100) + numbered("c", 1, 5)),
    );
    assert.equal(run.logged("truncated before its turn"), 1);
  });
});
