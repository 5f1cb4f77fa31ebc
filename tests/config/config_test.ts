import assert from "node:assert/strict";
import { parseCommandLine } from "../../src/cli.ts";
import { type Config, ConfigError, loadConfig, OPTIONS } from "../../src/config.ts";

const BASE = { IPTABLES_LOG_PATH: "/var/log/kern.log", IPTABLES_LOG_PREFIX: "calico-drop:" };

function load(env: Record<string, string>, args: string[] = []): Config {
  return loadConfig({
    env: { ...BASE, ...env },
    flags: parseCommandLine(args).flags,
    hostname: () => "Node-1",
  });
}

function refuse(env: Record<string, string | undefined>, args: string[] = []): string {
  try {
    loadConfig({
      env: env as Record<string, string>,
      flags: parseCommandLine(args).flags,
      hostname: () => "n",
    });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.ok(!error.message.includes("\n"), "one line");
    return error.message;
  }
  throw new Error(`accepted ${JSON.stringify(env)} ${args.join(" ")}`);
}

/**
 * For every variable: [name, config key, expected default, a valid value, what it becomes, an
 * invalid value]. Defaults are the original kube-iptables-tailer's (README, util/envar.go) or,
 * for new variables, the documented ones.
 */
const TABLE: [string, keyof Config, unknown, string, unknown, string | undefined][] = [
  ["IPTABLES_LOG_PREFIX", "prefixes", ["calico-drop:"], "a: , b:,c", ["a:", "b:", "c"], " , "],
  [
    "KUBE_API_SERVER",
    "kubeApiServer",
    undefined,
    "https://10.0.0.1:6443/",
    "https://10.0.0.1:6443",
    "ftp://x",
  ],
  ["KUBECONFIG", "kubeconfig", undefined, "/root/.kube/config", "/root/.kube/config", undefined],
  [
    "KUBE_EVENT_DISPLAY_REASON",
    "eventReason",
    "PacketDrop",
    "NetworkPolicyDrop",
    "NetworkPolicyDrop",
    "x".repeat(129),
  ],
  [
    "KUBE_EVENT_SOURCE_COMPONENT_NAME",
    "eventSourceComponent",
    "kube-iptables-tailer",
    "net-watch",
    "net-watch",
    "bad\nname",
  ],
  ["METRICS_SERVER_PORT", "metricsPort", 9090, "9100", 9100, "65536"],
  ["METRICS_LISTEN_ADDRESS", "metricsAddress", undefined, "[::]", "::", "a b"],
  ["PACKET_DROP_CHANNEL_BUFFER_SIZE", "bufferSize", 100, "1000", 1000, "-1"],
  ["PACKET_DROP_EXPIRATION_MINUTES", "expirationMinutes", 10, "30", 30, "ten"],
  ["REPEATED_EVENTS_INTERVAL_MINUTES", "repeatIntervalMinutes", 2, "0", 0, "two"],
  ["WATCH_LOGS_INTERVAL_SECONDS", "watchIntervalSeconds", 5, "1", 1, "1.5"],
  ["LOG_LEVEL", "logLevel", "info", "DEBUG", "debug", "verbose"],
  ["LOG_FORMAT", "logFormat", "text", "json", "json", "xml"],
  [
    "PACKET_DROP_LOG_TIME_LAYOUT",
    "timeLayout",
    undefined,
    "Jan _2 15:04:05",
    "Jan _2 15:04:05",
    "no fields",
  ],
  [
    "POD_IDENTIFIER",
    "podIdentifier",
    "namespace",
    "name_with_namespace",
    "name_with_namespace",
    "uid",
  ],
  [
    "POD_IDENTIFIER_LABEL",
    "podIdentifierLabel",
    undefined,
    "app.kubernetes.io/name",
    "app.kubernetes.io/name",
    "bad label!",
  ],
  [
    "STATE_DIRECTORY",
    "stateDirectory",
    undefined,
    "/var/lib/kube-iptables-tailer",
    "/var/lib/kube-iptables-tailer",
    undefined,
  ],
  ["NODE_NAME", "nodeName", "node-1", "worker-7", "worker-7", "Bad_Node"],
  ["FROM_START", "fromStart", false, "true", true, "maybe"],
  ["MAX_LINE_BYTES", "maxLineBytes", 65536, "1048576", 1048576, "10"],
  ["KUBE_API_QPS", "kubeApiQps", 5, "2.5", 2.5, "0"],
  ["KUBE_API_BURST", "kubeApiBurst", 10, "20", 20, "0"],
  ["KUBE_API_TIMEOUT_SECONDS", "kubeApiTimeoutSeconds", 10, "30", 30, "nan"],
  [
    "DNS_SERVER",
    "dnsServer",
    undefined,
    "127.0.0.1:5399",
    { ipAddr: "127.0.0.1", port: 5399 },
    "10.96.0.300",
  ],
  ["DNS_TIMEOUT_SECONDS", "dnsTimeoutSeconds", 2, "0.5", 0.5, "100"],
  ["DNS_CACHE_SIZE", "dnsCacheSize", 10000, "0", 0, "-5"],
  ["DNS_CACHE_TTL_SECONDS", "dnsCacheTtlSeconds", 300, "60", 60, "0"],
  ["DNS_CONCURRENCY", "dnsConcurrency", 8, "2", 2, "0"],
  ["EVENT_SPAM_BURST", "eventBurst", 25, "5", 5, "0"],
  ["EVENT_SPAM_REFILL_SECONDS", "eventRefillSeconds", 300, "1", 1, "-1"],
  ["SHUTDOWN_TIMEOUT_SECONDS", "shutdownTimeoutSeconds", 2, "5", 5, "0"],
];

