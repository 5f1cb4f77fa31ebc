/**
 * The shipped artifact for end-to-end tests: `deno bundle` of src/main.ts, run as a child process
 * with exactly the production permission set (`-P=daemon` from the repository's deno.json, the
 * one definition `deno task compile` also uses), a cleared environment, and its stderr collected
 * line by line.
 *
 * @example
 * ```ts
 * const artifact = await bundleDaemon(workDir);
 * const daemon = BundledDaemon.start(artifact, ["run", "--iptables-log-prefix=p:"], { NODE_NAME: "n1" });
 * await daemon.waitForLog(/following log file/);
 * const { code } = await daemon.stop("SIGTERM");
 * ```
 * @module
 */

import { which } from "../system.ts";

/** The repository root (with a trailing slash). */
export const REPO = new URL("../../../", import.meta.url).pathname;
/** The repository's deno.json: its `permissions.daemon` set is what the daemon runs under. */
export const DENO_JSON = `${REPO}deno.json`;

/** Bundles src/main.ts into `dir` (as `deno task bundle` does); returns the artifact's path. */
export async function bundleDaemon(dir: string): Promise<string> {
  const out = `${dir}/kube-iptables-tailer.js`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      `--config=${DENO_JSON}`,
      "--platform=deno",
      "-o",
      out,
      `${REPO}src/main.ts`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (result.code !== 0) {
    throw new Error(`deno bundle failed: ${new TextDecoder().decode(result.stderr)}`);
  }
  return out;
}

let shared: Promise<string> | undefined;

/**
 * One bundle per test process (in a temporary directory removed when the process ends), for
 * test files with several tests.
 */
export function sharedBundle(): Promise<string> {
  shared ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "kit-e2e-bundle-" });
    // Swept by a later E2ePlaces.create() if this process dies without its unload handler.
    await Deno.writeTextFile(`${dir}/.owner`, `${Deno.pid}\n`);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
    return await bundleDaemon(dir);
  })();
  return shared;
}

/** The `deno run` arguments of the production permission set, for `artifact`. */
export function productionRunArgs(artifact: string): string[] {
  return ["run", "--quiet", "--no-prompt", `--config=${DENO_JSON}`, "-P=daemon", artifact];
}

/**
 * The sum of the samples of metric `name` in Prometheus text whose labels contain `labels`
 * (e.g. `reason="shed"`; every sample when empty); 0 when there is none.
 */
export function metricSum(text: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match && match[1] === name && (match[2] ?? "").includes(labels)) sum += Number(match[3]);
  }
  return sum;
}

/** Options of {@link BundledDaemon.start}. */
export interface BundledDaemonOptions {
  /**
   * Bind-mounts `source` at `target`, read-only, in a private mount namespace of the daemon
   * only (`unshare --mount`, then `exec deno …`, so the daemon keeps the child's pid and gets
   * the signals). Nothing is mounted in the machine's namespace, so nothing can be left behind.
   */
  bindMount?: { source: string; target: string };
}

/** A running bundled daemon. */
export class BundledDaemon {
  readonly child: Deno.ChildProcess;
  /** Every stderr line so far (the daemon logs there). */
  readonly stderrLines: string[] = [];
  #waiters = new Set<() => void>();
  #pumps: Promise<void>;
  #status: Deno.CommandStatus | undefined;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#pumps = Promise.all([
      this.#pump(child.stderr, this.stderrLines),
      this.#pump(child.stdout, this.stderrLines),
    ]).then(() => {});
    child.status.then((status) => {
      this.#status = status;
      this.#wakeAll();
    });
  }

  /**
   * Starts `artifact` with `args` and exactly `env` (nothing inherited). It runs under
   * `setpriv --pdeathsig KILL` (which execs): a test process that dies takes the daemon along.
   */
  static start(
    artifact: string,
    args: readonly string[],
    env: Record<string, string>,
    options: BundledDaemonOptions = {},
  ): BundledDaemon {
    const setpriv = which("setpriv");
    if (!setpriv) throw new Error("setpriv is not installed");
    let argv = [Deno.execPath(), ...productionRunArgs(artifact), ...args];
    if (options.bindMount) {
      const [unshare, mount] = [which("unshare"), which("mount")];
      if (!unshare || !mount) throw new Error("bindMount needs unshare and mount");
      const script =
        `"$0" --bind "$1" "$2" && "$0" -o remount,bind,ro "$2" && shift 2 && exec "$@"`;
      argv = [
        unshare,
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        script,
        mount,
        options.bindMount.source,
        options.bindMount.target,
        ...argv,
      ];
    }
    const child = new Deno.Command(setpriv, {
      args: ["--pdeathsig", "KILL", ...argv],
      env: { NO_COLOR: "1", ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new BundledDaemon(child);
  }

  /** The exit status, once the daemon has exited. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** The first stderr line matching `pattern`, or undefined. */
  logLine(pattern: RegExp): string | undefined {
    return this.stderrLines.find((line) => pattern.test(line));
  }

  /** Waits until a stderr line matches `pattern`; fails early when the daemon exits. */
  async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    let found: string | undefined;
    await this.waitFor(`a log line matching ${pattern}`, () => {
      found = this.logLine(pattern);
      return found !== undefined;
    }, timeoutMs);
    return found!;
  }

  /**
   * Waits until `predicate` holds, re-checking on every output line and every 50 ms (for
   * conditions outside the daemon, such as Events in the API emulator).
   */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (this.#status) {
        throw new Error(
          `the daemon exited (${this.#status.code}) while waiting for ${what}\n` +
            this.tail(),
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 50));
        this.#waiters.add(wake);
      });
    }
  }

  /** The metrics port (from the "serving metrics" log line). */
  async metricsPort(): Promise<number> {
    const line = await this.waitForLog(/serving metrics and health/);
    const port = Number(/\bport=(\d+)/.exec(line)?.[1]);
    if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${JSON.stringify(line)}`);
    return port;
  }

  /** The Prometheus text of /metrics. */
  async metrics(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${await this.metricsPort()}/metrics`);
    return await response.text();
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch {
      // Already exited.
    }
    const status = await this.child.status;
    await this.#pumps;
    return status;
  }

  /** The last log lines, for error messages. */
  tail(lines = 25): string {
    return this.stderrLines.slice(-lines).map((l) => `  | ${l}`).join("\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#status) await this.stop("SIGKILL");
  }

  #wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  async #pump(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      rest += text;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      into.push(...parts);
      this.#wakeAll();
    }
    if (rest) into.push(rest);
    this.#wakeAll();
  }
}
