/**
 * The real program (`src/main.ts run`) as a child process for fault tests, with what they need
 * to watch it: its log lines, its metrics and health endpoints, its exit code and how long the
 * exit took. It can run behind a wrapper command (`setpriv` without DAC capabilities, `unshare`
 * into a private mount namespace), and under `setpriv --pdeathsig KILL` when setpriv exists, so
 * a test process that dies leaves no daemon behind.
 *
 * @example
 * ```ts
 * const tailer = await Tailer.start({ log: "/tmp/x/kern.log", kubeconfig: api.kubeconfigPath });
 * await tailer.until("ready", async () => (await tailer.get("/readyz")).status === 200);
 * const samples = await tailer.metrics();
 * const { code, ms } = await tailer.stop();
 * ```
 * @module
 */

import { PREFIX } from "./drops.ts";
import { parseMetrics, type Sample, sumOf } from "./metrics.ts";
import { which } from "../system.ts";

const MAIN = new URL("../../../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../../deno.json", import.meta.url).pathname;

/** Options of {@link Tailer.start}. */
export interface TailerOptions {
  /** IPTABLES_LOG_PATH. */
  log: string;
  /** --kubeconfig; without it and without `dryRun`, `env` must say how to reach the API. */
  kubeconfig?: string;
  /** --state-directory. */
  stateDirectory?: string;
  /** More flags (they win over the defaults here). */
  args?: string[];
  /** Environment of the program (NO_COLOR is added). */
  env?: Record<string, string>;
  /** A command line the program runs under; it must exec its last arguments. */
  wrap?: string[];
  /** What to wait for after the start (default "listening": the metrics port is known). */
  waitFor?: "listening" | "ready" | "following";
}

/** Flags every fault test uses: loopback only, fast, one prefix. */
function baseArgs(options: TailerOptions): string[] {
  const args = [
    "run",
    `--iptables-log-path=${options.log}`,
    `--iptables-log-prefix=${PREFIX}`,
    "--metrics-server-port=0",
    "--metrics-listen-address=127.0.0.1",
    "--node-name=node-1",
    // Never the system resolver: test traffic stays on loopback (nothing answers there).
    "--dns-server=127.0.0.1:9",
    "--dns-timeout-seconds=0.2",
  ];
  if (options.kubeconfig) args.push(`--kubeconfig=${options.kubeconfig}`);
  if (options.stateDirectory) args.push(`--state-directory=${options.stateDirectory}`);
  return [...args, ...(options.args ?? [])];
}

/** A running program. */
export class Tailer {
  readonly child: Deno.ChildProcess;
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  /** The metrics port, once it is listening. */
  port = 0;
  #pumps: Promise<void>[];
  #exit: Deno.CommandStatus | undefined;
  #status: Promise<Deno.CommandStatus>;

  private constructor(options: TailerOptions) {
    const deno = [
      Deno.execPath(),
      "run",
      "--quiet",
      `--config=${CONFIG}`,
      "-A",
      MAIN,
      ...baseArgs(options),
    ];
    const guard = which("setpriv") ? ["setpriv", "--pdeathsig", "KILL"] : [];
    const command = [...guard, ...(options.wrap ?? []), ...deno];
    this.child = new Deno.Command(command[0], {
      args: command.slice(1),
      // Only what Deno itself needs from here, so nothing of the test's environment configures it.
      env: { ...runtimeEnv(), NO_COLOR: "1", ...options.env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#status = this.child.status.then((status) => (this.#exit = status));
    this.#pumps = [
      pump(this.child.stdout, this.stdoutLines),
      pump(this.child.stderr, this.stderrLines),
    ];
  }

  /** Starts the program and waits per `options.waitFor`. */
  static async start(options: TailerOptions): Promise<Tailer> {
    const tailer = new Tailer(options);
    try {
      await tailer.until("the metrics server", () => {
        const line = tailer.stderrLines.find((l) => l.includes("serving metrics"));
        if (line) tailer.port = Number(/port=(\d+)/.exec(line)![1]);
        return tailer.port > 0;
      }, 30_000);
      if (options.waitFor === "ready") {
        await tailer.until(
          "/readyz to answer 200",
          async () => (await tailer.get("/readyz")).status === 200,
          15_000,
        );
      }
      if (options.waitFor === "following" || options.waitFor === "ready") {
        await tailer.until(
          "the log to be followed",
          () =>
            tailer.logged(/following log file|resuming (at the saved position|in a rotated file)/) >
              0,
        );
      }
    } catch (error) {
      await tailer.kill();
      throw error;
    }
    return tailer;
  }

  /** The process id (of the program itself: wrappers exec it). */
  get pid(): number {
    return this.child.pid;
  }

  /** The exit status once it has exited. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** How many log lines contain `text`. */
  logged(text: string | RegExp): number {
    return this.stderrLines.filter((l) =>
      typeof text === "string" ? l.includes(text) : text.test(l)
    )
      .length;
  }

  /** The last log lines, for failure messages. */
  tail(n = 25): string {
    return this.stderrLines.slice(-n).join("\n");
  }

  /** GETs a path of the metrics server. */
  async get(path: string): Promise<{ status: number; body: string }> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}${path}`);
      return { status: response.status, body: await response.text() };
    } catch (error) {
      return { status: 0, body: String(error) };
    }
  }

  /** The current metrics. */
  async metrics(): Promise<Sample[]> {
    const { status, body } = await this.get("/metrics");
    if (status !== 200) throw new Error(`GET /metrics answered ${status}: ${body}`);
    return parseMetrics(body);
  }

  /**
   * Polls `check` until it holds; fails after `timeoutMs` with the last log lines, or at once
   * when the program exits meanwhile.
   */
  async until(
    what: string,
    check: () => boolean | Promise<boolean>,
    timeoutMs = 20_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!await check()) {
      if (this.#exit) {
        await Promise.all(this.#pumps);
        throw new Error(
          `the program exited (${this.#exit.code}) while waiting for ${what}\n${this.tail()}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Waits until the daemon has the answers to what it sent: nothing queued and the Event
   * counters unchanged for a moment. (The API server stores an Event before the daemon reads the
   * answer, so what the emulator holds runs slightly ahead of the daemon's metrics.)
   */
  async settled(timeoutMs = 20_000): Promise<void> {
    let last = "";
    let stableSince = Date.now();
    await this.until("the Event counters to settle", async () => {
      const m = await this.metrics();
      const now = `${sumOf(m, "kube_iptables_tailer_events_total")}|${
        sumOf(m, "kube_iptables_tailer_event_queue_depth")
      }`;
      if (now !== last) {
        last = now;
        stableSince = Date.now();
      }
      return sumOf(m, "kube_iptables_tailer_event_queue_depth") === 0 &&
        Date.now() - stableSince >= 300;
    }, timeoutMs);
  }

  /** Sends `signal`, waits for the exit; returns the code and the milliseconds it took. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{ code: number; ms: number }> {
    const start = performance.now();
    if (!this.#exit) {
      try {
        this.child.kill(signal);
      } catch {
        // Exited meanwhile.
      }
    }
    const status = await this.#status;
    const ms = performance.now() - start;
    await Promise.all(this.#pumps);
    return { code: status.code, ms };
  }

  /** SIGKILL; waits for the exit. */
  async kill(): Promise<void> {
    await this.stop("SIGKILL");
  }
}

function runtimeEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

async function pump(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    const parts = rest.split("\n");
    rest = parts.pop()!;
    into.push(...parts);
  }
  if (rest) into.push(rest);
}

/** Polls `check` until it holds or `timeoutMs` passes (then throws naming `what`). */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
