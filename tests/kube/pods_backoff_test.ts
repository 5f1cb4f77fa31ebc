/** Backoff steps and the abortable sleep. */
import assert from "node:assert/strict";
import { Backoff } from "../../src/kube/pods_backoff.ts";
import { retryDelay, sleep } from "../../src/timing.ts";

Deno.test("backoff: doubles from min to max, jittered within the upper half of each step", () => {
  const high = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.deepEqual(
    Array.from({ length: 7 }, () => high.next()),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  const low = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
  assert.deepEqual(Array.from({ length: 6 }, () => low.next()), [50, 100, 200, 400, 500, 500]);
  assert.equal(low.attempts, 6);
  low.reset();
  assert.equal(low.attempts, 0);
  assert.equal(low.next(), 50);
  const real = new Backoff({ minMs: 800, maxMs: 30_000 });
  for (let i = 0; i < 100; i++) {
    const d = real.next();
    assert.ok(d >= 400 && d <= 30_000, String(d));
  }
  assert.ok(Number.isFinite(real.next()), "no overflow after many attempts");
});

Deno.test("sleep: resolves true after the delay, false at once when aborted", async () => {
  assert.equal(await sleep(5, new AbortController().signal), true);
  assert.equal(await sleep(0, new AbortController().signal), true);
  const controller = new AbortController();
  const pending = sleep(60_000, controller.signal);
  controller.abort();
  assert.equal(await pending, false, "and the timer is cleared (the sanitizer checks)");
  assert.equal(await sleep(10, controller.signal), false);
});

Deno.test("retryDelay: doubles from the first delay up to the cap, and stays finite", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map((attempt) => retryDelay(100, 5000, attempt)),
    [100, 200, 400, 800, 1600, 3200, 5000],
  );
  assert.equal(retryDelay(100, 5000, 1e9), 5000);
  assert.equal(retryDelay(250, 30_000, -1), 250, "no attempt before the first");
});
