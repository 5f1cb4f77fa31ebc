/** The real program as a process: exit codes, one-line errors, --help, --version, parse. */
import assert from "node:assert/strict";
import { OPTIONS } from "../../src/config.ts";
import { VERSION } from "../../src/version.ts";
import { estimateBootTimeMs } from "../../src/sources/kmsg_boot_time.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const FIXTURES = new URL("../fixtures/kernel/", import.meta.url).pathname;

/** Runs the program from source under the production permission set, like `deno task start`. */
export async function runProgram(args: string[], env: Record<string, string> = {}, stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", `--config=${CONFIG}`, "-P=daemon", MAIN, ...args],
    // A program that should have exited but runs on fails the test instead of holding it up.
    signal: AbortSignal.timeout(60_000),
    env: { ...env, NO_COLOR: "1" },
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

function withoutWarnings(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l && !l.includes("experimental feature"));
}

Deno.test("cli: invalid configuration exits 2 with one line naming variable, value, accepted", async () => {
  const r = await runProgram([], {
    IPTABLES_LOG_PATH: "/var/log/x",
    IPTABLES_LOG_PREFIX: "p:",
    POD_IDENTIFIER: "uid",
  });
  assert.equal(r.code, 2);
  assert.deepEqual(withoutWarnings(r.stderr), [
    'kube-iptables-tailer: invalid POD_IDENTIFIER="uid": expected one of namespace, name, label, name_with_namespace',
  ]);
  const none = await runProgram([], { IPTABLES_LOG_PREFIX: "p:" });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no log source/);
});

Deno.test("cli: --help lists every option with its variable and default; --version", async () => {
  const help = await runProgram(["--help"]);
  assert.equal(help.code, 0);
  for (const o of OPTIONS) {
    assert.ok(help.stdout.includes(`--${o.flag}`), o.flag);
    if (o.env) assert.ok(help.stdout.includes(`[${o.env}]`), o.env);
    if (o.default !== undefined && o.kind.type !== "bool") {
      assert.ok(
        help.stdout.includes(`(default: ${o.defaultText ?? o.default})`),
        `default of ${o.flag}`,
      );
    }
  }
  const version = await runProgram(["--version"]);
  assert.equal(version.stdout.trim(), VERSION);
  assert.equal((await runProgram(["version"])).stdout.trim(), VERSION);
});

Deno.test("cli: parse reads stdin under the production permissions and prints NDJSON", async () => {
  const input = Deno.readTextFileSync(`${FIXTURES}kern-rfc3339.log`) +
    "Nov 25 07:58:51 vm sshd[1]: hello\n";
  const r = await runProgram(["parse", "--prefix", "calico-packet:", "-"], {}, input);
  assert.equal(r.code, 0, r.stderr);
  const drops = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(drops.length, 2);
  assert.deepEqual(Object.keys(drops[0]).slice(0, 9), [
    "time",
    "prefix",
    "in",
    "out",
    "src",
    "dst",
    "proto",
    "spt",
    "dpt",
  ]);
  assert.equal(drops[0].time, "2026-11-25T07:58:51.523Z");
  assert.equal(drops[0].dst, "10.244.2.20");
  assert.deepEqual(withoutWarnings(r.stderr), ["lines read: 17, drops: 2, parse errors: 0"]);
});

Deno.test("cli: parse --prefix defaults to IPTABLES_LOG_PREFIX; table format; errors counted", async () => {
  const input = "Nov 25 07:58:51 vm kernel: nft-drop: IN=a OUT=b SRC=1.1.1.1 PROTO=TCP\n" +
    Deno.readTextFileSync(`${FIXTURES}kern-traditional.log`);
  const r = await runProgram(["parse", "--format", "table", "-"], {
    IPTABLES_LOG_PREFIX: "nft-drop:,calico-packet:",
  }, input);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split("\n");
  assert.match(rows[0], /^TIME\s+PREFIX\s+PROTO\s+SOURCE\s+DESTINATION\s+IN\s+OUT$/);
  assert.equal(rows.length, 1 + 5);
  assert.match(
    rows[5],
    /nft-drop:\s+UDP\s+\[fd00:244::11\]:60378\s+\[fd00:244::10\]:5353\s+cali2\s+cali1/,
  );
  assert.deepEqual(withoutWarnings(r.stderr), [
    "lines read: 17, drops: 5, parse errors: 1 (missing_dst=1)",
  ]);
});

