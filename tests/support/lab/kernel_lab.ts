/**
 * A kernel lab: real netfilter LOG lines on demand. See `mod.ts` for the recipe.
 * @module
 */

import { run, type RunResult, runSync } from "./exec.ts";
import { LAB_ID_SPACE, type LabPlan, planLab, type PlanOptions, type PodPlan } from "./plan.ts";
import { type DropRule, dropRuleCommands } from "./rules.ts";
import { type Traffic, trafficScript } from "./traffic.ts";

/** Where labs record their owner's pid, so a crashed test's namespaces are swept later. */
export const LAB_STATE_DIR = "/tmp/kube-iptables-tailer-lab";

/** Options of {@link KernelLab.create}. */
export interface KernelLabOptions extends PlanOptions {
  /** Pod names (default `pod1`, `pod2`, `pod3`). */
  pods?: readonly string[];
  /** The default LOG prefix of this lab's rules (default `kit-<id>: `, unique per lab). */
  prefix?: string;
  /** Give pods IPv6 addresses and routes (default true). */
  ipv6?: boolean;
}

/** A pod's addresses. */
export interface PodAddresses {
  v4: string;
  /** Canonical IPv6 text (`fd00:12a5::10`). */
  v6?: string;
  /** IPv6 fully expanded, as LOG lines print it (`fd00:12a5:0000:…:0010`). */
  v6Kernel?: string;
}

const openLabs = new Set<KernelLab>();
let unloadHookInstalled = false;

function installUnloadHook(): void {
  if (unloadHookInstalled) return;
  unloadHookInstalled = true;
  // A test that forgot close() (or failed before it) must not leave namespaces behind.
  globalThis.addEventListener("unload", () => {
    for (const lab of openLabs) lab.closeSync();
  });
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function listNetns(): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "list"]);
  return stdout.split("\n").map((l) => l.split(" ")[0]).filter(Boolean);
}

/** Removes the namespaces of labs whose test process died without closing them. */
export async function sweepStaleLabs(): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(LAB_STATE_DIR)];
  } catch {
    return removed;
  }
  const stale: string[] = [];
  for (const entry of entries) {
    const id = /^([0-9a-f]{4})\.pid$/.exec(entry.name)?.[1];
    if (!id) continue;
    let pid = NaN;
    try {
      pid = Number(Deno.readTextFileSync(`${LAB_STATE_DIR}/${entry.name}`).trim());
    } catch {
      continue;
    }
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) stale.push(id);
  }
  if (stale.length === 0) return removed;
  const names = await listNetns();
  for (const id of stale) {
    for (const ns of names.filter((n) => n.startsWith(`kit-${id}-`))) {
      await run("ip", ["netns", "del", ns], { allowFailure: true });
      removed.push(ns);
    }
    await Deno.remove(`${LAB_STATE_DIR}/${id}.pid`).catch(() => {});
  }
  return removed;
}

