/** `run --dry-run` as a process on a real file: live output, SIGTERM, checkpoint, resume. */
import assert from "node:assert/strict";
import { DaemonProcess, followLogFile, kernelLine, repeatedLine } from "../support/daemon.ts";
import { normalPath } from "../../src/daemon.ts";
import { dropIdentity } from "../../src/pipeline/filters.ts";
import type { PacketDrop } from "../../src/netfilter/types.ts";

function drop(n: number): string {
  return `nft-drop: IN=cali3 OUT=cali2 SRC=10.244.2.20 DST=10.244.1.11 LEN=60 TTL=63 ID=${n} DF PROTO=TCP SPT=40000 DPT=${
    1000 + n
  } WINDOW=64240 RES=0x00 SYN URGP=0 `;
}

/** The drop counters on /metrics: parsed, handled (packet_drops_count by labels), skipped. */
async function countsOf(port: number): Promise<Record<string, unknown>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const one = (pattern: RegExp) => Number(pattern.exec(text)?.[1]);
  const handled: Record<string, number> = {};
  for (const m of text.matchAll(/^packet_drops_count(\{[^}]*\}) (\d+)$/gm)) {
    handled[m[1]] = Number(m[2]);
  }
  return {
    parsed: one(/^kube_iptables_tailer_drops_parsed_total\{[^}]*\} (\d+)$/m),
    handled,
    expired: one(/^kube_iptables_tailer_drops_skipped_total\{reason="expired"\} (\d+)$/m),
    repeated: one(/^kube_iptables_tailer_drops_skipped_total\{reason="repeated"\} (\d+)$/m),
  };
}

async function append(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { append: true });
}

/** `run --dry-run` on `log` for nft-drop:, checkpointing into `state`. */
function dryRunArgs(log: string, state: string, ...more: string[]): string[] {
  return [
    "run",
    "--dry-run",
    `--iptables-log-path=${log}`,
    "--iptables-log-prefix=nft-drop:",
    "--metrics-server-port=0",
    `--state-directory=${state}`,
    ...more,
  ];
}

