/**
 * The kernel lab: real netfilter LOG lines on demand, and the daemons that put them into the
 * places our sources read (a syslog file, a journal, `/dev/kmsg` itself). Needs root, `ip`,
 * `iptables`/`ip6tables`/`nft`, `ping`, `bash`; rsyslogd and systemd-journald for those runners.
 *
 * The recipe (what {@link KernelLab.create} does):
 * 1. Reserve a lab id (15 bits, random; a pid file in /tmp/kube-iptables-tailer-lab made with
 *    `createNew` is the atomic reservation, and lets later labs sweep the namespaces of a test
 *    process that died). Everything is named after it: namespaces `kit-<id>-node` and
 *    `kit-<id>-<pod>`, node-side veths `kit<id>v<i>`, addresses `10.<64+id/256>.<id%256>.<10+i>`
 *    and `fd00:<0x1000+id>::<10+i>`, LOG prefix `kit-<id>: `. Two labs never collide.
 * 2. `sysctl net.netfilter.nf_log_all_netns=1` (machine-wide, never reset): without it the
 *    kernel drops LOG output from non-initial network namespaces.
 * 3. A "node" namespace with IPv4/IPv6 forwarding, and per pod a namespace joined to it by a
 *    veth pair (`eth0` in the pod). Pods hold a /32 and a /128 and route everything to the node,
 *    Calico style: the node answers ARP by proxy (`proxy_arp=1`, `proxy_delay=0`) and owns
 *    `fe80::1` on each veth; it routes each pod address to its veth. DAD is off (no 1 s wait).
 * 4. Rules ({@link KernelLab.dropWithLog}): LOG then DROP, in the node's FORWARD chain or in the
 *    sender pod's OUTPUT chain (then `IN=` is empty and there is no `MAC=`), with iptables,
 *    ip6tables (both the nf_tables flavour here) or an nft table `inet kitlab`.
 * 5. Traffic ({@link KernelLab.send}) from inside the sender's namespace: bash `/dev/tcp` (one SYN
 *    per attempt, killed before the SYN is retransmitted), `/dev/udp`, `ping`/`ping -6`.
 * 6. `close()` deletes the namespaces, which removes every interface and rule with them.
 *
 * Where the lines go: the kernel log ring buffer, readable without loss by any number of
 * `/dev/kmsg` readers ({@link KmsgTap}, journald, rsyslog imkmsg, the product's kmsg source);
 * {@link startRsyslog} writes them to a file, {@link startJournald} to a journal.
 *
 * @example
 * ```ts
 * await using lab = await KernelLab.create();
 * await lab.dropWithLog({ backend: "iptables", chain: "FORWARD", from: "pod1", to: "pod2", proto: "tcp", dport: 8080 });
 * using tap = KmsgTap.open();
 * await lab.send({ from: "pod1", to: "pod2", proto: "tcp", port: 8080, count: 2 });
 * const records = await tap.waitFor((r) => r.text.startsWith(lab.prefix), { count: 2 });
 * // records[0].text: "kit-02a5: IN=kit02a5v0 OUT=kit02a5v1 MAC=… SRC=10.66.165.10 DST=10.66.165.11 … DPT=8080 …"
 * ```
 * @module
 */

export {
  enableLogInAllNetns,
  KernelLab,
  type KernelLabOptions,
  type PodAddresses,
} from "./kernel_lab.ts";
export { expandIPv6, type PodPlan } from "./plan.ts";
export type { DropRule, LabProto, RuleBackend, RuleChain } from "./rules.ts";
export { TCP4_POD1_TO_POD2, UDP6_POD2_TO_POD3 } from "./rules.ts";
export type { Traffic } from "./traffic.ts";
export { type KernelRecord, KmsgTap, nextKmsgSeq } from "./kmsg_tap.ts";
export {
  type RsyslogFormat,
  type RsyslogOptions,
  type RsyslogRunner,
  startRsyslog,
} from "./rsyslog.ts";
export { type JournaldOptions, type JournaldRunner, startJournald } from "./journald.ts";
export { readTextOrEmpty, waitForLines, waitUntil } from "./daemon.ts";
