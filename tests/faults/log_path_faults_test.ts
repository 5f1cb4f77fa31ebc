/**
 * The log path turns bad under a running daemon, and then good again:
 *
 * - replaced by a directory (the file renamed away, a directory made in its place), then by a
 *   file again;
 * - permission denied, for real: the daemon runs as root without CAP_DAC_OVERRIDE and
 *   CAP_DAC_READ_SEARCH (`setpriv --bounding-set=-dac_override,-dac_read_search`), so mode 000
 *   makes open(2) fail with EACCES — at start, and for a file rotated in.
 *
 * What must hold: the errors are logged (once per streak of the same error) and counted
 * (`source_events_total{event="read_error"}`), retried with backoff (a handful of retries in
 * seconds, not thousands), the file already open keeps being read meanwhile, and the daemon
 * recovers without a restart: every drop becomes its Events, once.
 */
import assert from "node:assert/strict";
import { addShop, DB, kernelLine, tcpDrop, WEB } from "../support/faults/drops.ts";
import { byLabel, sumOf } from "../support/faults/metrics.ts";
import { sleep, Tailer } from "../support/faults/tailer.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { systemTest } from "../support/system.ts";

const ARGS = ["--kube-api-qps=100", "--kube-api-burst=100", "--repeated-events-interval-minutes=0"];

function dropLine(port: number): string {
  return kernelLine(tcpDrop(WEB, DB, port));
}

async function readErrors(tailer: Tailer): Promise<number> {
  return sumOf(await tailer.metrics(), "kube_iptables_tailer_source_events_total", {
    event: "read_error",
  });
}

