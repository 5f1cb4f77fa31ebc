/**
 * The names and addresses of one kernel lab, derived from a 15-bit lab id so that labs in
 * parallel test processes never share a namespace name, an interface name, an address or a LOG
 * prefix. Pure: no I/O.
 *
 * @example
 * ```ts
 * const plan = planLab(0x2a5, {});
 * plan.nodeNetns;       // "kit-02a5-node"
 * plan.pods[0].v4;      // "10.66.165.10"
 * plan.pods[0].v6;      // "fd00:12a5::10"
 * plan.prefix;          // "kit-02a5: "
 * ```
 * @module
 */

/** Largest lab id + 1: ids are 15 bits. */
export const LAB_ID_SPACE = 0x8000;

/** Default pod names, in the order of their addresses (.10, .11, .12 …). */
export const DEFAULT_PODS: readonly string[] = ["pod1", "pod2", "pod3"];

/** The netfilter LOG prefix limit of iptables (`--log-prefix`, 29 characters). */
export const MAX_PREFIX_LENGTH = 29;

/** One pod namespace of a lab. */
export interface PodPlan {
  /** The pod's name in this lab (what rules and traffic refer to). */
  name: string;
  /** Its network namespace (`ip netns` name). */
  netns: string;
  /** The node-side veth end, as the kernel prints it in `IN=`/`OUT=` of FORWARD lines. */
  nodeIf: string;
  /** The pod-side veth end (always `eth0`, as in a Kubernetes pod). */
  podIf: string;
  /** IPv4 address. */
  v4: string;
  /** IPv6 address in canonical (compressed) text, when the lab has IPv6. */
  v6?: string;
  /** The IPv6 address fully expanded, as netfilter LOG lines print it. */
  v6Kernel?: string;
}

/** Everything a lab is named. */
export interface LabPlan {
  /** 4 hex digits, unique among running labs. */
  id: string;
  /** The routing "node" namespace. */
  nodeNetns: string;
  /** The LOG prefix rules use unless they name another. */
  prefix: string;
  pods: PodPlan[];
}

/** Options of {@link planLab}. */
export interface PlanOptions {
  pods?: readonly string[];
  prefix?: string;
  ipv6?: boolean;
}

/** Expands an IPv6 address to 8 groups of 4 lower-case hex digits (`fd00:0244:0000:…`). */
export function expandIPv6(ip: string): string {
  const halves = ip.split("::");
  if (halves.length > 2) throw new Error(`not an IPv6 address: ${JSON.stringify(ip)}`);
  const [head, tail] = halves;
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array(fill).fill("0"), ...right];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) {
    throw new Error(`not an IPv6 address: ${JSON.stringify(ip)}`);
  }
  return groups.map((g) => g.toLowerCase().padStart(4, "0")).join(":");
}

/** Validates a LOG prefix: iptables limits it to 29 characters; quotes would break nft syntax. */
export function checkPrefix(prefix: string): string {
  if (prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH) {
    throw new Error(
      `LOG prefix ${JSON.stringify(prefix)} must be 1..${MAX_PREFIX_LENGTH} characters`,
    );
  }
  if (/["\\\n]/.test(prefix)) {
    throw new Error(`LOG prefix ${JSON.stringify(prefix)} must not contain quotes or backslashes`);
  }
  return prefix;
}

/** Derives the names and addresses of the lab with id `n` (0 ≤ n < {@link LAB_ID_SPACE}). */
export function planLab(n: number, options: PlanOptions): LabPlan {
  if (!Number.isInteger(n) || n < 0 || n >= LAB_ID_SPACE) {
    throw new Error(`lab id ${n} is outside 0..${LAB_ID_SPACE - 1}`);
  }
  const names = options.pods ?? DEFAULT_PODS;
  if (names.length < 2 || names.length > 16) {
    throw new Error(`a lab needs 2..16 pods, got ${names.length}`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (!/^[a-z][a-z0-9]{0,15}$/.test(name) || name === "node" || seen.has(name)) {
      throw new Error(
        `pod name ${
          JSON.stringify(name)
        } must be unique, not "node", and match [a-z][a-z0-9]{0,15}`,
      );
    }
    seen.add(name);
  }
  const id = n.toString(16).padStart(4, "0");
  // 10.64.0.0 – 10.191.255.255 and fd00:1000:: – fd00:8fff:: are split into one /24 and one /32
  // per lab id; the v6 group never starts with 0, so the canonical text is exactly what we build.
  const v4Net = `10.${64 + (n >> 8)}.${n & 0xff}`;
  const v6Net = `fd00:${(0x1000 + n).toString(16)}`;
  const ipv6 = options.ipv6 ?? true;
  const pods = names.map((name, i): PodPlan => {
    const host = 10 + i;
    const v6 = ipv6 ? `${v6Net}::${host}` : undefined;
    return {
      name,
      netns: `kit-${id}-${name}`,
      nodeIf: `kit${id}v${i}`,
      podIf: "eth0",
      v4: `${v4Net}.${host}`,
      v6,
      v6Kernel: v6 === undefined ? undefined : expandIPv6(v6),
    };
  });
  return {
    id,
    nodeNetns: `kit-${id}-node`,
    prefix: checkPrefix(options.prefix ?? `kit-${id}: `),
    pods,
  };
}