Deno.test("cli: parse without any prefix exits 2; a missing file exits 2", async () => {
  const r = await runProgram(["parse", "-"], {}, "");
  assert.equal(r.code, 2);
  assert.deepEqual(withoutWarnings(r.stderr), [
    'kube-iptables-tailer: parse needs the LOG prefix of your drop rules: give --prefix (-p), e.g. "-p calico-drop:", or set IPTABLES_LOG_PREFIX (see parse --help)',
  ]);
  const missing = await runProgram(["parse", "--prefix", "x", "/var/log/does-not-exist.log"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read \/var\/log\/does-not-exist.log/);
  const directory = await runProgram(["parse", "--prefix", "x", "/var/log"]);
  assert.equal(directory.code, 2);
  assert.match(directory.stderr, /cannot read \/var\/log: it is a directory/);
});

Deno.test("cli: parse --help shows parse's own options, not the daemon's list", async () => {
  for (const args of [["parse", "--help"], ["parse", "-h"]]) {
    const help = await runProgram(args);
    assert.equal(help.code, 0, help.stderr);
    const text = help.stdout;
    assert.match(
      text,
      /^Usage: kube-iptables-tailer parse \[--prefix P\]\.\.\. \[--format ndjson\|table\] \[--boot-time T\] \[FILE\|-\]\.\.\.\n/,
    );
    for (
      const option of ["-p, --prefix=P", "--format=ndjson|table", "--boot-time=T", "-h, --help"]
    ) {
      assert.ok(text.includes(`\n  ${option}`), option);
    }
    // The daemon's options parse reads are listed; the others are not, but pointed to.
    assert.ok(text.includes("--packet-drop-log-time-layout=VALUE  [PACKET_DROP_LOG_TIME_LAYOUT]"));
    assert.ok(text.includes("--max-line-bytes=VALUE  [MAX_LINE_BYTES]  (default: 65536)"));
    for (const daemonOnly of ["--kube-api-qps", "--metrics-server-port", "--dry-run"]) {
      assert.ok(!text.includes(daemonOnly), daemonOnly);
    }
    assert.match(text, /see `kube-iptables-tailer run --help`/);
  }
  // The general help names several files and points to it.
  const general = await runProgram(["--help"]);
  assert.match(general.stdout, /\[FILE\|-\]\.\.\.\n.*see parse --help/s);
});

Deno.test("cli: parse of a file outside the permission set says so and suggests stdin (no --allow-read hint)", async () => {
  const file = await Deno.makeTempFile({ prefix: "kit-cli-outside-", suffix: ".log" });
  try {
    const r = await runProgram(["parse", "-p", "calico-packet:", file]);
    assert.equal(r.code, 2);
    assert.deepEqual(withoutWarnings(r.stderr), [
      `kube-iptables-tailer: cannot read ${file}: Requires read access to "${file}": it is outside what this program may read (its permission set allows /var/log and a few other directories); give it on stdin instead: kube-iptables-tailer parse ... - < ${file}`,
    ]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("cli: parse of a kmsg dump dates records from --boot-time", async () => {
  const input = Deno.readTextFileSync(`${FIXTURES}kmsg.txt`);
  const r = await runProgram(
    ["parse", "-p", "calico-packet:", "--boot-time", "2026-11-25T07:54:16.830Z", "-"],
    {},
    input,
  );
  assert.equal(r.code, 0, r.stderr);
  const times = r.stdout.trim().split("\n").map((l) => JSON.parse(l).time);
  // 254717326 µs and 274690604 µs after boot.
  assert.deepEqual(times, [
    "2026-11-25T07:58:31.547Z",
    "2026-11-25T07:58:32.571Z",
    "2026-11-25T07:58:51.520Z",
    "2026-11-25T07:58:52.539Z",
  ]);
});

Deno.test("cli: parse dates a kmsg record of this boot to the millisecond, without --boot-time", async () => {
  // The true boot time, from /proc/uptime (readable here, not under the production permissions
  // the program runs with: it has only whole-second osUptime).
  const bootMs = estimateBootTimeMs();
  for (let run = 0; run < 2; run++) {
    const usec = Math.round((Date.now() - bootMs) * 1000);
    const record = `4,100,${usec},-;calico-packet: IN=cali1 OUT=cali2 SRC=10.244.1.10 ` +
      "DST=10.244.1.11 LEN=60 PROTO=TCP SPT=35588 DPT=8080 SYN\n";
    const r = await runProgram(["parse", "-p", "calico-packet:", "-"], {}, record);
    assert.equal(r.code, 0, r.stderr);
    const printed = Date.parse(JSON.parse(r.stdout).time);
    const error = printed - (bootMs + Math.floor(usec / 1000));
    assert.ok(Math.abs(error) <= 50, `run ${run}: record time off by ${error} ms`);
  }
});

Deno.test("cli: parse reads journalctl -o short-full's zone abbreviation, never as another zone's time", async () => {
  const fields = "calico-packet: IN=cali1 OUT=cali2 SRC=10.244.1.10 DST=10.244.1.11 LEN=60 " +
    "PROTO=TCP SPT=35588 DPT=8080 SYN";
  const parse = async (tz: string, lines: string[]) => {
    const r = await runProgram(
      ["parse", "-p", "calico-packet:", "-"],
      { TZ: tz },
      lines.map((l) => `${l} vm kernel: ${fields}\n`).join(""),
    );
    assert.equal(r.code, 0, r.stderr);
    const times = r.stdout.split("\n").filter((l) => l).map((l) => JSON.parse(l).time);
    return { times, summary: withoutWarnings(r.stderr).at(-1) };
  };
  // `TZ=Asia/Kolkata journalctl -o short-full -k` read where TZ is Asia/Kolkata, and UTC.
  const kolkata = ["Wed 2026-11-25 22:07:08 IST"];
  assert.deepEqual((await parse("Asia/Kolkata", kolkata)).times, ["2026-11-25T16:37:08.000Z"]);
  const elsewhere = await parse("UTC", kolkata);
  assert.deepEqual(elsewhere.times, []);
  assert.match(elsewhere.summary ?? "", /parse errors: 1 \(invalid_time=1\)/);
  // Central Europe: the hour repeated when summer time ends is told apart by CEST / CET.
  const berlin = await parse("Europe/Berlin", [
    "Sun 2026-10-25 02:30:00 CEST",
    "Sun 2026-10-25 02:30:00 CET",
    "Wed 2026-07-15 12:00:00 CEST",
    "Wed 2026-07-15 12:00:00 CET",
  ]);
  assert.deepEqual(berlin.times, [
    "2026-10-25T00:30:00.000Z",
    "2026-10-25T01:30:00.000Z",
    "2026-07-15T10:00:00.000Z",
  ]);
  assert.match(berlin.summary ?? "", /invalid_time=1/);
  // Moscow: Intl names the zone "GMT+3", so MSK cannot be checked: read as local, as before.
  assert.deepEqual((await parse("Europe/Moscow", ["Wed 2026-11-25 19:37:08 MSK"])).times, [
    "2026-11-25T16:37:08.000Z",
  ]);
});

Deno.test("cli: parse - prints drops while its input is still open (a pipe that is caught up)", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${CONFIG}`,
      "-P=daemon",
      MAIN,
      "parse",
      "-p",
      "calico-packet:",
      "-",
    ],
    env: { NO_COLOR: "1" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(Deno.readFileSync(`${FIXTURES}kern-rfc3339.log`));
  // The input stays open: both drops of the fixture must arrive before it ends.
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), 10_000));
  while (text.split("\n").length < 3) {
    const next = await Promise.race([reader.read(), late]);
    if (next === "late" || next.done) break;
    text += next.value;
  }
  clearTimeout(timer);
  assert.equal(text.split("\n").filter((l) => l).length, 2, `within 10 s: ${text}`);
  await writer.close();
  await reader.cancel();
  assert.equal((await child.status).code, 0);
});

Deno.test("cli: parse stops quietly with status 0 when its reader goes away (parse … | head)", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", `--config=${CONFIG}`, "-P=daemon", MAIN, "parse"]
      .concat(["-p", "calico-packet:", "-p", "kube-iptables-tailer:", "-"]),
    env: { NO_COLOR: "1" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Far more output than a pipe holds: the writes after the reader is gone fail with EPIPE.
  const input = Deno.readTextFileSync(`${FIXTURES}kern-rfc3339.log`).repeat(2000);
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
    } catch {
      // The child may exit before it has read all of its input.
    }
  })();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.length > 0);
  await reader.cancel(); // like `head` exiting after its lines
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
    writing,
  ]);
  assert.equal(status.code, 0);
  assert.deepEqual(withoutWarnings(stderr), []);
});

Deno.test("cli: output to a full disk ends with one line naming it, status 1 (no stack trace)", async () => {
  // (The production permissions read no file here: parse reads the fixture on stdin.)
  for (const args of [["--help"], ["parse", "-p", "calico-packet:", "-"]]) {
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        `c="$1" m="$2" f="$3"; shift 3
        "$0" run --quiet --no-prompt --config="$c" -P=daemon "$m" "$@" > /dev/full < "$f"`,
        Deno.execPath(),
        CONFIG,
        MAIN,
        `${FIXTURES}kern-rfc3339.log`,
        ...args,
      ],
      env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = withoutWarnings(new TextDecoder().decode(out.stderr));
    assert.equal(out.code, 1, `${args.join(" ")}: ${stderr.join("\n")}`);
    assert.deepEqual(stderr, [
      "kube-iptables-tailer: cannot write the output: No space left on device (os error 28)",
    ]);
  }
});

/** `run --dry-run` with `variable`=`value` exits 2 at once with one line: the value, then `said`. */
async function refusedAtStart(variable: string, value: string, said: string): Promise<void> {
  const r = await runProgram(["run", "--dry-run", "--metrics-server-port=0"], {
    [variable]: value,
    IPTABLES_LOG_PREFIX: "drop:",
  });
  assert.equal(r.code, 2, `${variable}: ${r.stderr}`);
  const lines = withoutWarnings(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], new RegExp(`^kube-iptables-tailer: ${variable}="${value}"${said}`));
}

Deno.test("cli: a log source the permission set can never read exits 2 at once, naming it", async () => {
  for (
    const [variable, value] of [
      ["IPTABLES_LOG_PATH", "/tmp/kern.log"],
      ["JOURNAL_DIRECTORY", "/tmp/journal"],
      ["KMSG_PATH", "/dev/kmsg"],
    ]
  ) {
    await refusedAtStart(variable, value, ": .*may not read");
  }
});

Deno.test("cli: a log file or kmsg device that is a directory, or a journal directory that is a file, exits 2 at once", async () => {
  const dir = `/var/log/kit-cli-${crypto.randomUUID()}`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/system.journal`, "");
  try {
    for (
      const [variable, value, said] of [
        ["JOURNAL_DIRECTORY", `${dir}/system.journal`, "is a file, not a directory"],
        ["KMSG_PATH", dir, "is a directory, not the kernel log device"],
        ["IPTABLES_LOG_PATH", dir, "is a directory, not a log file: give the file"],
      ]
    ) {
      await refusedAtStart(variable, value, ` ${said}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a log path in an allowed directory that links outside it exits 2, naming the target", async () => {
  const target = await Deno.makeTempFile({ prefix: "kit-cli-target-" });
  const link = `/var/log/kit-cli-link-${crypto.randomUUID()}.log`;
  await Deno.symlink(target, link);
  try {
    const r = await runProgram(["run", "--dry-run", "--metrics-server-port=0"], {
      IPTABLES_LOG_PATH: link,
      IPTABLES_LOG_PREFIX: "drop:",
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      withoutWarnings(r.stderr)[0],
      new RegExp(`IPTABLES_LOG_PATH="${link}": this program may not read "${target}"`),
    );
  } finally {
    await Deno.remove(link);
    await Deno.remove(target);
  }
});

Deno.test("cli: a kubeconfig the permission set cannot read exits 2 naming it, also in a KUBECONFIG list after a missing file (not skipped as missing)", async () => {
  const outside = await Deno.makeTempFile({ prefix: "kit-cli-kubeconfig-" });
  try {
    for (const KUBECONFIG of [outside, `/etc/kube-iptables-tailer/kit-cli-absent:${outside}`]) {
      const r = await runProgram(["run", "--metrics-server-port=0"], {
        IPTABLES_LOG_PATH: `/var/log/kit-cli-absent-${crypto.randomUUID()}.log`,
        IPTABLES_LOG_PREFIX: "drop:",
        KUBECONFIG,
      });
      assert.equal(r.code, 2, r.stderr);
      assert.deepEqual(withoutWarnings(r.stderr), [
        `kube-iptables-tailer: the kubeconfig "${outside}": this program may not read it ` +
        "(outside its permission set; the production set reads a kubeconfig under " +
        "/etc/kube-iptables-tailer)",
      ]);
    }
  } finally {
    await Deno.remove(outside);
  }
});

Deno.test("cli: a metrics address that is not this host's exits 2, naming METRICS_LISTEN_ADDRESS", async () => {
  const log = `/var/log/kit-cli-${crypto.randomUUID()}.log`;
  await Deno.writeTextFile(log, "");
  try {
    for (
      const [address, shown] of [["192.0.2.1", "192.0.2.1:9"], ["2001:db8::1", "[2001:db8::1]:9"]]
    ) {
      const r = await runProgram(["run", "--dry-run", "--metrics-server-port=9"], {
        IPTABLES_LOG_PATH: log,
        IPTABLES_LOG_PREFIX: "drop:",
        METRICS_LISTEN_ADDRESS: address,
      });
      assert.equal(r.code, 2, r.stderr);
      const said = withoutWarnings(r.stderr).filter((l) => l.startsWith("kube-iptables-tailer:"));
      assert.equal(said.length, 1, r.stderr);
      assert.ok(
        said[0].startsWith(
          `kube-iptables-tailer: cannot listen on ${shown} (METRICS_LISTEN_ADDRESS, METRICS_SERVER_PORT): `,
        ),
        said[0],
      );
    }
  } finally {
    await Deno.remove(log);
  }
});

Deno.test("cli: a kubeconfig or state directory outside the permission set exits 2, saying where they may be (no --allow-read hint)", async () => {
  const outside = await Deno.makeTempDir({ prefix: "kit-cli-outside-" });
  const source = { IPTABLES_LOG_PATH: "/var/log/kit-cli-absent.log", IPTABLES_LOG_PREFIX: "drop:" };
  try {
    const kubeconfig = await runProgram(["run", "--metrics-server-port=0"], {
      ...source,
      KUBECONFIG: `${outside}/config`,
    });
    assert.equal(kubeconfig.code, 2, kubeconfig.stderr);
    assert.deepEqual(withoutWarnings(kubeconfig.stderr), [
      `kube-iptables-tailer: the kubeconfig "${outside}/config": this program may not read it (outside its permission set; the production set reads a kubeconfig under /etc/kube-iptables-tailer)`,
    ]);
    // Outside, and readable but not writable (under /var/log).
    for (const directory of [outside, "/var/log"]) {
      const state = await runProgram(["run", "--dry-run", "--metrics-server-port=0"], {
        ...source,
        STATE_DIRECTORY: directory,
      });
      assert.equal(state.code, 2, state.stderr);
      assert.deepEqual(withoutWarnings(state.stderr), [
        `kube-iptables-tailer: STATE_DIRECTORY="${directory}": this program may not use it (outside its permission set; the production set keeps its state under /var/lib/kube-iptables-tailer)`,
      ]);
    }
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("cli: without credentials, ~/.kube/config is named as outside the permission set, not as unreadable", async () => {
  const home = Deno.env.get("HOME") ?? "/root";
  const r = await runProgram(["run", "--metrics-server-port=0"], {
    IPTABLES_LOG_PATH: "/var/log/kit-cli-absent.log",
    IPTABLES_LOG_PREFIX: "drop:",
    HOME: home,
  });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(withoutWarnings(r.stderr), [
    `kube-iptables-tailer: no Kubernetes API credentials: not in a cluster (KUBERNETES_SERVICE_HOST and the service-account token are missing), no --kubeconfig/KUBECONFIG, and ~/.kube/config (${home}/.kube/config) is outside what this program may read (the production set reads a kubeconfig under /etc/kube-iptables-tailer: copy it there and give --kubeconfig); use --dry-run to run without Kubernetes`,
  ]);
});

Deno.test("cli: a file the kubeconfig names outside the permission set exits 2, naming it (not retried at every request)", async () => {
  // The kubeconfig where the production set reads it (/var/log stands in for
  // /etc/kube-iptables-tailer); its CA and token files elsewhere.
  const dir = `/var/log/kit-cli-${crypto.randomUUID()}`;
  const outside = await Deno.makeTempDir({ prefix: "kit-cli-outside-" });
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${outside}/token`, "t");
  await Deno.writeTextFile(`${outside}/ca.crt`, "");
  const kubeconfig = (user: string, cluster: string) =>
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: "https://127.0.0.1:9"
${cluster}
users:
- name: u
  user:
${user}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`;
  try {
    for (
      const [user, cluster, file] of [
        [`    tokenFile: ${outside}/token`, "", `${outside}/token`],
        ["    token: t", `    certificate-authority: ${outside}/ca.crt`, `${outside}/ca.crt`],
      ]
    ) {
      await Deno.writeTextFile(`${dir}/config`, kubeconfig(user, cluster));
      const r = await runProgram(["run", "--metrics-server-port=0"], {
        IPTABLES_LOG_PATH: "/var/log/kit-cli-absent.log",
        IPTABLES_LOG_PREFIX: "drop:",
        KUBECONFIG: `${dir}/config`,
      });
      assert.equal(r.code, 2, r.stderr);
      assert.deepEqual(withoutWarnings(r.stderr), [
        `kube-iptables-tailer: the kubeconfig names "${file}", which this program may not read (outside its permission set; the production set reads a kubeconfig and the files it names under /etc/kube-iptables-tailer)`,
      ]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("cli: a metrics port already taken exits 2, saying how to choose another", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const r = await runProgram(["run", "--dry-run", `--metrics-server-port=${port}`], {
      IPTABLES_LOG_PATH: "/var/log/kit-cli-absent.log",
      IPTABLES_LOG_PREFIX: "drop:",
      METRICS_LISTEN_ADDRESS: "127.0.0.1",
    });
    assert.equal(r.code, 2, r.stderr);
    const said = withoutWarnings(r.stderr).filter((l) => l.startsWith("kube-iptables-tailer:"));
    assert.equal(said.length, 1, r.stderr);
    assert.match(
      said[0],
      new RegExp(
        `^kube-iptables-tailer: cannot listen on 127\\.0\\.0\\.1:${port} \\(METRICS_LISTEN_ADDRESS, METRICS_SERVER_PORT\\): .*: another process listens there \\(the daemon, for a run beside it\\): give --metrics-server-port another port \\(0: any free one\\)$`,
      ),
    );
  } finally {
    taken.close();
  }
});

Deno.test("cli: a kubeconfig that is not one exits 2, naming the file", async () => {
  const dir = `/var/log/kit-cli-${crypto.randomUUID()}`;
  await Deno.mkdir(dir);
  try {
    for (
      const [text, said] of [
        ["not: [yaml", 'cannot load Kubernetes credentials from kubeconfig "FILE": '],
        ["{}", 'the kubeconfig "FILE" has no current cluster'],
      ]
    ) {
      await Deno.writeTextFile(`${dir}/config`, text);
      const r = await runProgram(["run", "--metrics-server-port=0"], {
        IPTABLES_LOG_PATH: "/var/log/kit-cli-absent.log",
        IPTABLES_LOG_PREFIX: "drop:",
        KUBECONFIG: `${dir}/config`,
      });
      assert.equal(r.code, 2, r.stderr);
      const lines = withoutWarnings(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(
        lines[0].startsWith(`kube-iptables-tailer: ${said.replace("FILE", `${dir}/config`)}`),
        lines[0],
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