Deno.test("log path replaced by a directory, then by a file: errors logged once and counted, backoff, the old file still read, recovery", async () => {
  const api = await startKubeEmulator({});
  addShop(api);
  const dir = await Deno.makeTempDir({ prefix: "kit-faults-dir-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const tailer = await Tailer.start({
    log,
    kubeconfig: api.kubeconfigPath,
    args: ARGS,
    waitFor: "ready",
  });
  // The writer's handle, as rsyslog keeps it across a rename until it reopens the path.
  const writer = await Deno.open(log, { append: true });
  const write = (port: number) => writer.write(new TextEncoder().encode(dropLine(port)));
  try {
    await write(1);
    await tailer.until("the first Events", () => api.events().length === 2);

    await Deno.rename(log, `${log}.1`);
    await Deno.mkdir(log);
    const broken = performance.now();
    await tailer.until("a read error", async () => await readErrors(tailer) >= 1);
    await write(2); // still reaches the file the daemon holds
    await tailer.until("the Events of the old file's new line", () => api.events().length === 4);
    await sleep(3000 - (performance.now() - broken));
    const errors = await readErrors(tailer);
    const seconds = (performance.now() - broken) / 1000;
    assert.ok(errors >= 3, `${errors} retries in ${seconds.toFixed(1)} s`);
    assert.ok(errors <= 10, `backoff: ${errors} retries in ${seconds.toFixed(1)} s`);
    assert.equal(tailer.logged("cannot read log file"), 1, "logged once for the streak");
    assert.match(
      tailer.stderrLines.find((l) => l.includes("cannot read log file"))!,
      /ERROR .*is a directory/,
    );
    assert.equal((await tailer.get("/healthz")).status, 200);

    // A file again, with a line in it.
    await Deno.remove(log);
    await Deno.writeTextFile(log, dropLine(3));
    writer.close();
    const fixed = performance.now();
    await tailer.until("the Events of the new file", () => api.events().length === 6, 15_000);
    const recovery = (performance.now() - fixed) / 1000;
    assert.equal(tailer.logged("log file is readable again"), 1);
    const metrics = await tailer.metrics();
    assert.equal(sumOf(metrics, "kube_iptables_tailer_log_lines_total"), 3);
    const events = byLabel(metrics, "kube_iptables_tailer_source_events_total", "event");
    assert.equal(events.rotation, 1, JSON.stringify(events));
    assert.ok(api.events().every((e) => e.count === 1));
    assert.equal(tailer.exited, undefined);
    const { code } = await tailer.stop();
    assert.equal(code, 0);
    console.log(
      `held: log path replaced by a directory — ${errors} read errors in ${
        seconds.toFixed(1)
      } s (backoff), 1 log line, the renamed file read on meanwhile; a file again: read ${
        recovery.toFixed(1)
      } s later without restart, 3/3 drops, 6 Events once each`,
    );
  } finally {
    try {
      writer.close();
    } catch {
      // Closed above.
    }
    await tailer.kill();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

systemTest(
  "permission denied (at start, then on a rotated-in file): logged, counted, retried with backoff, recovered without restart",
  { needs: ["root", "setpriv"] },
  async () => {
    const api = await startKubeEmulator({});
    addShop(api);
    const dir = await Deno.makeTempDir({ prefix: "kit-faults-eacces-" });
    const log = `${dir}/kern.log`;
    await Deno.writeTextFile(log, "");
    await Deno.chmod(log, 0o000);
    const tailer = await Tailer.start({
      log,
      kubeconfig: api.kubeconfigPath,
      args: ARGS,
      wrap: ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"],
    });
    try {
      await tailer.until("retries", async () => await readErrors(tailer) >= 3);
      assert.equal(tailer.logged("cannot read log file"), 1, tailer.tail());
      assert.match(
        tailer.stderrLines.find((l) => l.includes("cannot read log file"))!,
        /ERROR .*Permission denied/,
      );
      assert.equal((await tailer.get("/healthz")).status, 200);
      await tailer.until("/readyz", async () => (await tailer.get("/readyz")).status === 200);

      await Deno.chmod(log, 0o644);
      await tailer.until("the file to be followed", () => tailer.logged("following log file") > 0);
      await Deno.writeTextFile(log, dropLine(1), { append: true });
      await tailer.until("the first Events", () => api.events().length === 2);
      const atStart = await readErrors(tailer);
      assert.equal(tailer.logged("log file is readable again"), 1);

      // Rotated to a file the daemon may not read; the old one is still written meanwhile.
      const writer = await Deno.open(log, { append: true });
      await Deno.rename(log, `${log}.1`);
      await Deno.writeTextFile(log, dropLine(2), { mode: 0o000 });
      await Deno.chmod(log, 0o000);
      const denied = performance.now();
      await writer.write(new TextEncoder().encode(dropLine(3)));
      writer.close();
      await tailer.until("the old file's new line", () => api.events().length === 4);
      await tailer.until("retries", async () => await readErrors(tailer) >= atStart + 3);
      await sleep(3000 - (performance.now() - denied));
      const rotatedErrors = (await readErrors(tailer)) - atStart;
      assert.ok(rotatedErrors <= 10, `backoff: ${rotatedErrors} retries in 3 s`);
      assert.equal(tailer.logged("cannot read log file"), 2, "one line per streak");
      await Deno.chmod(log, 0o644);
      await tailer.until("the rotated-in file's line", () => api.events().length === 6, 15_000);

      const metrics = await tailer.metrics();
      assert.equal(sumOf(metrics, "kube_iptables_tailer_log_lines_total"), 3);
      assert.ok(api.events().every((e) => e.count === 1));
      const sourceEvents = byLabel(metrics, "kube_iptables_tailer_source_events_total", "event");
      assert.equal(sourceEvents.rotation, 1, JSON.stringify(sourceEvents));
      assert.equal(tailer.exited, undefined);
      const { code } = await tailer.stop();
      assert.equal(code, 0);
      console.log(
        `held: permission denied (root without DAC capabilities) — ${atStart} read errors at ` +
          `start and ${rotatedErrors} on a rotated-in file, 1 log line per streak, the old file ` +
          `read on meanwhile; recovered without restart: 3/3 drops, 6 Events once each`,
      );
    } finally {
      await tailer.kill();
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
