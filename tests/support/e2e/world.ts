/**
 * The world of an end-to-end test: a kernel lab (a "node" namespace routing between three pod
 * namespaces, dual stack) with LOG + DROP rules made by iptables, ip6tables and nftables; the
 * Kubernetes API emulator holding one Pod per lab pod with exactly the lab's addresses; and a
 * {@link KmsgTap} that counts every LOG record the kernel writes for this lab, which is the
 * measure of what the daemon must report.
 *
 * @example
 * ```ts
 * await using world = await E2eWorld.create({ kubeconfigPath, twoPrefixes: true });
 * const round = await world.sendRound({ tcp4: 2, icmp4: 3 });
 * await world.waitForEvents(daemon);  // every count exact, or a readable diff
 * ```
 * @module
 */

import { KernelLab } from "../lab/kernel_lab.ts";
import { KmsgTap } from "../lab/kmsg_tap.ts";
import type { DropRule } from "../lab/rules.ts";
import type { Traffic } from "../lab/traffic.ts";
import { type KubeEmulator, startKubeEmulator } from "../kube_emulator/mod.ts";
import {
  type ClusterPod,
  compareEvents,
  type EventCounts,
  expectedEvents,
  observedEvents,
  PodDirectory,
  totalCount,
} from "./expected_events.ts";

/** The lab's pods and the Pods (namespace, name) they stand for. */
export const CLUSTER_PODS: Readonly<Record<string, { namespace: string; name: string }>> = {
  pod1: { namespace: "shop", name: "web-0" },
  pod2: { namespace: "data", name: "db-0" },
  pod3: { namespace: "cache", name: "redis-0" },
};

/** The node name the daemon runs as (`NODE_NAME`), the Pods' node. */
export const NODE_NAME = "e2e-node";

/** One dropped flow: its rule and the traffic that hits it. */
export interface Flow {
  rule: DropRule;
  traffic: Omit<Traffic, "count">;
  /** Whether the rule logs with the second prefix. */
  second: boolean;
}

/**
 * The flows, by name: every backend (iptables, ip6tables, nftables), both families and TCP,
 * UDP, ICMP and ICMPv6, between every pair of pods in both directions.
 */
export const FLOWS: Readonly<Record<string, Flow>> = {
  tcp4: {
    rule: {
      backend: "iptables",
      chain: "FORWARD",
      from: "pod1",
      to: "pod2",
      proto: "tcp",
      dport: 5432,
    },
    traffic: { from: "pod1", to: "pod2", proto: "tcp", port: 5432 },
    second: false,
  },
  udp4: {
    rule: {
      backend: "iptables",
      chain: "FORWARD",
      from: "pod2",
      to: "pod3",
      proto: "udp",
      dport: 53,
    },
    traffic: { from: "pod2", to: "pod3", proto: "udp", port: 53 },
    second: true,
  },
  icmp4: {
    rule: { backend: "iptables", chain: "FORWARD", from: "pod3", to: "pod1", proto: "icmp" },
    traffic: { from: "pod3", to: "pod1", proto: "icmp" },
    second: false,
  },
  tcp6: {
    rule: {
      backend: "ip6tables",
      chain: "FORWARD",
      from: "pod1",
      to: "pod3",
      proto: "tcp",
      dport: 9090,
    },
    traffic: { from: "pod1", to: "pod3", proto: "tcp", port: 9090, family: 6 },
    second: true,
  },
  icmp6: {
    rule: { backend: "ip6tables", chain: "FORWARD", from: "pod3", to: "pod2", proto: "icmpv6" },
    traffic: { from: "pod3", to: "pod2", proto: "icmpv6" },
    second: false,
  },
  nftUdp6: {
    rule: {
      backend: "nftables",
      chain: "FORWARD",
      from: "pod2",
      to: "pod1",
      proto: "udp",
      dport: 5353,
      family: 6,
    },
    traffic: { from: "pod2", to: "pod1", proto: "udp", port: 5353, family: 6 },
    second: true,
  },
  nftTcp4: {
    rule: {
      backend: "nftables",
      chain: "FORWARD",
      from: "pod3",
      to: "pod2",
      proto: "tcp",
      dport: 6379,
    },
    traffic: { from: "pod3", to: "pod2", proto: "tcp", port: 6379 },
    second: false,
  },
};

/** Packets to send per flow name (flows left out send nothing). */
export type RoundPlan = Partial<Record<keyof typeof FLOWS & string, number>>;

/** Options of {@link E2eWorld.create}. */
export interface E2eWorldOptions {
  /** Where the emulator writes its kubeconfig (inside the daemon's readable state directory). */
  kubeconfigPath: string;
  /** Log half of the flows with a second prefix, and configure both (messages name the rule). */
  twoPrefixes: boolean;
}

/**
 * A lab, an API emulator with the lab's Pods, and a tap on the kernel log. Close it (or
 * `await using`) to remove the namespaces, rules, the emulator and its kubeconfig.
 */
export class E2eWorld {
  /** Every LOG record of this lab the kernel wrote, in order. */
  readonly records: string[] = [];
  /** The kmsg sequence number of the newest of {@link records} (-1 before the first). */
  lastSeq = -1;
  /** The kmsg sequence number of the oldest of {@link records} (-1 before the first). */
  firstSeq = -1;
  /** The configured prefixes (trimmed), for IPTABLES_LOG_PREFIX. */
  readonly prefixes: readonly string[];
  readonly pods: PodDirectory;

