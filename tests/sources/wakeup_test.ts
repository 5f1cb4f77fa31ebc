/** The wake-up signal the file and journal followers sleep on. */
import assert from "node:assert/strict";
import { Wakeup } from "../../src/timing.ts";

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
