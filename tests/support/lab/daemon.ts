/**
 * Small helpers for the daemons tests run (rsyslogd, systemd-journald): wait for a condition,
 * stop a child process with SIGTERM then SIGKILL.
 * @module
 */

/** Polls `check` every `intervalMs` until it returns a value other than undefined. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number; failFast?: () => string | undefined } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    const failure = options.failFast?.();
    if (failure !== undefined) throw new Error(`${what}: ${failure}`);
    if (Date.now() > deadline) throw new Error(`${what}: not reached after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}

/** A spawned daemon whose exit is tracked. */
export interface Daemon {
  child: Deno.ChildProcess;
  /** Set once the process has exited. */
  exited: Deno.CommandStatus | undefined;
  /** Collected stderr+stdout text (for error messages). */
  output(): string;
  status: Promise<Deno.CommandStatus>;
}

/** For {@link waitUntil}'s `failFast`: why waiting for `daemon` is pointless (it exited). */
export function exitedEarly(daemon: Daemon): string | undefined {
  return daemon.exited ? `exited with ${daemon.exited.code}: ${daemon.output()}` : undefined;
}

/**
 * Spawns `program` with piped output that is collected (never left unread). It runs under
 * `setpriv --pdeathsig TERM`: if the test process dies without stopping it, the kernel sends it
 * SIGTERM, so a crashed test leaves no daemon behind.
 */
export function spawnDaemon(program: string, args: readonly string[]): Daemon {
  const child = new Deno.Command("setpriv", {
    args: ["--pdeathsig", "TERM", program, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      if (chunks.length < 1000) chunks.push(text);
    }
  };
  const pumps = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const daemon: Daemon = {
    child,
    exited: undefined,
    output: () => chunks.join(""),
    status: child.status.then(async (status) => {
      daemon.exited = status;
      await pumps;
      return status;
    }),
  };
  return daemon;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopDaemon(daemon: Daemon, graceMs = 5000): Promise<Deno.CommandStatus> {
  if (daemon.exited) return await daemon.status;
  try {
    daemon.child.kill("SIGTERM");
  } catch {
    // Exited between the check and the signal.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        daemon.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      resolve();
    }, graceMs);
  });
  await Promise.race([daemon.status, killed]);
  clearTimeout(timer);
  return await daemon.status;
}

/** Reads a text file, or "" when it does not exist yet. */
export async function readTextOrEmpty(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

/**
 * Waits until `file` has `count` lines for which `predicate` holds, and returns them.
 * For daemons writing log files (rsyslog): they append whole lines.
 */
export async function waitForLines(
  file: string,
  predicate: (line: string) => boolean,
  options: { count?: number; timeoutMs?: number } = {},
): Promise<string[]> {
  const count = options.count ?? 1;
  let seen: string[] = [];
  try {
    return await waitUntil(`${count} matching lines in ${file}`, async () => {
      seen = (await readTextOrEmpty(file)).split("\n").filter((l) => l && predicate(l));
      return seen.length >= count ? seen.slice(0, count) : undefined;
    }, { timeoutMs: options.timeoutMs });
  } catch (error) {
    throw new Error(
      `${(error as Error).message} (saw ${seen.length}: ${seen.slice(-3).join(" | ")})`,
    );
  }
}

function processAlive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

/**
 * Makes a temporary directory owned by this process (its pid in `owner`), after removing the
 * directories with the same prefix whose owner died without cleaning up.
 */
export async function makeOwnedTempDir(prefix: string): Promise<string> {
  const tmp = "/tmp";
  for await (const entry of Deno.readDir(tmp)) {
    if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
    const dir = `${tmp}/${entry.name}`;
    let owner = NaN;
    try {
      owner = Number((await Deno.readTextFile(`${dir}/owner`)).trim());
    } catch {
      continue; // being set up right now, or not ours
    }
    if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  const dir = await Deno.makeTempDir({ dir: tmp, prefix });
  await Deno.writeTextFile(`${dir}/owner`, `${Deno.pid}\n`);
  return dir;
}
