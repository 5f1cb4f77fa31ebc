/**
 * The shipped artifact: `deno bundle` of src/main.ts run with exactly the production permission
 * set (`-P=daemon` from deno.json, the one definition `deno task compile` also uses) against the
 * API emulator and a log file under /var/log; and proof that it can read and write nothing else.
 */
import assert from "node:assert/strict";
import { kernelLine } from "../support/daemon.ts";
import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { systemTest } from "../support/system.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const STATE = "/var/lib/kube-iptables-tailer";

async function bundle(out: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      `--config=${ROOT}deno.json`,
      "--platform=deno",
      "-o",
      out,
      `${ROOT}src/main.ts`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
}

function runBundle(artifact: string, args: string[], env: Record<string, string> = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${ROOT}deno.json`,
      "-P=daemon",
      artifact,
      ...args,
    ],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

systemTest("bundle: the single JS artifact works end to end under the production permissions", {
  needs: ["root"],
}, async () => {
  const work = await Deno.makeTempDir({ prefix: "kit-bundle-" });
  const logDir = await Deno.makeTempDir({ dir: "/var/log", prefix: "kit-bundle-" });
  await Deno.mkdir(STATE, { recursive: true });
  const kubeconfig = `${STATE}/kit-bundle-test-${crypto.randomUUID()}.kubeconfig`;
  const api = await startKubeEmulator({ tls: true, token: "bundle", kubeconfigPath: kubeconfig });
  let child: Deno.ChildProcess | undefined;
  try {
    const artifact = `${work}/kube-iptables-tailer.js`;
    await bundle(artifact);
    api.addPod({ namespace: "shop", name: "web-1", podIPs: ["10.244.1.10"] });
    api.addPod({ namespace: "data", name: "db-0", podIPs: ["10.244.1.11"] });
    const log = `${logDir}/kern.log`;
    await Deno.writeTextFile(log, "");
    child = runBundle(artifact, [
      "run",
      `--iptables-log-path=${log}`,
      "--iptables-log-prefix=calico-packet:",
      `--kubeconfig=${kubeconfig}`,
      `--state-directory=${STATE}`,
      "--metrics-server-port=0",
    ], { NODE_NAME: "node-1" }).spawn();
    const stderr: string[] = [];
    const pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child!.stderr) stderr.push(...decoder.decode(chunk).split("\n"));
    })();
    const until = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 15_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}\n${stderr.join("\n")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until("start", () => stderr.some((l) => l.includes("following log file")));
    await Deno.writeTextFile(
      log,
      kernelLine(
        "calico-packet: IN=cali1 OUT=cali2 SRC=10.244.1.10 DST=10.244.1.11 LEN=60 TTL=63 ID=1 DF PROTO=TCP SPT=4 DPT=5432 ",
      ),
      { append: true },
    );
    await until("events", () => api.events().length === 2);
    assert.deepEqual(api.events().map((e) => e.message).sort(), [
      "Packet dropped when receiving traffic from shop (10.244.1.10) on port 5432/TCP",
      "Packet dropped when sending traffic to data (10.244.1.11) on port 5432/TCP",
    ]);
    child.kill("SIGTERM");
    const status = await child.status;
    await pump;
    assert.equal(status.code, 0, stderr.join("\n"));
    // The checkpoint of this run's log (the state directory is shared with other runs), at
    // its end: everything in it was handled.
    const ours = [...Deno.readDirSync(STATE)]
      .filter((e) => e.name.startsWith("file-") && e.name.endsWith(".json"))
      .map((e) => JSON.parse(Deno.readTextFileSync(`${STATE}/${e.name}`)))
      .filter((saved) => saved.id === log);
    assert.equal(ours.length, 1, "the checkpoint is written to the state directory");
    assert.equal(ours[0].cursor.offset, (await Deno.stat(log)).size);
  } finally {
    try {
      child?.kill("SIGKILL");
    } catch {
      // exited
    }
    await api.close();
    for (const entry of Deno.readDirSync(STATE)) {
      if (entry.name.endsWith(".lock")) continue; // removed with its checkpoint
      if (entry.name.startsWith("file-") || entry.name.startsWith("kit-bundle-test-")) {
        // Only our checkpoint (it names our log path) and our kubeconfig.
        const text = Deno.readTextFileSync(`${STATE}/${entry.name}`);
        if (entry.name.startsWith("kit-bundle-test-") || text.includes(logDir)) {
          await Deno.remove(`${STATE}/${entry.name}`);
          await Deno.remove(`${STATE}/${entry.name}.lock`).catch(() => {}); // its lock
        }
      }
    }
    await Deno.remove(logDir, { recursive: true });
    await Deno.remove(work, { recursive: true });
  }
});

systemTest(
  "bundle: reading and writing outside the allowed paths is denied",
  { needs: ["root"] },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "kit-bundle-deny-" });
    try {
      const artifact = `${work}/kube-iptables-tailer.js`;
      await bundle(artifact);
      // Read: a file outside the allowed directories.
      const secret = `${work}/secret.log`;
      await Deno.writeTextFile(
        secret,
        "Nov 25 08:00:00 n kernel: p: IN=a OUT=b SRC=1.1.1.1 DST=2.2.2.2 PROTO=TCP\n",
      );
      const read = await runBundle(artifact, ["parse", "-p", "p:", secret]).output();
      assert.equal(read.code, 2);
      assert.match(
        new TextDecoder().decode(read.stderr),
        /cannot read .*secret\.log: Requires read access/,
      );
      // Write: a log file (--log_dir) and checkpoints outside the state directory are refused.
      const logDir = `${work}/logs`;
      await Deno.mkdir(logDir);
      const daemon = await runBundle(artifact, [
        "run",
        "--dry-run",
        "--iptables-log-path=/var/log/kit-does-not-exist.log",
        "--iptables-log-prefix=p:",
        `--log_dir=${logDir}`,
        `--state-directory=${work}`,
        "--metrics-server-port=0",
      ]).output();
      const stderr = new TextDecoder().decode(daemon.stderr);
      assert.match(
        stderr,
        /cannot write the log to .*kube-iptables-tailer\.log \(--log_dir\): this program may not write/,
      );
      assert.equal(
        [...Deno.readDirSync(logDir)].length,
        0,
        "nothing written outside the state directory",
      );
      assert.equal(daemon.code, 2);
      assert.match(
        stderr,
        /STATE_DIRECTORY=.*: this program may not use it \(outside its permission set/,
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
