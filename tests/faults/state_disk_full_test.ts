/**
 * A full disk under the state directory: a 64 KiB tmpfs is mounted as STATE_DIRECTORY and filled
 * while the daemon runs and drops keep coming.
 *
 * What must hold: the failed checkpoint writes are logged once for the whole streak and counted
 * (`kube_iptables_tailer_checkpoint_write_errors_total`), the checkpoint on disk stays the last
 * good one (atomic replace: never torn, no temporary file left), the daemon keeps reading and
 * posting Events, and once space is freed the checkpoint catches up by itself (logged once), up
 * to the end of the log at shutdown.
 */
import assert from "node:assert/strict";
import { addShop, DB, kernelLine, tcpDrop, WEB } from "../support/faults/drops.ts";
import { sumOf } from "../support/faults/metrics.ts";
import { sleep, Tailer } from "../support/faults/tailer.ts";
import { logAndStateDirs, savedOffset } from "../support/faults/checkpoint.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { systemTest } from "../support/system.ts";

async function run(command: string, ...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(command, { args, stderr: "piped" }).output();
  if (code !== 0) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  }
}

/** Writes until the file system says it is full. */
async function fill(path: string): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(4096).fill(120);
  let written = 0;
  try {
    for (;;) written += await file.write(block);
  } catch (error) {
    if (!String(error).includes("No space left")) throw error;
  } finally {
    file.close();
  }
  return written;
}

systemTest(
  "full disk under the state directory: checkpoint errors logged once and counted, the daemon works on, checkpoints resume",
  { needs: ["root", "mount", "umount"] },
  async () => {
    const api = await startKubeEmulator({});
    addShop(api);
    const { dir, log, state } = await logAndStateDirs("kit-faults-diskfull-");
    await run("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", state);
    let tailer: Tailer | undefined;
    try {
      tailer = await Tailer.start({
        log,
        kubeconfig: api.kubeconfigPath,
        stateDirectory: state,
        args: [
          "--kube-api-qps=100",
          "--kube-api-burst=100",
          "--repeated-events-interval-minutes=0",
        ],
        waitFor: "ready",
      });
      const t = tailer;
      let port = 0;
      const append = async () => {
        port++;
        await Deno.writeTextFile(log, kernelLine(tcpDrop(WEB, DB, port)), { append: true });
      };
      const size = async () => (await Deno.stat(log)).size;
      for (let i = 0; i < 3; i++) await append();
      await t.until("the first checkpoint", async () => await savedOffset(state) === await size());
      assert.equal(api.events().length, 6);

      // Full: the daemon keeps working, the checkpoint stays where it was.
      const filler = await fill(`${state}/filler`);
      const goodOffset = await savedOffset(state);
      for (let i = 0; i < 8; i++) {
        await append();
        await sleep(400);
      }
      await t.until("the Events of the drops meanwhile", () => api.events().length === 2 * port);
      await t.until(
        "several failed writes",
        async () =>
          sumOf(await t.metrics(), "kube_iptables_tailer_checkpoint_write_errors_total") >= 3,
      );
      const errors = sumOf(await t.metrics(), "kube_iptables_tailer_checkpoint_write_errors_total");
      assert.equal(await savedOffset(state), goodOffset, "the last good checkpoint stays");
      assert.equal(t.logged("cannot write checkpoint"), 1, "logged once for the streak");
      assert.match(
        t.stderrLines.find((l) => l.includes("cannot write checkpoint"))!,
        /ERROR .*No space left on device/,
      );
      assert.equal((await t.get("/healthz")).status, 200);

      // Space again: the checkpoint catches up without new input, then follows new drops.
      await Deno.remove(`${state}/filler`);
      await t.until(
        "the checkpoint to catch up",
        async () => await savedOffset(state) === await size(),
      );
      assert.equal(t.logged("checkpoint writes work again"), 1);
      await append();
      await t.until(
        "the checkpoint to follow",
        async () => await savedOffset(state) === await size(),
      );
      await t.until("the last Events", () => api.events().length === 2 * port);
      const { code } = await t.stop();
      assert.equal(code, 0);
      assert.equal(await savedOffset(state), await size());
      const left = [];
      for await (const entry of Deno.readDir(state)) left.push(entry.name);
      assert.equal(left.length, 2, `only the checkpoint and its lock are left: ${left}`);
      assert.ok(left.some((name) => name.endsWith(".json.lock")), `${left}`);
      assert.ok(api.events().every((e) => e.count === 1));
      console.log(
        `held: full state disk (64 KiB tmpfs, ${filler} filler bytes) — ${errors} failed ` +
          `checkpoint writes counted, 1 log line for the streak, the last good checkpoint ` +
          `(offset ${goodOffset}) kept, ${2 * 8} Events posted meanwhile; after freeing space ` +
          `the checkpoint caught up to the end of the log by itself`,
      );
    } finally {
      await tailer?.kill();
      await run("umount", state).catch(() => run("umount", "-l", state));
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

systemTest(
  "a state disk already full at the first start: the daemon starts and works (the lock file cannot be made; no exit 2)",
  { needs: ["root", "mount", "umount"] },
  async () => {
    const api = await startKubeEmulator({});
    addShop(api);
    const { dir, log, state } = await logAndStateDirs("kit-faults-diskfull-start-");
    await run("mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=2,mode=0700", "tmpfs", state);
    let tailer: Tailer | undefined;
    try {
      await fill(`${state}/filler`); // the last inode and every block
      tailer = await Tailer.start({
        log,
        kubeconfig: api.kubeconfigPath,
        stateDirectory: state,
        args: ["--repeated-events-interval-minutes=0"],
        waitFor: "ready",
      });
      const t = tailer;
      await Deno.writeTextFile(log, kernelLine(tcpDrop(WEB, DB, 1)), { append: true });
      await t.until("the Events", () => api.events().length === 2);
      assert.equal(t.logged("cannot make the checkpoint's lock file"), 1);
      assert.equal((await t.stop()).code, 0);
    } finally {
      await tailer?.kill();
      await run("umount", state).catch(() => run("umount", "-l", state));
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