Deno.test("config: every variable has its default, takes a valid value, refuses an invalid one", () => {
  const defaults = load({});
  for (const [name, key, def, valid, becomes, invalid] of TABLE) {
    assert.deepEqual(defaults[key], def, `default of ${name}`);
    assert.deepEqual(load({ [name]: valid })[key], becomes, `${name}=${valid}`);
    if (invalid !== undefined) {
      const message = refuse({ ...BASE, [name]: invalid });
      assert.ok(message.includes(name), `message names ${name}: ${message}`);
      assert.ok(message.includes(JSON.stringify(invalid)), `message shows the value: ${message}`);
      assert.match(message, /expected|must/, `message says what is accepted: ${message}`);
    }
  }
});

Deno.test("config: the table covers every variable the program reads", () => {
  const declared = OPTIONS.flatMap((o) => (o.env ? [o.env] : [])).sort();
  const tested = [
    ...TABLE.map((row) => row[0]),
    "IPTABLES_LOG_PATH",
    "JOURNAL_DIRECTORY",
    "KMSG_PATH",
  ].sort();
  assert.deepEqual(declared, tested);
});

Deno.test("config: every variable of the original keeps its name", () => {
  const original = [
    "IPTABLES_LOG_PATH",
    "JOURNAL_DIRECTORY",
    "IPTABLES_LOG_PREFIX",
    "KUBE_API_SERVER",
    "KUBE_EVENT_DISPLAY_REASON",
    "KUBE_EVENT_SOURCE_COMPONENT_NAME",
    "METRICS_SERVER_PORT",
    "PACKET_DROP_CHANNEL_BUFFER_SIZE",
    "PACKET_DROP_EXPIRATION_MINUTES",
    "REPEATED_EVENTS_INTERVAL_MINUTES",
    "WATCH_LOGS_INTERVAL_SECONDS",
    "LOG_LEVEL",
    "PACKET_DROP_LOG_TIME_LAYOUT",
    "POD_IDENTIFIER",
    "POD_IDENTIFIER_LABEL",
  ];
  for (const name of original) assert.ok(OPTIONS.some((o) => o.env === name && o.original), name);
});

