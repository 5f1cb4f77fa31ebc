/** CheckpointStore: what a saved file that cannot be used is called in the log, the lock, the write interval. */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { CheckpointStore } from "../../src/sources/checkpoint.ts";
import { inTempDir } from "./file_support.ts";

function store(dir: string, logs: string[] = [], id = "/var/log/kern.log"): CheckpointStore {
  const log = createLogger({ level: "debug", format: "text", write: (l) => logs.push(l) });
  return new CheckpointStore({ dir, kind: "file", id, log });
}

Deno.test("checkpoint: a saved file that cannot be used is ignored, and the log says why", async () => {
  await inTempDir(async (dir) => {
    const cases: [string, RegExp][] = [
      ["{not json", /checkpoint is not valid JSON/],
      ["null", /checkpoint is not a JSON object/],
      ['{"version":99,"kind":"file","id":"/var/log/kern.log"}', /unknown version; .*version=99/],
      ['{"version":1,"kind":"file","id":"/var/log/other.log"}', /belongs to another source/],
    ];
    for (const [text, said] of cases) {
      const logs: string[] = [];
      const s = store(dir, logs);
      await Deno.writeTextFile(s.path!, text);
      assert.equal(await s.load(), undefined, text);
      assert.equal(logs.length, 1, text);
      assert.match(logs[0], said);
    }
    const s = store(dir);
    const cursor = { dev: 1, ino: 2, offset: 3, hash: "0123abcd" };
    s.update(cursor);
    await s.flush();
    assert.deepEqual(await store(dir).load(), cursor);
  });
});

Deno.test("checkpoint: one holder of the lock at a time; it names its pid; let go, it can be taken", async () => {
  await inTempDir(async (dir) => {
    const first = store(dir);
    assert.equal(await first.lock(), undefined);
    assert.equal(await store(dir).lock(), String(Deno.pid));
    assert.equal(await store(dir, [], "/var/log/other.log").lock(), undefined, "another source");
    first.unlock();
    const second = store(dir);
    assert.equal(await second.lock(), undefined);
    second.unlock();
    assert.equal(await store(undefined as unknown as string).lock(), undefined, "no directory");
  });
});

Deno.test("checkpoint: the shutdown note is written with the last position and read back with it", async () => {
  await inTempDir(async (dir) => {
    const s = store(dir);
    s.finish({ drops: 1 });
    await s.flush();
    assert.equal(await store(dir).load(), undefined, "no position: nothing written");

    const cursor = { dev: 1, ino: 2, offset: 3, hash: "0123abcd" };
    s.update(cursor);
    await s.flush();
    s.finish({ drops: 2, pending: ["a"] });
    await s.flush();
    const next = store(dir);
    assert.deepEqual(await next.load(), cursor);
    assert.deepEqual(next.savedNote, { drops: 2, pending: ["a"] });

    // Nothing committed in the next run: the note goes with the position loaded.
    next.finish({ drops: 5, pending: [] });
    await next.flush();
    const third = store(dir);
    assert.deepEqual(await third.load(), cursor);
    assert.deepEqual(third.savedNote, { drops: 5, pending: [] });

    // A position given while running is written without the note.
    third.update({ ...cursor, offset: 9 });
    await third.flush();
    const fourth = store(dir);
    assert.deepEqual(await fourth.load(), { ...cursor, offset: 9 });
    assert.equal(fourth.savedNote, undefined);
  });
});

Deno.test("checkpoint: the wall clock stepping back does not hold writes back", async () => {
  await inTempDir(async (dir) => {
    const s = store(dir);
    const cursor = { dev: 1, ino: 2, offset: 3, hash: "0123abcd" };
    s.update(cursor);
    await s.flush();
    const wallClock = Date.now;
    const stepped = wallClock() - 3_600_000; // NTP steps the clock an hour back
    Date.now = () => stepped;
    try {
      s.update({ ...cursor, offset: 9 });
      const deadline = performance.now() + 3000;
      let saved: unknown;
      while (performance.now() < deadline) {
        saved = await store(dir).load();
        if ((saved as { offset: number }).offset === 9) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(saved, { ...cursor, offset: 9 }, "written within the interval");
    } finally {
      Date.now = wallClock;
      s.close();
    }
  });
});
