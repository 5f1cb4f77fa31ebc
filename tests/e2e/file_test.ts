/**
 * End to end, file source: the kernel lab's drops reach a log file through the real rsyslogd,
 * the real logrotate rotates it (`create` with a HUP, then `copytruncate`) while the bundled
 * daemon follows it under the production permissions, and the API emulator must end up with
 * exactly one count per dropped packet on each side — across a SIGTERM, a rotation while the
 * daemon is down, and a kill -9.
 */
import assert from "node:assert/strict";
import { BundledDaemon, metricSum, sharedBundle } from "../support/e2e/artifact.ts";
import { compareEvents, observedEvents } from "../support/e2e/expected_events.ts";
import { rotate } from "../support/e2e/logrotate.ts";
import { E2ePlaces } from "../support/e2e/places.ts";
import { commonEnv, runScenario } from "../support/e2e/scenario.ts";
import { E2eWorld, FLOWS, type RoundPlan } from "../support/e2e/world.ts";
import { startRsyslog, waitUntil } from "../support/lab/mod.ts";
import { systemTest } from "../support/system.ts";

const NEEDS = [
  "root",
  "ip",
  "iptables",
  "ip6tables",
  "nft",
  "ping",
  "bash",
  "rsyslogd",
  "setpriv",
  "logrotate",
  "kubectl",
];

/** Lines of `log` and its rotated siblings (`log.1` …) that start a LOG record of `prefixes`. */
async function loggedLines(log: string, prefixes: readonly string[]): Promise<number> {
  const dir = log.slice(0, log.lastIndexOf("/"));
  const base = log.slice(log.lastIndexOf("/") + 1);
  let count = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name !== base && !entry.name.startsWith(`${base}.`)) continue;
    const text = await Deno.readTextFile(`${dir}/${entry.name}`);
    for (const line of text.split("\n")) {
      // `… kernel: [ 4199.173932] kit-1a2b: IN=…` (imklog keeps the uptime stamp)
      const message = line.slice(line.indexOf(" kernel: ") + " kernel: ".length)
        .replace(/^\[[ \d.]+\] /, "");
      if (prefixes.some((p) => message.startsWith(p))) count++;
    }
  }
  return count;
}

systemTest("e2e file: rsyslog + logrotate (create, copytruncate), restarts, exact Events", {
  needs: NEEDS,
}, async () => {
  await using places = await E2ePlaces.create();
  const artifact = await sharedBundle();
  await using world = await E2eWorld.create({
    kubeconfigPath: places.kubeconfig,
    twoPrefixes: true,
  });
  const log = `${places.logDir}/kern.log`;
  await Deno.writeTextFile(log, ""); // rsyslog would create it only with its first line
  // imklog (/proc/kmsg, as Debian's rsyslog.conf and the fixtures): lines are stamped when
  // rsyslog reads them. imkmsg's own kernel-time stamps jump back by up to a second with this
  // rsyslog (8.2302, rsyslog/rsyslog#4561), which the daemon cannot tell from a replay.
  await using rsyslog = await startRsyslog({ file: log, input: "imklog" });
  // rsyslog has written `records` LOG records (rotating earlier would let copytruncate's
  // copy-then-truncate window swallow lines: logrotate's loss, not the daemon's).
  const rsyslogCaughtUp = async (records = world.records.length): Promise<void> => {
    await waitUntil(`rsyslog to write ${records} drops`, async () => {
      const lines = await loggedLines(log, world.prefixes);
      return lines >= records ? true : undefined;
    }, { timeoutMs: 15_000 });
  };
  const rotations: string[] = [];
  const summary = await runScenario(world, places, artifact, {
    kind: "file",
    env: { IPTABLES_LOG_PATH: log },
    following: /following log file/,
    resumed: /resuming (at the saved position|in a rotated file)/,
    caughtUp: rsyslogCaughtUp,
    async betweenRounds(round) {
      await rsyslogCaughtUp();
      const mode = round === 0 ? "create" : "copytruncate";
      await rotate({ file: log, mode, hupPid: rsyslog.pid, stateDir: places.workDir });
      rotations.push(mode);
    },
    async whileDown() {
      // The checkpoint names a file that is now kern.log.1: resume there, then the new file.
      await rsyslogCaughtUp();
      await rotate({ file: log, mode: "create", hupPid: rsyslog.pid, stateDir: places.workDir });
      rotations.push("create while down");
    },
  });
  await rsyslogCaughtUp();
  const files = [...Deno.readDirSync(places.logDir)].map((e) => e.name).filter((n) =>
    !n.startsWith(".")
  ).sort();
  assert.deepEqual(files, ["kern.log", "kern.log.1", "kern.log.2", "kern.log.3"]);
  console.log(
    `e2e file: ${summary.drops} drops sent, ${summary.events} Events, counts ${summary.counts} ` +
      `(2 per drop), lines lost: ${summary.linesLost}, rotations: ${rotations.join(", ")}, ` +
      `runs: ${summary.runs} (SIGTERM, kill -9), replayed after kill -9: ` +
      `${summary.replayedAfterKill} (already recorded), kubectl rows: ${summary.kubectlRows}, ` +
      `${summary.seconds} s`,
  );
});

