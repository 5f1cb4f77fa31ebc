/**
 * End to end, journald source: the kernel lab's drops are captured by the real
 * systemd-journald (standalone, in its own mount namespace) and read natively from its journal
 * files by the bundled daemon under the production permissions. The journal is reached through
 * a read-only bind mount under /var/log (the permission set allows /var/log and
 * /run/log/journal) made in the daemon's own mount namespace, so journald keeps writing its real
 * files and nothing is mounted on the machine. The API emulator must end up with exactly one
 * count per dropped packet on each side, across a SIGTERM and a kill -9.
 */
import { sharedBundle } from "../support/e2e/artifact.ts";
import { E2ePlaces } from "../support/e2e/places.ts";
import { runScenario } from "../support/e2e/scenario.ts";
import { E2eWorld } from "../support/e2e/world.ts";
import { run } from "../support/lab/exec.ts";
import { startJournald, waitUntil } from "../support/lab/mod.ts";
import { systemTest } from "../support/system.ts";

const NEEDS = [
  "root",
  "ip",
  "iptables",
  "ip6tables",
  "nft",
  "ping",
  "bash",
  "unshare",
  "mount",
  "setpriv",
  "journalctl",
  "/lib/systemd/systemd-journald",
  "kubectl",
];

systemTest("e2e journald: the journal through a bind mount, restarts, exact Events", {
  needs: NEEDS,
}, async () => {
  await using places = await E2ePlaces.create();
  const artifact = await sharedBundle();
  await using world = await E2eWorld.create({
    kubeconfigPath: places.kubeconfig,
    twoPrefixes: false,
  });
  // One journald at a time on the machine: startJournald holds the "journald" lock until stop.
  await using journald = await startJournald();
  const mountPoint = `${places.logDir}/journal`;
  await Deno.mkdir(mountPoint);
  const journalRoot = journald.journalDir.slice(0, journald.journalDir.lastIndexOf("/"));
  const journalLines = async () => {
    const { stdout } = await run("journalctl", [
      "-D",
      journald.journalDir,
      "-k",
      "-o",
      "cat",
      "--no-pager",
    ]);
    return stdout.split("\n").filter((line) => world.prefixes.some((p) => line.startsWith(p)))
      .length;
  };
  const summary = await runScenario(world, places, artifact, {
    kind: "journal",
    env: { JOURNAL_DIRECTORY: mountPoint },
    daemon: { bindMount: { source: journalRoot, target: mountPoint } },
    following: /following journal/,
    resumed: /resuming after saved cursor/,
    async caughtUp(records) {
      await waitUntil(`journald to store ${records} drops`, async () => {
        return (await journalLines()) >= records ? true : undefined;
      }, { timeoutMs: 15_000, intervalMs: 50 });
    },
  });
  console.log(
    `e2e journald: ${summary.drops} drops sent, ${summary.events} Events, counts ` +
      `${summary.counts} (2 per drop), lines lost: ${summary.linesLost}, runs: ${summary.runs} ` +
      `(SIGTERM, kill -9), replayed after kill -9: ${summary.replayedAfterKill} (already ` +
      `recorded), kubectl rows: ${summary.kubectlRows}, ${summary.seconds} s`,
  );
});
