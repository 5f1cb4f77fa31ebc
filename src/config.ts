/**
 * Configuration: every environment variable of the original kube-iptables-tailer (same name,
 * default and meaning) plus the ones this version adds, each also a command-line flag. A flag
 * wins over the environment. Invalid values are refused with one line naming the variable, the
 * value given and what is accepted (the original silently fell back to defaults).
 *
 * @example
 * ```ts
 * const config = loadConfig({ env: { IPTABLES_LOG_PATH: "/var/log/kern.log", IPTABLES_LOG_PREFIX: "calico-drop:" }, args: [] });
 * config.prefixes; // ["calico-drop:"]
 * ```
 * @module
 */

import { LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import { compileGoLayout } from "./netfilter/go_layout.ts";
import { canonicalIp } from "./netfilter/ip.ts";
import { hasControlCharacters } from "./text.ts";

/** How Pods are named in Event messages and metric labels (the original's POD_IDENTIFIER). */
export const POD_IDENTIFIERS = ["namespace", "name", "label", "name_with_namespace"] as const;
/** One of {@link POD_IDENTIFIERS}. */
export type PodIdentifier = typeof POD_IDENTIFIERS[number];

/** The validated, frozen configuration. */
export interface Config {
  /** Exactly one source is set. */
  logPath?: string;
  journalDirectory?: string;
  kmsgPath?: string;
  prefixes: readonly string[];
  kubeApiServer?: string;
  kubeconfig?: string;
  kubeApiQps: number;
  kubeApiBurst: number;
  kubeApiTimeoutSeconds: number;
  eventReason: string;
  eventSourceComponent: string;
  metricsPort: number;
  /** Unset: every address, IPv6 and IPv4. */
  metricsAddress?: string;
  bufferSize: number;
  expirationMinutes: number;
  repeatIntervalMinutes: number;
  watchIntervalSeconds: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  logDir?: string;
  timeLayout?: string;
  podIdentifier: PodIdentifier;
  podIdentifierLabel?: string;
  stateDirectory?: string;
  nodeName: string;
  fromStart: boolean;
  dryRun: boolean;
  maxLineBytes: number;
  dnsServer?: { ipAddr: string; port: number };
  dnsTimeoutSeconds: number;
  dnsCacheSize: number;
  dnsCacheTtlSeconds: number;
  dnsConcurrency: number;
  eventBurst: number;
  eventRefillSeconds: number;
  shutdownTimeoutSeconds: number;
}

/** Value kinds an option can have. */
type Kind =
  | { type: "string"; pattern?: RegExp; accepted?: string; maxLength?: number }
  | { type: "path" }
  | { type: "url" }
  | { type: "list" }
  | { type: "int"; min: number; max: number }
  | { type: "number"; min: number; max: number }
  | { type: "enum"; values: readonly string[] }
  | { type: "bool" }
  | { type: "layout" }
  | { type: "hostport" }
  | { type: "host" };

/** One option: its key in {@link Config}, variable, flag, kind, default and meaning. */
export interface OptionSpec {
  key: keyof Config | "logtostderr" | "alsologtostderr" | "verbosity";
  env?: string;
  flag: string;
  kind: Kind;
  default?: string;
  /** Shown in --help in place of a literal default. */
  defaultText?: string;
  help: string;
  group: "source" | "kubernetes" | "events" | "filters" | "metrics" | "logging" | "runtime" | "dns";
  /** From the original kube-iptables-tailer (kept as it was). */
  original?: boolean;
}

/** Every option. The order is the --help order. */
export const OPTIONS: readonly OptionSpec[] = [
  // Sources: exactly one.
  {
    key: "logPath",
    env: "IPTABLES_LOG_PATH",
    flag: "iptables-log-path",
    kind: { type: "path" },
    help: "Log file with the kernel's LOG lines (e.g. /var/log/kern.log); mount its directory.",
    group: "source",
    original: true,
  },
  {
    key: "journalDirectory",
    env: "JOURNAL_DIRECTORY",
    flag: "journal-directory",
    kind: { type: "path" },
    help: "journald directory (e.g. /var/log/journal) to read kernel messages from instead.",
    group: "source",
    original: true,
  },
  {
    key: "kmsgPath",
    env: "KMSG_PATH",
    flag: "kmsg-path",
    kind: { type: "path" },
    help:
      "Read kernel records from this /dev/kmsg device instead (the host's, mounted at /run/kube-iptables-tailer/kmsg).",
    group: "source",
  },
  {
    key: "prefixes",
    env: "IPTABLES_LOG_PREFIX",
    flag: "iptables-log-prefix",
    kind: { type: "list" },
    help:
      "LOG prefix(es) of your drop rules, comma-separated, matched trimmed; * matches a policy name (required).",
    group: "source",
    original: true,
  },
  {
    key: "timeLayout",
    env: "PACKET_DROP_LOG_TIME_LAYOUT",
    flag: "packet-drop-log-time-layout",
    kind: { type: "layout" },
    defaultText: "auto-detect",
    help:
      "Go time layout of the log header (e.g. 2006-01-02T15:04:05.000000-07:00); overrides detection.",
    group: "source",
    original: true,
  },
  {
    key: "watchIntervalSeconds",
    env: "WATCH_LOGS_INTERVAL_SECONDS",
    flag: "watch-logs-interval-seconds",
    kind: { type: "int", min: 1, max: 3600 },
    default: "5",
    help: "Stat-based safety-net poll of the log, in seconds (inotify wakes us at once).",
    group: "source",
    original: true,
  },
  {
    key: "stateDirectory",
    env: "STATE_DIRECTORY",
    flag: "state-directory",
    kind: { type: "path" },
    defaultText: "none (no checkpoints)",
    help: "Directory for checkpoints, so a restart resumes where it stopped.",
    group: "source",
  },
  {
    key: "fromStart",
    env: "FROM_START",
    flag: "from-start",
    kind: { type: "bool" },
    default: "false",
    help: "Without a checkpoint, read the log from its beginning instead of its end.",
    group: "source",
  },
  {
    key: "maxLineBytes",
    env: "MAX_LINE_BYTES",
    flag: "max-line-bytes",
    kind: { type: "int", min: 1024, max: 16 * 1024 * 1024 },
    default: "65536",
    help: "Longer log lines are cut at this length and counted.",
    group: "source",
  },
  // Filters.
  {
    key: "expirationMinutes",
    env: "PACKET_DROP_EXPIRATION_MINUTES",
    flag: "packet-drop-expiration-minutes",
    kind: { type: "int", min: 1, max: 525600 },
    default: "10",
    help: "Drops whose log time is older than this are skipped.",
    group: "filters",
    original: true,
  },
  {
    key: "repeatIntervalMinutes",
    env: "REPEATED_EVENTS_INTERVAL_MINUTES",
    flag: "repeated-events-interval-minutes",
    kind: { type: "int", min: -525600, max: 525600 },
    default: "2",
    help:
      "A drop repeating (prefix, src, dst, proto, dport) within this interval is skipped (0 or less: none).",
    group: "filters",
    original: true,
  },
  {
    key: "bufferSize",
    env: "PACKET_DROP_CHANNEL_BUFFER_SIZE",
    flag: "packet-drop-channel-buffer-size",
    kind: { type: "int", min: 0, max: 1_000_000 },
    default: "100",
    help:
      "Drops waiting for Events; beyond it Event posts are shed (and counted), never reads. 0 means 1.",
    group: "filters",
    original: true,
  },
  // Kubernetes.
  {
    key: "kubeApiServer",
    env: "KUBE_API_SERVER",
    flag: "kube-api-server",
    kind: { type: "url" },
    defaultText: "in-cluster",
    help:
      "API server URL (HOST:PORT means https), overriding the in-cluster or kubeconfig address.",
    group: "kubernetes",
    original: true,
  },
  {
    key: "kubeconfig",
    env: "KUBECONFIG",
    flag: "kubeconfig",
    kind: { type: "path" },
    defaultText: "in-cluster, else ~/.kube/config",
    help:
      "kubeconfig file for running outside the cluster; several, separated by ':', are merged as kubectl does.",
    group: "kubernetes",
  },
  {
    key: "kubeApiQps",
    env: "KUBE_API_QPS",
    flag: "kube-api-qps",
    kind: { type: "number", min: 0.01, max: 10000 },
    default: "5",
    help: "Client-side rate limit towards the API server, requests per second.",
    group: "kubernetes",
  },
  {
    key: "kubeApiBurst",
    env: "KUBE_API_BURST",
    flag: "kube-api-burst",
    kind: { type: "int", min: 1, max: 10000 },
    default: "10",
    help: "Burst of the client-side rate limit.",
    group: "kubernetes",
  },
  {
    key: "kubeApiTimeoutSeconds",
    env: "KUBE_API_TIMEOUT_SECONDS",
    flag: "kube-api-timeout-seconds",
    kind: { type: "number", min: 0.1, max: 600 },
    default: "10",
    help: "Timeout of every API request (watches excepted).",
    group: "kubernetes",
  },
  {
    key: "nodeName",
    env: "NODE_NAME",
    flag: "node-name",
    kind: {
      type: "string",
      pattern: /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/i,
      accepted: "a node name (DNS subdomain)",
    },
    defaultText: "the host name",
    help: "This node's name (source.host of Events); set it from the downward API.",
    group: "kubernetes",
  },
  // Events.
  {
    key: "eventReason",
    env: "KUBE_EVENT_DISPLAY_REASON",
    flag: "kube-event-display-reason",
    kind: {
      type: "string",
      maxLength: 128,
      accepted: "1 to 128 characters without control characters",
    },
    default: "PacketDrop",
    help: "Reason of the Events.",
    group: "events",
    original: true,
  },
  {
    key: "eventSourceComponent",
    env: "KUBE_EVENT_SOURCE_COMPONENT_NAME",
    flag: "kube-event-source-component-name",
    kind: {
      type: "string",
      maxLength: 128,
      accepted: "1 to 128 characters without control characters",
    },
    default: "kube-iptables-tailer",
    help: 'source.component ("From") of the Events.',
    group: "events",
    original: true,
  },
  {
    key: "podIdentifier",
    env: "POD_IDENTIFIER",
    flag: "pod-identifier",
    kind: { type: "enum", values: POD_IDENTIFIERS },
    default: "namespace",
    help: "How the other side's Pod is named in messages.",
    group: "events",
    original: true,
  },
  {
    key: "podIdentifierLabel",
    env: "POD_IDENTIFIER_LABEL",
    flag: "pod-identifier-label",
    kind: {
      type: "string",
      pattern: /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
      accepted: "a label key",
    },
    help: "Label key naming Pods when POD_IDENTIFIER=label (the Pod name when absent).",
    group: "events",
    original: true,
  },
  {
    key: "eventBurst",
    env: "EVENT_SPAM_BURST",
    flag: "event-spam-burst",
    kind: { type: "int", min: 1, max: 10000 },
    default: "25",
    help: "Per-Pod Event burst (client-go's spam filter).",
    group: "events",
  },
  {
    key: "eventRefillSeconds",
    env: "EVENT_SPAM_REFILL_SECONDS",
    flag: "event-spam-refill-seconds",
    kind: { type: "number", min: 0.001, max: 86400 },
    default: "300",
    help: "After the burst, one more Event per Pod every this many seconds.",
    group: "events",
  },
  // DNS.
  {
    key: "dnsServer",
    env: "DNS_SERVER",
    flag: "dns-server",
    kind: { type: "hostport" },
    defaultText: "the system resolver",
    help: "Name server for PTR lookups, as IP or IP:PORT ([IPv6]:PORT).",
    group: "dns",
  },
  {
    key: "dnsTimeoutSeconds",
    env: "DNS_TIMEOUT_SECONDS",
    flag: "dns-timeout-seconds",
    kind: { type: "number", min: 0.05, max: 60 },
    default: "2",
    help: "Timeout of a PTR lookup.",
    group: "dns",
  },
  {
    key: "dnsCacheSize",
    env: "DNS_CACHE_SIZE",
    flag: "dns-cache-size",
    kind: { type: "int", min: 0, max: 10_000_000 },
    default: "10000",
    help: "Names kept in the reverse-DNS cache.",
    group: "dns",
  },
  {
    key: "dnsCacheTtlSeconds",
    env: "DNS_CACHE_TTL_SECONDS",
    flag: "dns-cache-ttl-seconds",
    kind: { type: "int", min: 1, max: 86400 },
    default: "300",
    help: "How long a reverse-DNS answer (or its absence) is kept.",
    group: "dns",
  },
  {
    key: "dnsConcurrency",
    env: "DNS_CONCURRENCY",
    flag: "dns-concurrency",
    kind: { type: "int", min: 1, max: 1000 },
    default: "8",
    help: "PTR lookups in flight at once.",
    group: "dns",
  },
  // Metrics.
  {
    key: "metricsPort",
    env: "METRICS_SERVER_PORT",
    flag: "metrics-server-port",
    kind: { type: "int", min: 0, max: 65535 },
    default: "9090",
    help: "Port of /metrics, /healthz and /readyz.",
    group: "metrics",
    original: true,
  },
  {
    key: "metricsAddress",
    env: "METRICS_LISTEN_ADDRESS",
    flag: "metrics-listen-address",
    kind: { type: "host" },
    defaultText: "every address (IPv6 and IPv4)",
    help: "Address the metrics server listens on; unset, all of them, as the original.",
    group: "metrics",
  },
  // Logging.
  {
    key: "logLevel",
    env: "LOG_LEVEL",
    flag: "log-level",
    kind: { type: "enum", values: LOG_LEVELS },
    default: "info",
    help: "debug, info, warn or error (case-insensitive); zap's dpanic, panic, fatal mean error.",
    group: "logging",
    original: true,
  },
  {
    key: "logFormat",
    env: "LOG_FORMAT",
    flag: "log-format",
    kind: { type: "enum", values: ["text", "json"] },
    default: "text",
    help: "Log lines on stderr as text or JSON.",
    group: "logging",
  },
  {
    key: "logDir",
    flag: "log_dir",
    kind: { type: "path" },
    help: "glog compatibility: also write the log to a file in this directory.",
    group: "logging",
  },
  {
    key: "verbosity",
    flag: "v",
    kind: { type: "int", min: 0, max: 10 },
    help:
      "glog compatibility: 0 = info, 1 or more = debug; only without LOG_LEVEL and --log-level.",
    group: "logging",
  },
  {
    key: "logtostderr",
    flag: "logtostderr",
    kind: { type: "bool" },
    help: "glog compatibility: accepted; we always log to stderr.",
    group: "logging",
  },
  {
    key: "alsologtostderr",
    flag: "alsologtostderr",
    kind: { type: "bool" },
    help: "glog compatibility: accepted; we always log to stderr.",
    group: "logging",
  },
  // Runtime.
  {
    key: "dryRun",
    flag: "dry-run",
    kind: { type: "bool" },
    default: "false",
    help:
      "Post no Events: print each drop the daemon would act on as NDJSON on stdout (expired and repeated ones are skipped, as the daemon skips them).",
    group: "runtime",
  },
  {
    key: "shutdownTimeoutSeconds",
    env: "SHUTDOWN_TIMEOUT_SECONDS",
    flag: "shutdown-timeout-seconds",
    kind: { type: "number", min: 0.1, max: 300 },
    default: "2",
    help:
      "On SIGTERM, SIGINT or SIGHUP: time to drain queued Events before exiting; drops still unposted stay after the checkpoint.",
    group: "runtime",
  },
];

/**
 * Every environment variable the program reads: the options' and those the Kubernetes client
 * reads (in-cluster address, kubeconfig discovery). The Deno permission set in deno.json allows
 * exactly these (a test keeps them in step).
 */
export const ENV_VARIABLES: readonly string[] = [
  ...OPTIONS.flatMap((o) => (o.env ? [o.env] : [])),
  "KUBERNETES_SERVICE_HOST",
  "KUBERNETES_SERVICE_PORT",
  "HOME",
];

/**
 * The variables in {@link ENV_VARIABLES}, read one by one: under the production permissions
 * only those are readable, and one we may not read counts as unset.
 */
export function readEnvironment(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of ENV_VARIABLES) {
    try {
      env[name] = Deno.env.get(name);
    } catch {
      // Not permitted: unset.
    }
  }
  return env;
}

