import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { DropParser } from "../../src/netfilter/parser.ts";
import type { PacketDrop } from "../../src/netfilter/types.ts";
import { dropIdentity, ExpiryFilter, RepeatFilter } from "../../src/pipeline/filters.ts";
import { type DropSink, Pipeline } from "../../src/pipeline/pipeline.ts";
import { Replay, type ReplayNote } from "../../src/pipeline/replay.ts";
import type { LogRecord, LogSource } from "../../src/sources/source.ts";

const MIN = 60_000;
const quiet = createLogger({ level: "error", format: "text", write: () => {} });

/**
 * Kernel messages (with their times), or log lines, run through a pipeline; what reached the
 * sink (`counts`: the count of each call), and the note a shutdown after it would save. `work`
 * gives the sink's work for a drop (default: none, handled at once).
 */
async function run(
  prefixes: string[],
  records: LogRecord[] | string,
  options: {
    metrics?: Metrics;
    repeat?: RepeatFilter;
    replay?: Replay;
    work?: (drop: PacketDrop, count: number) => Promise<void> | void;
  } = {},
): Promise<{ handled: PacketDrop[]; counts: number[]; metrics: Metrics; note?: ReplayNote }> {
  const metrics = options.metrics ?? new Metrics({ defaultMetrics: false });
  const handled: PacketDrop[] = [];
  const counts: number[] = [];
  const sink: DropSink = {
    handle: (drop, count) => {
      handled.push(drop);
      counts.push(count);
      return options.work?.(drop, count);
    },
  };
  const source: LogSource = {
    kind: "test",
    id: "test",
    async *read() {
      yield typeof records === "string"
        ? { kind: "lines", text: records, lineCount: records.split("\n").length - 1, cursor: 1 }
        : { kind: "records", records, cursor: 1 };
    },
  };
  const newest = typeof records === "string"
    ? Date.UTC(2026, 0, 1)
    : Math.max(...records.map((r) => r.time?.getTime() ?? 0));
  const pipeline = new Pipeline({
    source,
    parser: new DropParser({ prefixes }),
    expiry: new ExpiryFilter(10 * MIN, () => newest),
    repeat: options.repeat ?? new RepeatFilter({ intervalMs: 2 * MIN }),
    sink,
    metrics,
    log: quiet,
    replay: options.replay,
  });
  await pipeline.run(new AbortController().signal);
  return { handled, counts, metrics, note: pipeline.shutdownNote("") };
}

/** The samples of `name` in the exposition, label text → value. */
async function samples(metrics: Metrics, name: string): Promise<Map<string, number>> {
  const { body } = await metrics.render();
  const found = new Map<string, number>();
  for (const m of body.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm"))) {
    found.set(m[1] ?? "", Number(m[2]));
  }
  return found;
}

function message(prefix: string, src: string, dpt = 80): string {
  return `${prefix} IN=eth0 OUT= SRC=${src} DST=10.0.0.2 LEN=60 TTL=64 ID=1 PROTO=TCP ` +
    `SPT=40000 DPT=${dpt} WINDOW=1 RES=0x00 SYN URGP=0`;
}

Deno.test("drops_parsed_total: a * prefix is one label value, not the text it matched", async () => {
  // The text a pattern matches is log content (a policy name, or any line a local program
  // sends to syslog as "kernel"): as label values it would be without bound.
  const records = Array.from({ length: 50 }, (_, i) => ({
    text: message(`calico-drop policy-${i}:`, "10.0.0.1", 80 + i),
    time: new Date(0),
  }));
  records.push({ text: message("plain:", "10.0.0.1"), time: new Date(0) });
  const { handled, metrics } = await run(["calico-drop *:", "plain:"], records);
  assert.equal(handled.length, 51);
  assert.equal(handled[7].prefix, "calico-drop policy-7:", "the drop keeps the matched text");
  assert.deepEqual(
    await samples(metrics, "kube_iptables_tailer_drops_parsed_total"),
    new Map([['{prefix="calico-drop *:"}', 50], ['{prefix="plain:"}', 1]]),
  );
});

Deno.test("counters: a drop passed over after a clean restart is not counted again", async () => {
  // The stopped process counted it, parsed and in its outcome; counting it as parsed again here,
  // in no outcome, broke parsed = handled + expired + repeated.
  const records = [1, 2, 3].map((n) => ({ text: message("p:", "10.0.0.1", n), time: new Date(0) }));
  const [first] = (await run(["p:"], records.slice(0, 1))).handled;
  const replay = Replay.from({ drops: 2, handled: [dropIdentity(first)], parser: "" }, "", quiet);
  const { handled, metrics } = await run(["p:"], records, { replay });
  assert.deepEqual(handled.map((d) => d.dpt), [2, 3], "the first was handled before the stop");
  assert.deepEqual(
    await samples(metrics, "kube_iptables_tailer_drops_parsed_total"),
    new Map([['{prefix="p:"}', 2]]),
  );
});

