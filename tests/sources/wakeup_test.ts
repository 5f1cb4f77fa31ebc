/** The wake-up signal the file and journal followers sleep on. */
import assert from "node:assert/strict";
import { Wakeup } from "../../src/timing.ts";
import { DirectoryWakeup } from "../../src/sources/file_wake.ts";
import { silentLogger } from "../../src/log.ts";
import { append, EVENTS_ONLY, inTempDir, sleep, TailRun } from "./file_support.ts";
import { withFailingWatches } from "../support/failing_watch.ts";

Deno.test("Wakeup: a notification while nobody waits is kept; a burst wakes once", async () => {
  const wake = new Wakeup();
  const signal = new AbortController().signal;
  wake.notify();
  wake.notify();
  assert.equal(await wake.wait(5_000, signal), "notified");
  assert.equal(await wake.wait(20, signal), "timeout", "the burst was consumed by one wait");
});

Deno.test("Wakeup: a waiter is woken by notify, by its timer, or by abort", async () => {
  const wake = new Wakeup();
  const controller = new AbortController();
  const waiting = wake.wait(5_000, controller.signal);
  setTimeout(() => wake.notify(), 10);
  assert.equal(await waiting, "notified");
  const started = performance.now();
  assert.equal(await wake.wait(30, controller.signal), "timeout");
  assert.ok(performance.now() - started >= 25);
  const aborted = wake.wait(5_000, controller.signal);
  controller.abort();
  assert.equal(await aborted, "aborted");
  assert.equal(await wake.wait(5_000, controller.signal), "aborted", "already aborted");
});

Deno.test("FileSource: events dropped while it was busy (Deno's 'rescan' event) still wake it", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/kern.log`;
    await append(path, "");
    const run = new TailRun({ path, start: "beginning", ...EVENTS_ONLY });
    await run.untilLogged("following log file");
    await sleep(50); // idle, waiting for an event
    // While this thread does not poll the watcher, other logs in the directory make more events
    // than Deno queues (1024); the append to kern.log comes after, and its events are dropped.
    // Deno then reports one `rescan` event naming the directory instead.
    const line = new TextEncoder().encode("x\n");
    const others = ["syslog", "auth.log"].map((name) =>
      Deno.openSync(`${dir}/${name}`, { append: true, create: true })
    );
    for (let i = 0; i < 1500; i++) for (const other of others) other.writeSync(line);
    for (const other of others) other.close();
    Deno.writeTextFileSync(path, "dropped event\n", { append: true });
    // Still not polling: the watcher thread fills the queue meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    await run.untilLines(1, 3_000);
    await run.stop();
    assert.deepEqual(run.lines, ["dropped event"]);
  });
});

Deno.test("DirectoryWakeup: a watch that fails is closed (its inotify watch released) and re-armed", async () => {
  await inTempDir(async (dir) => {
    await withFailingWatches(async (watchers) => {
      const wake = new DirectoryWakeup(silentLogger);
      try {
        await wake.watch([dir], ["kern.log"]);
        await sleep(50);
        await wake.watch([dir], ["kern.log"]);
        assert.equal(watchers.length, 2, "re-armed after the failure");
        assert.ok(watchers[0].closed, "the failed watcher is closed");
      } finally {
        await wake.close();
      }
    });
  });
});