/** A configuration error: exit code 2 with {@link ConfigError.message} on one line. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function describeSource(spec: OptionSpec, fromFlag: boolean): string {
  return fromFlag ? `--${spec.flag}${spec.env ? ` (${spec.env})` : ""}` : spec.env!;
}

function accepted(kind: Kind): string {
  switch (kind.type) {
    case "int":
      return `an integer from ${kind.min} to ${kind.max}`;
    case "number":
      return `a number from ${kind.min} to ${kind.max}`;
    case "enum":
      return `one of ${kind.values.join(", ")}`;
    case "bool":
      return "true or false";
    case "path":
      return "an absolute or relative path";
    case "url":
      return "an http(s) URL or HOST:PORT (https), e.g. https://10.0.0.1:6443";
    case "list":
      return "a comma-separated list of non-empty prefixes";
    case "layout":
      return "a Go time layout such as 2006-01-02T15:04:05.000000-07:00";
    case "hostport":
      return "an IP address with an optional port, e.g. 10.96.0.10 or 127.0.0.1:5353 or [::1]:53";
    case "host":
      return "an IP address or host name";
    case "string":
      return kind.accepted ?? "a string";
  }
}

/** Converts `raw` per `spec`, or throws a {@link ConfigError} naming the option and value. */
function convert(spec: OptionSpec, raw: string, fromFlag: boolean): unknown {
  const fail = (): never => {
    throw new ConfigError(
      `invalid ${describeSource(spec, fromFlag)}=${JSON.stringify(raw)}: expected ${
        accepted(spec.kind)
      }`,
    );
  };
  const kind = spec.kind;
  const text = raw.trim();
  switch (kind.type) {
    case "int": {
      if (!/^[-+]?\d+$/.test(text)) fail();
      const n = Number(text);
      if (!Number.isSafeInteger(n) || n < kind.min || n > kind.max) fail();
      return n;
    }
    case "number": {
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail();
      const n = Number(text);
      if (!Number.isFinite(n) || n < kind.min || n > kind.max) fail();
      return n;
    }
    case "enum": {
      let value = text.toLowerCase();
      if (spec.key === "logLevel") {
        // zap's levels above error, which the original took: we log nothing more severe.
        value = value === "warning"
          ? "warn"
          : ["dpanic", "panic", "fatal"].includes(value)
          ? "error"
          : value;
      }
      if (!kind.values.includes(value)) fail();
      return value;
    }
    case "bool": {
      const v = text.toLowerCase();
      if (["true", "1", "yes", ""].includes(v)) return true;
      if (["false", "0", "no"].includes(v)) return false;
      return fail();
    }
    case "path":
      if (text === "" || text.includes("\0")) fail();
      return text;
    case "url": {
      try {
        // Without a scheme, https: what client-go (rest.DefaultServerURL) made of the original's
        // KUBE_API_SERVER=10.0.0.1:6443 in a cluster.
        const full = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
        const url = new URL(full);
        if (url.protocol !== "http:" && url.protocol !== "https:") fail();
        return full.replace(/\/+$/, "");
      } catch {
        return fail();
      }
    }
    case "list": {
      const items = raw.split(",").map((p) => p.trim()).filter((p) => p !== "");
      if (items.length === 0) fail();
      if (items.some((p) => p.length > 128 || hasControlCharacters(p))) {
        throw new ConfigError(
          `invalid ${describeSource(spec, fromFlag)}=${JSON.stringify(raw)}: ` +
            "each prefix must be at most 128 characters without control characters",
        );
      }
      return Object.freeze(items);
    }
    case "layout":
      try {
        compileGoLayout(raw);
      } catch {
        fail();
      }
      return raw;
    case "hostport": {
      const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text) ??
        /^([0-9.]+)(?::(\d+))?$/.exec(text) ?? /^([0-9a-fA-F:]+)()$/.exec(text);
      if (!m) return fail();
      const port = m[2] ? Number(m[2]) : 53;
      const ip = canonicalIp(m[1]);
      if (port < 1 || port > 65535 || ip === undefined) fail();
      return { ipAddr: ip, port };
    }
    case "host":
      if (!/^[0-9a-zA-Z.:\-\[\]]+$/.test(text)) fail();
      return text.replace(/^\[(.*)\]$/, "$1");
    case "string":
      if (text === "" || (kind.pattern && !kind.pattern.test(text))) fail();
      if (
        kind.maxLength !== undefined && (text.length > kind.maxLength || hasControlCharacters(text))
      ) {
        fail();
      }
      return text;
  }
}

