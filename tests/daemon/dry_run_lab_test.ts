/**
 * The dry-run daemon on a real kernel: a network-namespace lab with iptables, ip6tables and
 * nftables LOG+DROP rules, rsyslog writing the kernel log to a file, and `run --dry-run`
 * printing each drop on stdout the moment it is read.
 */
import assert from "node:assert/strict";
import { DaemonProcess } from "../support/daemon.ts";
import {
  KernelLab,
  startRsyslog,
  TCP4_POD1_TO_POD2,
  UDP6_POD2_TO_POD3,
} from "../support/lab/mod.ts";
import { systemTest } from "../support/system.ts";

systemTest(
  "dry-run on a real kernel: lab drops → rsyslog file → NDJSON on stdout",
  { needs: ["root", "ip", "iptables", "ip6tables", "nft", "rsyslogd", "ping"] },
  async () => {
    await using lab = await KernelLab.create();
    const dir = await Deno.makeTempDir({ prefix: "kit-dry-run-lab-" });
    const log = `${dir}/kern.log`;
    const rsyslog = await startRsyslog({ file: log, format: "rfc3339" });
    let daemon: DaemonProcess | undefined;
    try {
      await lab.dropWithLog(TCP4_POD1_TO_POD2);
      await lab.dropWithLog(UDP6_POD2_TO_POD3);
      await lab.dropWithLog({
        backend: "nftables",
        chain: "FORWARD",
        from: "pod3",
        to: "pod1",
        proto: "icmp",
      });
      daemon = new DaemonProcess([
        "run",
        "--dry-run",
        `--iptables-log-path=${log}`,
        `--iptables-log-prefix=${lab.prefix}`,
        "--metrics-server-port=0",
        "--repeated-events-interval-minutes=0",
      ]);
      await daemon.waitFor(
        () => daemon!.stderrLines.some((l) => /following log file|log file does not exist/.test(l)),
        15_000,
        "the daemon to follow the file",
      );
      const started = performance.now();
      await lab.send({ from: "pod1", to: "pod2", proto: "tcp", port: 8080, count: 2 });
      await lab.send({ from: "pod2", to: "pod3", proto: "udp", port: 53, family: 6, count: 1 });
      await lab.send({ from: "pod3", to: "pod1", proto: "icmp", count: 1 });
      await daemon.waitFor(() => daemon!.json().length >= 4, 15_000, "four drops on stdout");
      const seconds = (performance.now() - started) / 1000;
      const drops = daemon.json();
      const summary = drops.map((d) =>
        `${d.proto} ${d.src} → ${d.dst} ${d.dpt ?? `type ${d.icmpType}`}`
      );
      console.log(
        `held: ${drops.length} real kernel drops printed within ${seconds.toFixed(2)} s: ${
          summary.join("; ")
        }`,
      );
      const ips = lab.ips;
      const tcp = drops.filter((d) => d.proto === "TCP");
      assert.equal(tcp.length, 2);
      for (const d of tcp) {
        assert.deepEqual([d.src, d.dst, d.dpt, d.prefix], [
          ips.pod1.v4,
          ips.pod2.v4,
          8080,
          lab.prefix.trim(),
        ]);
      }
      const udp = drops.filter((d) => d.proto === "UDP");
      assert.equal(udp.length, 1);
      assert.deepEqual([udp[0].src, udp[0].dst, udp[0].dpt, udp[0].family], [
        ips.pod2.v6,
        ips.pod3.v6,
        53,
        6,
      ]);
      const icmp = drops.filter((d) => d.proto === "ICMP");
      assert.equal(icmp.length, 1);
      assert.deepEqual([icmp[0].src, icmp[0].dst, icmp[0].icmpType, icmp[0].icmpCode], [
        ips.pod3.v4,
        ips.pod1.v4,
        8,
        0,
      ]);
      assert.equal(drops.length, 4, "nothing else, nothing twice");
      // The times are the kernel's (rsyslog's header), close to now.
      for (const d of drops) assert.ok(Math.abs(Date.parse(String(d.time)) - Date.now()) < 60_000);
      assert.equal((await daemon.stop()).code, 0);
      daemon = undefined;
    } finally {
      await daemon?.kill();
      await rsyslog.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