Deno.test("dry-run: follows the file, prints drops live, resumes after SIGTERM without loss or repeats", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-" });
  const log = `${dir}/kern.log`;
  const args = dryRunArgs(log, dir);
  try {
    await append(log, kernelLine(drop(0)) + "old line, before we started\n");
    let daemon = new DaemonProcess(args);
    await daemon.waitFor(
      () => daemon.stderrLines.some((l) => l.includes("following log file")),
      10_000,
      "start",
    );
    // Without a checkpoint it starts at the end: drop 0 is history.
    await append(
      log,
      kernelLine(drop(1)) + "Nov 25 08:00:00 node-1 sshd[1]: unrelated\n" + kernelLine(drop(2)),
    );
    await daemon.waitFor(() => daemon.json().length >= 2, 5_000, "drops 1 and 2");
    assert.deepEqual(daemon.json().map((d) => d.dpt), [1001, 1002]);
    assert.equal(daemon.json()[0].src, "10.244.2.20");
    const stopped = await daemon.stop("SIGTERM");
    assert.equal(stopped.code, 0);
    assert.ok(stopped.ms < 2000, `exit within 2 s, took ${stopped.ms.toFixed(0)} ms`);
    const checkpoints = [...Deno.readDirSync(dir)].filter((e) =>
      e.name.startsWith("file-") && e.name.endsWith(".json")
    );
    assert.equal(checkpoints.length, 1, "checkpoint written");

    // While stopped, more drops arrive; the restart prints exactly those.
    await append(log, kernelLine(drop(3)) + kernelLine(drop(4)));
    daemon = new DaemonProcess(args);
    await daemon.waitFor(() => daemon.json().length >= 2, 10_000, "drops 3 and 4");
    await append(log, kernelLine(drop(5)));
    await daemon.waitFor(() => daemon.json().length >= 3, 5_000, "drop 5");
    const second = await daemon.stop("SIGINT");
    assert.equal(second.code, 0);
    assert.deepEqual(daemon.json().map((d) => d.dpt), [1003, 1004, 1005]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dry-run: SIGHUP (the terminal of a run by hand closed) shuts down cleanly too, checkpoint written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-hup-" });
  const log = `${dir}/kern.log`;
  try {
    await append(log, "");
    const daemon = new DaemonProcess(dryRunArgs(log, dir));
    await daemon.waitFor(() => daemon.logged("following log file"), 10_000, "start");
    await append(log, kernelLine(drop(1)));
    await daemon.waitFor(() => daemon.json().length >= 1, 5_000, "drop 1");
    const stopped = await daemon.stop("SIGHUP");
    assert.equal(stopped.code, 0);
    assert.ok(daemon.logged("shutting down signal=SIGHUP"), daemon.stderrLines.join("\n"));
    const saved = [...Deno.readDirSync(dir)].find((e) =>
      e.name.startsWith("file-") && e.name.endsWith(".json")
    );
    assert.ok(saved, "checkpoint written");
    const cursor = JSON.parse(Deno.readTextFileSync(`${dir}/${saved.name}`));
    assert.equal(JSON.stringify(cursor).includes(`"offset":${Deno.statSync(log).size}`), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dry-run: a second process on the same source and state directory exits 2, naming the first; the lock goes with the first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-lock-" });
  const log = `${dir}/kern.log`;
  try {
    await append(log, "");
    const first = new DaemonProcess(dryRunArgs(log, dir));
    await first.waitFor(() => first.logged("following log file"), 10_000, "start");
    // The same file spelled another way is the same source.
    const second = new DaemonProcess(dryRunArgs(`${dir}/./kern.log`, `${dir}/`));
    const exited = await Promise.race([
      second.child.status.then((status) => status.code),
      new Promise<string>((r) => setTimeout(() => r("still running"), 10_000)),
    ]);
    if (exited === "still running") await second.kill();
    assert.equal(exited, 2, second.stderrLines.join("\n"));
    const pid = first.child.pid;
    assert.ok(
      second.logged(`another kube-iptables-tailer (pid ${pid}) follows this source`),
      second.stderrLines.join("\n"),
    );
    // Without the state directory it may run beside the first.
    const beside = new DaemonProcess(dryRunArgs(log, dir).filter((a) => !a.startsWith("--state")));
    await beside.waitFor(() => beside.logged("following log file"), 10_000, "start");
    assert.equal((await beside.stop()).code, 0);
    await first.kill(); // kill -9: the lock goes with the process
    const third = new DaemonProcess(dryRunArgs(log, dir));
    await third.waitFor(
      () => third.logged("resuming at the saved position"),
      10_000,
      "a start after kill -9",
    );
    assert.equal((await third.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dry-run: permissions that grant the log file but not its directory: it runs (polling instead of watching)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-file-only-" });
  const log = `${dir}/kern.log`;
  try {
    await append(log, "");
    const args = dryRunArgs(log, dir).filter((a) => !a.startsWith("--state"));
    const daemon = new DaemonProcess([...args, "--watch-logs-interval-seconds=1"], {}, {
      denoArgs: ["--no-prompt", `--allow-read=${log}`, "--allow-env", "--allow-net", "--allow-sys"],
    });
    await daemon.waitFor(() => daemon.logged("following log file"), 10_000, "start");
    await append(log, kernelLine(drop(1)));
    await daemon.waitFor(() => daemon.json().length >= 1, 5_000, "drop 1 (by polling)");
    assert.equal((await daemon.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dry-run: a reader that stops reading does not hold up SIGTERM; what it did not take comes at the next start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-blocked-" });
  const log = `${dir}/kern.log`;
  const args = dryRunArgs(log, dir, "--repeated-events-interval-minutes=0");
  const count = 2000; // ~700 KB of NDJSON: far more than a pipe holds
  try {
    await append(log, "");
    const blocked = new DaemonProcess(args, {}, { holdStdout: true });
    await blocked.waitFor(() => blocked.logged("following log file"), 10_000, "start");
    let lines = "";
    for (let n = 1; n <= count; n++) lines += kernelLine(drop(n));
    await append(log, lines);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the pipe fills; writes block
    const stopped = await blocked.stop("SIGTERM");
    assert.equal(stopped.code, 0);
    assert.ok(stopped.ms < 2000, `exit within 2 s, took ${stopped.ms.toFixed(0)} ms`);
    assert.ok(blocked.logged("output not delivered at shutdown"), blocked.stderrLines.join("\n"));
    // The pipe may end inside a line: count the whole ones.
    const first = blocked.stdoutLines.filter((l) => l.endsWith("}")).map((l) => JSON.parse(l).id);
    assert.ok(first.length < count, `the pipe took ${first.length} drops`);

    const next = new DaemonProcess(args);
    await next.waitFor(() => next.json().some((d) => d.id === count), 20_000, "the last drop");
    await next.stop("SIGTERM");
    const second = next.json().map((d) => d.id as number);
    // Nothing lost: the second run starts at or before the first drop the reader did not take.
    assert.ok(second[0] <= first.length + 1, `second run starts at ${second[0]}`);
    assert.deepEqual(
      [...new Set([...first, ...second])].sort((a, b) => a - b),
      Array.from({ length: count }, (_, i) => i + 1),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dry-run: a reader that goes away (run --dry-run | head) stops the daemon quietly, status 0; the rest comes at the next start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-head-" });
  const log = `${dir}/kern.log`;
  const args = dryRunArgs(log, dir, "--repeated-events-interval-minutes=0", "--from-start");
  const count = 3000; // ~1 MB of NDJSON: more than a pipe holds
  try {
    let lines = "";
    for (let n = 1; n <= count; n++) lines += kernelLine(drop(n));
    await append(log, lines);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "-A",
        new URL("../../src/main.ts", import.meta.url).pathname,
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.ok(!first.done);
    await reader.cancel(); // like `head` exiting after its lines
    await append(log, kernelLine(drop(count + 1))); // a write after it: EPIPE at the latest
    const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
    assert.equal(status.code, 0, stderr);
    assert.match(stderr, /stdout was closed/);
    assert.doesNotMatch(stderr, /ERROR/);

    const next = new DaemonProcess(args);
    await next.waitFor(() => next.json().some((d) => d.id === count + 1), 20_000, "the last drop");
    await next.stop("SIGTERM");
    const ids = next.json().map((d) => d.id as number);
    assert.equal(ids.at(-1), count + 1, "nothing after the checkpoint was lost");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dry-run: rsyslog's message repeated N times: [ … ] line is N drops, printed once with their count", async () => {
  const { daemon, log, close } = await followLogFile({
    args: ["--dry-run", "--iptables-log-prefix=nft-drop:", "--repeated-events-interval-minutes=0"],
    dirPrefix: "kit-dry-run-repeated-",
  });
  try {
    // 999 999 999 lines would take the dry run minutes and more memory than it has.
    await append(
      log,
      kernelLine(drop(7)) + repeatedLine(drop(7), 999_999_999) + kernelLine(drop(8)),
    );
    await daemon.waitFor(() => daemon.json().length >= 3, 5_000, "three lines");
    assert.deepEqual(
      daemon.json().map((d) => [d.dpt, d.count]),
      [[1007, undefined], [1007, 999_999_999], [1008, undefined]],
    );
    assert.deepEqual(await countsOf(daemon.metricsPort()), {
      parsed: 1_000_000_001,
      handled: { '{src="unknown",dst="unknown"}': 1_000_000_001 },
      expired: 0,
      repeated: 0,
    });
  } finally {
    await close();
  }
});

Deno.test("dry-run: expired and repeated drops are filtered", async () => {
  const run = await followLogFile({
    dirPrefix: "kit-dry-run-",
    args: ["--dry-run", "--iptables-log-prefix=nft-drop:"],
  });
  try {
    const old = new Date(Date.now() - 11 * 60_000);
    await run.append(
      kernelLine(drop(1), old) + kernelLine(drop(2)) + kernelLine(drop(2)) + kernelLine(drop(3)),
    );
    await run.daemon.waitFor(() => run.daemon.json().length >= 2, 5_000, "drops");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(run.daemon.json().map((d) => d.dpt), [1002, 1003]);
    // The skipped old drop is said once in the log (an old log read whole otherwise shows nothing).
    const said = run.daemon.stderrLines.filter((l) => l.includes("PACKET_DROP_EXPIRATION_MINUTES"));
    assert.equal(said.length, 1, run.daemon.stderrLines.join("\n"));
    assert.match(said[0], /time=\S+ src=10\.244\.2\.20/);
    // Each drop counted once, in one outcome: printed drops are the handled ones.
    const counts = await countsOf(run.daemon.metricsPort());
    assert.deepEqual(counts, {
      parsed: 4,
      handled: { '{src="unknown",dst="unknown"}': 2 },
      expired: 1,
      repeated: 1,
    });
    assert.equal((await run.daemon.stop()).code, 0);
  } finally {
    await run.close();
  }
});

Deno.test("dry-run: a kubeconfig given that cannot be used is a warning naming it, and drops are printed without endpoints; no credentials at all is only noted", async () => {
  const broken = await Deno.makeTempFile({ prefix: "kit-dry-run-kubeconfig-" });
  await Deno.writeTextFile(broken, "not: [yaml");
  try {
    for (const [env, level] of [[{ KUBECONFIG: broken }, "WARN"], [{}, "INFO"]] as const) {
      const run = await followLogFile({
        dirPrefix: "kit-dry-run-",
        args: ["--dry-run", "--iptables-log-prefix=nft-drop:"],
        // No in-cluster credentials and no ~/.kube/config: only what the case gives.
        env: { ...env, HOME: "/nonexistent-kit-home" },
      });
      try {
        await run.append(kernelLine(drop(7)));
        await run.daemon.waitFor(() => run.daemon.json().length >= 1, 5_000, "the drop");
        const note = run.daemon.stderrLines.find((l) => l.includes("dry run without Kubernetes"));
        assert.ok(note?.includes(`${level} `), note);
        if (level === "WARN") assert.ok(note?.includes(broken), note);
        assert.equal(run.daemon.json()[0].srcEndpoint, undefined);
      } finally {
        await run.close();
      }
    }
  } finally {
    await Deno.remove(broken);
  }
});

Deno.test("dry-run: with Kubernetes credentials, drops carry their endpoints (no Event is posted)", async () => {
  const { startKubeEmulator } = await import("../support/kube_emulator/mod.ts");
  const api = await startKubeEmulator({});
  api.addPod({ namespace: "data", name: "db-0", podIPs: ["10.244.1.11"], nodeName: "node-2" });
  api.addPod({
    namespace: "kube-system",
    name: "proxy",
    podIPs: ["10.244.2.20"],
    hostNetwork: true,
    nodeName: "node-3",
  });
  const run = await followLogFile({
    dirPrefix: "kit-dry-run-",
    args: ["--dry-run", "--iptables-log-prefix=nft-drop:", `--kubeconfig=${api.kubeconfigPath}`],
    waitForPods: true,
  });
  try {
    await run.append(
      kernelLine(drop(7)) + kernelLine(drop(8).replace("DST=10.244.1.11", "DST=192.0.2.9")),
    );
    await run.daemon.waitFor(() => run.daemon.json().length >= 2, 5_000, "drops");
    const [first, second] = run.daemon.json();
    assert.deepEqual(first.srcEndpoint, { kind: "host", node: "node-3" });
    assert.deepEqual(first.dstEndpoint, {
      kind: "pod",
      namespace: "data",
      name: "db-0",
      node: "node-2",
    });
    assert.deepEqual(second.dstEndpoint, { kind: "external" });
    assert.deepEqual((await countsOf(run.daemon.metricsPort())).handled, {
      '{src="host",dst="data"}': 1,
      '{src="host",dst="external"}': 1,
    });
    assert.equal(
      api.requests.filter((r) => r.method === "POST").length,
      0,
      "dry run posts nothing",
    );
    assert.equal((await run.daemon.stop()).code, 0);
  } finally {
    await run.close();
    await api.close();
  }
});

Deno.test("glog compatibility: --log_dir also writes the log to a file there, -v=2 means debug", async () => {
  const logDir = await Deno.makeTempDir({ prefix: "kit-log-dir-" });
  const run = await followLogFile({
    dirPrefix: "kit-dry-run-",
    args: [
      "--dry-run",
      "--iptables-log-prefix=nft-drop:",
      `--log_dir=${logDir}`,
      "-v=2",
      "--logtostderr",
    ],
  });
  try {
    assert.equal((await run.daemon.stop()).code, 0);
    const written = await Deno.readTextFile(`${logDir}/kube-iptables-tailer.log`);
    assert.match(written, /INFO {2}kube-iptables-tailer started/);
    assert.match(written, /started .*logLevel=debug/, "-v=2 means debug");
    assert.match(written, /INFO {2}stopped/);
  } finally {
    await run.close();
    await Deno.remove(logDir, { recursive: true });
  }
});

Deno.test("glog compatibility: a --log_dir outside the permission set is named as such (no --allow-write hint); the log goes to stderr", async () => {
  const outside = await Deno.makeTempDir({ prefix: "kit-log-dir-outside-" });
  // The production permission set reads logs under /var/log only.
  const log = `/var/log/kit-dry-run-log-dir-${crypto.randomUUID()}.log`;
  await append(log, "");
  const daemon = new DaemonProcess(
    ["run", "--dry-run", `--iptables-log-path=${log}`, "--iptables-log-prefix=nft-drop:"]
      .concat(["--metrics-server-port=0", `--log_dir=${outside}`]),
    {},
    { denoArgs: ["--no-prompt", "-P=daemon"] },
  );
  try {
    await daemon.waitFor(() => daemon.logged("following log file"), 15_000, "start");
    assert.equal((await daemon.stop()).code, 0);
    assert.deepEqual(daemon.stderrLines.filter((l) => l.includes("--log_dir")), [
      `kube-iptables-tailer: cannot write the log to ${outside}/kube-iptables-tailer.log (--log_dir): this program may not write there (outside its permission set; the production set writes only under /var/lib/kube-iptables-tailer); logging to stderr only`,
    ]);
  } finally {
    await daemon.kill();
    await Deno.remove(log);
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("normalPath: one spelling per path, for the checkpoint's name and lock", () => {
  const cases: [string, string][] = [
    ["/run/log/journal/", "/run/log/journal"],
    ["/var/log//kern.log", "/var/log/kern.log"],
    ["/var/log/./kern.log", "/var/log/kern.log"],
    ["/var/log/old/../kern.log", "/var/log/kern.log"],
    ["/..", "/"],
    ["kern.log", "kern.log"],
    ["./logs/../kern.log", "kern.log"],
    ["../kern.log", "../kern.log"],
    ["./", "."],
    ["/dev/kmsg", "/dev/kmsg"],
  ];
  for (const [path, normal] of cases) assert.equal(normalPath(path), normal, path);
});

Deno.test("dry-run: the note of drops handled before the stop applies in the same boot, not after a reboot (kmsg)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-new-boot-" });
  const kmsg = `${dir}/kmsg`;
  const fixture = Deno.readTextFileSync(new URL("../fixtures/kernel/kmsg.txt", import.meta.url));
  await Deno.writeTextFile(kmsg, fixture);
  const args = [
    "run",
    "--dry-run",
    `--kmsg-path=${kmsg}`,
    "--iptables-log-prefix=kube-iptables-tailer:",
    "--metrics-server-port=0",
    `--state-directory=${dir}`,
    "--packet-drop-expiration-minutes=525600",
    "--repeated-events-interval-minutes=0",
  ];
  /** Runs the daemon until it has read the whole fixture; returns the drops it printed. */
  const run = async (extra: string[] = []) => {
    const daemon = new DaemonProcess([...args, ...extra]);
    await daemon.waitFor(() => daemon.logged("reading the kernel log"), 10_000, "start");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await daemon.stop()).code, 0);
    return daemon;
  };
  try {
    const first = await run(["--from-start"]);
    const all = first.json().length;
    assert.ok(all >= 5, first.stderrLines.join("\n"));
    const path = [...Deno.readDirSync(dir)].find((e) =>
      e.name.startsWith("kmsg-") && e.name.endsWith(".json")
    )!.name;
    const saved = JSON.parse(Deno.readTextFileSync(`${dir}/${path}`));
    // As if the stop had left nothing unfinished among all the drops after an earlier position.
    const firstSeq = Number(fixture.split(",")[1]);
    const note = {
      drops: all,
      handled: first.json().map((d) =>
        dropIdentity({ ...d, time: new Date(d.time as string) } as unknown as PacketDrop)
      ),
      parser: JSON.stringify([["kube-iptables-tailer:"], "", 65536]),
    };
    const rewrite = (boot: string) =>
      Deno.writeTextFileSync(
        `${dir}/${path}`,
        JSON.stringify({
          ...saved,
          cursor: { ...saved.cursor, seq: firstSeq - 1, boot },
          replay: note,
        }),
      );

    rewrite(saved.cursor.boot);
    const sameBoot = await run();
    assert.ok(
      sameBoot.logged(`acting on the rest read=${all} handled=${all}`),
      sameBoot.stderrLines.join("\n"),
    );
    assert.equal(sameBoot.json().length, 0, "handled before the stop: passed over");

    rewrite("an-earlier-boot");
    const afterReboot = await run();
    assert.ok(afterReboot.logged("reason=new_boot"), afterReboot.stderrLines.join("\n"));
    assert.equal(afterReboot.json().length, all, "another boot's ring: every drop acted on");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
