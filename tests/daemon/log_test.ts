/** The logger: one line per message, whatever the fields hold. */
import assert from "node:assert/strict";
import { createLogger, type LogFormat } from "../../src/log.ts";

const NOW = new Date("2026-01-02T03:04:05.678Z");

/** Lines written by a logger of `format` for `body`. */
function linesOf(
  format: LogFormat,
  body: (log: ReturnType<typeof createLogger>) => void,
): string[] {
  const lines: string[] = [];
  body(createLogger({ level: "debug", format, now: () => NOW, write: (l) => lines.push(l) }));
  return lines;
}

Deno.test("log: JSON fields named time, level or msg do not replace the line's own", () => {
  // The pipeline logs an expired drop with its log time as `time`.
  const [line] = linesOf("json", (log) =>
    log.with({ msg: "forged" }).warn("skipping", {
      time: "2020-01-01T00:00:00.000Z",
      level: "error",
    }));
  const record = JSON.parse(line);
  assert.equal(record.time, NOW.toISOString());
  assert.equal(record.level, "warn");
  assert.equal(record.msg, "skipping");
  assert.equal(record["fields.time"], "2020-01-01T00:00:00.000Z");
  assert.equal(record["fields.level"], "error");
  assert.equal(record["fields.msg"], "forged");
});

Deno.test("log: hostile values stay one line and one field (text and JSON)", () => {
  const hostile = 'a" b=c\\\n2026-01-01T00:00:00.000Z ERROR forged x=1\r\u2028\u0085é';
  const text = linesOf("text", (log) => log.info("m", { v: hostile, e: new Error(hostile) }));
  assert.equal(text.length, 1);
  assert.equal(text[0].split("\n").length, 2, "one newline, at the end");
  assert.match(text[0], /^\S+ INFO {2}m v="(?:[^"\\]|\\.)*" e="(?:[^"\\]|\\.)*"\n$/);
  const json = linesOf("json", (log) => log.info("m", { v: hostile, e: new Error(hostile) }));
  assert.equal(json[0].split("\n").length, 2);
  const record = JSON.parse(json[0]);
  assert.equal(record.v, hostile);
  assert.equal(record.e, hostile);
});

Deno.test("log: a value JSON cannot write (a cycle, a bigint) is written as text, never thrown", () => {
  const cycle: Record<string, unknown> = { name: "x" };
  cycle.self = cycle;
  for (const format of ["text", "json"] as const) {
    const lines = linesOf(format, (log) => log.error("failed", { error: cycle, n: 10n }));
    assert.equal(lines.length, 1, format);
    assert.match(lines[0], /failed/);
  }
});
