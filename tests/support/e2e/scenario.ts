/**
 * The end-to-end scenario every source goes through, with the bundled daemon under the
 * production permissions against a kernel lab and the API emulator:
 *
 * 1. Run 1: rounds of drops (the source's hooks may rotate logs in between); the API must hold
 *    exactly the expected Events.
 * 2. SIGTERM (exit 0); a round while the daemon is down; run 2 resumes from its checkpoint and
 *    counts every drop once. Two quick rounds, then `kill -9` right after their Events arrived
 *    (the checkpoint may lag behind what was posted: the replay must not count twice).
 * 3. A round while it is down; run 3 resumes; a last round; the real `kubectl describe pod`
 *    shows every Event; SIGTERM, and the Events are checked once more with the daemon gone.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BundledDaemon, type BundledDaemonOptions, metricSum } from "./artifact.ts";
import { describePodEvents } from "./kubectl.ts";
import type { E2ePlaces } from "./places.ts";
import { type E2eWorld, NODE_NAME, type RoundPlan } from "./world.ts";

/** How a source is configured and what it can do between rounds. */
export interface SourceUnderTest {
  /** "file", "journal" or "kmsg" (the checkpoint file name starts with it). */
  kind: string;
  /** The source's environment (IPTABLES_LOG_PATH, JOURNAL_DIRECTORY or KMSG_PATH, …). */
  env: Record<string, string>;
  /** The log line saying the source follows its input (positioned: later drops are read). */
  following: RegExp;
  /** The log line saying a restarted source resumes from its checkpoint. */
  resumed: RegExp;
  /** Options of the daemon process (a bind mount for the journal). */
  daemon?: BundledDaemonOptions;
  /**
   * Waits until the source's input (the log file, the journal) holds `records` LOG records of
   * the lab: the next packet of a flow is sent only then (see {@link E2eWorld.sendRound}).
   */
  caughtUp?(records: number): Promise<void>;
  /** Called after each round of run 1 but the last ("rotate the log now"). */
  betweenRounds?(round: number): Promise<void>;
  /**
   * Waits before the `kill -9` (by default the kill comes right after the Events arrived, while
   * the checkpoint may still lag behind them, so the next run replays drops already counted).
   */
  beforeKill?(): Promise<void>;
  /** Called after the round sent while the daemon is down after SIGTERM. */
  whileDown?(): Promise<void>;
}

/** What a scenario held, for the test's summary line. */
export interface ScenarioSummary {
  source: string;
  drops: number;
  events: number;
  counts: number;
  linesLost: number;
  /** Drops the run after `kill -9` read again and found already counted. */
  replayedAfterKill: number;
  kubectlRows: number;
  /** kmsg: gap warnings about records older than the lab's (other tests filled the ring). */
  olderGapWarnings: number;
  runs: number;
  seconds: number;
}

/** The rounds: run 1 (several, the source may rotate between them), then one per later step. */
const RUN1: RoundPlan[] = [
  { tcp4: 2, udp4: 2, icmp4: 3, tcp6: 1, icmp6: 2, nftUdp6: 2, nftTcp4: 1 },
  { tcp4: 1, udp4: 1, icmp4: 1, tcp6: 2, icmp6: 1, nftUdp6: 1, nftTcp4: 2 },
  { tcp4: 1, icmp6: 2, nftUdp6: 1 },
];
const DOWN_AFTER_TERM: RoundPlan = { tcp4: 2, udp4: 1, icmp4: 2, tcp6: 1, nftTcp4: 1 };
const RUN2_BEFORE_KILL: RoundPlan[] = [
  { udp4: 1, icmp4: 1, icmp6: 1, nftUdp6: 2 },
  { tcp4: 1, udp4: 2, tcp6: 1, nftTcp4: 1 },
];
const DOWN_AFTER_KILL: RoundPlan = { tcp4: 1, icmp4: 2, tcp6: 1, icmp6: 1, nftUdp6: 1 };
const RUN3: RoundPlan = { tcp4: 1, udp4: 1, icmp4: 1, tcp6: 1, icmp6: 1, nftUdp6: 1, nftTcp4: 1 };

