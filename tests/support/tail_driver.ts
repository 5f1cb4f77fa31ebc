/**
 * A small daemon for tail tests: FileSource + CheckpointStore, the way the pipeline wires them.
 * Each batch is printed in full to stdout (synchronously) and only then handed to the checkpoint
 * store, so a saved cursor always belongs to a batch that was printed.
 *
 * Usage:
 *   deno run -A tests/support/tail_driver.ts --path FILE --state DIR [--start end|beginning]
 *     [--poll-ms N] [--checkpoint-ms N] [--max-line-bytes N] [--retry-max-ms N]
 *
 * stdout protocol (one writer, so the order is the order of events):
 *   `R <cursor JSON or null>`   once, first: the cursor loaded from the checkpoint
 *   `B <lineCount> <cursor JSON>` then exactly lineCount lines: one batch
 *   `E <event> <n>`             a source event
 * Logs (text, debug level) go to stderr. SIGTERM/SIGINT stop it cleanly (checkpoint flushed).
 *
 * A consumer gets exactly-once delivery by treating the checkpoint as the commit point: on `R c`
 * it drops every batch it received after the batch whose cursor is `c` (those were printed but
 * not committed before a crash, and are about to be delivered again).
 * @module
 */

import { createLogger } from "../../src/log.ts";
import { CheckpointStore } from "../../src/sources/checkpoint.ts";
import { FileSource } from "../../src/sources/file.ts";
import type { StartPosition } from "../../src/sources/source.ts";

const encoder = new TextEncoder();

function printAll(text: string): void {
  const data = encoder.encode(text);
  let done = 0;
  while (done < data.length) done += Deno.stdout.writeSync(data.subarray(done));
}

function option(name: string): string | undefined {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 ? Deno.args[at + 1] : undefined;
}

function numberOption(name: string): number | undefined {
  const value = option(name);
  return value === undefined ? undefined : Number(value);
}

async function main(): Promise<void> {
  const path = option("path");
  const state = option("state");
  if (!path || !state) throw new Error("tail_driver: --path and --state are required");
  const log = createLogger({ level: "debug", format: "text" });
  const store = new CheckpointStore({
    dir: state,
    kind: "file",
    id: path,
    log,
    minIntervalMs: numberOption("checkpoint-ms") ?? 1000,
  });
  const resumeFrom = await store.load();
  printAll(`R ${JSON.stringify(resumeFrom ?? null)}\n`);
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  const source = new FileSource({
    path,
    log,
    resumeFrom,
    start: (option("start") ?? "end") as StartPosition,
    pollIntervalMs: numberOption("poll-ms"),
    maxLineBytes: numberOption("max-line-bytes"),
    retryMaxMs: numberOption("retry-max-ms"),
    onEvent: (event, n = 1) => printAll(`E ${event} ${n}\n`),
  });
  for await (const batch of source.read(controller.signal)) {
    if (batch.kind !== "lines") continue;
    printAll(`B ${batch.lineCount} ${JSON.stringify(batch.cursor)}\n${batch.text}`);
    store.update(batch.cursor);
  }
  await store.flush();
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.removeSignalListener("SIGINT", stop);
}

if (import.meta.main) await main();