async function reserveId(): Promise<number> {
  await Deno.mkdir(LAB_STATE_DIR, { recursive: true });
  const existing = new Set(await listNetns());
  for (let attempt = 0; attempt < 100; attempt++) {
    const n = crypto.getRandomValues(new Uint16Array(1))[0] % LAB_ID_SPACE;
    const id = n.toString(16).padStart(4, "0");
    if (existing.has(`kit-${id}-node`)) continue;
    try {
      // createNew is atomic: of two processes drawing the same id, one fails here.
      await Deno.writeTextFile(`${LAB_STATE_DIR}/${id}.pid`, `${Deno.pid}\n`, { createNew: true });
      return n;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
  throw new Error(`no free lab id in ${LAB_STATE_DIR} after 100 attempts`);
}

/** Sets `net.netfilter.nf_log_all_netns=1` (machine-wide; never reset, other labs rely on it). */
export async function enableLogInAllNetns(): Promise<void> {
  await Deno.writeTextFile("/proc/sys/net/netfilter/nf_log_all_netns", "1\n");
}

/**
 * A "node" network namespace routing between "pod" namespaces, with LOG + DROP rules and traffic
 * on demand. Create with {@link KernelLab.create}; always `close()` (or `await using`).
 */
export class KernelLab {
  /** 4 hex digits, unique among running labs. */
  readonly id: string;
  /** The default LOG prefix of this lab's rules (unique per lab). */
  readonly prefix: string;
  /** The routing namespace. */
  readonly nodeNetns: string;
  /** The pods, in address order. */
  readonly pods: readonly PodPlan[];
  /** Every pod's addresses by pod name. */
  readonly ips: Readonly<Record<string, PodAddresses>>;
  #plan: LabPlan;
  #created: string[] = [];
  #closed = false;

  private constructor(plan: LabPlan) {
    this.#plan = plan;
    this.id = plan.id;
    this.prefix = plan.prefix;
    this.nodeNetns = plan.nodeNetns;
    this.pods = plan.pods;
    this.ips = Object.fromEntries(
      plan.pods.map((p) => [p.name, { v4: p.v4, v6: p.v6, v6Kernel: p.v6Kernel }]),
    );
  }

  /** Builds a lab: namespaces, veth pairs, addresses, routes, forwarding, kernel LOG in netns. */
  static async create(options: KernelLabOptions = {}): Promise<KernelLab> {
    await sweepStaleLabs();
    const n = await reserveId();
    let lab: KernelLab;
    try {
      lab = new KernelLab(planLab(n, options));
    } catch (error) {
      await Deno.remove(`${LAB_STATE_DIR}/${n.toString(16).padStart(4, "0")}.pid`);
      throw error;
    }
    openLabs.add(lab);
    installUnloadHook();
    try {
      await enableLogInAllNetns();
      await lab.#build(options.ipv6 ?? true);
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  /** The pod named `name`. */
  pod(name: string): PodPlan {
    const pod = this.pods.find((p) => p.name === name);
    if (!pod) throw new Error(`lab ${this.id} has no pod ${JSON.stringify(name)}`);
    return pod;
  }

  /** Adds a LOG rule followed by a DROP rule (see {@link DropRule}). */
  async dropWithLog(rule: DropRule): Promise<void> {
    this.#assertOpen();
    for (const cmd of dropRuleCommands(this.#plan, rule)) {
      await run("ip", ["netns", "exec", cmd.netns, cmd.program, ...cmd.args], {
        stdin: cmd.stdin,
      });
    }
  }

  /** Sends traffic (see {@link Traffic}); returns when every packet has been sent. */
  async send(traffic: Traffic): Promise<void> {
    this.#assertOpen();
    const { netns, script } = trafficScript(this.#plan, traffic);
    await run("ip", ["netns", "exec", netns, "bash", "-c", script]);
  }

  /** Runs `program` inside `netns` (a pod name, "node", or a namespace name). */
  exec(netns: string, program: string, args: readonly string[]): Promise<RunResult> {
    this.#assertOpen();
    const ns = netns === "node"
      ? this.nodeNetns
      : this.pods.find((p) => p.name === netns)?.netns ?? netns;
    return run("ip", ["netns", "exec", ns, program, ...args]);
  }

  /** Removes the namespaces (and with them every rule and interface). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const ns of this.#created.reverse()) {
      await run("ip", ["netns", "del", ns], { allowFailure: true });
    }
    await Deno.remove(`${LAB_STATE_DIR}/${this.id}.pid`).catch(() => {});
    openLabs.delete(this);
  }

  /** {@link close} for `unload` handlers. */
  closeSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ns of this.#created.reverse()) runSync("ip", ["netns", "del", ns]);
    try {
      Deno.removeSync(`${LAB_STATE_DIR}/${this.id}.pid`);
    } catch {
      // Already gone.
    }
    openLabs.delete(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`lab ${this.id} is closed`);
  }

  async #addNetns(name: string): Promise<void> {
    await run("ip", ["netns", "add", name]);
    this.#created.push(name);
  }

  async #build(ipv6: boolean): Promise<void> {
    const node = this.nodeNetns;
    const noDad = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"];
    await this.#addNetns(node);
    await run("ip", [
      "netns",
      "exec",
      node,
      "sysctl",
      "-q",
      "-w",
      "net.ipv4.ip_forward=1",
      "net.ipv6.conf.all.forwarding=1",
      ...noDad,
    ]);
    for (const pod of this.pods) {
      await this.#addNetns(pod.netns);
      await run("ip", ["netns", "exec", pod.netns, "sysctl", "-q", "-w", ...noDad]);
    }

    const nodeLinks = ["link set lo up"];
    for (const pod of this.pods) {
      nodeLinks.push(
        `link add ${pod.nodeIf} type veth peer name ${pod.podIf} netns ${pod.netns}`,
        `link set ${pod.nodeIf} up`,
      );
    }
    await run("ip", ["-n", node, "-batch", "-"], { stdin: nodeLinks.join("\n") + "\n" });

    // Pods: a /32 (and /128) on eth0, everything routed to the node (Calico style: the node
    // answers ARP for every address by proxy_arp, and owns fe80::1 on its veth end).
    for (const pod of this.pods) {
      const cmds = [
        "link set lo up",
        `addr add ${pod.v4}/32 dev ${pod.podIf}`,
        `link set ${pod.podIf} up`,
        `route add default dev ${pod.podIf}`,
      ];
      if (ipv6 && pod.v6) {
        cmds.push(
          `addr add ${pod.v6}/128 dev ${pod.podIf} nodad`,
          `route add ::/0 via fe80::1 dev ${pod.podIf}`,
        );
      }
      await run("ip", ["-n", pod.netns, "-batch", "-"], { stdin: cmds.join("\n") + "\n" });
    }

    const nodeRoutes: string[] = [];
    const nodeSysctls: string[] = [];
    for (const pod of this.pods) {
      nodeRoutes.push(`route add ${pod.v4}/32 dev ${pod.nodeIf}`);
      if (ipv6 && pod.v6) {
        nodeRoutes.push(
          `addr add fe80::1/64 dev ${pod.nodeIf} nodad`,
          `route add ${pod.v6}/128 dev ${pod.nodeIf}`,
        );
      }
      // proxy_delay=0: by default proxy ARP answers after a random delay of up to 0.8 s.
      nodeSysctls.push(
        `net.ipv4.conf.${pod.nodeIf}.proxy_arp=1`,
        `net.ipv4.neigh.${pod.nodeIf}.proxy_delay=0`,
      );
    }
    await run("ip", ["-n", node, "-batch", "-"], { stdin: nodeRoutes.join("\n") + "\n" });
    await run("ip", ["netns", "exec", node, "sysctl", "-q", "-w", ...nodeSysctls]);
  }
}
