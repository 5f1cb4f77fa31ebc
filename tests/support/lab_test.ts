import assert from "node:assert/strict";
import fc from "fast-check";
import { systemTest } from "./system.ts";
import { run } from "./lab/exec.ts";
import { expandIPv6, LAB_ID_SPACE, planLab } from "./lab/plan.ts";
import { dropRuleCommands, TCP4_POD1_TO_POD2, UDP6_POD2_TO_POD3 } from "./lab/rules.ts";
import { TCP_ATTEMPT_SECONDS, trafficScript } from "./lab/traffic.ts";
import { rsyslogConfig } from "./lab/rsyslog.ts";
import { journaldConfig, kernelSeqnumFile } from "./lab/journald.ts";
import { KernelLab, LAB_STATE_DIR, sweepStaleLabs } from "./lab/kernel_lab.ts";
import { type KernelRecord, KmsgTap } from "./lab/kmsg_tap.ts";
import { startRsyslog } from "./lab/rsyslog.ts";
import { startJournald } from "./lab/journald.ts";
import { waitForLines, waitUntil } from "./lab/daemon.ts";
import type { DropRule } from "./lab/rules.ts";
import type { Traffic } from "./lab/traffic.ts";

/** Asserts that `fn` throws an Error whose message contains `text` (any error when omitted). */
function throwsWith(fn: () => unknown, _type?: unknown, text = ""): void {
  assert.throws(fn, (e: unknown) => e instanceof Error && e.message.includes(text));
}

const LAB_NEEDS = ["root", "ip", "iptables", "ip6tables", "nft", "ping", "bash"];

// ---------------------------------------------------------------------------------------------
// Pure parts: names, addresses, rule and traffic commands, daemon configs.

Deno.test("planLab: names fit the kernel's limits and follow the lab id", () => {
  const plan = planLab(0x7fff, {});
  assert.deepEqual(plan.id, "7fff");
  assert.deepEqual(plan.nodeNetns, "kit-7fff-node");
  assert.deepEqual(plan.prefix, "kit-7fff: ");
  assert.deepEqual(plan.pods.map((p) => p.v4), ["10.191.255.10", "10.191.255.11", "10.191.255.12"]);
  assert.deepEqual(plan.pods.map((p) => p.v6), ["fd00:8fff::10", "fd00:8fff::11", "fd00:8fff::12"]);
  assert.deepEqual(plan.pods[2].v6Kernel, "fd00:8fff:0000:0000:0000:0000:0000:0012");
  for (const pod of plan.pods) {
    assert(pod.nodeIf.length <= 15, `${pod.nodeIf} is longer than IFNAMSIZ-1`);
    assert.deepEqual(pod.podIf, "eth0");
  }
  const many = planLab(0, { pods: Array.from({ length: 16 }, (_, i) => `p${i}`) });
  assert(many.pods.every((p) => p.nodeIf.length <= 15));
  assert.deepEqual(planLab(1, { ipv6: false }).pods[0].v6, undefined);
});

Deno.test("planLab: two different ids share no name, address or prefix", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: LAB_ID_SPACE - 1 }),
      fc.integer({ min: 0, max: LAB_ID_SPACE - 1 }),
      (a, b) => {
        fc.pre(a !== b);
        const keys = (n: number) => {
          const p = planLab(n, {});
          return [
            p.nodeNetns,
            p.prefix,
            ...p.pods.flatMap((x) => [x.netns, x.nodeIf, x.v4, x.v6!]),
          ];
        };
        const left = new Set(keys(a));
        return keys(b).every((k) => !left.has(k));
      },
    ),
  );
});