Deno.test("message repeated N times: N identical drops, skipped alike at once after the first skip", async () => {
  class Counting extends RepeatFilter {
    asked = 0;
    override isRepeat(drop: PacketDrop): boolean {
      this.asked++;
      return super.isRepeat(drop);
    }
  }
  const repeat = new Counting({ intervalMs: 2 * MIN });
  const body = message("p:", "10.0.0.1");
  // The count is the line's: up to 999 999 999 (one by one, minutes of a blocked event loop).
  const count = 999_999_999;
  const header = "2026-01-01T00:00:00.000000+00:00 node-1 kernel:";
  const lines = `${header} ${body}\n${header} message repeated ${count} times: [ ${body}]\n`;
  const { handled, metrics } = await run(["p:"], lines, { repeat });
  assert.equal(handled.length, 1);
  assert.ok(repeat.asked <= 3, `the repeat filter was asked ${repeat.asked} times`);
  assert.deepEqual(
    await samples(metrics, "kube_iptables_tailer_drops_parsed_total"),
    new Map([['{prefix="p:"}', count + 1]]),
  );
  assert.equal(
    (await samples(metrics, "kube_iptables_tailer_drops_skipped_total")).get('{reason="repeated"}'),
    count,
  );
});

/** A drop's line and rsyslog's line for `count` more of it, at the same time. */
function repeatedLines(body: string, count: number): string {
  const header = "2026-01-01T00:00:00.000000+00:00 node-1 kernel:";
  return `${header} ${body}\n${header} message repeated ${count} times: [ ${body}]\n`;
}

/** Sink work that never settles: Events left unposted at a shutdown. */
const unposted = () => new Promise<void>(() => {});

Deno.test("message repeated N times, repeat filter off: one sink call counts all N", async () => {
  // REPEATED_EVENTS_INTERVAL_MINUTES=0 skips none of them: one by one, a count of 999 999 999
  // held the event loop for minutes (no health answers, no reading).
  const count = 999_999_999;
  const { handled, counts, metrics, note } = await run(
    ["p:"],
    repeatedLines(message("p:", "10.0.0.1"), count),
    // Unsettled work holds the checkpoint, so the note tells what the tracker kept.
    { repeat: new RepeatFilter({ intervalMs: 0 }), work: unposted },
  );
  assert.deepEqual(counts, [1, count], "the line, then its repeats at once");
  assert.equal(handled[1].repeated, count, "told apart from the line it repeats");
  assert.deepEqual(
    await samples(metrics, "kube_iptables_tailer_drops_parsed_total"),
    new Map([['{prefix="p:"}', count + 1]]),
  );
  assert.equal(
    [...(await samples(metrics, "kube_iptables_tailer_drops_skipped_total")).values()]
      .reduce((a, b) => a + b, 0),
    0,
  );
  assert.deepEqual(note, { drops: 2, handled: [], parser: "" }, "one item for N drops");
});

Deno.test("message repeated N times, repeat filter on: the line's first drop acted on once, the rest repeats", async () => {
  const count = 999_999_999;
  const body = message("p:", "10.0.0.1");
  const later = "2026-01-01T00:05:00.000000+00:00 node-1 kernel:";
  // Five minutes on, the repeat filter (2 min) acts on the repeated line again, once.
  const lines = repeatedLines(body, count) +
    `${later} message repeated ${count} times: [ ${body}]\n`;
  const { counts, metrics } = await run(["p:"], lines);
  assert.deepEqual(counts, [1, 1]);
  assert.equal(
    (await samples(metrics, "kube_iptables_tailer_drops_skipped_total")).get('{reason="repeated"}'),
    2 * count - 1,
  );
});

Deno.test("message repeated N times: a clean restart acts on the line again, whole, only when its work was unfinished", async () => {
  const count = 999_999_999;
  const at = (second: number, dpt: number) =>
    `2026-01-01T00:00:0${second}.000000+00:00 node-1 kernel: ${message("p:", "10.0.0.1", dpt)}\n`;
  const lines = at(0, 79) + repeatedLines(message("p:", "10.0.0.1"), count) + at(1, 81);
  const options = () => ({ repeat: new RepeatFilter({ intervalMs: 0 }) });
  /** Runs the lines until a stop, with `unfinished(count)` left unposted; then again, restarted. */
  async function restart(unfinished: (count: number) => boolean) {
    const before = await run(["p:"], lines, {
      ...options(),
      work: (_, n) => unfinished(n) ? unposted() : undefined,
    });
    assert.deepEqual(before.counts, [1, 1, count, 1]);
    return await run(["p:"], lines, { ...options(), replay: Replay.from(before.note, "", quiet) });
  }
  // The repeated line's Events unposted at the stop: acted on again, with its whole count.
  const after = await restart((n) => n > 1);
  assert.deepEqual(after.counts, [count], "only the unfinished line");
  assert.deepEqual(
    await samples(after.metrics, "kube_iptables_tailer_drops_parsed_total"),
    new Map([['{prefix="p:"}', count]]),
  );
  // Finished, while the single drops' Events were unposted: passed over, not counted again.
  const passed = await restart((n) => n === 1);
  assert.deepEqual(passed.counts, [1, 1, 1]);
  assert.deepEqual(
    await samples(passed.metrics, "kube_iptables_tailer_drops_parsed_total"),
    new Map([['{prefix="p:"}', 3]]),
  );
});
