/**
 * `run`: wires the configured source, the parser, the filters and the sink (Kubernetes Events,
 * or stdout with --dry-run), serves metrics and health, and shuts down cleanly on SIGTERM,
 * SIGINT or SIGHUP: stop reading, drain what is queued within the deadline, write the checkpoint, exit 0.
 * @module
 */

import type { Config } from "./config.ts";
import { ConfigError } from "./config.ts";
import { createLogger, type Logger, writeStderr } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { DropParser } from "./netfilter/parser.ts";
import { ExpiryFilter, RepeatFilter } from "./pipeline/filters.ts";
import { type DropSink, Pipeline } from "./pipeline/pipeline.ts";
import { Replay } from "./pipeline/replay.ts";
import { startServer } from "./server.ts";
import { type Annotate, DryRunSink } from "./sinks/dry_run.ts";
import { OutputClosed, writeAll } from "./output.ts";
import { endpointJson, locate, metricLabel } from "./enrich/endpoints.ts";
import { CheckpointStore } from "./sources/checkpoint.ts";
import { FileSource } from "./sources/file.ts";
import { JournalSource } from "./sources/journal/source.ts";
import { KmsgSource, NOT_CAPABLE_HINT } from "./sources/kmsg.ts";
import type { LogSource, SourceEvent, SourceOptions } from "./sources/source.ts";
import { VERSION } from "./version.ts";
import {
  isNotPermitted,
  mayRead,
  mayWrite,
  outsidePermissionSet,
  PRODUCTION_PATHS,
} from "./permissions.ts";

/** The Kubernetes half, plugged in by {@link runDaemon} when not in dry-run mode. */
export interface EventSink extends DropSink {
  /** Readiness (the pod index has synced). */
  ready(): boolean;
  /** Why not ready. */
  readyDetail(): string;
  /** Drains queued work within `deadlineMs`, then stops. */
  close(deadlineMs: number): Promise<void>;
}

/** What the daemon needs from its surroundings (tests pass their own). */
export interface DaemonIo {
  stdout: { write(bytes: Uint8Array): Promise<number> };
  /** Registers shutdown signals; returns an unregister function. */
  onShutdownSignal(handler: (signal: string) => void): () => void;
  /** Builds the Kubernetes sink (tests inject one; default: the real client). */
  createEventSink?(
    config: Config,
    log: Logger,
    metrics: Metrics,
    signal: AbortSignal,
  ): Promise<EventSink>;
}

/**
 * A signal this soon after the same one that began the shutdown is that one again, not a second
 * Ctrl-C: under `deno task start` (or `timeout`) one Ctrl-C arrives twice, from the terminal and
 * passed on by the wrapper, a millisecond or so apart. A person pressing again takes far longer.
 */
const SAME_SIGNAL_MS = 200;

/** Numbers of the shutdown signals (Linux), for the exit code of a forced exit (128 + n). */
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

const realIo: DaemonIo = {
  stdout: Deno.stdout,
  onShutdownSignal(handler) {
    // SIGHUP too: run by hand, the terminal that goes away must not cost the checkpoint.
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP"];
    const listeners = signals.map((s) => {
      const listener = () => handler(s);
      Deno.addSignalListener(s, listener);
      return [s, listener] as const;
    });
    return () => listeners.forEach(([s, l]) => Deno.removeSignalListener(s, l));
  },
};

