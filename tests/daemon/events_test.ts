/**
 * The daemon on a log file against the API emulator: drops become Events on the right Pods,
 * repeats become count updates, a flood stays within the API limits, and the real kubectl shows
 * the Events.
 */
import assert from "node:assert/strict";
import { type DaemonProcess, followLogFile, kernelLine, repeatedLine } from "../support/daemon.ts";
import { type KubeEmulator, startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { startDnsmasq } from "../support/dnsmasq.ts";
import { systemTest, which } from "../support/system.ts";

const WEB = "10.244.1.10";
const DB = "10.244.1.11";

function tcpDrop(src: string, dst: string, dpt: number, prefix = "calico-packet:"): string {
  return `${prefix} IN=cali1 OUT=cali2 SRC=${src} DST=${dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=40000 DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `;
}

interface Setup {
  api: KubeEmulator;
  dir: string;
  log: string;
  daemon: DaemonProcess;
  cleanup: () => Promise<void>;
}

async function setup(extraArgs: string[] = [], env: Record<string, string> = {}): Promise<Setup> {
  // TLS: kubectl sends a bearer token only over HTTPS.
  const api = await startKubeEmulator({ tls: true, token: "t0ken" });
  api.addPod({
    namespace: "shop",
    name: "web-1",
    podIPs: [WEB, "fd00:244::10"],
    nodeName: "node-1",
  });
  api.addPod({ namespace: "data", name: "db-0", podIPs: [DB], nodeName: "node-2" });
  api.addPod({
    namespace: "kube-system",
    name: "kube-proxy-x",
    podIPs: ["192.168.0.5"],
    hostNetwork: true,
    nodeName: "node-5",
  });
  const { dir, log, daemon, close } = await followLogFile({
    dirPrefix: "kit-events-",
    args: [
      "--iptables-log-prefix=calico-packet:",
      `--kubeconfig=${api.kubeconfigPath}`,
      "--node-name=node-1",
      ...extraArgs,
    ],
    env,
    waitForPods: true,
  });
  return {
    api,
    dir,
    log,
    daemon,
    cleanup: async () => {
      await close();
      await api.close();
    },
  };
}

async function waitUntil(
  what: string,
  predicate: () => boolean,
  timeoutMs: number,
  daemon?: DaemonProcess,
) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out: ${what}\n${daemon?.stderrLines.slice(-15).join("\n") ?? ""}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

// How fast is measured by the latency benchmark (tests/bench/daemon_bench.ts), not here.
Deno.test("events: a drop becomes an Event on each Pod; a repeat after the interval updates the count", async () => {
  const s = await setup(["--repeated-events-interval-minutes=1"]);
  try {
    const first = new Date(Date.now() - 70_000);
    await Deno.writeTextFile(s.log, kernelLine(tcpDrop(WEB, DB, 5432), first), { append: true });
    await waitUntil("two events", () => s.api.events().length === 2, 5_000, s.daemon);
    const sender = s.api.events("shop")[0];
    const receiver = s.api.events("data")[0];
    assert.equal(
      sender.message,
      "Packet dropped when sending traffic to data (10.244.1.11) on port 5432/TCP",
    );
    assert.equal(
      receiver.message,
      "Packet dropped when receiving traffic from shop (10.244.1.10) on port 5432/TCP",
    );
    assert.equal(sender.involvedObject.name, "web-1");
    assert.equal(receiver.involvedObject.name, "db-0");
    for (const e of [sender, receiver]) {
      assert.equal(e.type, "Warning");
      assert.equal(e.reason, "PacketDrop");
      assert.equal(e.source?.component, "kube-iptables-tailer");
      assert.equal(e.source?.host, "node-1");
      assert.equal(e.count, 1);
    }
    // The same drop within the interval (by log time) is a repeat: nothing new.
    await Deno.writeTextFile(
      s.log,
      kernelLine(tcpDrop(WEB, DB, 5432), new Date(first.getTime() + 30_000)),
      { append: true },
    );
    // After the interval: the count goes up by PATCH.
    await Deno.writeTextFile(s.log, kernelLine(tcpDrop(WEB, DB, 5432)), { append: true });
    await waitUntil("count 2", () => s.api.events().every((e) => e.count === 2), 5_000, s.daemon);
    assert.equal(s.api.events().length, 2);
    const patches = s.api.requests.filter((r) =>
      r.method === "PATCH" && r.path.includes("/events/")
    );
    assert.equal(patches.length, 2);
    // A host-network Pod and an external IP get no Event, but the other side does.
    await Deno.writeTextFile(
      s.log,
      kernelLine(tcpDrop("192.168.0.5", WEB, 8080)) + kernelLine(tcpDrop(WEB, "192.0.2.7", 443)),
      { append: true },
    );
    await waitUntil("two more events", () => s.api.events().length === 4, 5_000, s.daemon);
    const messages = s.api.events("shop").map((e) => e.message).sort();
    assert.deepEqual(messages, [
      "Packet dropped when receiving traffic from node-5 (192.168.0.5) on port 8080/TCP",
      "Packet dropped when sending traffic to 192.0.2.7 on port 443/TCP",
      "Packet dropped when sending traffic to data (10.244.1.11) on port 5432/TCP",
    ]);
    assert.equal(s.api.events("kube-system").length, 0, "no Event on a host-network Pod");
  } finally {
    await s.cleanup();
  }
});

Deno.test("events: rsyslog's message repeated N times: [ … ] counts N more drops on the Events", async () => {
  const s = await setup(["--repeated-events-interval-minutes=0"]);
  try {
    const body = tcpDrop(WEB, DB, 5432);
    await Deno.writeTextFile(s.log, kernelLine(body) + repeatedLine(body, 2), { append: true });
    await waitUntil(
      "count 3",
      () => {
        const events = s.api.events();
        return events.length === 2 && events.every((e) => e.count === 3);
      },
      5_000,
      s.daemon,
    );
  } finally {
    await s.cleanup();
  }
});

Deno.test("events: a flood stays within the client-side rate limit; every drop is counted", async () => {
  const s = await setup([
    "--kube-api-qps=5",
    "--kube-api-burst=10",
    "--repeated-events-interval-minutes=0",
  ]);
  try {
    const lines: string[] = [];
    for (let i = 0; i < 500; i++) lines.push(kernelLine(tcpDrop(WEB, DB, 1000 + i)));
    s.api.clearRequests();
    const start = Date.now();
    await Deno.writeTextFile(s.log, lines.join(""), { append: true });
    const port = s.daemon.metricsPort();
    const countedSoFar = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return [...text.matchAll(/^packet_drops_count\{[^}]*\} (\d+)/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    };
    const deadline = Date.now() + 10_000;
    while ((await countedSoFar()) < 500 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1000)); // let the rate limiter show its pace
    const posts = s.api.requests.filter((r) => r.method === "POST" && r.startedAt >= start);
    const elapsed = (Date.now() - start) / 1000;
    assert.ok(posts.length >= 10, `some events were posted: ${posts.length}`);
    assert.ok(
      posts.length <= 10 + Math.ceil(5 * elapsed) + 1,
      `${posts.length} posts in ${elapsed.toFixed(1)} s with QPS 5 burst 10`,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const counted = [...metrics.matchAll(/^packet_drops_count\{src="shop",dst="data"\} (\d+)/gm)]
      .map((m) => Number(m[1]));
    assert.deepEqual(counted, [500], "every drop counted, shed Events or not");
    assert.match(metrics, /kube_iptables_tailer_drops_skipped_total\{reason="shed"\} [1-9]/);
  } finally {
    await s.cleanup();
  }
});

systemTest("events: the real kubectl describe pod shows the PacketDrop Events", {
  needs: ["kubectl"],
}, async () => {
  const s = await setup();
  try {
    await Deno.writeTextFile(s.log, kernelLine(tcpDrop(WEB, DB, 5432)), { append: true });
    await waitUntil("events", () => s.api.events().length === 2, 5_000, s.daemon);
    const out = await new Deno.Command(which("kubectl")!, {
      args: ["--kubeconfig", s.api.kubeconfigPath, "describe", "pod", "-n", "data", "db-0"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const events = text.slice(text.indexOf("Events:"));
    assert.match(events, /Type\s+Reason\s+Age\s+From\s+Message/);
    assert.match(
      events,
      /Warning\s+PacketDrop\s+\S+\s+kube-iptables-tailer\s+Packet dropped when receiving traffic from shop \(10\.244\.1\.10\) on port 5432\/TCP/,
    );
  } finally {
    await s.cleanup();
  }
});

systemTest("events: an external IP is named by a real DNS server's PTR record", {
  needs: ["dnsmasq"],
}, async () => {
  await using dnsmasq = await startDnsmasq({ "192.0.2.7": "api.partner.example" });
  const s = await setup([`--dns-server=127.0.0.1:${dnsmasq.port}`]);
  try {
    // dnsmasq answers before the daemon starts: the first Event already has the name.
    await Deno.writeTextFile(s.log, kernelLine(tcpDrop(WEB, "192.0.2.7", 4000)), { append: true });
    await waitUntil("the Event", () => s.api.events("shop").length === 1, 5_000, s.daemon);
    const [event] = s.api.events("shop");
    assert.match(
      event.message!,
      /^Packet dropped when sending traffic to api\.partner\.example \(192\.0\.2\.7\) on port \d+\/TCP$/,
    );
  } finally {
    await s.cleanup();
  }
});
