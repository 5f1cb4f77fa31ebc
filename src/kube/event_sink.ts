/**
 * The Kubernetes sink: for each drop that passed the filters, find both sides (pod index, then
 * reverse DNS for what is not a Pod), count it in `packet_drops_count`, and record an Event on
 * each side that is a Pod (not a host-network one, as in the original).
 *
 * Drops that arrive before the pod index has synced wait for it instead of being resolved as
 * "not a Pod"; at most PACKET_DROP_CHANNEL_BUFFER_SIZE drops wait or resolve at once — beyond
 * that their Events are shed, while the drop itself is still counted.
 *
 * A drop is acknowledged (may pass into the checkpoint) once its Events are posted or given up
 * on purpose. Events still unposted at the shutdown deadline leave their drop unacknowledged:
 * the next start reads it again, and an Event posted meanwhile is recognised by its 409.
 * @module
 */

import { type Config, readEnvironment } from "../config.ts";
import type { EventSink } from "../daemon.ts";
import { ReverseDns } from "../enrich/dns.ts";
import {
  type Endpoint,
  eventMessage,
  locate,
  type MessageOptions,
  metricLabel,
  type PodRef,
} from "../enrich/endpoints.ts";
import type { Logger } from "../log.ts";
import type { EventResult, Metrics } from "../metrics.ts";
import type { PacketDrop } from "../netfilter/types.ts";
import { dropIdentity } from "../pipeline/filters.ts";
import { KubeClient, loadKubeConfig } from "./client.ts";
import { PodIndex } from "./pods.ts";
import { EventRecorder } from "./recorder.ts";
import { pollUntil } from "../timing.ts";

/** What the sink needs from the pod index. */
export interface PodLookup {
  readonly ready: boolean;
  readyDetail(): string;
  whenReady(signal?: AbortSignal): Promise<void>;
  lookup(ip: string): PodRef | undefined;
}

/** Options of {@link KubeEventSink}. */
export interface KubeEventSinkOptions {
  pods: PodLookup;
  dns: { lookup(ip: string): Promise<string | undefined> };
  recorder: EventRecorder;
  metrics: Metrics;
  log: Logger;
  reason: string;
  naming: MessageOptions;
  /** Drops being resolved at once; beyond it their Events are shed. */
  maxInFlight: number;
  signal: AbortSignal;
  /** The API client, closed on close (its connections). */
  client?: KubeClient;
  /** Background work to await on close (index and recorder loops). */
  tasks?: Promise<unknown>[];
}

/** Turns drops into Events. */
export class KubeEventSink implements EventSink {
  #o: KubeEventSinkOptions;
  #inFlight = 0;
  /** Drops still finding their Pods or DNS names (not yet handed to the recorder). */
  #resolving = 0;

  constructor(options: KubeEventSinkOptions) {
    this.#o = options;
    options.metrics.watchQueueDepth(() => this.#inFlight + options.recorder.queueDepth);
  }

  ready(): boolean {
    return this.#o.pods.ready;
  }

  readyDetail(): string {
    return this.#o.pods.readyDetail();
  }

  handle(drop: PacketDrop, count: number): Promise<void> | void {
    if (this.#inFlight >= this.#o.maxInFlight) {
      // Shed the Events, keep the count (labels from the index when it can answer now).
      const label = (
        ip: string,
      ) => (this.#o.pods.ready ? metricLabel(this.#locateNow(ip)) : "unknown");
      this.#o.metrics.packetDrops.inc({ src: label(drop.src), dst: label(drop.dst) }, count);
      this.#o.metrics.dropsSkipped.inc({ reason: "shed" }, count);
      return;
    }
    this.#inFlight++;
    const done = Promise.withResolvers<void>();
    this.#process(drop, count).then((finished) => {
      this.#inFlight--;
      // A drop whose Events were left unposted at shutdown stays unacknowledged: the checkpoint
      // stays before it and the next start posts them (those already posted meet their 409).
      if (finished) done.resolve();
    }, () => {
      this.#inFlight--;
      done.resolve();
    });
    return done.promise;
  }

  /** The pod, host or external endpoint of `ip`, without DNS. */
  #locateNow(ip: string): Endpoint {
    return locate(ip, (address) => this.#o.pods.lookup(address));
  }