  private constructor(
    readonly lab: KernelLab,
    readonly api: KubeEmulator,
    readonly tap: KmsgTap,
    readonly twoPrefixes: boolean,
  ) {
    const first = lab.prefix.trim();
    this.prefixes = twoPrefixes ? [first, `kit-${lab.id}-b:`] : [first];
    const pods: ClusterPod[] = lab.pods.map((p) => ({
      ...CLUSTER_PODS[p.name],
      v4: p.v4,
      v6: p.v6,
    }));
    this.pods = new PodDirectory(pods);
  }

  /** Builds the lab and its rules, starts the emulator (HTTPS with a token) and adds the Pods. */
  static async create(options: E2eWorldOptions): Promise<E2eWorld> {
    const lab = await KernelLab.create();
    let api: KubeEmulator | undefined;
    let tap: KmsgTap | undefined;
    try {
      // TLS with a token: the real kubectl sends a bearer token only over HTTPS.
      api = await startKubeEmulator({
        tls: true,
        token: `e2e-${crypto.randomUUID()}`,
        kubeconfigPath: options.kubeconfigPath,
      });
      for (const pod of lab.pods) {
        const { namespace, name } = CLUSTER_PODS[pod.name];
        api.addPod({ namespace, name, nodeName: NODE_NAME, podIPs: [pod.v4, pod.v6!] });
      }
      tap = KmsgTap.open();
      const world = new E2eWorld(lab, api, tap, options.twoPrefixes);
      for (const flow of Object.values(FLOWS)) {
        const prefix = flow.second && options.twoPrefixes ? `${world.prefixes[1]} ` : undefined;
        await lab.dropWithLog({ ...flow.rule, prefix });
      }
      return world;
    } catch (error) {
      tap?.close();
      await api?.close();
      await lab.close();
      throw error;
    }
  }

  /** Whether Event messages name the rule (several prefixes configured). */
  get showPrefix(): boolean {
    return this.prefixes.length > 1;
  }

  /** The Pods' identities, for assertions. */
  get clusterPods(): readonly ClusterPod[] {
    return this.pods.pods;
  }

  /**
   * Sends `plan` and returns the LOG records the kernel wrote for it, read from /dev/kmsg after
   * every sender has exited (so no packet is still on its way).
   *
   * A round is sent as steps of one packet per flow (the flows of a step at once), and after
   * each step `caughtUp` may wait until the log source holds every record so far. So two drops
   * of one flow are never logged, nor received by rsyslog or journald, within one millisecond:
   * the daemon tells a replayed drop from a new one by its log time in ms, and two drops of one
   * Event in the same ms — or a later drop with an earlier time — would count once.
   */
  async sendRound(
    plan: RoundPlan,
    caughtUp?: (records: number) => Promise<void>,
  ): Promise<string[]> {
    const steps = Math.max(0, ...Object.values(plan).map((count) => count ?? 0));
    const fresh: string[] = [];
    for (let step = 0; step < steps; step++) {
      const flows = Object.entries(plan).filter(([, count]) => (count ?? 0) > step);
      await Promise.all(flows.map(([name]) => {
        const flow = FLOWS[name];
        if (!flow) throw new Error(`unknown flow ${name}`);
        return this.lab.send({ ...flow.traffic, count: 1 });
      }));
      const records = await this.#recordsAfterSend(flows.length);
      this.records.push(...records);
      fresh.push(...records);
      await caughtUp?.(this.records.length);
    }
    return fresh;
  }

  /** The Events every record so far must have produced, with exact counts. */
  expected(): EventCounts {
    return expectedEvents(this.records, this.prefixes, this.pods, {
      showPrefix: this.showPrefix,
    });
  }

  /** The differences between the API's Events and {@link expected}; [] when exact. */
  problems(): string[] {
    const { counts, duplicates } = observedEvents(this.api.events());
    return [
      ...duplicates.map((d) => `duplicate Event object: ${d}`),
      ...compareEvents(this.expected(), counts),
    ];
  }

  /** The sum of the API's Event counts (two per drop between Pods). */
  postedCount(): number {
    return totalCount(observedEvents(this.api.events()).counts);
  }

  /** Drops the daemon has not (yet) accounted for: expected minus posted counts, halved. */
  linesLost(): number {
    return (totalCount(this.expected()) - this.postedCount()) / 2;
  }

  /**
   * Waits until the API holds exactly the expected Events, re-checking as `waiter` sees
   * output or time passes; throws with the differences on timeout.
   */
  async waitForEvents(
    waiter: { waitFor(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void> },
    timeoutMs = 30_000,
  ): Promise<void> {
    try {
      await waiter.waitFor("the exact Events", () => this.problems().length === 0, timeoutMs);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\nEvents differ:\n  ${this.problems().join("\n  ")}`,
      );
    }
  }

  async close(): Promise<void> {
    this.tap.close();
    await this.api.close();
    await this.lab.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** This lab's records, waiting (bounded) until `count` new ones have been read. */
  async #recordsAfterSend(count: number): Promise<string[]> {
    const mine = (text: string) => this.prefixes.some((p) => text.startsWith(p));
    const before = this.tap.records.length;
    // The LOG target writes while the packet is being processed, before send() returns; the
    // wait only covers the reader. Extra records would be a lab error and fail the count check.
    const deadline = Date.now() + 10_000;
    for (;;) {
      this.tap.poll();
      const fresh = this.tap.records.slice(before).filter((r) => mine(r.text));
      if (fresh.length >= count || Date.now() > deadline) {
        if (fresh.length !== count) {
          throw new Error(
            `the kernel logged ${fresh.length} drops for ${count} packets sent:\n` +
              fresh.map((r) => r.text).join("\n"),
          );
        }
        if (fresh.length > 0) this.lastSeq = fresh.at(-1)!.seq;
        if (fresh.length > 0 && this.firstSeq < 0) this.firstSeq = fresh[0].seq;
        return fresh.map((r) => r.text);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