/** Inputs of {@link loadConfig}. */
export interface ConfigInput {
  env: Record<string, string | undefined>;
  /** Flags already parsed: option key → raw string (booleans as "true"). */
  flags?: Partial<Record<OptionSpec["key"], string>>;
  /** Used when NODE_NAME is unset. */
  hostname?: () => string;
}

/**
 * Builds the {@link Config} from the environment and flags; throws {@link ConfigError}.
 * `requireSource` is false for commands that need no source (e.g. `parse`).
 */
export function loadConfig(input: ConfigInput, requireSource = true): Config {
  const values: Record<string, unknown> = {};
  const setBy: Record<string, boolean> = {};
  for (const spec of OPTIONS) {
    const flagValue = input.flags?.[spec.key];
    const envValue = spec.env ? input.env[spec.env] : undefined;
    if (flagValue !== undefined) {
      values[spec.key] = convert(spec, flagValue, true);
      setBy[spec.key] = true;
    } else if (envValue !== undefined && envValue !== "") {
      values[spec.key] = convert(spec, envValue, false);
      setBy[spec.key] = false;
    } else if (spec.default !== undefined) {
      values[spec.key] = convert(spec, spec.default, false);
    }
  }

  // Integers the original ran with: a buffer of 0 (its unbuffered channel: one drop at a time)
  // and a negative repeat interval (never a repeat).
  if (values.bufferSize === 0) values.bufferSize = 1;
  if ((values.repeatIntervalMinutes as number) < 0) values.repeatIntervalMinutes = 0;
  const sources = (["logPath", "journalDirectory", "kmsgPath"] as const).filter((k) =>
    values[k] !== undefined
  );
  if (requireSource && sources.length !== 1) {
    const names = "IPTABLES_LOG_PATH, JOURNAL_DIRECTORY or KMSG_PATH";
    throw new ConfigError(
      sources.length === 0
        ? `no log source: set one of ${names}`
        : `more than one log source (${
          sources.map((k) => OPTIONS.find((o) => o.key === k)!.env).join(" and ")
        }): set exactly one of ${names}`,
    );
  }
  if (values.prefixes === undefined) {
    throw new ConfigError(
      'IPTABLES_LOG_PREFIX is required: the LOG prefix of your drop rules, e.g. "calico-drop:"',
    );
  }
  if (values.podIdentifier === "label" && values.podIdentifierLabel === undefined) {
    throw new ConfigError(
      "POD_IDENTIFIER=label needs POD_IDENTIFIER_LABEL: the label key that names Pods",
    );
  }
  // The original's LOG_LEVEL is its log level; glog's -v (in its manifests' args) only stands in
  // for it when it is not set.
  if (values.verbosity !== undefined && !("logLevel" in setBy)) {
    values.logLevel = (values.verbosity as number) >= 1 ? "debug" : "info";
  }
  delete values.verbosity;
  delete values.logtostderr;
  delete values.alsologtostderr;
  if (values.nodeName === undefined) {
    let host = "unknown";
    try {
      host = (input.hostname ?? (() => Deno.hostname()))();
    } catch {
      // Without the permission or a name we still run; Events then say "unknown".
    }
    values.nodeName = host.toLowerCase();
  }
  return Object.freeze(values) as unknown as Config;
}

