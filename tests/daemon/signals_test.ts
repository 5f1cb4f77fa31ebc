/** Shutdown signals as runDaemon receives them, delivered by the test in the same process. */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config.ts";
import { type DaemonIo, runDaemon } from "../../src/daemon.ts";

/** A port free a moment ago, so that the test knows where /healthz is. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("daemon: the same signal twice at once (one Ctrl-C under deno task start: the terminal's and deno task's copy) is one clean shutdown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-signals-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const port = freePort();
  const config = loadConfig({
    env: {
      IPTABLES_LOG_PATH: log,
      IPTABLES_LOG_PREFIX: "nft-drop:",
      STATE_DIRECTORY: dir,
      METRICS_SERVER_PORT: String(port),
      METRICS_LISTEN_ADDRESS: "127.0.0.1",
      LOG_LEVEL: "error",
    },
    flags: { dryRun: "true" },
  });
  let deliver: ((signal: string) => void) | undefined;
  const io: DaemonIo = {
    stdout: { write: (bytes) => Promise.resolve(bytes.length) },
    onShutdownSignal(handler) {
      deliver = handler;
      return () => {};
    },
  };
  try {
    const running = runDaemon(config, io);
    for (;;) {
      const answer = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      await answer?.body?.cancel();
      if (answer?.ok) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Before the fix the second one exited the process at once (Deno.exit(130)), skipping the
    // checkpoint; under deno test that exit fails the test.
    deliver!("SIGINT");
    deliver!("SIGINT");
    assert.equal(await running, 0);
    const saved = [...Deno.readDirSync(dir)].filter((e) => /^file-.*\.json$/.test(e.name));
    assert.equal(saved.length, 1, "checkpoint written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