  /** An external `endpoint` with its reverse-DNS name, when it has one. */
  async #withDnsName(endpoint: Endpoint): Promise<Endpoint> {
    if (endpoint.kind !== "external") return endpoint;
    const dnsName = await this.#o.dns.lookup(endpoint.ip);
    return dnsName ? { ...endpoint, dnsName } : endpoint;
  }

  /**
   * Resolves the Events of `count` identical drops (one update each, by `count`); false when
   * shutdown left one of them unposted.
   */
  async #process(drop: PacketDrop, count: number): Promise<boolean> {
    const { recorder, metrics, log } = this.#o;
    this.#resolving++;
    let sides: [Endpoint, Endpoint] | undefined;
    try {
      sides = await this.#sides(drop);
    } finally {
      this.#resolving--;
    }
    if (!sides) return false; // shutting down before the index was ready
    const [src, dst] = sides;
    metrics.packetDrops.inc({ src: metricLabel(src), dst: metricLabel(dst) }, count);
    const work: Promise<EventResult>[] = [];
    const dropId = dropIdentity(drop);
    if (src.kind === "pod") {
      work.push(recorder.record({
        pod: src.pod,
        reason: this.#o.reason,
        message: eventMessage(drop, "send", dst, this.#o.naming),
        time: drop.time,
        dropId,
        count,
      }));
    }
    if (dst.kind === "pod") {
      work.push(recorder.record({
        pod: dst.pod,
        reason: this.#o.reason,
        message: eventMessage(drop, "receive", src, this.#o.naming),
        time: drop.time,
        dropId,
        count,
      }));
    }
    if (work.length === 0 && log.enabled("debug")) {
      log.debug("drop involves no Pod", { src: drop.src, dst: drop.dst });
    }
    const results = await Promise.all(work);
    return !results.includes("unsent");
  }

  /**
   * Both sides of `drop` (a name for the other side when there is a Pod to tell); undefined when
   * shutting down before the pod index was ready.
   */
  async #sides(drop: PacketDrop): Promise<[Endpoint, Endpoint] | undefined> {
    const { pods } = this.#o;
    try {
      if (!pods.ready) await pods.whenReady(this.#o.signal);
    } catch {
      return undefined;
    }
    const srcNow = this.#locateNow(drop.src);
    const dstNow = this.#locateNow(drop.dst);
    const srcIsPod = srcNow.kind === "pod";
    const dstIsPod = dstNow.kind === "pod";
    return await Promise.all([
      srcNow.kind === "external" && dstIsPod ? this.#withDnsName(srcNow) : srcNow,
      dstNow.kind === "external" && srcIsPod ? this.#withDnsName(dstNow) : dstNow,
    ]);
  }

  async close(deadlineMs: number): Promise<void> {
    const deadline = performance.now() + deadlineMs;
    // Drops still finding their DNS names reach the recorder first, within the deadline.
    await pollUntil(() => this.#resolving === 0, deadline);
    await this.#o.recorder.close(Math.max(0, deadline - performance.now()));
    // Requests still in flight (waiting for the rate limit or an answer) must not hold the exit
    // past the deadline. Their drops stay unacknowledged, so the checkpoint written next stays
    // before them.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
    });
    await Promise.race([Promise.allSettled(this.#o.tasks ?? []), expired]);
    clearTimeout(timer);
    if (this.#resolving > 0) {
      this.#o.log.warn(
        "shutdown deadline reached; drops still resolving their Pods or DNS names (with a " +
          "state directory, they are read again at the next start)",
        { drops: this.#resolving },
      );
    }
    this.#o.client?.close();
    // Let the last acknowledgements reach the checkpoint before the caller flushes it.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** Whether Event messages should name the matched prefix. */
export function showsPrefix(prefixes: readonly string[]): boolean {
  return prefixes.length > 1 || prefixes.some((p) => p.includes("*"));
}

/** A client and a running pod index for the configured cluster. */
export function startPodIndex(
  config: Config,
  log: Logger,
  metrics: Metrics,
  signal: AbortSignal,
): { client: KubeClient; pods: PodIndex; task: Promise<void> } {
  // Loaded again after a 401: the kubeconfig may have been rewritten with new credentials.
  const load = () => loadKubeConfig(config, readEnvironment());
  const client = new KubeClient(
    load(),
    config,
    log.with({ component: "kube-client" }),
    metrics,
    load,
  );
  log.info("using the Kubernetes API", { server: client.server });
  const pods = new PodIndex({
    client,
    log: log.with({ component: "pod-index" }),
    metrics,
    labelKey: config.podIdentifier === "label" ? config.podIdentifierLabel : undefined,
  });
  return { client, pods, task: pods.run(signal) };
}

/** Builds the real sink from the config: client, pod index, DNS, recorder. */
export function createEventSink(
  config: Config,
  log: Logger,
  metrics: Metrics,
  signal: AbortSignal,
): Promise<EventSink> {
  const { client, pods, task } = startPodIndex(config, log, metrics, signal);
  const dns = new ReverseDns({
    timeoutMs: config.dnsTimeoutSeconds * 1000,
    cacheSize: config.dnsCacheSize,
    ttlMs: config.dnsCacheTtlSeconds * 1000,
    concurrency: config.dnsConcurrency,
    nameServer: config.dnsServer,
    onResult: (result) => metrics.dnsLookups.inc({ result }),
  });
  const recorder = new EventRecorder({
    client,
    log: log.with({ component: "recorder" }),
    metrics,
    component: config.eventSourceComponent,
    host: config.nodeName,
    queueSize: config.bufferSize * 2,
    spamBurst: config.eventBurst,
    spamRefillMs: config.eventRefillSeconds * 1000,
    maxAgeMs: config.expirationMinutes * 60_000,
  });
  return Promise.resolve(
    new KubeEventSink({
      pods,
      dns,
      recorder,
      metrics,
      log,
      reason: config.eventReason,
      naming: { podIdentifier: config.podIdentifier, showPrefix: showsPrefix(config.prefixes) },
      maxInFlight: config.bufferSize,
      signal,
      tasks: [task, recorder.run(signal)],
      client,
    }),
  );
}