/** The `--help` text of the options, grouped. */
export function optionsHelp(): string {
  const titles: Record<OptionSpec["group"], string> = {
    source: "Log source",
    filters: "Filters and queue",
    kubernetes: "Kubernetes API",
    events: "Events",
    dns: "Reverse DNS",
    metrics: "Metrics and health",
    logging: "Logging",
    runtime: "Runtime",
  };
  const lines: string[] = [];
  for (const group of Object.keys(titles) as OptionSpec["group"][]) {
    lines.push(`${titles[group]}:`);
    for (const spec of OPTIONS.filter((o) => o.group === group)) {
      const isBool = spec.kind.type === "bool";
      const flag = `--${spec.flag}${isBool ? "" : "=VALUE"}`;
      const def = spec.defaultText ?? spec.default;
      lines.push(
        `  ${flag}${spec.env ? `  [${spec.env}]` : ""}${
          def !== undefined ? `  (default: ${def})` : ""
        }`,
      );
      lines.push(`      ${spec.help}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** The options as a Markdown table (the README's configuration reference; a test compares). */
export function optionsMarkdownTable(): string {
  const cell = (text: string) => text.replace(/\|/g, "\\|");
  const rows = OPTIONS.map((o) => {
    const def = o.defaultText ?? o.default ?? "";
    const name = o.env ? `\`${o.env}\`` : "—";
    const meaning = `${cell(o.help)}${o.original ? " _(original)_" : ""}`;
    return `| ${name} | \`--${o.flag}\` | ${cell(def)} | ${meaning} |`;
  });
  return ["| Variable | Flag | Default | Meaning |", "|---|---|---|---|", ...rows].join("\n");
}
