/**
 * Runs the real program as a child process and reads its stdout/stderr line by line, for
 * daemon-level tests.
 * @module
 */

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** A running program. */
export class DaemonProcess {
  readonly child: Deno.ChildProcess;
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  #waiters: (() => void)[] = [];
  #pumps: Promise<void>[];
  #releaseStdout: () => void = () => {};

  /**
   * `holdStdout`: stdout is not read until the program has exited (a reader that stopped
   * reading: the pipe fills and the program's writes block).
   */
  constructor(
    args: string[],
    env: Record<string, string> = {},
    options: { entry?: string; denoArgs?: string[]; holdStdout?: boolean } = {},
  ) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        `--config=${CONFIG}`,
        ...(options.denoArgs ?? ["-A"]),
        options.entry ?? MAIN,
        ...args,
      ],
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const released = options.holdStdout
      ? new Promise<void>((resolve) => (this.#releaseStdout = resolve))
      : Promise.resolve();
    this.#pumps = [
      released.then(() => this.#pump(this.child.stdout, this.stdoutLines)),
      this.#pump(this.child.stderr, this.stderrLines),
    ];
  }

  async #pump(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      into.push(...parts);
      this.#waiters.splice(0).forEach((w) => w());
    }
    if (rest) into.push(rest);
    this.#waiters.splice(0).forEach((w) => w());
  }

  /** Waits until `predicate` holds (checked on every new output line) or `timeoutMs` passes. */
  async waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what}\nstderr:\n${this.stderrLines.slice(-20).join("\n")}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Whether stderr has a line containing `text`. */
  logged(text: string): boolean {
    return this.stderrLines.some((l) => l.includes(text));
  }

  /** The port of /metrics, from the start-up log line (the daemon runs with port 0). */
  metricsPort(): number {
    const line = this.stderrLines.find((l) => l.includes("serving metrics"));
    const port = Number(/port=(\d+)/.exec(line ?? "")?.[1]);
    if (!port) throw new Error("the daemon has not logged its metrics port yet");
    return port;
  }

  /** Parsed NDJSON lines of stdout. */
  json(): Record<string, unknown>[] {
    return this.stdoutLines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  }

  /** Sends `signal` and waits for the exit; returns the code and how long it took. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{ code: number; ms: number }> {
    const start = performance.now();
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
    const status = await this.child.status;
    const ms = performance.now() - start;
    this.#releaseStdout();
    await Promise.all(this.#pumps);
    return { code: status.code, ms };
  }

  /** Kills hard (SIGKILL) and waits. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.child.status;
    this.#releaseStdout();
    await Promise.all(this.#pumps);
  }
}

/** A kernel-log line with the current time in rsyslog's RFC 3339 format. */
export function kernelLine(body: string, time = new Date()): string {
  return `${time.toISOString().replace("Z", "000+00:00")} node-1 kernel: [ 1234.567890] ${body}\n`;
}

/**
 * What rsyslog writes (with `$RepeatedMsgReduction on`) for `count` more of the kernel message
 * `body` after the line {@link kernelLine} makes of it.
 */
export function repeatedLine(body: string, count: number, time = new Date()): string {
  return `${
    time.toISOString().replace("Z", "000+00:00")
  } node-1 kernel: message repeated ${count} times: [ ${body}]\n`;
}

/** Options of {@link followLogFile}. */
export interface FollowOptions {
  /** Arguments after `run --iptables-log-path=…` (prefix, kubeconfig, limits …). */
  args: string[];
  env?: Record<string, string>;
  /** Temporary directory name prefix. */
  dirPrefix: string;
  /** Also wait for the pod list (a daemon with a kubeconfig). */
  waitForPods?: boolean;
}

/** A daemon following a fresh, empty log file. */
export interface FollowingDaemon {
  dir: string;
  log: string;
  daemon: DaemonProcess;
  /** Appends text to the log. */
  append(text: string): Promise<void>;
  /** Stops the daemon and removes the directory. */
  close(): Promise<void>;
}

/** Starts `run` on an empty log file in a temporary directory, once it follows the file. */
export async function followLogFile(options: FollowOptions): Promise<FollowingDaemon> {
  const dir = await Deno.makeTempDir({ prefix: options.dirPrefix });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const daemon = new DaemonProcess(
    ["run", `--iptables-log-path=${log}`, "--metrics-server-port=0", ...options.args],
    options.env,
  );
  await daemon.waitFor(
    () => daemon.logged("following log file"),
    15_000,
    "the daemon to follow the log",
  );
  if (options.waitForPods) {
    // Drops before the pod list would wait for it, or be shed.
    await daemon.waitFor(() => daemon.logged("listed pods"), 15_000, "the pod list");
  }
  return {
    dir,
    log,
    daemon,
    append: (text) => Deno.writeTextFile(log, text, { append: true }),
    close: async () => {
      await daemon.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
