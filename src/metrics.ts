/**
 * Every metric the program exports, on one prom-client registry. Label values come from bounded
 * sets only (namespaces, "host", "external", fixed reasons): IPs and DNS names never become
 * label values.
 *
 * `packet_drops_count{src,dst}` keeps the original's name and meaning (drops handled, expired
 * and repeated ones excluded); everything else is `kube_iptables_tailer_*`.
 * @module
 */

import client from "prom-client";
import type { SourceEvent } from "./sources/source.ts";
import { PARSE_ERROR_REASONS, type ParseErrorReason } from "./netfilter/types.ts";
import { VERSION } from "./version.ts";

/** Why a drop was not acted on. */
export type SkipReason = "expired" | "repeated" | "shed";
/** What happened to an Event. */
export type EventResult =
  | "created"
  | "updated"
  | "already_recorded"
  | "failed"
  | "rejected"
  | "suppressed"
  | "shed"
  | "unsent"
  | "namespace_gone";
/** Outcome of a reverse-DNS lookup. */
export type DnsResult =
  | "cache_hit"
  | "resolved"
  | "not_found"
  /** The PTR answer is no host name (see isHostName): not shown. */
  | "invalid_name"
  | "timeout"
  | "error"
  | "shed";

const PREFIX = "kube_iptables_tailer_";

/** Default process metrics prom-client can only read from /proc/self. */
const PROC_METRICS = [
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
  "process_open_fds",
  "process_max_fds",
];

/** The program's metrics. */
export class Metrics {
  readonly registry = new client.Registry();
  readonly packetDrops = new client.Counter({
    name: "packet_drops_count",
    help:
      "Packet drops handled, by the namespace of sender and receiver ('host' for host-network " +
      "and node IPs, 'external' otherwise); excludes expired and repeated drops.",
    labelNames: ["src", "dst"] as const,
    registers: [this.registry],
  });
  readonly logLines = new client.Counter({
    name: `${PREFIX}log_lines_total`,
    help: "Log lines (or records) read from the source.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly dropsParsed = new client.Counter({
    name: `${PREFIX}drops_parsed_total`,
    help: "Packet drops parsed, by configured prefix (a * pattern as configured).",
    labelNames: ["prefix"] as const,
    registers: [this.registry],
  });
  readonly parseErrors = new client.Counter({
    name: `${PREFIX}parse_errors_total`,
    help: "Lines with a matching prefix that could not be parsed, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly dropsSkipped = new client.Counter({
    name: `${PREFIX}drops_skipped_total`,
    help: "Drops not acted on: expired (older than the expiration), repeated (within the repeat " +
      "interval), shed (queue full).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly events = new client.Counter({
    name: `${PREFIX}events_total`,
    help: "Events by result: created, updated (count raised), already_recorded (replayed after a " +
      "restart), failed (gave up after retries), rejected (4xx), suppressed (spam filter), shed " +
      "(queue full), namespace_gone, unsent (left at shutdown; its drop is read again at the next " +
      "start).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  /** What the queue-depth gauge reads at each scrape (set by the Kubernetes sink). */
  #queueDepth: () => number = () => 0;
  readonly eventQueueDepth = (() => {
    const depth = () => this.#queueDepth();
    return new client.Gauge({
      name: `${PREFIX}event_queue_depth`,
      help: "Drops and Events waiting to be handled.",
      registers: [this.registry],
      // Read when scraped: several parts hold queued work, none of them owns the number.
      collect() {
        this.set(depth());
      },
    });
  })();
  readonly podIndexSize = new client.Gauge({
    name: `${PREFIX}pod_index_size`,
    help: "Pods in the IP index.",
    registers: [this.registry],
  });
  readonly watchRestarts = new client.Counter({
    name: `${PREFIX}watch_restarts_total`,
    help:
      "Pod watch restarts, by reason (expired = 410 Gone and a new list, error, closed, idle = nothing received, not even a bookmark, for the idle limit).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly podIndexRejected = new client.Counter({
    name: `${PREFIX}pod_index_rejected_total`,
    help: "Unusable answers and objects from the pod list/watch, by reason (bad_list, bad_json, " +
      "oversized, not_an_object, no_metadata, no_name, no_namespace, no_uid, bad_ip, bad_event).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly dnsLookups = new client.Counter({
    name: `${PREFIX}dns_lookups_total`,
    help: "Reverse-DNS lookups by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly eventDelay = new client.Histogram({
    name: `${PREFIX}event_delay_seconds`,
    help: "Delay from a drop's log time to its Event being accepted by the API server.",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly sourceEvents = new client.Counter({
    name: `${PREFIX}source_events_total`,
    help: "Source incidents: read errors, rotations, truncations, gaps, cut lines, corrupt data.",
    labelNames: ["source", "event"] as const,
    registers: [this.registry],
  });
  readonly checkpointWriteErrors = new client.Counter({
    name: `${PREFIX}checkpoint_write_errors_total`,
    help: "Failed checkpoint writes (retried).",
    registers: [this.registry],
  });
  readonly apiRequests = new client.Counter({
    name: `${PREFIX}api_requests_total`,
    help: "Requests to the Kubernetes API by verb and status code class.",
    labelNames: ["verb", "code"] as const,
    registers: [this.registry],
  });
  readonly lastRead = new client.Gauge({
    name: `${PREFIX}source_last_read_timestamp_seconds`,
    help: "When the source last delivered data (for a 'source stalled' alert).",
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    new client.Gauge({
      name: `${PREFIX}build_info`,
      help: "Version of the running program.",
      labelNames: ["version"] as const,
      registers: [this.registry],
    }).set({ version: VERSION }, 1);
    for (const reason of PARSE_ERROR_REASONS) this.parseErrors.inc({ reason }, 0);
    for (const reason of ["expired", "repeated", "shed"] as SkipReason[]) {
      this.dropsSkipped.inc({ reason }, 0);
    }
    if (options.defaultMetrics ?? true) {
      try {
        client.collectDefaultMetrics({ register: this.registry });
      } catch {
        // Default metrics are a convenience; never a reason not to start.
      }
      // prom-client reads these from /proc/self, which Deno opens only with --allow-all; they
      // would read 0. Resident memory comes from the runtime instead.
      for (const name of PROC_METRICS) this.registry.removeSingleMetric(name);
      new client.Gauge({
        name: "process_resident_memory_bytes",
        help: "Resident memory size in bytes.",
        registers: [this.registry],
        collect() {
          this.set(Deno.memoryUsage().rss);
        },
      });
    }
  }

  /** Makes `event_queue_depth` report `depth()` at each scrape. */
  watchQueueDepth(depth: () => number): void {
    this.#queueDepth = depth;
  }

  /** Counts a parse error. */
  parseError(reason: ParseErrorReason): void {
    this.parseErrors.inc({ reason });
  }

  /** A sink for source incidents of `source`. */
  sourceEventSink(source: string): (event: SourceEvent, n?: number) => void {
    return (event, n = 1) => this.sourceEvents.inc({ source, event }, n);
  }

  /** The text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