Deno.test("config: exactly one source", () => {
  const prefix = { IPTABLES_LOG_PREFIX: "x:" };
  assert.match(
    refuse(prefix),
    /no log source: set one of IPTABLES_LOG_PATH, JOURNAL_DIRECTORY or KMSG_PATH/,
  );
  assert.match(
    refuse({ ...prefix, IPTABLES_LOG_PATH: "/a", JOURNAL_DIRECTORY: "/b" }),
    /more than one log source \(IPTABLES_LOG_PATH and JOURNAL_DIRECTORY\)/,
  );
  assert.match(
    refuse({ ...prefix, IPTABLES_LOG_PATH: "/a", KMSG_PATH: "/b" }),
    /more than one log source \(IPTABLES_LOG_PATH and KMSG_PATH\)/,
  );
  assert.match(
    refuse({ ...prefix, JOURNAL_DIRECTORY: "/a", KMSG_PATH: "/b" }),
    /more than one log source \(JOURNAL_DIRECTORY and KMSG_PATH\)/,
  );
  assert.equal(
    loadConfig({ env: { ...prefix, JOURNAL_DIRECTORY: "/var/log/journal" } }).journalDirectory,
    "/var/log/journal",
  );
  assert.equal(loadConfig({ env: { ...prefix, KMSG_PATH: "/dev/kmsg" } }).kmsgPath, "/dev/kmsg");
  assert.equal(loadConfig({ env: prefix }, false).logPath, undefined, "parse needs no source");
});

Deno.test("config: KUBE_API_SERVER without a scheme is https, as client-go read it", () => {
  // client-go (rest.DefaultServerURL) puts https:// before a host[:port] when TLS is set up, as
  // it is in a cluster: the original took KUBE_API_SERVER=10.0.0.1:6443.
  assert.equal(load({ KUBE_API_SERVER: "10.0.0.1:6443" }).kubeApiServer, "https://10.0.0.1:6443");
  assert.equal(
    load({ KUBE_API_SERVER: "kubernetes.default.svc:443" }).kubeApiServer,
    "https://kubernetes.default.svc:443",
  );
  assert.equal(load({ KUBE_API_SERVER: "[fd00::1]:6443" }).kubeApiServer, "https://[fd00::1]:6443");
  assert.equal(
    load({ KUBE_API_SERVER: "http://127.0.0.1:8080" }).kubeApiServer,
    "http://127.0.0.1:8080",
  );
  assert.match(refuse({ ...BASE, KUBE_API_SERVER: "a b:6443" }), /KUBE_API_SERVER/);
});

Deno.test("config: integers the original ran with are taken, with the original's meaning", () => {
  // PACKET_DROP_CHANNEL_BUFFER_SIZE=0 was an unbuffered Go channel: one drop handled at a time.
  assert.equal(load({ PACKET_DROP_CHANNEL_BUFFER_SIZE: "0" }).bufferSize, 1);
  // A negative REPEATED_EVENTS_INTERVAL_MINUTES never matched a repeat: no repeat filter.
  assert.equal(load({ REPEATED_EVENTS_INTERVAL_MINUTES: "-1" }).repeatIntervalMinutes, 0);
});

Deno.test("config: LOG_LEVEL takes zap's dpanic, panic and fatal, as the original did", () => {
  // Levels above error: only errors are logged then (we log nothing more severe).
  for (const level of ["dpanic", "PANIC", "fatal"]) {
    assert.equal(load({ LOG_LEVEL: level }).logLevel, "error", level);
  }
});

Deno.test("config: required prefix and label", () => {
  assert.match(refuse({ IPTABLES_LOG_PATH: "/a" }), /IPTABLES_LOG_PREFIX is required/);
  assert.match(
    refuse({ ...BASE, POD_IDENTIFIER: "label" }),
    /POD_IDENTIFIER=label needs POD_IDENTIFIER_LABEL/,
  );
  assert.equal(
    load({ POD_IDENTIFIER: "label", POD_IDENTIFIER_LABEL: "app" }).podIdentifierLabel,
    "app",
  );
});