/** The environment every run gets besides the source's (as a DaemonSet would set it). */
export function commonEnv(world: E2eWorld, places: E2ePlaces): Record<string, string> {
  return {
    IPTABLES_LOG_PREFIX: world.prefixes.join(","),
    KUBECONFIG: places.kubeconfig,
    STATE_DIRECTORY: places.stateDir,
    NODE_NAME,
    // Every drop counts: the exact count of each Event is the number of packets dropped.
    REPEATED_EVENTS_INTERVAL_MINUTES: "0",
    METRICS_SERVER_PORT: "0",
    METRICS_LISTEN_ADDRESS: "127.0.0.1",
    // The test posts a few hundred Event writes in seconds: above client-go's QPS 5 and the
    // per-Pod spam burst of 25, which would shed or suppress on purpose.
    KUBE_API_QPS: "100",
    KUBE_API_BURST: "200",
    EVENT_SPAM_BURST: "1000",
  };
}

/** Runs the scenario; see the module documentation. */
export async function runScenario(
  world: E2eWorld,
  places: E2ePlaces,
  artifact: string,
  source: SourceUnderTest,
): Promise<ScenarioSummary> {
  const started = performance.now();
  const env = { ...commonEnv(world, places), ...source.env };
  const daemons: BundledDaemon[] = [];
  const start = async (): Promise<BundledDaemon> => {
    const daemon = BundledDaemon.start(artifact, ["run"], env, source.daemon);
    daemons.push(daemon);
    await daemon.waitForLog(daemons.length === 1 ? source.following : source.resumed);
    return daemon;
  };
  const send = (plan: RoundPlan) => world.sendRound(plan, source.caughtUp?.bind(source));
  const settle = async (daemon: BundledDaemon) => {
    try {
      await world.waitForEvents(daemon);
    } catch (error) {
      // What the daemon counted tells where drops went (parsed, skipped, already recorded).
      const metrics = await daemon.metrics().catch((e) => `(no metrics: ${e})`);
      const ours = metrics.split("\n").filter((l) =>
        /^(kube_iptables_tailer_(log_lines|drops_parsed|drops_skipped|events|parse_errors|source_events)_total|packet_drops_count)/
          .test(l)
      );
      throw new Error(`${(error as Error).message}\nmetrics:\n  ${ours.join("\n  ")}`);
    }
  };
  const stopCleanly = async (daemon: BundledDaemon) => {
    const status = await daemon.stop("SIGTERM");
    assert.equal(status.code, 0, `SIGTERM exits 0\n${daemon.tail()}`);
    assert.ok(daemon.logLine(/ INFO +stopped/), `the daemon logged its stop\n${daemon.tail()}`);
  };
  try {
    // Run 1.
    let daemon = await start();
    for (const [i, plan] of RUN1.entries()) {
      await send(plan);
      // Rotating right away: the daemon may not have read the round yet.
      if (i < RUN1.length - 1) await source.betweenRounds?.(i);
    }
    await settle(daemon);
    await stopCleanly(daemon);
    assert.deepEqual(world.problems(), [], "nothing more after the drain");
    assert.ok(
      places.checkpoints().some((name) => name.startsWith(`${source.kind}-`)),
      `a ${source.kind} checkpoint in ${places.stateDir}: ${places.checkpoints()}`,
    );

    // Down after SIGTERM, run 2, kill -9.
    await send(DOWN_AFTER_TERM);
    await source.whileDown?.();
    daemon = await start();
    await settle(daemon);
    for (const plan of RUN2_BEFORE_KILL) {
      await send(plan);
      await settle(daemon);
    }
    // SIGTERM saved the exact position: run 2 read nothing twice.
    assert.equal(
      metricSum(await daemon.metrics(), "kube_iptables_tailer_events_total", "already_recorded"),
      0,
      "no replay after SIGTERM",
    );
    await source.beforeKill?.();
    await daemon.stop("SIGKILL");

    // Down after kill -9, run 3.
    await send(DOWN_AFTER_KILL);
    daemon = await start();
    await settle(daemon);
    await send(RUN3);
    await settle(daemon);
    const metrics = await daemon.metrics();
    const replayed = metricSum(
      metrics,
      "kube_iptables_tailer_events_total",
      'result="already_recorded"',
    );
    for (const reason of ["shed", "expired", "repeated"]) {
      assert.equal(
        metricSum(metrics, "kube_iptables_tailer_drops_skipped_total", `reason="${reason}"`),
        0,
        `no drop skipped as ${reason}`,
      );
    }
    assert.doesNotMatch(
      metrics,
      /^kube_iptables_tailer_parse_errors_total\{[^}]*\} [1-9]/m,
      "every real LOG line parses",
    );

    // The real kubectl shows the same Events: type, reason, from, count and message.
    let kubectlRows = 0;
    const expected = world.expected();
    for (const pod of world.clusterPods) {
      const { rows, text } = await describePodEvents(
        places.kubeconfig,
        places.workDir,
        pod.namespace,
        pod.name,
      );
      const want = [...expected].filter(([key]) => key.startsWith(`${pod.namespace}/${pod.name}: `))
        .map(([key, count]) => ({ message: key.slice(key.indexOf(": ") + 2), count }));
      const got = rows.map((row) => {
        assert.equal(row.type, "Warning", text);
        assert.equal(row.reason, "PacketDrop", text);
        assert.equal(row.from, "kube-iptables-tailer", text);
        if (row.count > 1) assert.match(row.age, /^\S+ \(x\d+ over \S+\)$/, text);
        return { message: row.message, count: row.count };
      });
      const order = (a: { message: string }, b: { message: string }) =>
        a.message < b.message ? -1 : a.message > b.message ? 1 : 0;
      assert.deepEqual(got.sort(order), want.sort(order), `kubectl describe pod:\n${text}`);
      kubectlRows += rows.length;
    }

    await stopCleanly(daemon);
    // With the daemon gone nothing can still arrive: the final, stable comparison.
    assert.deepEqual(world.problems(), []);
    for (const event of world.api.events()) {
      assert.equal(event.type, "Warning");
      assert.equal(event.reason, "PacketDrop");
      assert.equal(event.source?.component, "kube-iptables-tailer");
      assert.equal(event.source?.host, NODE_NAME);
      assert.equal(event.involvedObject.kind, "Pod");
      const pod = world.api.pods(event.involvedObject.namespace).find((p) =>
        p.metadata.name === event.involvedObject.name
      );
      assert.equal(event.involvedObject.uid, pod?.metadata.uid, "the Event names the Pod's uid");
    }
    // Rotations, restarts and replays are routine: no run may have logged a warning or error.
    // One exception, for the kmsg source: the kernel's ring buffer is the machine's, and other
    // tests fill it too. The first run reads it from its oldest record, so records older than
    // this lab's may be overwritten before that run reaches them; a gap whose next record comes
    // before the lab's first record lost none of the lab's (the exact counts above agree).
    const olderThanLab = (line: string) => {
      const next = / WARN kernel log records (?:were overwritten|are missing).* next=(\d+)/
        .exec(line)?.[1];
      return source.kind === "kmsg" && next !== undefined && Number(next) <= world.firstSeq;
    };
    const excused = daemons.flatMap((d) => d.stderrLines.filter(olderThanLab));
    const complaints = daemons.flatMap((d, i) =>
      d.stderrLines.filter((line) => / (WARN|ERROR) /.test(line) && !olderThanLab(line)).map((
        line,
      ) => `run ${i + 1}: ${line}`)
    );
    assert.deepEqual(complaints, [], "no warnings or errors in the daemon's log");
    const summary: ScenarioSummary = {
      source: source.kind,
      drops: world.records.length,
      events: world.api.events().length,
      counts: world.postedCount(),
      linesLost: world.linesLost(),
      replayedAfterKill: replayed,
      kubectlRows,
      olderGapWarnings: excused.length,
      runs: daemons.length,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
    assert.equal(summary.counts, 2 * summary.drops, "two Event counts per drop between Pods");
    return summary;
  } finally {
    for (const daemon of daemons) await daemon[Symbol.asyncDispose]();
  }
}
