/**
 * End to end, kmsg source: the bundled daemon reads the kernel's ring buffer itself, through the
 * device node `/run/kube-iptables-tailer/kmsg` (Deno opens /dev paths only with --allow-all, so
 * the DaemonSet mounts the device there; here it is made with mknod when missing), under the
 * production permissions. The API emulator must end up with exactly one count per dropped packet
 * on each side, across a SIGTERM and a kill -9.
 */
import { sharedBundle } from "../support/e2e/artifact.ts";
import { E2ePlaces, holdKmsgNode } from "../support/e2e/places.ts";
import { runScenario } from "../support/e2e/scenario.ts";
import { E2eWorld } from "../support/e2e/world.ts";
import { systemTest } from "../support/system.ts";

const NEEDS = ["root", "ip", "iptables", "ip6tables", "nft", "ping", "bash", "mknod", "kubectl"];

systemTest("e2e kmsg: the ring buffer through the device node, restarts, exact Events", {
  needs: NEEDS,
}, async () => {
  await using places = await E2ePlaces.create();
  const artifact = await sharedBundle();
  await using kmsg = await holdKmsgNode();
  await using world = await E2eWorld.create({
    kubeconfigPath: places.kubeconfig,
    twoPrefixes: true,
  });
  const summary = await runScenario(world, places, artifact, {
    kind: "kmsg",
    // FROM_START: the first run reads the ring buffer from its oldest record, so a drop logged
    // while it positions itself is not skipped (the lab's prefixes are new: nothing older
    // matches them). Later runs resume from their checkpoint.
    env: { KMSG_PATH: kmsg.path, FROM_START: "true" },
    following: /reading the kernel log.* from=beginning/,
    resumed: /reading the kernel log.* from="?after seq \d+/,
  });
  console.log(
    `e2e kmsg: ${summary.drops} drops sent, ${summary.events} Events, counts ${summary.counts} ` +
      `(2 per drop), lines lost: ${summary.linesLost}, runs: ${summary.runs} (SIGTERM, ` +
      `kill -9), replayed after kill -9: ${summary.replayedAfterKill} (already recorded), ` +
      `kubectl rows: ${summary.kubectlRows}, gap warnings about older records (other tests ` +
      `filling the ring): ${summary.olderGapWarnings}, device node ${
        kmsg.created ? "made and removed" : "already there"
      }, ${summary.seconds} s`,
  );
});