Deno.test("config: a flag wins over the environment and is named in errors", () => {
  const c = load({ METRICS_SERVER_PORT: "9100" }, [
    "--metrics-server-port",
    "9200",
    "--iptables-log-prefix=a:,b:",
  ]);
  assert.equal(c.metricsPort, 9200);
  assert.deepEqual(c.prefixes, ["a:", "b:"]);
  assert.equal(load({}, ["run", "--from-start"]).fromStart, true);
  assert.equal(load({}, ["--dry-run=true"]).dryRun, true);
  // An explicit false is a value too: it wins over the environment's true.
  assert.equal(load({ FROM_START: "true" }, ["--from-start=false"]).fromStart, false);
  assert.equal(load({ FROM_START: "yes" }, ["--from-start=0"]).fromStart, false);
  assert.equal(load({ FROM_START: "false" }, ["--from-start=yes"]).fromStart, true);
  // The last of them wins, whichever form (a wrapper that appends a flag).
  assert.equal(load({}, ["--from-start=false", "--from-start"]).fromStart, true);
  assert.equal(load({}, ["--from-start", "--from-start=false"]).fromStart, false);
  const message = refuse(BASE, ["--metrics-server-port=x"]);
  assert.match(
    message,
    /--metrics-server-port \(METRICS_SERVER_PORT\)="x": expected an integer from 0 to 65535/,
  );
  assert.throws(() => parseCommandLine(["--no-such-flag"]), /Unknown option '--no-such-flag'/);
  assert.throws(
    () => parseCommandLine(["frobnicate"]),
    /^ConfigError: unknown command "frobnicate": expected run, parse, version or help/,
  );
});

Deno.test("cli: an option with one dash where two belong is named whole, with its two-dash form", () => {
  // parseArgs read "-iptables-log-prefix=x:" as short options and named only "-i".
  assert.throws(
    () => parseCommandLine(["run", "-iptables-log-prefix=x:"]),
    /^ConfigError: unknown option '-iptables-log-prefix=x:': long options take two dashes: --iptables-log-prefix \(see --help\)$/,
  );
  assert.throws(
    () => parseCommandLine(["parse", "-format", "table"]),
    /^ConfigError: unknown option '-format': long options take two dashes: --format \(see --help\)$/,
  );
  // Short options still work; an unknown one is named without parseArgs' advice about
  // positional arguments.
  assert.deepEqual(parseCommandLine(["parse", "-pcalico:", "-"]).parse.prefixes, ["calico:"]);
  assert.throws(
    () => parseCommandLine(["parse", "-q", "x.log"]),
    /^ConfigError: Unknown option '-q'\. \(see --help\)$/,
  );
});

Deno.test("cli: a long option with one dash whose first letter is a short option is named too, not read as that short option", () => {
  // parseArgs read "-help" as "-h -e …" (Unknown option '-e'), "-version" as "-v ersion"
  // (invalid --v), and "-prefix=x:" under parse as "-p refix=x:", taken without a word.
  for (
    const [args, name] of [
      [["-help"], "help"],
      [["run", "-version"], "version"],
      [["parse", "-help"], "help"],
      [["parse", "-prefix=calico:", "-"], "prefix"],
      [["parse", "-packet-drop-log-time-layout=2006", "-"], "packet-drop-log-time-layout"],
    ]
  ) {
    assert.throws(
      () => parseCommandLine(args as string[]),
      new RegExp(
        `^ConfigError: unknown option '${
          (args as string[]).find((a) => a.startsWith("-"))
        }': long options take two dashes: --${name} \\(see --help\\)$`,
      ),
      (args as string[]).join(" "),
    );
  }
  // A word that only looks like one (an object's own property, not an option) is not advised.
  assert.throws(
    () => parseCommandLine(["run", "-constructor"]),
    /^ConfigError: unknown option '-constructor' \(see --help\)$/,
  );
});

Deno.test("cli: help parse is parse --help; help run the general help", () => {
  assert.equal(parseCommandLine(["help", "parse"]).helpTopic, "parse");
  assert.equal(parseCommandLine(["help", "parse"]).command, "help");
  assert.equal(parseCommandLine(["help", "run"]).helpTopic, undefined);
  assert.equal(parseCommandLine(["help", "run"]).command, "help");
});

Deno.test("config: the original manifests' glog flags are accepted", () => {
  const c = load({}, [
    "-v=2",
    "--log_dir=/var/log/tailer",
    "--logtostderr",
    "-alsologtostderr=false",
  ]);
  assert.equal(c.logLevel, "debug");
  assert.equal(c.logDir, "/var/log/tailer");
  assert.equal(load({}, ["--v=0"]).logLevel, "info");
  assert.equal(
    load({ LOG_LEVEL: "error" }, ["--v=3"]).logLevel,
    "error",
    "an explicit LOG_LEVEL wins",
  );
});

Deno.test("config: the result is frozen", () => {
  const c = load({});
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.prefixes));
});