/** Creates the logger per config; `--log_dir` also appends to a file there. */
export function daemonLogger(config: Config): Logger {
  let file: Deno.FsFile | undefined;
  const sinks: ((line: string) => void)[] = [];
  if (config.logDir) {
    const path = `${config.logDir.replace(/\/+$/, "")}/kube-iptables-tailer.log`;
    try {
      file = Deno.openSync(path, { append: true, create: true });
    } catch (error) {
      const why = isNotPermitted(error)
        ? `this program may not write there (${
          outsidePermissionSet(`writes only under ${PRODUCTION_PATHS.state}`)
        })`
        : String(error);
      console.error(
        `kube-iptables-tailer: cannot write the log to ${path} (--log_dir): ${why}; logging to stderr only`,
      );
    }
  }
  const encoder = new TextEncoder();
  sinks.push(writeStderr);
  if (file) {
    const f = file;
    sinks.push((line) => {
      try {
        writeAll(f, encoder.encode(line));
      } catch {
        // disk full or the like: the log line still went to stderr
      }
    });
  }
  return createLogger({
    level: config.logLevel,
    format: config.logFormat,
    write: (line) => sinks.forEach((s) => s(line)),
  });
}

/** Builds the source the config names. */
export function createSource(config: Config, options: SourceOptions, log: Logger): LogSource {
  const pollIntervalMs = config.watchIntervalSeconds * 1000;
  if (config.logPath) {
    return new FileSource({
      ...options,
      path: config.logPath,
      log,
      pollIntervalMs,
      maxLineBytes: config.maxLineBytes,
    });
  }
  if (config.journalDirectory) {
    return new JournalSource({
      ...options,
      directory: config.journalDirectory,
      log,
      pollIntervalMs,
    });
  }
  // The kmsg source's reader thread looks at its non-blocking device at least every 20 ms by
  // design (there is nothing to watch); WATCH_LOGS_INTERVAL_SECONDS is a safety net for files,
  // not its read cadence.
  return new KmsgSource({ ...options, path: config.kmsgPath, log });
}

/** What a dry run knows of a drop's endpoints. */
interface DryRunEndpoints {
  /** Fields for its line (none without Kubernetes). */
  annotate?: Annotate;
  /** The `packet_drops_count` label of an IP: "unknown" until (or without) the pod index. */
  label(ip: string): string;
}

/**
 * In dry-run mode, drops get `srcEndpoint`/`dstEndpoint` fields when Kubernetes credentials are
 * at hand (read-only: the pod index; no Event is posted). Without credentials: no fields.
 */
async function dryRunEndpoints(
  config: Config,
  log: Logger,
  metrics: Metrics,
  signal: AbortSignal,
): Promise<DryRunEndpoints> {
  const { startPodIndex } = await import("./kube/event_sink.ts");
  let pods;
  try {
    pods = startPodIndex(config, log, metrics, signal).pods;
  } catch (error) {
    // A kubeconfig given that cannot be used is a warning: asked for, the endpoints are missed.
    // (Not a stop: an admin's shell often exports a KUBECONFIG this binary may not read, and a
    // dry run is still of use without it.)
    const level = config.kubeconfig !== undefined ? "warn" : "info";
    log[level]("dry run without Kubernetes: drops are printed without endpoints", {
      // (The advice to use --dry-run is for the daemon: this is one.)
      reason: (error as Error).message.replace(/; use --dry-run to run without Kubernetes$/, ""),
    });
    return { label: () => "unknown" };
  }
  const lookup = (ip: string) => pods.lookup(ip);
  return {
    annotate: (drop) =>
      pods.ready
        ? {
          srcEndpoint: endpointJson(locate(drop.src, lookup)),
          dstEndpoint: endpointJson(locate(drop.dst, lookup)),
        }
        : {},
    label: (ip) => (pods.ready ? metricLabel(locate(ip, lookup)) : "unknown"),
  };
}

/**
 * The dry run's sink: drops printed are the drops handled, so they are counted in
 * `packet_drops_count` as the Kubernetes sink counts those it posts for; without it every drop
 * parsed would be in no outcome at all (neither handled nor skipped).
 */
function dryRunSink(printer: DryRunSink, endpoints: DryRunEndpoints, metrics: Metrics): DropSink {
  return {
    handle(drop, count) {
      metrics.packetDrops.inc(
        { src: endpoints.label(drop.src), dst: endpoints.label(drop.dst) },
        count,
      );
      return printer.handle(drop, count);
    },
    flush: () => printer.flush(),
  };
}

