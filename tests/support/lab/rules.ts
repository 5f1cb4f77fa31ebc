/**
 * LOG + DROP rules of a kernel lab as the commands that install them (iptables, ip6tables or an
 * `nft -f -` script), built without I/O so the syntax is unit-tested.
 *
 * @example
 * ```ts
 * const cmds = dropRuleCommands(plan, {
 *   backend: "iptables", chain: "FORWARD", from: "pod1", to: "pod2", proto: "tcp", dport: 8080,
 * });
 * // [{ netns: "kit-02a5-node", program: "iptables", args: ["-w", "5", "-A", "FORWARD", …, "-j", "LOG", …] }, …]
 * ```
 * @module
 */

import { checkPrefix, type LabPlan, type PodPlan } from "./plan.ts";

/** Which tool installs the rule. */
export type RuleBackend = "iptables" | "ip6tables" | "nftables";
/** `FORWARD` in the node namespace, or `OUTPUT-in-pod`: the sender pod's own OUTPUT chain. */
export type RuleChain = "FORWARD" | "OUTPUT-in-pod";
/** Protocols the lab matches and sends. */
export type LabProto = "tcp" | "udp" | "icmp" | "icmpv6";

/** A LOG + DROP rule pair. */
export interface DropRule {
  backend: RuleBackend;
  chain: RuleChain;
  /** Sender pod name. */
  from: string;
  /** Receiver pod name. */
  to: string;
  proto: LabProto;
  /** Destination port (tcp/udp only); without it every port matches. */
  dport?: number;
  /** LOG prefix; defaults to the lab's unique prefix. */
  prefix?: string;
  /** IP family for nftables rules (iptables is 4, ip6tables is 6); default 6 for icmpv6, else 4. */
  family?: 4 | 6;
  /** `--log-tcp-options` / nft `flags tcp options`: adds `OPT (…)` to TCP lines. */
  logTcpOptions?: boolean;
  /** `--log-ip-options` / nft `flags ip options`. */
  logIpOptions?: boolean;
  /** `--log-uid` / nft `flags skuid`: adds `UID= GID=` (only for locally generated packets). */
  logUid?: boolean;
}

/** The lab tests' usual pair: TCP over IPv4 from pod1 to pod2:8080 (iptables). */
export const TCP4_POD1_TO_POD2: DropRule = {
  backend: "iptables",
  chain: "FORWARD",
  from: "pod1",
  to: "pod2",
  proto: "tcp",
  dport: 8080,
};

/** … and UDP over IPv6 from pod2 to pod3:53 (ip6tables). */
export const UDP6_POD2_TO_POD3: DropRule = {
  backend: "ip6tables",
  chain: "FORWARD",
  from: "pod2",
  to: "pod3",
  proto: "udp",
  dport: 53,
};

/** One command that installs (part of) a rule. */
export interface RuleCommand {
  netns: string;
  program: "iptables" | "ip6tables" | "nft";
  args: string[];
  /** The nft script, for `nft -f -`. */
  stdin?: string;
}

/** The nftables table every lab namespace gets for nft rules. */
export const NFT_TABLE = "kitlab";

function pod(plan: LabPlan, name: string): PodPlan {
  const found = plan.pods.find((p) => p.name === name);
  if (!found) {
    throw new Error(
      `unknown pod ${JSON.stringify(name)}; this lab has ${
        plan.pods.map((p) => p.name).join(", ")
      }`,
    );
  }
  return found;
}

/** The family a rule matches. */
export function ruleFamily(rule: DropRule): 4 | 6 {
  if (rule.backend === "iptables") return 4;
  if (rule.backend === "ip6tables") return 6;
  return rule.family ?? (rule.proto === "icmpv6" ? 6 : 4);
}

function address(p: PodPlan, family: 4 | 6): string {
  if (family === 4) return p.v4;
  if (!p.v6) throw new Error(`pod ${p.name} has no IPv6 address (lab created with ipv6: false)`);
  return p.v6;
}

function validate(rule: DropRule, family: 4 | 6): void {
  if (rule.proto === "icmp" && family === 6) {
    throw new Error("proto icmp is IPv4; use icmpv6 for IPv6 rules");
  }
  if (rule.proto === "icmpv6" && family === 4) {
    throw new Error("proto icmpv6 is IPv6; use icmp for IPv4 rules");
  }
  if (rule.dport !== undefined) {
    if (rule.proto !== "tcp" && rule.proto !== "udp") {
      throw new Error(`dport needs tcp or udp, not ${rule.proto}`);
    }
    if (!Number.isInteger(rule.dport) || rule.dport < 1 || rule.dport > 65535) {
      throw new Error(`dport ${rule.dport} is not a port number`);
    }
  }
  if (rule.from === rule.to) throw new Error(`from and to are the same pod (${rule.from})`);
}

/** The commands that add `rule` to the lab described by `plan`. */
export function dropRuleCommands(plan: LabPlan, rule: DropRule): RuleCommand[] {
  const family = ruleFamily(rule);
  validate(rule, family);
  const from = pod(plan, rule.from);
  const to = pod(plan, rule.to);
  const prefix = checkPrefix(rule.prefix ?? plan.prefix);
  const src = address(from, family);
  const dst = address(to, family);
  const netns = rule.chain === "FORWARD" ? plan.nodeNetns : from.netns;
  const hook = rule.chain === "FORWARD" ? "FORWARD" : "OUTPUT";

  if (rule.backend !== "nftables") {
    const proto = rule.proto === "icmpv6" ? "ipv6-icmp" : rule.proto;
    const match = ["-A", hook, "-s", src, "-d", dst, "-p", proto];
    if (rule.dport !== undefined) match.push("--dport", String(rule.dport));
    const log = ["-j", "LOG", "--log-prefix", prefix];
    if (rule.logTcpOptions) log.push("--log-tcp-options");
    if (rule.logIpOptions) log.push("--log-ip-options");
    if (rule.logUid) log.push("--log-uid");
    // -w: the xtables lock file is shared by all namespaces; wait for it instead of failing.
    return [
      { netns, program: rule.backend, args: ["-w", "5", ...match, ...log] },
      { netns, program: rule.backend, args: ["-w", "5", ...match, "-j", "DROP"] },
    ];
  }

  const chain = rule.chain === "FORWARD" ? "lab_forward" : "lab_output";
  const nftHook = rule.chain === "FORWARD" ? "forward" : "output";
  const ip = family === 4 ? "ip" : "ip6";
  const l4 = rule.proto === "icmpv6" ? "ipv6-icmp" : rule.proto;
  const match = rule.dport !== undefined
    ? `${rule.proto} dport ${rule.dport}`
    : `meta l4proto ${l4}`;
  let flags = "";
  if (rule.logTcpOptions) flags += " flags tcp options";
  if (rule.logIpOptions) flags += " flags ip options";
  if (rule.logUid) flags += " flags skuid";
  const script = [
    `add table inet ${NFT_TABLE}`,
    `add chain inet ${NFT_TABLE} ${chain} { type filter hook ${nftHook} priority 0; policy accept; }`,
    `add rule inet ${NFT_TABLE} ${chain} ${ip} saddr ${src} ${ip} daddr ${dst} ${match} ` +
    `log prefix "${prefix}"${flags} drop`,
  ].join("\n") + "\n";
  return [{ netns, program: "nft", args: ["-f", "-"], stdin: script }];
}