systemTest("e2e file: the default repeat interval posts one count per flow (traditional syslog)", {
  needs: NEEDS,
}, async () => {
  await using places = await E2ePlaces.create();
  const artifact = await sharedBundle();
  await using world = await E2eWorld.create({
    kubeconfigPath: places.kubeconfig,
    twoPrefixes: false,
  });
  const log = `${places.logDir}/kern.log`;
  await Deno.writeTextFile(log, "");
  // `Nov 25 09:19:14 host kernel: [ 4199.173932] kit-1a2b: IN=…`: whole seconds, no year.
  await using _rsyslog = await startRsyslog({ file: log, format: "traditional", input: "imklog" });
  const env: Record<string, string> = { ...commonEnv(world, places), IPTABLES_LOG_PATH: log };
  delete env.REPEATED_EVENTS_INTERVAL_MINUTES; // the default: 2 minutes
  await using daemon = BundledDaemon.start(artifact, ["run"], env);
  await daemon.waitForLog(/following log file/);
  const plan: RoundPlan = Object.fromEntries(Object.keys(FLOWS).map((name) => [name, 3]));
  await world.sendRound(plan, async (records) => {
    await waitUntil(`rsyslog to write ${records} drops`, async () => {
      return (await loggedLines(log, world.prefixes)) >= records ? true : undefined;
    }, { timeoutMs: 15_000 });
  });
  // Every drop read (the repeats too), then the Events: one count per flow and side.
  await waitUntil("every drop parsed", async () => {
    const parsed = metricSum(await daemon.metrics(), "kube_iptables_tailer_drops_parsed_total");
    return parsed === world.records.length ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  const once = new Map([...world.expected()].map(([key]) => [key, 1]));
  await daemon.waitFor("one Event per flow and side", () => {
    const { counts, duplicates } = observedEvents(world.api.events());
    return duplicates.length === 0 && compareEvents(once, counts).length === 0;
  });
  const metrics = await daemon.metrics();
  const flows = Object.keys(FLOWS).length;
  assert.equal(
    metricSum(metrics, "kube_iptables_tailer_drops_skipped_total", 'reason="repeated"'),
    world.records.length - flows,
    "every drop but the first of each flow is a repeat",
  );
  assert.equal(metricSum(metrics, "kube_iptables_tailer_events_total", 'result="updated"'), 0);
  const status = await daemon.stop("SIGTERM");
  assert.equal(status.code, 0, daemon.tail());
  assert.deepEqual(daemon.stderrLines.filter((line) => / (WARN|ERROR) /.test(line)), []);
  const { counts, duplicates } = observedEvents(world.api.events());
  assert.deepEqual([...duplicates, ...compareEvents(once, counts)], []);
  console.log(
    `e2e file, default repeat interval: ${world.records.length} drops sent (${flows} flows x 3), ` +
      `${counts.size} Events with count 1, ${world.records.length - flows} repeats skipped, ` +
      `lines lost: 0`,
  );
});
