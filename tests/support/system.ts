/**
 * System tests need root, the kernel and Debian tools. Outside CI a missing requirement skips
 * the test with a printed reason; under `CI=true` it fails the test, so CI never passes by skipping.
 *
 * @example
 * ```ts
 * systemTest("rsyslog writes drops", { needs: ["root", "iptables", "rsyslogd"] }, async () => { ... });
 * ```
 * @module
 */

/** A requirement: "root", or a program name looked up on PATH. */
export type Requirement = string;

const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"];
const cache = new Map<string, string | undefined>();

/** Absolute path of `program` (PATH plus the sbin directories), or undefined. */
export function which(program: string): string | undefined {
  if (program.startsWith("/")) return exists(program) ? program : undefined;
  if (cache.has(program)) return cache.get(program);
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean), ...SBIN];
  let found: string | undefined;
  for (const dir of dirs) {
    if (exists(`${dir}/${program}`)) {
      found = `${dir}/${program}`;
      break;
    }
  }
  cache.set(program, found);
  return found;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Whether this process runs as root. */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** True under CI (`CI=true`), where system tests must run. */
export const IN_CI = Deno.env.get("CI") === "true";

/** The requirements of `needs` that are not met, as readable reasons. */
export function missing(needs: Requirement[]): string[] {
  const reasons: string[] = [];
  for (const need of needs) {
    if (need === "root") {
      if (!isRoot()) reasons.push("not running as root");
    } else if (!which(need)) {
      reasons.push(`${need} is not installed`);
    }
  }
  return reasons;
}

/** Options of {@link systemTest}. */
export interface SystemTestOptions {
  needs: Requirement[];
  /** Passed to Deno.test. */
  sanitizeResources?: boolean;
  sanitizeOps?: boolean;
  sanitizeExit?: boolean;
}

/**
 * Registers a system test. When a requirement is missing: outside CI the test is skipped with the
 * reason printed; under CI=true it runs and fails with the reason.
 */
export function systemTest(
  name: string,
  options: SystemTestOptions,
  fn: (t: Deno.TestContext) => Promise<void> | void,
): void {
  const reasons = missing(options.needs);
  const common = {
    sanitizeResources: options.sanitizeResources ?? false,
    sanitizeOps: options.sanitizeOps ?? false,
    sanitizeExit: options.sanitizeExit ?? true,
  };
  if (reasons.length === 0) {
    Deno.test({ name: `[system] ${name}`, ...common, fn });
  } else if (IN_CI) {
    Deno.test({
      name: `[system] ${name}`,
      ...common,
      fn() {
        throw new Error(`CI=true but requirements are missing: ${reasons.join(", ")}`);
      },
    });
  } else {
    console.error(`skipping system test "${name}": ${reasons.join(", ")}`);
    Deno.test({ name: `[system] ${name} (skipped: ${reasons.join(", ")})`, ignore: true, fn });
  }
}
