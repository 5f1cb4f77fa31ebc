/**
 * Test traffic between lab pods as a bash script run inside the sender's namespace: bash
 * `/dev/tcp` and `/dev/udp` redirections and `ping`, each bounded so a dropped packet never
 * hangs the caller. Pure: builds the script, runs nothing.
 *
 * One TCP attempt sends exactly one SYN: the attempt is killed after {@link TCP_ATTEMPT_SECONDS},
 * before the kernel's first SYN retransmission (initial RTO 1 s), so `count` attempts to a
 * dropped port give `count` LOG lines.
 * @module
 */

import type { LabProto } from "./rules.ts";
import type { LabPlan } from "./plan.ts";

/** Traffic to send. */
export interface Traffic {
  from: string;
  to: string;
  proto: LabProto;
  /** Destination port (tcp/udp; default 8080). */
  port?: number;
  /** Address family (default 4; icmpv6 implies 6). */
  family?: 4 | 6;
  /** Number of TCP connection attempts, UDP datagrams or echo requests (default 1). */
  count?: number;
}

/** How long one TCP attempt may take: long enough to send the SYN, shorter than the 1 s RTO. */
export const TCP_ATTEMPT_SECONDS = 0.6;

/** The namespace and the bash script that sends `traffic`. */
export function trafficScript(plan: LabPlan, traffic: Traffic): { netns: string; script: string } {
  const from = plan.pods.find((p) => p.name === traffic.from);
  const to = plan.pods.find((p) => p.name === traffic.to);
  if (!from || !to) {
    throw new Error(`unknown pod in ${JSON.stringify(traffic)}`);
  }
  const family = traffic.proto === "icmpv6" ? 6 : traffic.family ?? 4;
  if (traffic.proto === "icmp" && family === 6) throw new Error("icmp is IPv4; use icmpv6");
  const ip = family === 4 ? to.v4 : to.v6;
  if (!ip) throw new Error(`pod ${to.name} has no IPv6 address`);
  const count = traffic.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new Error(`count ${count} must be an integer in 1..1000`);
  }
  const port = traffic.port ?? 8080;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port ${port} is not a port number`);
  }
  let script: string;
  switch (traffic.proto) {
    case "tcp":
      // Parallel attempts: the whole call takes one attempt's time, whatever the count.
      script = `for i in $(seq ${count}); do ` +
        `timeout ${TCP_ATTEMPT_SECONDS} bash -c 'echo > /dev/tcp/${ip}/${port}' 2>/dev/null & ` +
        `done; wait; exit 0`;
      break;
    case "udp":
      // A drop in the sender's own OUTPUT chain fails the write (EPERM): that is expected.
      script = `for i in $(seq ${count}); do ` +
        `echo "lab $i" > /dev/udp/${ip}/${port} 2>/dev/null; done; exit 0`;
      break;
    case "icmp":
    case "icmpv6":
      script = `timeout ${2 + count * 0.05} ping -${family} -n -q -c ${count} -i 0.02 -W 0.2 ` +
        `${ip} >/dev/null 2>&1; exit 0`;
      break;
  }
  return { netns: from.netns, script };
}