Deno.test("planLab: rejects bad ids, pod names and prefixes", () => {
  throwsWith(() => planLab(LAB_ID_SPACE, {}), Error, "outside");
  throwsWith(() => planLab(1, { pods: ["a"] }), Error, "2..16 pods");
  throwsWith(() => planLab(1, { pods: ["a", "a"] }), Error, "unique");
  throwsWith(() => planLab(1, { pods: ["a", "node"] }), Error, "unique");
  throwsWith(() => planLab(1, { pods: ["a", "B"] }), Error, "[a-z]");
  throwsWith(() => planLab(1, { prefix: "x".repeat(30) }), Error, "1..29");
  throwsWith(() => planLab(1, { prefix: 'a"b' }), Error, "quotes");
});

Deno.test("expandIPv6: prints addresses the way netfilter LOG lines do", () => {
  // The fixtures' own pair: fd00:244::10 is logged as fd00:0244:0000:…:0010.
  assert.deepEqual(expandIPv6("fd00:244::10"), "fd00:0244:0000:0000:0000:0000:0000:0010");
  assert.deepEqual(expandIPv6("::1"), "0000:0000:0000:0000:0000:0000:0000:0001");
  assert.deepEqual(expandIPv6("FE80::"), "fe80:0000:0000:0000:0000:0000:0000:0000");
  assert.deepEqual(expandIPv6("1:2:3:4:5:6:7:8"), "0001:0002:0003:0004:0005:0006:0007:0008");
  throwsWith(() => expandIPv6("1::2::3"), Error, "not an IPv6");
  throwsWith(() => expandIPv6("10.0.0.1"), Error, "not an IPv6");
});

Deno.test("dropRuleCommands: iptables and ip6tables LOG + DROP pairs", () => {
  const plan = planLab(0x2a5, {});
  const [log, drop] = dropRuleCommands(plan, {
    backend: "iptables",
    chain: "FORWARD",
    from: "pod1",
    to: "pod2",
    proto: "tcp",
    dport: 8080,
    logTcpOptions: true,
    logIpOptions: true,
  });
  assert.deepEqual(log.netns, "kit-02a5-node");
  assert.deepEqual(log.args, [
    "-w",
    "5",
    "-A",
    "FORWARD",
    "-s",
    "10.66.165.10",
    "-d",
    "10.66.165.11",
    "-p",
    "tcp",
    "--dport",
    "8080",
    "-j",
    "LOG",
    "--log-prefix",
    "kit-02a5: ",
    "--log-tcp-options",
    "--log-ip-options",
  ]);
  assert.deepEqual(drop.args.slice(-2), ["-j", "DROP"]);
  const [v6] = dropRuleCommands(plan, {
    backend: "ip6tables",
    chain: "OUTPUT-in-pod",
    from: "pod3",
    to: "pod1",
    proto: "icmpv6",
    prefix: "calico-packet: ",
    logUid: true,
  });
  assert.deepEqual(v6.netns, "kit-02a5-pod3");
  assert.deepEqual(v6.program, "ip6tables");
  assert.deepEqual(
    v6.args.join(" "),
    "-w 5 -A OUTPUT -s fd00:12a5::12 -d fd00:12a5::10 -p ipv6-icmp -j LOG --log-prefix calico-packet:  --log-uid",
  );
});

