/**
 * The watch reader on answers cut at random chunk boundaries: every event line is handed over
 * once and in order, over-long lines are skipped and reported with their length wherever the
 * cuts fall, and the stream's end says whether it was complete.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type StreamedResponse, TransportError } from "../../src/kube/client.ts";
import { streamWatch, type WatchEnd } from "../../src/kube/pods_watch.ts";

const encoder = new TextEncoder();

/** An answer whose body is `bytes` cut at `cuts`. */
function answerOf(bytes: Uint8Array, cuts: number[], status = 200): StreamedResponse {
  const bounds = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])]
    .sort((a, b) => a - b);
  return {
    status,
    headers: { "content-type": "application/json" },
    body: (async function* () {
      for (let i = 1; i < bounds.length; i++) yield bytes.subarray(bounds[i - 1], bounds[i]);
    })(),
    cancel() {},
  };
}

/** Reads `text` cut at `cuts`; returns the events, the skipped lengths and the end. */
async function read(text: string, cuts: number[], maxLineLength: number) {
  const events: unknown[] = [];
  const skipped: number[] = [];
  const end: WatchEnd = await streamWatch({
    open: () => Promise.resolve(answerOf(encoder.encode(text), cuts)),
    signal: new AbortController().signal,
    maxLineLength,
    onOversized: (length) => skipped.push(length),
    onEvent: (type, object) => {
      events.push({ type, object });
      return true;
    },
  });
  return { events, skipped, end };
}

Deno.test("watch reader: events in order and over-long lines skipped, wherever the chunks are cut", async () => {
  const event = fc.record({
    type: fc.constantFrom("ADDED", "MODIFIED", "DELETED", "BOOKMARK"),
    object: fc.record({
      metadata: fc.record({ name: fc.string({ unit: "binary", maxLength: 60 }) }),
    }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(event, { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.integer({ min: 20, max: 120 }),
      fc.boolean(),
      async (events, cuts, limit, complete) => {
        const lines = events.map((e) => JSON.stringify(e));
        const text = lines.map((l) => `${l}\n`).join("") + (complete ? "" : lines[0] ?? "");
        const got = await read(text, cuts, limit);
        assert.deepEqual(
          got.events,
          lines.filter((l) => l.length <= limit).map((l) => JSON.parse(l)),
        );
        assert.deepEqual(got.skipped, lines.map((l) => l.length).filter((n) => n > limit));
        const cutShort = !complete && lines.length > 0;
        assert.deepEqual(
          got.end,
          cutShort
            ? { kind: "closed", clean: false, message: "stream ended inside an event" }
            : { kind: "closed", clean: true },
        );
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("watch reader: a line that is not a JSON event ends the stream; so does the handler's false", async () => {
  const good = '{"type":"ADDED","object":{"metadata":{"name":"a"}}}';
  const bad = await read(`${good}\n{"type":"ADDED","obj\n${good}\n`, [7, 60], 1000);
  assert.equal(bad.events.length, 1);
  assert.equal(bad.end.kind, "bad_line");
  assert.equal((bad.end as { line: string }).line, '{"type":"ADDED","obj');
  const array = await read(`[1]\n`, [], 1000);
  assert.deepEqual(array.end, { kind: "bad_line", line: "[1]", message: "not a JSON object" });
  let seen = 0;
  const stopped = await streamWatch({
    open: () => Promise.resolve(answerOf(encoder.encode(`${good}\n${good}\n`), [])),
    signal: new AbortController().signal,
    onEvent: () => ++seen < 1,
  });
  assert.deepEqual(stopped, { kind: "stopped" });
  assert.equal(seen, 1);
});

/** Resolves after `ms`; rejects as the exchange does (TransportError) when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new TransportError("aborted"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * An answer, sent with the request's `signal`, that sends `count` events `everyMs` apart and
 * then stays silent until the signal aborts (a connection that died without a FIN or RST).
 */
function goesSilent(signal: AbortSignal, count: number, everyMs: number): StreamedResponse {
  return {
    status: 200,
    headers: { "content-type": "application/json" },
    body: (async function* () {
      for (let i = 0; i < count; i++) {
        await pause(everyMs, signal);
        yield encoder.encode(
          `{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"${i}"}}}\n`,
        );
      }
      await pause(3_600_000, signal);
    })(),
    cancel() {},
  };
}

Deno.test("watch reader: a stream silent for idleMs ends as idle, before or after its headers; anything heard starts the silence over", async () => {
  const never = (signal: AbortSignal) =>
    pause(3_600_000, signal).then(() => answerOf(new Uint8Array(), []));
  let started = performance.now();
  const noHeaders = await streamWatch({
    open: never,
    signal: new AbortController().signal,
    idleMs: 100,
    onEvent: () => true,
  });
  assert.equal(noHeaders.kind, "idle");
  assert.ok((noHeaders as { silentMs: number }).silentMs >= 100);
  assert.ok(performance.now() - started < 2_000, "ended at the idle limit");

  // 10 events 40 ms apart (400 ms in all, four times the limit), then silence.
  let events = 0;
  started = performance.now();
  const silent = await streamWatch({
    open: (signal) => Promise.resolve(goesSilent(signal, 10, 40)),
    signal: new AbortController().signal,
    idleMs: 100,
    onEvent: () => ++events > 0,
  });
  const elapsed = performance.now() - started;
  assert.equal(silent.kind, "idle");
  assert.equal(events, 10, "not ended while events came");
  assert.ok(elapsed >= 500, `ended ${elapsed} ms after the start, not before 400 + 100`);

  // The caller's abort is an abort, not silence.
  const caller = new AbortController();
  setTimeout(() => caller.abort(), 50);
  const aborted = await streamWatch({
    open: never,
    signal: caller.signal,
    idleMs: 10_000,
    onEvent: () => true,
  });
  assert.deepEqual(aborted, { kind: "aborted" });
});
