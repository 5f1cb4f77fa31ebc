/**
 * `deno task demo`: the whole program on an embedded default, with no root and no cluster.
 *
 * 1. Starts the Kubernetes API emulator (tests/support/kube_emulator) with Pods whose IPs match
 *    the real kernel lines shipped in tests/fixtures/kernel/.
 * 2. Runs the real daemon on a temporary log file, with narrow Deno permissions.
 * 3. Appends those kernel lines live, as the kernel (through rsyslog) would.
 * 4. Prints each Event as the API server accepts it.
 * 5. Ends with the `kubectl describe pod` view of one Pod (the real kubectl when installed).
 * @module
 */

import { startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { which } from "../support/system.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SAMPLE = `${ROOT}tests/fixtures/kernel/kern-rfc3339.log`;
const bold = (s: string) => (Deno.stdout.isTerminal() ? `\x1b[1m${s}\x1b[0m` : s);

const PODS = [
  {
    namespace: "shop",
    name: "web-1",
    podIPs: ["10.244.1.10", "fd00:244::10"],
    nodeName: "node-1",
    labels: { app: "web" },
  },
  {
    namespace: "shop",
    name: "cart-1",
    podIPs: ["10.244.1.11", "fd00:244::11"],
    nodeName: "node-1",
    labels: { app: "cart" },
  },
  {
    namespace: "data",
    name: "db-0",
    podIPs: ["10.244.2.20", "fd00:244::20"],
    nodeName: "node-2",
    labels: { app: "db" },
  },
];

async function main(): Promise<number> {
  const started = performance.now();
  const api = await startKubeEmulator({ tls: true, token: "demo-token" });
  for (const pod of PODS) api.addPod(pod);
  const dir = await Deno.makeTempDir({ prefix: "kube-iptables-tailer-demo-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  console.log(bold("kube-iptables-tailer demo"));
  console.log(
    `  API emulator   ${api.url} with Pods ${
      PODS.map((p) => `${p.namespace}/${p.name}`).join(", ")
    }`,
  );
  console.log(`  kernel log     ${log}`);

  const prefixes = "kube-iptables-tailer:,calico-packet:,nft-drop:";
  // The other side by its Pod's name ("from web-1 (10.244.1.10)"); the original's default,
  // kept, names its namespace.
  const identifier = "--pod-identifier=name";
  const daemon = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      "--no-prompt",
      `--allow-read=${dir},${api.kubeconfigPath}`,
      "--allow-net",
      "--allow-env",
      "--allow-sys=hostname,osUptime",
      `${ROOT}src/main.ts`,
      "run",
      `--iptables-log-path=${log}`,
      `--iptables-log-prefix=${prefixes}`,
      identifier,
      `--kubeconfig=${api.kubeconfigPath}`,
      "--metrics-server-port=0",
      "--node-name=node-1",
      "--repeated-events-interval-minutes=0",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  console.log(
    `  daemon         kube-iptables-tailer run --iptables-log-path=${log} --iptables-log-prefix=${prefixes} ${identifier}\n`,
  );

  // Wait until the daemon follows the file.
  const decoder = new TextDecoder();
  const stderr: string[] = [];
  const reader = daemon.stderr.getReader();
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stderr.push(...decoder.decode(value).split("\n").filter((l) => l));
    }
  })();
  const deadline = Date.now() + 15_000;
  while (!stderr.some((l) => l.includes("following log file"))) {
    if (Date.now() > deadline) throw new Error(`the daemon did not start:\n${stderr.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  // Feed the sample lines with the current time, as the kernel writes them.
  const lines = Deno.readTextFileSync(SAMPLE).split("\n").filter((l) => l);
  const seen = new Map<string, number>();
  const printNew = () => {
    for (const e of api.events()) {
      const key = `${e.metadata.namespace}/${e.metadata.name}`;
      if (seen.get(key) === e.count) continue;
      seen.set(key, e.count ?? 1);
      const pod = `${e.involvedObject.namespace}/${e.involvedObject.name}`;
      console.log(`  Event  ${pod.padEnd(12)} x${String(e.count).padEnd(2)} ${e.message}`);
    }
  };
  console.log(bold("Kernel log lines appended → Events accepted by the API server:"));
  for (const line of lines) {
    const stamped = line.replace(/^\S+/, new Date().toISOString().replace("Z", "000+00:00"));
    await Deno.writeTextFile(log, stamped + "\n", { append: true });
    const body = line.slice(line.indexOf("] ") + 2);
    console.log(`  kernel ${body.slice(0, 96)}…`);
    await new Promise((r) => setTimeout(r, 250));
    printNew();
  }
  await new Promise((r) => setTimeout(r, 500));
  printNew();

  console.log(bold("\n$ kubectl describe pod -n data db-0   (Events section)"));
  const kubectl = which("kubectl");
  let described = "";
  if (kubectl) {
    const out = await new Deno.Command(kubectl, {
      args: ["--kubeconfig", api.kubeconfigPath, "describe", "pod", "-n", "data", "db-0"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    described = decoder.decode(out.stdout);
  }
  if (described.includes("Events:")) {
    console.log(described.slice(described.indexOf("Events:")).trimEnd());
  } else {
    console.log(renderEvents(api.events("data")));
  }

  daemon.kill("SIGTERM");
  const status = await daemon.status;
  await pump;
  await api.close();
  await Deno.remove(dir, { recursive: true });
  console.log(
    `\nDone in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s; the daemon exited with ${status.code}.`,
  );
  return status.code;
}

/** The Events table as `kubectl describe` prints it (used when kubectl is not installed). */
function renderEvents(
  events: ReturnType<Awaited<ReturnType<typeof startKubeEmulator>>["events"]>,
): string {
  const rows = events.map((e) => {
    const age = `${
      Math.max(0, Math.round((Date.now() - Date.parse(e.lastTimestamp ?? "")) / 1000))
    }s`;
    return [
      "Warning",
      e.reason ?? "",
      (e.count ?? 1) > 1 ? `${age} (x${e.count})` : age,
      e.source?.component ?? "",
      e.message ?? "",
    ];
  });
  const head = [["Type", "Reason", "Age", "From", "Message"], [
    "----",
    "------",
    "----",
    "----",
    "-------",
  ]];
  const all = [...head, ...rows];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...all.map((r) => r[i].length)));
  return "Events:\n" +
    all.map((r) => "  " + r.map((c, i) => (i < 4 ? c.padEnd(widths[i]) : c)).join("  ")).join("\n");
}

if (import.meta.main) Deno.exit(await main());
