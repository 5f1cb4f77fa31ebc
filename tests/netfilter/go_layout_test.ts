import assert from "node:assert/strict";
import { compileGoLayout, localTime, utcTime } from "../../src/netfilter/go_layout.ts";
import { evalInZone } from "../support/in_zone.ts";

const NOW = new Date("2026-11-25T08:00:00Z");

Deno.test("Go layouts: the common ones parse, with the index after the time", () => {
  const cases: [string, string, Date][] = [
    [
      "2006-01-02T15:04:05.000000-07:00",
      "2026-11-25T07:58:47.511188+00:00 vm",
      new Date("2026-11-25T07:58:47.511Z"),
    ],
    ["2006-01-02T15:04:05Z07:00", "2026-11-25T07:58:47Z vm", new Date("2026-11-25T07:58:47Z")],
    ["2006-01-02T15:04:05Z07:00", "2026-11-25T07:58:47-02:00 vm", new Date("2026-11-25T09:58:47Z")],
    [
      "2006-01-02T15:04:05.999999999Z07:00",
      "2026-11-25T07:58:47.5Z vm",
      new Date("2026-11-25T07:58:47.500Z"),
    ],
    [
      "2006-01-02T15:04:05.999999999Z07:00",
      "2026-11-25T07:58:47Z vm",
      new Date("2026-11-25T07:58:47Z"),
    ],
    ["Jan _2 15:04:05", "Nov  5 07:58:47 vm", new Date(2026, 10, 5, 7, 58, 47)],
    ["Jan _2 15:04:05", "Nov 25 07:58:47.123 vm", new Date(2026, 10, 25, 7, 58, 47, 123)],
    [
      "Mon Jan 2 15:04:05 MST 2006",
      "Wed Nov 25 07:58:47 UTC 2026 vm",
      new Date("2026-11-25T07:58:47Z"),
    ],
    ["02/01/06 3:04PM -0700", "25/11/26 7:58AM +0100 vm", new Date("2026-11-25T06:58:00Z")],
    [
      "January 2, 2006 15:04:05",
      "November 25, 2026 07:58:47 vm",
      new Date(2026, 10, 25, 7, 58, 47),
    ],
    ["2006-002 15:04", "2026-329 07:58 vm", new Date(2026, 10, 25, 7, 58)],
  ];
  for (const [layout, text, expected] of cases) {
    const r = compileGoLayout(layout)(text, 0, NOW);
    assert.ok(r, `${layout} / ${text}`);
    assert.deepEqual(r.time, expected, `${layout} / ${text}`);
    assert.equal(text.slice(r.end), " vm", `${layout} / ${text}`);
  }
});

Deno.test("Go layouts: mismatches are refused, layouts without fields are errors", () => {
  const rfc = compileGoLayout("2006-01-02T15:04:05.000000-07:00");
  assert.equal(rfc("Nov 25 07:58:47 vm", 0, NOW), undefined);
  assert.equal(rfc("2026-11-25T07:58:47+00:00 vm", 0, NOW), undefined, "fraction required");
  assert.equal(rfc("2026-13-25T07:58:47.000000+00:00", 0, NOW), undefined, "month 13");
  assert.throws(() => compileGoLayout("no fields here"), /no Go time fields/);
});

Deno.test("Go layouts: a year-less December time read in January is last year's", () => {
  const jan = new Date(2027, 0, 1, 0, 10);
  const r = compileGoLayout("Jan _2 15:04:05")("Dec 31 23:59:00", 0, jan);
  assert.deepEqual(r?.time, new Date(2026, 11, 31, 23, 59));
});

Deno.test("Go layouts: a day of the year the year does not have is refused, as Go does", () => {
  const yday = compileGoLayout("2006 002 15:04:05");
  assert.deepEqual(yday("2024 366 10:00:00", 0, NOW)?.time, new Date(2024, 11, 31, 10));
  assert.equal(yday("2025 366 10:00:00", 0, NOW), undefined, "2025 has 365 days");
  assert.equal(yday("2025 000 10:00:00", 0, NOW), undefined, "day 0");
  assert.equal(yday("2025 999 10:00:00", 0, NOW), undefined);
  assert.deepEqual(yday("2025 032 10:00:00", 0, NOW)?.time, new Date(2025, 1, 1, 10));
});

Deno.test("Go layouts: a literal Z after the time (2006-01-02T15:04:05.000Z) is UTC, not local time", async () => {
  const module = new URL("../../src/netfilter/go_layout.ts", import.meta.url).href;
  const times = await evalInZone(
    "Asia/Kolkata",
    `import { compileGoLayout } from ${JSON.stringify(module)};
    const now = new Date("2026-11-25T08:00:00Z");
    const parse = (layout, text) => compileGoLayout(layout)(text, 0, now)?.time.toISOString();
    console.log(JSON.stringify([
      parse("2006-01-02T15:04:05.000Z", "2026-11-25T07:58:47.511Z vm"),
      parse("2006-01-02T15:04:05Z", "2026-11-25T07:58:47Z vm"),
      parse("Jan _2 15:04:05Z", "Nov 25 07:58:47Z vm"),
      parse("2006-01-02T15:04:05", "2026-11-25T07:58:47 vm"),
    ]));`,
  );
  assert.deepEqual(times, [
    "2026-11-25T07:58:47.511Z",
    "2026-11-25T07:58:47.000Z",
    "2026-11-25T07:58:47.000Z",
    "2026-11-25T02:28:47.000Z", // no zone: local (Kolkata) time
  ]);
});

Deno.test("Go layouts: _2006 is a literal _ and the year, as Go reads it, not _2 then 006", () => {
  const r = compileGoLayout("kern_2006-01-02 15:04:05Z07:00")(
    "kern_2026-11-25 07:58:47Z vm",
    0,
    NOW,
  );
  assert.deepEqual(r?.time, new Date("2026-11-25T07:58:47Z"));
});

Deno.test("utcTime and localTime: years 0-99 are those years; later years as Date.UTC and new Date", () => {
  assert.equal(new Date(utcTime(99, 0, 1, 0, 0, 0)).toISOString(), "0099-01-01T00:00:00.000Z");
  assert.equal(
    new Date(utcTime(0, 1, 29, 23, 59, 59, 999)).toISOString(),
    "0000-02-29T23:59:59.999Z",
  );
  assert.equal(utcTime(2026, 10, 25, 7, 58, 47, 511), Date.UTC(2026, 10, 25, 7, 58, 47, 511));
  const local = localTime(7, 11, 31, 23, 30, 0);
  assert.deepEqual([local.getFullYear(), local.getMonth(), local.getDate(), local.getHours()], [
    7,
    11,
    31,
    23,
  ]);
  assert.equal(
    localTime(2026, 10, 25, 7, 58, 47).getTime(),
    new Date(2026, 10, 25, 7, 58, 47).getTime(),
  );
});