/**
 * Source events after which the log does not read as it did before a stop (the saved position
 * given up, records lost or damaged, the file truncated, the kernel's ring of another boot): the
 * note of drops handled after the checkpoint no longer matches what is read.
 */
const LOG_CHANGED: ReadonlySet<SourceEvent> = new Set<SourceEvent>([
  "cursor_invalid",
  "gap",
  "truncation",
  "corrupt",
  "undecodable",
  "new_boot",
]);

/**
 * `path` with its spelling made one: no repeated or trailing slashes, no `.` segments, `..`
 * taken back lexically. Two spellings of one path must share a checkpoint and its lock.
 *
 * @example
 * ```ts
 * normalPath("/run/log/journal/"); // "/run/log/journal"
 * normalPath("/var/log/./kern.log"); // "/var/log/kern.log"
 * ```
 */
export function normalPath(path: string): string {
  const absolute = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && parts.length > 0 && parts.at(-1) !== "..") parts.pop();
    else if (part !== ".." || !absolute) parts.push(part);
  }
  const joined = parts.join("/");
  return absolute ? `/${joined}` : joined === "" ? "." : joined;
}

/** The identity a source's checkpoint is stored under. */
function sourceIdentity(config: Config): { kind: string; id: string } {
  if (config.logPath) return { kind: "file", id: normalPath(config.logPath) };
  if (config.journalDirectory) {
    return { kind: "journal", id: normalPath(config.journalDirectory) };
  }
  return { kind: "kmsg", id: normalPath(config.kmsgPath!) };
}

const SOURCE_VARIABLE = {
  file: "IPTABLES_LOG_PATH",
  journal: "JOURNAL_DIRECTORY",
  kmsg: "KMSG_PATH",
} as const;

/**
 * Refuses a source the program's permission set can never read: permissions are fixed at
 * start, so retrying (as for a file that is merely missing) could not help.
 * @throws {ConfigError}
 */
function requireReadable(identity: { kind: string; id: string }): void {
  const path = identity.id;
  // The file source opens a symlink's target by its real path (to see the link re-pointed), and
  // Deno asks for that path. (Without the directory a file is polled instead of watched: not a
  // reason to refuse.)
  const paths = [path];
  try {
    paths.push(Deno.realPathSync(path));
  } catch {
    // Not there (yet): the path is all there is to check.
  }
  const name = SOURCE_VARIABLE[identity.kind as keyof typeof SOURCE_VARIABLE];
  for (const each of paths) {
    if (mayRead(each)) continue;
    const hint = identity.kind === "kmsg" && /^\/(dev|proc)\//.test(path)
      ? NOT_CAPABLE_HINT
      : "it is outside the paths its permissions allow; the production set reads logs under " +
        PRODUCTION_PATHS.logs;
    throw new ConfigError(
      `${name}=${JSON.stringify(path)}: this program may not read ${
        JSON.stringify(each)
      } (${hint})`,
    );
  }
  // A directory where a log file or a device belongs, or a file where the journal's directory
  // belongs, is a mistake no retry mends. (Missing is not: it may appear. A log path that turns
  // into a directory later is retried: the file source logs it and recovers.)
  let isDirectory: boolean | undefined;
  try {
    isDirectory = Deno.statSync(path).isDirectory;
  } catch {
    return;
  }
  if (identity.kind === "journal" && !isDirectory) {
    throw new ConfigError(
      `${name}=${
        JSON.stringify(path)
      } is a file, not a directory: give the directory that holds the .journal files`,
    );
  }
  if (identity.kind === "file" && isDirectory) {
    throw new ConfigError(
      `${name}=${
        JSON.stringify(path)
      } is a directory, not a log file: give the file the kernel's LOG lines go to (e.g. /var/log/kern.log)`,
    );
  }
  if (identity.kind === "kmsg" && isDirectory) {
    throw new ConfigError(
      `${name}=${JSON.stringify(path)} is a directory, not the kernel log device (/dev/kmsg)`,
    );
  }
}

