/** Retry-After as the API server sends it (delta-seconds) and as proxies may (an HTTP-date). */
import assert from "node:assert/strict";
import { retryAfterMs, retryAfterOf } from "../../src/kube/retry_after.ts";

const NOW = Date.parse("1994-11-06T08:49:30Z");

Deno.test("retryAfterMs: delta-seconds and the three HTTP-date forms; anything else is no value", () => {
  assert.equal(retryAfterMs("5", NOW), 5000);
  assert.equal(retryAfterMs([" 7 "], NOW), 7000);
  assert.equal(retryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", NOW), 7000, "IMF-fixdate");
  assert.equal(retryAfterMs("Sunday, 06-Nov-94 08:49:37 GMT", NOW), 7000, "RFC 850");
  assert.equal(retryAfterMs("Sun Nov  6 08:49:37 1994", NOW), 7000, "asctime");
  assert.equal(retryAfterMs("Sun, 06 Nov 1994 08:49:00 GMT", NOW), 0, "a date past: at once");
  for (const bad of [undefined, "", "1.5", "-3", "5s", "soon", "Sun, 06 Nov 1994"]) {
    assert.equal(retryAfterMs(bad, NOW), undefined, JSON.stringify(bad));
  }
});

Deno.test("retryAfterOf: the header first, else the Status's details.retryAfterSeconds", () => {
  assert.equal(retryAfterOf({ "retry-after": "2" }, { details: { retryAfterSeconds: 9 } }), 2000);
  assert.equal(retryAfterOf({}, { details: { retryAfterSeconds: 9 } }), 9000);
  assert.equal(retryAfterOf({}, "<html>busy</html>"), undefined);
  const inAMinute = new Date(Date.now() + 60_000).toUTCString();
  const ms = retryAfterOf({ "retry-after": inAMinute }, undefined)!;
  assert.ok(ms > 58_000 && ms <= 60_000, `${ms} ms until ${inAMinute}`);
});

Deno.test("retryAfterOf: a silly Retry-After is taken for 10 minutes at most (the pod index and Events both wait on it)", () => {
  const tenMinutes = 600_000;
  assert.equal(retryAfterOf({ "retry-after": "86400" }, undefined), tenMinutes);
  assert.equal(retryAfterOf({}, { details: { retryAfterSeconds: 1e9 } }), tenMinutes);
  const nextYear = new Date(Date.now() + 365 * 86_400_000).toUTCString();
  assert.equal(retryAfterOf({ "retry-after": nextYear }, undefined), tenMinutes, nextYear);
  assert.equal(retryAfterOf({ "retry-after": "599" }, undefined), 599_000);
});
