/** parse's default boot time: precise, taken at the tick of a whole-second uptime, lazy. */
import assert from "node:assert/strict";
import { estimateBootTimeMs, lazyBootTime } from "../../src/commands/boot_time.ts";
import { runParse } from "../../src/commands/parse.ts";

const NO_PROC = "/nonexistent/uptime";

Deno.test("parse boot time: a whole-second uptime is read at its tick (ms, not ±1 s)", () => {
  // The uptime (rounded up, as the kernel does) becomes 101 s 120 ms from now: boot was
  // 100 s before that moment.
  const tick = Date.now() + 120;
  const osUptime = () => Date.now() < tick ? 100 : 101;
  const boot = estimateBootTimeMs({ uptimePath: NO_PROC, osUptime });
  assert.ok(boot !== undefined);
  const error = boot - (tick - 100_000);
  assert.ok(error >= 0 && error <= 20, `off by ${error} ms`);
});

Deno.test("parse boot time: without any uptime there is none; a frozen uptime gives the coarse one", () => {
  const notes: string[] = [];
  const none = estimateBootTimeMs({
    uptimePath: NO_PROC,
    osUptime: () => {
      throw new Deno.errors.NotCapable('Requires sys access to "osUptime"');
    },
    onNote: (message) => notes.push(message),
  });
  assert.equal(none, undefined);
  assert.equal(notes.length, 1);
  const started = Date.now();
  const frozen = estimateBootTimeMs({ uptimePath: NO_PROC, osUptime: () => 50, maxWaitMs: 30 });
  assert.ok(frozen !== undefined && Math.abs(frozen - (started - 49_500)) < 100);
});

Deno.test("parse boot time: asked only when a kmsg or dmesg time needs it", async () => {
  let asked = 0;
  const provider = lazyBootTime({ bootTimeMs: 1_000_000 });
  const counted = () => (asked++, provider());
  const run = (text: string) =>
    runParse({
      prefixes: ["calico-packet:"],
      format: "ndjson",
      maxLineBytes: 65536,
      bootTimeMs: counted,
      files: ["-"],
      stdout: { writeSync: (bytes: Uint8Array) => bytes.length },
      stdin: {
        done: false,
        readSync(buffer: Uint8Array) {
          if (this.done) return null;
          this.done = true;
          const bytes = new TextEncoder().encode(text);
          buffer.set(bytes);
          return bytes.length;
        },
      } as { done: boolean; readSync(buffer: Uint8Array): number | null },
      stderr: () => {},
    });
  const payload = "calico-packet: IN=cali1 OUT=cali2 SRC=10.244.1.10 DST=10.244.1.11 LEN=60 " +
    "PROTO=TCP SPT=35588 DPT=8080";
  await run(`2026-11-25T07:58:51.523218+00:00 vm kernel: [  274.690604] ${payload}\n`);
  assert.equal(asked, 0, "an RFC 3339 log never asks");
  await run(`4,100,1000,-;${payload}\n4,101,2000,-;${payload}\n[ 3.0] ${payload}\n`);
  assert.ok(asked >= 1);
});