/**
 * Why the metrics server could not start. A given address is named with the port: the error
 * may be the address's ("Cannot assign requested address": not one of this host's), and an
 * IPv6 address is bracketed so that its port stays readable. A port in use is said how to
 * avoid: a `run --dry-run` beside the daemon (in its pod, or on a host-network node) meets it.
 */
function listenError(config: Config, error: unknown): ConfigError {
  const address = config.metricsAddress;
  const where = address === undefined
    ? `:${config.metricsPort} (METRICS_SERVER_PORT)`
    : `${address.includes(":") ? `[${address}]` : address}:${config.metricsPort} ` +
      "(METRICS_LISTEN_ADDRESS, METRICS_SERVER_PORT)";
  const advice = error instanceof Deno.errors.AddrInUse
    ? ": another process listens there (the daemon, for a run beside it): give " +
      "--metrics-server-port another port (0: any free one)"
    : "";
  return new ConfigError(`cannot listen on ${where}: ${(error as Error).message}${advice}`);
}

/** Runs the daemon until a shutdown signal; returns the exit code. */
export async function runDaemon(config: Config, io: DaemonIo = realIo): Promise<number> {
  const log = daemonLogger(config);
  const metrics = new Metrics();
  const stop = new AbortController();
  const serverStop = new AbortController();
  let stopping = false;
  /** When the shutdown began (performance.now): the timeout counts from the signal. */
  let stoppingSince: number | undefined;
  let firstSignal: string | undefined;
  const unregister = io.onShutdownSignal((signal) => {
    if (
      stopping && signal === firstSignal && performance.now() - stoppingSince! < SAME_SIGNAL_MS
    ) {
      log.debug("the same signal again at once: taken as the one already received", { signal });
      return;
    }
    if (stopping) {
      // Run by hand, a second Ctrl-C means "now". Nothing is lost: the checkpoint is only ever
      // written up to handled drops, and what comes after it is read again at the next start.
      log.warn("second signal while shutting down; exiting at once", { signal });
      Deno.exit(128 + (SIGNAL_NUMBERS[signal] ?? 15));
    }
    stopping = true;
    stoppingSince = performance.now();
    firstSignal = signal;
    log.info("shutting down", { signal });
    stop.abort();
  });

  const identity = sourceIdentity(config);
  try {
    requireReadable(identity);
  } catch (error) {
    unregister();
    throw error;
  }
  const checkpoint = new CheckpointStore({
    dir: config.stateDirectory,
    kind: identity.kind,
    id: identity.id,
    log,
    onWriteError: () => metrics.checkpointWriteErrors.inc(),
  });
  if (config.stateDirectory) {
    const state = `STATE_DIRECTORY=${JSON.stringify(config.stateDirectory)}`;
    let holder: string | undefined;
    try {
      const info = await Deno.stat(config.stateDirectory);
      if (!info.isDirectory) throw new Error("not a directory");
      // Readable but not writable under the permission set: no checkpoint could ever be saved.
      if (!mayWrite(config.stateDirectory)) throw new Deno.errors.NotCapable();
      holder = await checkpoint.lock();
    } catch (error) {
      unregister();
      if (isNotPermitted(error)) {
        throw new ConfigError(
          `${state}: this program may not use it (${
            outsidePermissionSet(`keeps its state under ${PRODUCTION_PATHS.state}`)
          })`,
        );
      }
      throw new ConfigError(`${state} is not usable: ${(error as Error).message}`);
    }
    if (holder !== undefined) {
      unregister();
      throw new ConfigError(
        `${state}: another kube-iptables-tailer${
          holder ? ` (pid ${holder})` : ""
        } follows this source with this state directory; run this one without it (STATE_DIRECTORY= ) or with another`,
      );
    }
  }
  const release = () => {
    unregister();
    checkpoint.unlock();
  };
  const resumeFrom = await checkpoint.load();
  const parserSettings = JSON.stringify([
    config.prefixes,
    config.timeLayout ?? "",
    config.maxLineBytes,
  ]);
  const replay = resumeFrom === undefined
    ? undefined
    : Replay.from(checkpoint.savedNote, parserSettings, log);
  const countSourceEvent = metrics.sourceEventSink(identity.kind);
  const source = createSource(config, {
    resumeFrom,
    start: config.fromStart ? "beginning" : "end",
    onEvent: (event, n) => {
      countSourceEvent(event, n);
      // The log no longer reads as it did before the stop: the note of handled drops is void.
      if (LOG_CHANGED.has(event)) replay?.cancel(event);
    },
  }, log);

  let sink: DropSink;
  let eventSink: EventSink | undefined;
  if (config.dryRun) {
    const endpoints = await dryRunEndpoints(config, log, metrics, stop.signal);
    const printer = new DryRunSink(io.stdout, endpoints.annotate, {
      signal: stop.signal,
      graceMs: config.shutdownTimeoutSeconds * 500,
    });
    sink = dryRunSink(printer, endpoints, metrics);
  } else {
    const create = io.createEventSink ?? (await import("./kube/event_sink.ts")).createEventSink;
    let created: EventSink;
    try {
      created = await create(config, log, metrics, stop.signal);
    } catch (error) {
      release();
      throw error;
    }
    eventSink = created;
    sink = created;
  }

  const pipeline = new Pipeline({
    source,
    parser: new DropParser({
      prefixes: config.prefixes,
      timeLayout: config.timeLayout,
      maxLineLength: config.maxLineBytes,
    }),
    expiry: new ExpiryFilter(config.expirationMinutes * 60_000),
    repeat: new RepeatFilter({ intervalMs: config.repeatIntervalMinutes * 60_000 }),
    sink,
    metrics,
    log,
    checkpoint,
    replay,
  });

  let server;
  try {
    server = startServer({
      hostname: config.metricsAddress,
      port: config.metricsPort,
      metrics,
      log,
      signal: serverStop.signal,
      liveness: [{
        name: "source",
        ok: () => pipeline.alive || stopping,
        detail: () => `the read loop stopped: ${pipeline.failure ?? "ended"}`,
      }],
      readiness: [{
        name: "pod-index",
        ok: () => eventSink?.ready() ?? true,
        detail: () => eventSink?.readyDetail() ?? "",
      }],
    });
  } catch (error) {
    release();
    await eventSink?.close(0);
    throw listenError(config, error);
  }

  log.info("kube-iptables-tailer started", {
    version: VERSION,
    source: identity.kind,
    path: identity.id,
    prefixes: config.prefixes.join(","),
    mode: config.dryRun ? "dry-run" : "events",
    resumed: resumeFrom !== undefined,
    logLevel: config.logLevel,
  });

  let code = 0;
  try {
    await pipeline.run(stop.signal);
  } catch (error) {
    if (error instanceof OutputClosed) {
      // Like other filters: `run --dry-run | head` ends when head has its lines. What was not
      // printed is not checkpointed.
      log.info("stdout was closed (its reader went away); stopping");
    } else {
      log.error("the read loop failed", { error });
      code = 1;
    }
  }
  // However the read loop ended, everything else stops too (pod index, recorder).
  stop.abort();
  // 80 % of the timeout for Events; the rest for the checkpoint and the server.
  const budget = config.shutdownTimeoutSeconds * 1000 * 0.8;
  await eventSink?.close(
    Math.max(0, budget - (performance.now() - (stoppingSince ?? performance.now()))),
  );
  checkpoint.finish(pipeline.shutdownNote(parserSettings));
  await checkpoint.flush();
  serverStop.abort();
  await server.finished;
  release();
  log.info("stopped");
  return code;
}
