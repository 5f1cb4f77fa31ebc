/**
 * The real logrotate (Debian package) rotates the followed file while a writer process appends
 * numbered lines at a high rate: `logrotate -f -s STATE CONF`, run repeatedly, with `create` and
 * with `copytruncate`, `rotate 5`. The writer, like rsyslog, does not create the file itself
 * after a rename: it writes to the renamed file until logrotate has created the new one. Every number must be delivered exactly once and in order;
 * with copytruncate, except what logrotate itself loses between the end of its copy and the
 * truncation (in no file; measured and reported). As in the rotation stress test, each run waits
 * until the tail has seen the current generation (real rotations are hours apart).
 *
 * And restarts across `compress`: the tail is stopped, logrotate compresses the file it was in
 * (once or twice, so the position is in `kern.log.1.gz` or `kern.log.2.gz`), and the next run
 * resumes inside the compressed file.
 */
import assert from "node:assert/strict";
import { systemTest, which } from "../support/system.ts";
import {
  append,
  checkDelivery,
  drainAndStop,
  lastSeqIn,
  lines,
  lostByCopyTruncate,
  numbered,
  sleep,
  summarize,
  TailRun,
  untilTailSeesCurrent,
  WriterProcess,
} from "./file_support.ts";

const RUNS = 40;

async function logrotate(conf: string, state: string): Promise<number> {
  const started = performance.now();
  const result = await new Deno.Command(which("logrotate")!, {
    args: ["-f", "-s", state, conf],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`logrotate failed: ${new TextDecoder().decode(result.stderr)}`);
  }
  return performance.now() - started;
}

for (const mode of ["create", "copytruncate"] as const) {
  systemTest(
    `logrotate ${mode} (rotate 5, ${RUNS} runs) under a fast writer: exactly once, in order`,
    { needs: ["root", "logrotate"], sanitizeResources: true, sanitizeOps: true },
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "file_logrotate_" }); // 0700: logrotate insists
      const path = `${dir}/kern.log`;
      const conf = `${dir}/logrotate.conf`;
      await Deno.writeTextFile(
        conf,
        `${path} {\n  rotate 5\n  ${
          mode === "create" ? "create 0640 root root" : "copytruncate"
        }\n  missingok\n  nocompress\n}\n`,
      );
      try {
        // Like rsyslog: keeps writing to the renamed file until the new one exists.
        const writer = await WriterProcess.start({ path, rate: 20_000, createMissing: false });
        const run = new TailRun({ path, start: "beginning", pollIntervalMs: 1000 });
        const copies: Uint8Array[] = [];
        const runMs: number[] = [];
        let last = 0;
        try {
          for (let i = 0; i < RUNS; i++) {
            await untilTailSeesCurrent(run, path, mode === "create" ? "new file" : "truncation");
            await sleep(Math.floor(Math.random() * 20));
            runMs.push(await logrotate(conf, `${dir}/state`));
            if (mode === "copytruncate") copies.push(await Deno.readFile(`${path}.1`));
          }
        } finally {
          last = await writer.stop();
          // With copytruncate the last lines may have fallen into the last copy's window.
          const survivor = mode === "copytruncate"
            ? lastSeqIn([copies.at(-1) ?? new Uint8Array(), await Deno.readFile(path)])
            : last;
          await drainAndStop(run, survivor);
        }
        const missing = checkDelivery(run, last);
        if (mode === "create") {
          assert.deepEqual(missing.slice(0, 20), [], `${missing.length} lines lost`);
          assert.ok(run.count("rotation") >= RUNS / 2, `${run.count("rotation")} rotations`);
          console.log(
            `logrotate create: ${last} lines, ${run.count("rotation")} switches, none lost`,
          );
        } else {
          const lost = lostByCopyTruncate([...copies, await Deno.readFile(path)], last);
          const outside = missing.filter((n) => !lost.has(n));
          console.log(
            `logrotate copytruncate: ${last} lines, ${RUNS} runs (each ${
              summarize(runMs)
            } ms); lost by copytruncate itself: ${lost.size} lines; missed by the tail: ${missing.length}`,
          );
          assert.deepEqual(outside.slice(0, 20), [], `${outside.length} lost outside the window`);
          assert.equal(run.count("truncation"), RUNS);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

systemTest(
  "logrotate compress while the tail is stopped, 12 restarts: every line once, in order",
  { needs: ["root", "logrotate"], sanitizeResources: true, sanitizeOps: true },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "file_logrotate_" });
    const path = `${dir}/kern.log`;
    const conf = `${dir}/logrotate.conf`;
    await Deno.writeTextFile(
      conf,
      `${path} {\n  rotate 5\n  create 0640 root root\n  compress\n  missingok\n}\n`,
    );
    try {
      let written = 0;
      const write = async (count: number) => {
        await append(path, numbered("line-", written + 1, count));
        written += count;
      };
      const delivered: string[] = [];
      let checkpoint: unknown;
      await write(10);
      for (let restart = 0; restart < 12; restart++) {
        const run = new TailRun({ path, start: "beginning", resumeFrom: checkpoint });
        await run.untilLines(written - delivered.length);
        await write(40);
        await run.untilLines(written - delivered.length);
        await run.stop();
        assert.deepEqual(run.problems, []);
        delivered.push(...run.lines);
        checkpoint = JSON.parse(JSON.stringify(run.lastCursor));
        await write(25); // after the checkpoint: in the file that gets compressed
        await logrotate(conf, `${dir}/state`);
        await write(5);
        if (restart % 3 === 2) {
          await logrotate(conf, `${dir}/state`); // our file is kern.log.2.gz by now
          await write(5);
        }
        await sleep(5);
      }
      const last = new TailRun({ path, start: "beginning", resumeFrom: checkpoint });
      await last.untilLines(written - delivered.length);
      await sleep(50);
      await last.stop();
      delivered.push(...last.lines);
      assert.equal(delivered.length, written);
      assert.deepEqual(delivered, lines(numbered("line-", 1, written)));
      assert.equal(last.count("cursor_invalid"), 0);
      const compressed = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".gz")).length;
      assert.ok(compressed >= 5, `${compressed} compressed rotations`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
