/**
 * A small leveled logger writing one line per message to stderr, as text or JSON lines.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "info", format: "text" });
 * log.info("tailing", { path: "/var/log/kern.log" });
 * ```
 * @module
 */

import { writeAll } from "./output.ts";

/** Log levels, from most to least verbose. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Output format of log lines. */
export type LogFormat = "text" | "json";
/** Structured context attached to a log line. */
export type LogFields = Record<string, unknown>;

/** The logging interface every component receives. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
  /** Whether `level` would be written (to skip building expensive fields). */
  enabled(level: LogLevel): boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; defaults to stderr. Extra sinks (e.g. a log file) get the same lines. */
  write?: (line: string) => void;
  /** Clock, for tests. */
  now?: () => Date;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const encoder = new TextEncoder();

/**
 * Writes a log line to stderr, all of it (a write may take part of a long line); a closed stderr
 * is ignored (the default sink of loggers).
 */
export function writeStderr(line: string): void {
  try {
    writeAll(Deno.stderr, encoder.encode(line));
  } catch {
    // stderr closed: nothing sensible left to do with a log line.
  }
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") {
    return /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
  }
  if (value instanceof Date) return value.toISOString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return JSON.stringify(String(value)); // a cycle, a bigint: its text, as jsonSafe gives
  }
}

/**
 * `value`, or its text when JSON cannot write it (a cycle, a bigint): logging is done in catch
 * blocks with whatever was thrown, and must not throw in turn.
 */
function jsonSafe(value: unknown): unknown {
  try {
    JSON.stringify(value);
    return value;
  } catch {
    return String(value);
  }
}

function jsonValue(value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

/** The keys of a JSON line that the logger writes itself. */
const RESERVED_KEYS = new Set(["time", "level", "msg"]);

/**
 * The JSON key of field `key`: a field named like the line's own keys (the pipeline logs a
 * drop's `time`) becomes `fields.<key>`, as logrus does, instead of replacing the line's.
 */
function jsonKey(key: string): string {
  return RESERVED_KEYS.has(key) ? `fields.${key}` : key;
}

/** Creates a {@link Logger}. */
export function createLogger(options: LoggerOptions, base: LogFields = {}): Logger {
  const min = RANK[options.level];
  const write = options.write ?? writeStderr;
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const all = fields ? { ...base, ...fields } : base;
    let line: string;
    if (options.format === "json") {
      const record: Record<string, unknown> = { time: now().toISOString(), level, msg: message };
      for (const [k, v] of Object.entries(all)) record[jsonKey(k)] = jsonValue(v);
      try {
        line = JSON.stringify(record);
      } catch {
        // Rare: only then is each value tried on its own.
        for (const k of Object.keys(record)) record[k] = jsonSafe(record[k]);
        line = JSON.stringify(record);
      }
    } else {
      line = `${now().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}`;
      for (const [k, v] of Object.entries(all)) line += ` ${k}=${formatValue(v)}`;
    }
    write(line + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => createLogger(options, { ...base, ...fields }),
    enabled: (level) => RANK[level] >= min,
  };
}

/** A logger that discards everything (tests, benchmarks). */
export const silentLogger: Logger = createLogger({
  level: "error",
  format: "text",
  write: () => {},
});
