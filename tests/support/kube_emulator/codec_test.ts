import assert from "node:assert/strict";
import { decodeContinue, encodeContinue } from "./continue_token.ts";
import {
  DecodeError,
  decodeEvent,
  formatMicroTime,
  normalizeMicroTime,
  normalizeTime,
} from "./codec.ts";
import { humanDuration } from "./table.ts";

Deno.test("metav1.Time accepts RFC 3339 with any fraction or offset and writes whole seconds in UTC", () => {
  assert.equal(normalizeTime("2024-05-01T10:00:00Z"), "2024-05-01T10:00:00Z");
  assert.equal(normalizeTime("2024-05-01T10:00:00.987Z"), "2024-05-01T10:00:00Z");
  assert.equal(normalizeTime("2024-05-01T12:30:00+02:30"), "2024-05-01T10:00:00Z");
  assert.throws(() => normalizeTime("yesterday"), DecodeError);
});

Deno.test("metav1.MicroTime demands exactly six fractional digits, like Go's RFC3339Micro layout", () => {
  assert.equal(normalizeMicroTime("2024-05-01T10:00:00.123456Z"), "2024-05-01T10:00:00.123456Z");
  assert.equal(
    normalizeMicroTime("2024-05-01T11:00:00.000001+01:00"),
    "2024-05-01T10:00:00.000001Z",
  );
  assert.throws(
    () => normalizeMicroTime("2024-05-01T10:00:00.123Z"),
    (e: Error) =>
      e.message ===
        'parsing time "2024-05-01T10:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"',
  );
  assert.throws(() => normalizeMicroTime("2024-05-01T10:00:00Z"), /cannot parse "Z" as ".000000"/);
  assert.throws(
    () => normalizeMicroTime("2024-05-01T10:00:00.123456789Z"),
    /cannot parse "789Z" as "Z07:00"/,
  );
  assert.equal(
    formatMicroTime(Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 42),
    "2024-01-02T03:04:05.000042Z",
  );
});

Deno.test("decodeEvent: Go type errors, unknown fields, canonical order and defaults", () => {
  assert.throws(
    () => decodeEvent({ count: "3" }),
    /json: cannot unmarshal string into Go struct field Event.count of type int32/,
  );
  assert.throws(() => decodeEvent({ reason: 5 }), /Event.reason of type string/);
  assert.throws(
    () => decodeEvent({ metadata: { labels: { a: 1 } } }),
    /Event.metadata.labels of type string/,
  );
  const { obj, unknownFields } = decodeEvent({
    type: "Warning",
    bogus: 1,
    metadata: { name: "x", extra: true },
    involvedObject: { kind: "Pod", name: "p" },
    reason: "R",
  });
  assert.deepEqual(unknownFields, ["bogus", "metadata.extra"]);
  assert.deepEqual(Object.keys(obj), [
    "metadata",
    "involvedObject",
    "reason",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "type",
    "eventTime",
    "reportingComponent",
    "reportingInstance",
  ]);
  assert.equal(obj.eventTime, null);
  assert.equal(obj.reportingComponent, "");
});

Deno.test("continue tokens round-trip and reject garbage with the server's wording", () => {
  const token = encodeContinue({ rv: 42, start: "web-7\u0000" });
  assert.match(token, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeContinue(token), { rv: 42, start: "web-7\u0000" });
  assert.throws(() => decodeContinue("%%%"), /continue key is not valid/);
  const wrongVersion = btoa(JSON.stringify({ v: "x", rv: 1, start: "a" }));
  assert.throws(
    () => decodeContinue(wrongVersion),
    /server does not recognize this encoded version/,
  );
  const escape = encodeContinue({ rv: 1, start: "../etc" });
  assert.throws(() => decodeContinue(escape), /not a relative path/);
});

Deno.test("humanDuration prints ages like kubectl", () => {
  const s = 1000;
  const cases: [number, string][] = [
    [-5 * s, "<invalid>"],
    [-0.5 * s, "0s"],
    [59 * s, "59s"],
    [119 * s, "119s"],
    [125 * s, "2m5s"],
    [10 * 60 * s, "10m"],
    [179 * 60 * s, "179m"],
    [3.5 * 3600 * s, "3h30m"],
    [30 * 3600 * s, "30h"],
    [50 * 3600 * s, "2d2h"],
    [30 * 86400 * s, "30d"],
    [800 * 86400 * s, "2y70d"],
  ];
  for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, `${ms}`);
});