Deno.test("dropRuleCommands: an nft script with log flags", () => {
  const plan = planLab(0x2a5, {});
  const [cmd] = dropRuleCommands(plan, {
    backend: "nftables",
    chain: "FORWARD",
    from: "pod2",
    to: "pod1",
    proto: "udp",
    dport: 5353,
    family: 6,
    logTcpOptions: true,
    logUid: true,
  });
  assert.deepEqual(cmd.program, "nft");
  assert.deepEqual(cmd.args, ["-f", "-"]);
  assert.match(
    cmd.stdin!,
    /add chain inet kitlab lab_forward \{ type filter hook forward priority 0;/,
  );
  assert.match(
    cmd.stdin!,
    /add rule inet kitlab lab_forward ip6 saddr fd00:12a5::11 ip6 daddr fd00:12a5::10 udp dport 5353 log prefix "kit-02a5: " flags tcp options flags skuid drop\n$/,
  );
  const [icmp] = dropRuleCommands(plan, {
    backend: "nftables",
    chain: "OUTPUT-in-pod",
    from: "pod1",
    to: "pod2",
    proto: "icmp",
  });
  assert.deepEqual(icmp.netns, "kit-02a5-pod1");
  assert.match(
    icmp.stdin!,
    /lab_output ip saddr 10\.66\.165\.10 ip daddr 10\.66\.165\.11 meta l4proto icmp log/,
  );
});

Deno.test("dropRuleCommands: rejects inconsistent rules with a reason", () => {
  const plan = planLab(1, {});
  const base: DropRule = {
    backend: "iptables",
    chain: "FORWARD",
    from: "pod1",
    to: "pod2",
    proto: "tcp",
  };
  throwsWith(() => dropRuleCommands(plan, { ...base, proto: "icmpv6" }), Error, "icmpv6 is IPv6");
  throwsWith(
    () => dropRuleCommands(plan, { ...base, backend: "ip6tables", proto: "icmp" }),
    Error,
    "icmp is IPv4",
  );
  throwsWith(
    () => dropRuleCommands(plan, { ...base, proto: "icmp", dport: 1 }),
    Error,
    "dport needs",
  );
  throwsWith(() => dropRuleCommands(plan, { ...base, dport: 70000 }), Error, "not a port");
  throwsWith(() => dropRuleCommands(plan, { ...base, to: "pod9" }), Error, "unknown pod");
  throwsWith(() => dropRuleCommands(plan, { ...base, to: "pod1" }), Error, "same pod");
  throwsWith(
    () => dropRuleCommands(planLab(1, { ipv6: false }), { ...base, backend: "ip6tables" }),
    Error,
    "no IPv6",
  );
});

Deno.test("trafficScript: bounded commands in the sender's namespace", () => {
  const plan = planLab(0x2a5, {});
  const tcp = trafficScript(plan, { from: "pod1", to: "pod2", proto: "tcp", port: 80, count: 3 });
  assert.deepEqual(tcp.netns, "kit-02a5-pod1");
  assert(
    tcp.script.includes(`timeout ${TCP_ATTEMPT_SECONDS} bash -c 'echo > /dev/tcp/10.66.165.11/80'`),
  );
  assert(tcp.script.includes("seq 3"));
  assert(TCP_ATTEMPT_SECONDS < 1, "one attempt must end before the first SYN retransmission");
  const udp6 = trafficScript(plan, { from: "pod1", to: "pod3", proto: "udp", port: 53, family: 6 });
  assert(udp6.script.includes("/dev/udp/fd00:12a5::12/53"));
  const ping6 = trafficScript(plan, { from: "pod2", to: "pod1", proto: "icmpv6", count: 2 });
  assert.match(ping6.script, /ping -6 .* -c 2 .*fd00:12a5::10/);
  throwsWith(() => trafficScript(plan, { from: "pod1", to: "pod2", proto: "icmp", family: 6 }));
  throwsWith(() => trafficScript(plan, { from: "pod1", to: "pod2", proto: "udp", count: 0 }));
  throwsWith(() => trafficScript(plan, { from: "x", to: "pod2", proto: "udp" }));
});

Deno.test("rsyslogConfig: imkmsg keeps kernel records from the start sequence on", () => {
  const conf = rsyslogConfig({ file: "/tmp/k.log", format: "traditional" }, "/tmp/w", 4242);
  assert.match(conf, /module\(load="imkmsg"\)/);
  assert.match(conf, /\$syslogfacility-text == "kern" and cnum\(\$!sequnum\) >= 4242/);
  assert.match(conf, /file="\/tmp\/k\.log" template="RSYSLOG_TraditionalFileFormat"/);
  const klog = rsyslogConfig({ file: "/tmp/k.log", input: "imklog" }, "/tmp/w", 1);
  assert.match(klog, /module\(load="imklog"\)\nkern\.\* action\(.*RSYSLOG_FileFormat/);
});

Deno.test("journald runner: config and kernel-seqnum encoding", () => {
  const conf = journaldConfig({ Compress: "no" });
  assert.match(conf, /^\[Journal\]\nStorage=volatile\n/);
  assert.match(conf, /\nReadKMsg=yes\n/);
  assert.match(conf, /\nCompress=no\n/);
  assert.deepEqual([...kernelSeqnumFile(0x0102)], [2, 1, 0, 0, 0, 0, 0, 0]);
});

// ---------------------------------------------------------------------------------------------
// The real kernel.

interface Case {
  name: string;
  rule: DropRule;
  traffic: Traffic;
  /** What every line of this case must contain. */
  expect: (lab: KernelLab) => RegExp[];
}

function ipsOf(lab: KernelLab, pod: string, family: 4 | 6): string {
  const ips = lab.ips[pod];
  return family === 4 ? ips.v4 : ips.v6Kernel!;
}

function re(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
}

function flow(lab: KernelLab, from: string, to: string, family: 4 | 6): RegExp[] {
  return [re(`SRC=${ipsOf(lab, from, family)} `), re(`DST=${ipsOf(lab, to, family)} `)];
}

function forwardIfs(lab: KernelLab, from: string, to: string): RegExp[] {
  return [
    new RegExp(
      `^\\S+ IN=${lab.pod(from).nodeIf} OUT=${
        lab.pod(to).nodeIf
      } MAC=([0-9a-f]{2}:){13}[0-9a-f]{2} `,
    ),
  ];
}

const CASES: Case[] = [
  {
    name: "iptables FORWARD tcp with tcp options",
    rule: {
      backend: "iptables",
      chain: "FORWARD",
      from: "pod1",
      to: "pod2",
      proto: "tcp",
      dport: 8080,
      logTcpOptions: true,
    },
    traffic: { from: "pod1", to: "pod2", proto: "tcp", port: 8080, count: 2 },
    expect: (lab) => [
      ...forwardIfs(lab, "pod1", "pod2"),
      ...flow(lab, "pod1", "pod2", 4),
      / PROTO=TCP SPT=\d+ DPT=8080 .* SYN URGP=0 OPT \([0-9A-F]+\) $/,
    ],
  },
  {
    name: "iptables FORWARD udp with ip options",
    rule: {
      backend: "iptables",
      chain: "FORWARD",
      from: "pod2",
      to: "pod3",
      proto: "udp",
      dport: 53,
      logIpOptions: true,
    },
    traffic: { from: "pod2", to: "pod3", proto: "udp", port: 53, count: 2 },
    expect: (lab) => [
      ...forwardIfs(lab, "pod2", "pod3"),
      ...flow(lab, "pod2", "pod3", 4),
      / PROTO=UDP SPT=\d+ DPT=53 LEN=\d+ $/,
    ],
  },
  {
    name: "iptables FORWARD icmp",
    rule: { backend: "iptables", chain: "FORWARD", from: "pod3", to: "pod1", proto: "icmp" },
    traffic: { from: "pod3", to: "pod1", proto: "icmp", count: 2 },
    expect: (
      lab,
    ) => [...flow(lab, "pod3", "pod1", 4), / PROTO=ICMP TYPE=8 CODE=0 ID=\d+ SEQ=\d+ $/],
  },
  {
    name: "ip6tables FORWARD tcp",
    rule: {
      backend: "ip6tables",
      chain: "FORWARD",
      from: "pod1",
      to: "pod3",
      proto: "tcp",
      dport: 9090,
    },
    traffic: { from: "pod1", to: "pod3", proto: "tcp", port: 9090, family: 6, count: 1 },
    expect: (lab) => [
      ...forwardIfs(lab, "pod1", "pod3"),
      ...flow(lab, "pod1", "pod3", 6),
      / HOPLIMIT=63 FLOWLBL=\d+ PROTO=TCP SPT=\d+ DPT=9090 /,
    ],
  },
  {
    name: "ip6tables FORWARD icmpv6",
    rule: { backend: "ip6tables", chain: "FORWARD", from: "pod3", to: "pod2", proto: "icmpv6" },
    traffic: { from: "pod3", to: "pod2", proto: "icmpv6", count: 2 },
    expect: (
      lab,
    ) => [...flow(lab, "pod3", "pod2", 6), / PROTO=ICMPv6 TYPE=128 CODE=0 ID=\d+ SEQ=\d+ $/],
  },
  {
    name: "ip6tables FORWARD udp",
    rule: {
      backend: "ip6tables",
      chain: "FORWARD",
      from: "pod2",
      to: "pod1",
      proto: "udp",
      dport: 5353,
    },
    traffic: { from: "pod2", to: "pod1", proto: "udp", port: 5353, family: 6, count: 1 },
    expect: (lab) => [...flow(lab, "pod2", "pod1", 6), / PROTO=UDP SPT=\d+ DPT=5353 LEN=\d+ $/],
  },
  {
    name: "nftables FORWARD tcp (IPv4)",
    rule: {
      backend: "nftables",
      chain: "FORWARD",
      from: "pod3",
      to: "pod2",
      proto: "tcp",
      dport: 6379,
    },
    traffic: { from: "pod3", to: "pod2", proto: "tcp", port: 6379, count: 2 },
    expect: (
      lab,
    ) => [...forwardIfs(lab, "pod3", "pod2"), ...flow(lab, "pod3", "pod2", 4), / DPT=6379 /],
  },
  {
    name: "nftables FORWARD udp (IPv6)",
    rule: {
      backend: "nftables",
      chain: "FORWARD",
      from: "pod2",
      to: "pod1",
      proto: "udp",
      dport: 5354,
      family: 6,
    },
    traffic: { from: "pod2", to: "pod1", proto: "udp", port: 5354, family: 6, count: 1 },
    expect: (lab) => [...flow(lab, "pod2", "pod1", 6), / PROTO=UDP SPT=\d+ DPT=5354 /],
  },
  {
    name: "iptables OUTPUT in the pod, with uid",
    rule: {
      backend: "iptables",
      chain: "OUTPUT-in-pod",
      from: "pod3",
      to: "pod2",
      proto: "tcp",
      dport: 5432,
      logUid: true,
    },
    traffic: { from: "pod3", to: "pod2", proto: "tcp", port: 5432, count: 2 },
    expect: (lab) => [
      /^\S+ IN= OUT=eth0 SRC=/, // no MAC: the packet never left the pod
      ...flow(lab, "pod3", "pod2", 4),
      / DPT=5432 .* UID=0 GID=0 $/,
    ],
  },
  {
    name: "nftables OUTPUT in the pod, icmpv6",
    rule: {
      backend: "nftables",
      chain: "OUTPUT-in-pod",
      from: "pod1",
      to: "pod2",
      proto: "icmpv6",
    },
    traffic: { from: "pod1", to: "pod2", proto: "icmpv6", count: 1 },
    expect: (
      lab,
    ) => [/^\S+ IN= OUT=eth0 SRC=/, ...flow(lab, "pod1", "pod2", 6), / PROTO=ICMPv6 TYPE=128 /],
  },
];

function labLines(tap: KmsgTap, lab: KernelLab): KernelRecord[] {
  tap.poll();
  return tap.records.filter((r) => r.text.startsWith(lab.prefix));
}

systemTest("lab: every backend, chain and protocol logs real lines to /dev/kmsg", {
  needs: LAB_NEEDS,
}, async () => {
  await using lab = await KernelLab.create();
  using tap = KmsgTap.open();
  for (const c of CASES) await lab.dropWithLog(c.rule);
  for (const c of CASES) {
    const before = labLines(tap, lab).length;
    await lab.send(c.traffic);
    const count = c.traffic.count ?? 1;
    await tap.waitFor((r) => r.text.startsWith(lab.prefix), {
      count: before + count,
      timeoutMs: 5000,
    });
    // send() returns after the senders exited: no retransmission can add lines any more.
    const lines = labLines(tap, lab).slice(before);
    assert.deepEqual(lines.length, count, `${c.name}: ${lines.map((l) => l.text).join("\n")}`);
    for (const line of lines) {
      assert.deepEqual(line.facility, 0, `${c.name}: kernel facility`);
      assert.deepEqual(line.level, 4, `${c.name}: LOG's default level is warning`);
      for (const pattern of c.expect(lab)) assert.match(line.text, pattern, c.name);
    }
  }
});

systemTest("lab: two labs at once get their own names, addresses and lines", {
  needs: LAB_NEEDS,
}, async () => {
  const [a, b] = await Promise.all([KernelLab.create(), KernelLab.create()]);
  try {
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.prefix, b.prefix);
    assert.notEqual(a.ips.pod1.v4, b.ips.pod1.v4);
    const names = (await run("ip", ["netns", "list"])).stdout;
    for (const lab of [a, b]) {
      assert(names.includes(lab.nodeNetns));
      for (const pod of lab.pods) assert(names.includes(pod.netns));
    }
    using tap = KmsgTap.open();
    const rule: DropRule = {
      backend: "iptables",
      chain: "FORWARD",
      from: "pod1",
      to: "pod2",
      proto: "udp",
      dport: 53,
    };
    await Promise.all([a.dropWithLog(rule), b.dropWithLog(rule)]);
    await Promise.all([
      a.send({ from: "pod1", to: "pod2", proto: "udp", port: 53, count: 3 }),
      b.send({ from: "pod1", to: "pod2", proto: "udp", port: 53, count: 2 }),
    ]);
    await tap.waitFor((r) => r.text.startsWith(a.prefix), { count: 3 });
    await tap.waitFor((r) => r.text.startsWith(b.prefix), { count: 2 });
    for (const [lab, count] of [[a, 3], [b, 2]] as const) {
      const lines = labLines(tap, lab);
      assert.deepEqual(lines.length, count);
      for (const line of lines) {
        assert(line.text.includes(` SRC=${lab.ips.pod1.v4} DST=${lab.ips.pod2.v4} `), line.text);
        assert(line.text.includes(` IN=${lab.pod("pod1").nodeIf} `), line.text);
      }
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  const after = (await run("ip", ["netns", "list"])).stdout;
  assert(!after.includes(`kit-${a.id}-`) && !after.includes(`kit-${b.id}-`), after);
});

systemTest("lab: close() is idempotent and the lab refuses further use", {
  needs: ["root", "ip"],
}, async () => {
  const lab = await KernelLab.create({ pods: ["web", "db"], ipv6: false, prefix: "lab-close: " });
  assert.deepEqual(lab.prefix, "lab-close: ");
  assert.deepEqual(lab.ips.db.v6, undefined);
  await lab.close();
  await lab.close();
  const names = (await run("ip", ["netns", "list"])).stdout;
  assert(!names.includes(`kit-${lab.id}-`), names);
  await Deno.stat(`${LAB_STATE_DIR}/${lab.id}.pid`).then(
    () => Promise.reject(new Error("pid file left behind")),
    () => {},
  );
  let refused = false;
  await lab.send({ from: "web", to: "db", proto: "udp" }).catch(() => (refused = true));
  assert(refused);
});

systemTest("lab: the namespaces of a dead test process are swept", {
  needs: ["root", "ip"],
}, async () => {
  // A pid that certainly is not running any more: a child that has exited.
  const child = new Deno.Command("true").spawn();
  const deadPid = child.pid;
  await child.status;
  const id = "7ffe";
  await Deno.mkdir(LAB_STATE_DIR, { recursive: true });
  await run("ip", ["netns", "del", `kit-${id}-node`], { allowFailure: true });
  await run("ip", ["netns", "add", `kit-${id}-node`]);
  await Deno.writeTextFile(`${LAB_STATE_DIR}/${id}.pid`, `${deadPid}\n`);
  const removed = await sweepStaleLabs();
  assert(removed.includes(`kit-${id}-node`), `removed: ${removed}`);
  const names = (await run("ip", ["netns", "list"])).stdout;
  assert(!names.includes(`kit-${id}-node`));
});

/** The `[  270.680962]` stamp imklog keeps in front of the message. */
function uptimeStamp(usec: number): string {
  const sec = Math.floor(usec / 1e6).toString().padStart(5, " ");
  return `[${sec}.${String(usec % 1e6).padStart(6, "0")}]`;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d \S+ kernel: /;
const TRADITIONAL = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: /;

for (const input of ["imkmsg", "imklog"] as const) {
  for (const format of ["rfc3339", "traditional"] as const) {
    systemTest(`rsyslog (${input}, ${format}) writes the lab's lines logged after its start`, {
      needs: [...LAB_NEEDS, "rsyslogd", "setpriv"],
    }, async () => {
      await using lab = await KernelLab.create();
      using tap = KmsgTap.open();
      await lab.dropWithLog(TCP4_POD1_TO_POD2);
      await lab.dropWithLog(UDP6_POD2_TO_POD3);
      // Logged before rsyslog starts: must not appear in its file.
      await lab.send({ from: "pod2", to: "pod3", proto: "udp", port: 53, family: 6 });
      const dir = await Deno.makeTempDir();
      try {
        const file = `${dir}/kern.log`;
        await using rs = await startRsyslog({ file, format, input });
        await lab.send({ from: "pod1", to: "pod2", proto: "tcp", port: 8080, count: 2 });
        await lab.send({ from: "pod2", to: "pod3", proto: "udp", port: 53, family: 6, count: 1 });
        const records = await tap.waitFor((r) => r.text.startsWith(lab.prefix), { count: 4 });
        const lines = await waitForLines(file, (l) => l.includes(lab.prefix), { count: 3 });
        await rs.stop();
        const all = (await Deno.readTextFile(file)).split("\n").filter((l) =>
          l.includes(lab.prefix)
        );
        assert.deepEqual(all.length, 3, all.join("\n"));
        // The file's lines are the kernel's records after the logged-before one, in order.
        records.slice(1).forEach((record, i) => {
          const line = lines[i];
          assert.match(line, format === "rfc3339" ? RFC3339 : TRADITIONAL);
          const message = line.slice(line.indexOf(" kernel: ") + " kernel: ".length);
          const expected = input === "imklog"
            ? `${uptimeStamp(record.usec)} ${record.text}`
            : record.text;
          assert.deepEqual(message, expected);
        });
        assert(lines[2].includes(`SRC=${lab.ips.pod2.v6Kernel} DST=${lab.ips.pod3.v6Kernel}`));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
}

systemTest("rsyslog: imkmsg runners in parallel each get every line", {
  needs: [...LAB_NEEDS, "rsyslogd", "setpriv"],
}, async () => {
  await using lab = await KernelLab.create();
  await lab.dropWithLog({
    backend: "nftables",
    chain: "FORWARD",
    from: "pod3",
    to: "pod1",
    proto: "icmp",
  });
  const dir = await Deno.makeTempDir();
  try {
    await using one = await startRsyslog({ file: `${dir}/one.log` });
    await using two = await startRsyslog({ file: `${dir}/two.log`, format: "traditional" });
    await lab.send({ from: "pod3", to: "pod1", proto: "icmp", count: 3 });
    for (const rs of [one, two]) {
      const lines = await waitForLines(rs.file, (l) => l.includes(lab.prefix), { count: 3 });
      assert(lines.every((l) => l.includes(`SRC=${lab.ips.pod3.v4} DST=${lab.ips.pod1.v4}`)));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

systemTest("journald captures the lab's kernel lines (journalctl -D DIR -k)", {
  needs: [...LAB_NEEDS, "unshare", "setpriv", "journalctl", "/lib/systemd/systemd-journald"],
}, async () => {
  await using lab = await KernelLab.create();
  await lab.dropWithLog({
    backend: "iptables",
    chain: "FORWARD",
    from: "pod1",
    to: "pod3",
    proto: "tcp",
    dport: 443,
  });
  await lab.send({ from: "pod1", to: "pod3", proto: "tcp", port: 443 }); // before journald
  const journald = await startJournald();
  let root: string;
  try {
    root = journald.root;
    await lab.send({ from: "pod1", to: "pod3", proto: "tcp", port: 443, count: 2 });
    const lines = await waitUntil("lab lines in the journal", async () => {
      const { stdout } = await run("journalctl", [
        "-D",
        journald.journalDir,
        "-k",
        "-o",
        "cat",
        "--no-pager",
      ]);
      const mine = stdout.split("\n").filter((l) => l.startsWith(lab.prefix));
      return mine.length >= 2 ? mine : undefined;
    });
    assert.deepEqual(lines.length, 2, "only lines logged after journald started");
    for (const line of lines) {
      assert(line.includes(`SRC=${lab.ips.pod1.v4} DST=${lab.ips.pod3.v4} `), line);
      assert.match(line, / DPT=443 /);
    }
    // The fields a journal reader uses: kernel transport, syslog facility 0, priority 4.
    const { stdout } = await run("journalctl", [
      "-D",
      journald.journalDir,
      "-k",
      "-o",
      "json",
      "--no-pager",
    ]);
    const entry = stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l))
      .find((e) => String(e.MESSAGE).startsWith(lab.prefix));
    assert.deepEqual(entry._TRANSPORT, "kernel");
    assert.deepEqual(entry.PRIORITY, "4");
    assert.deepEqual(entry.SYSLOG_FACILITY, "0");
  } finally {
    await journald.stop();
  }
  // No leftovers: the process is gone, and so are its files.
  assert.deepEqual(
    (await run("pgrep", ["-x", "systemd-journal"], { allowFailure: true })).stdout.includes(
      String(journald.pid),
    ),
    false,
  );
  await Deno.stat(root).then(() => Promise.reject(new Error(`${root} left behind`)), () => {});
});

systemTest("a test process that dies leaves no daemon behind", {
  needs: ["root", "rsyslogd", "setpriv"],
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const module = new URL("./lab/rsyslog.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/crash.ts`,
      `import { startRsyslog } from "${module}";
       const rs = await startRsyslog({ file: "${dir}/kern.log" });
       console.log(rs.pid);
       await new Promise(() => setTimeout(() => {}, 60_000)); // never stops it`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${dir}/crash.ts`],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    const pid = Number(value?.trim());
    assert.ok(pid > 0, `rsyslogd pid: ${value}`);
    const alive = () => {
      try {
        return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
      } catch {
        return false;
      }
    };
    assert.ok(alive());
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    await waitUntil("rsyslogd gone after its test process died", () => alive() ? undefined : true);
    // Its files are swept by the next runner.
    const orphans = async () => {
      const found: string[] = [];
      for await (const e of Deno.readDir("/tmp")) {
        if (!e.name.startsWith("kit-rsyslog-")) continue;
        const owner = await Deno.readTextFile(`/tmp/${e.name}/owner`).catch(() => "");
        if (owner.trim() === String(child.pid)) found.push(e.name);
      }
      return found;
    };
    assert.equal((await orphans()).length, 1);
    await (await startRsyslog({ file: `${dir}/next.log` })).stop();
    assert.deepEqual(await orphans(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
