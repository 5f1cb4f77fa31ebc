/**
 * A clean restart (SIGTERM) while one drop's Event is held back by the API server: the
 * checkpoint stays before that drop, so the next start reads again the drops after it. Those
 * were handled before the stop, and the note saved with the checkpoint says so: the next start
 * acts on the held-back drop alone.
 *
 * - A drop the repeat filter skipped before the stop is not acted on after it (the filter's
 *   memory is gone with the process; default settings).
 * - More drops of one Event than its record of recent drops holds (32): the count is not
 *   raised again.
 */
import assert from "node:assert/strict";
import { addShop, DB, kernelLine, portOf, tcpDrop, WEB } from "../support/faults/drops.ts";
import { byLabel } from "../support/faults/metrics.ts";
import { sleep, Tailer, until } from "../support/faults/tailer.ts";
import { type KubeEmulator, startKubeEmulator } from "../support/kube_emulator/mod.ts";
import { logAndStateDirs, savedCheckpoint } from "../support/faults/checkpoint.ts";

/** Count of each Event by namespace and port, e.g. `data:2 → 40`. */
function counts(api: KubeEmulator): Map<string, number> {
  const byKey = new Map<string, number>();
  for (const ns of ["shop", "data"]) {
    for (const event of api.events(ns)) {
      const key = `${ns}:${portOf(event.message ?? "")}`;
      assert.ok(!byKey.has(key), `one Event for ${key}`);
      byKey.set(key, event.count ?? 0);
    }
  }
  return byKey;
}

async function append(log: string, dpt: number, id: number, time = new Date()): Promise<void> {
  await Deno.writeTextFile(log, kernelLine(tcpDrop(WEB, DB, dpt, id), time), { append: true });
}

/** The shop's API emulator, a log and a state directory, and a start of the daemon on them. */
interface Shop {
  api: KubeEmulator;
  log: string;
  state: string;
  start: () => Promise<Tailer>;
}

/** Runs `body` on a {@link Shop} whose daemon gets `args`; cleans up after (the daemon killed). */
async function withShop<T>(args: string[], body: (shop: Shop) => Promise<T>): Promise<T> {
  const api = await startKubeEmulator({});
  addShop(api);
  const { dir, log, state } = await logAndStateDirs("kit-faults-clean-restart-");
  let last: Tailer | undefined;
  const start = async () =>
    last = await Tailer.start({
      log,
      kubeconfig: api.kubeconfigPath,
      stateDirectory: state,
      args,
      waitFor: "ready",
    });
  try {
    return await body({ api, log, state, start });
  } finally {
    await last?.kill();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs `scenario` with a daemon whose drop U (port 1) cannot post its Event on `data/db-0`
 * (503, Retry-After 60 s), then SIGTERM and a second start; returns the Event counts after each.
 */
async function heldBack(
  args: string[],
  scenario: (log: string, api: KubeEmulator) => Promise<void>,
): Promise<{ before: Map<string, number>; after: Map<string, number>; results: object }> {
  return await withShop(args, async ({ api, log, state, start }) => {
    let tailer = await start();
    await append(log, 2, 100); // X
    await until("X's Events", () => api.events().length === 2);
    await sleep(1200); // the checkpoint passes X
    api.faults.failNext({
      status: 503,
      retryAfterSeconds: 60,
      method: "POST",
      pathPattern: "/namespaces/data/events",
    });
    await append(log, 1, 101); // U: its Event on db-0 waits a minute for its retry
    await until("U's Event on web-1", () => api.events("shop").length === 2);
    await scenario(log, api);
    await sleep(300); // U's Event on db-0 still waits for its retry: nothing settles
    const before = counts(api);
    const stopped = await tailer.stop("SIGTERM");
    assert.equal(stopped.code, 0, tailer.tail());
    const saved = await savedCheckpoint(state) as unknown as {
      replay?: { drops: number; handled: string[] };
    };
    const note = saved.replay;
    assert.equal(note && note.drops - note.handled.length, 1, "the note leaves U alone unfinished");

    tailer = await start();
    assert.ok(tailer.logged("acting on the rest"), tailer.tail());
    await until("U's Event on db-0", () => counts(api).has("data:1"), 20_000);
    await tailer.settled();
    const results = byLabel(await tailer.metrics(), "kube_iptables_tailer_events_total", "result");
    const after = counts(api);
    assert.equal((await tailer.stop()).code, 0);
    assert.deepEqual(tailer.stderrLines.filter((l) => / (ERROR|WARN) /.test(l)), []);
    return { before, after, results };
  });
}

Deno.test("clean restart: a drop skipped as a repeat before SIGTERM is not acted on after it", async () => {
  const { before, after, results } = await heldBack([], async (log) => {
    await append(log, 2, 102); // Y: X again within the repeat interval: skipped
    await sleep(500);
  });
  assert.deepEqual([...before].sort(), [["data:2", 1], ["shop:1", 1], ["shop:2", 1]]);
  assert.deepEqual(
    [...after].sort(),
    [["data:1", 1], ["data:2", 1], ["shop:1", 1], ["shop:2", 1]],
    "U's held-back Event posted once; X's counts stay 1",
  );
  // U's drop again: its Event on web-1, posted before the stop, is recognised (409).
  assert.deepEqual(results, { created: 1, already_recorded: 1 }, "the next start acted on U alone");
  console.log(
    `held: repeat skipped before SIGTERM stays skipped; next start: ${JSON.stringify(results)}`,
  );
});

Deno.test("clean restart: 40 updates of one Event after the held-back drop are not counted again", async () => {
  const UPDATES = 40; // more than the 32 recent drops an Event records
  const { before, after, results } = await heldBack([
    "--repeated-events-interval-minutes=0",
    "--event-spam-burst=1000",
  ], async (log, api) => {
    for (let k = 0; k < UPDATES; k++) await append(log, 2, 200 + k);
    await until(
      `${UPDATES + 1} drops of port 2`,
      () => counts(api).get("shop:2") === UPDATES + 1 && counts(api).get("data:2") === UPDATES + 1,
      20_000,
    );
  });
  assert.equal(before.get("shop:2"), UPDATES + 1);
  assert.equal(after.get("shop:2"), UPDATES + 1, "the count is not raised again");
  assert.equal(after.get("data:2"), UPDATES + 1);
  assert.equal(after.get("data:1"), 1, "U's held-back Event posted once");
  assert.deepEqual(results, { created: 1, already_recorded: 1 }, "the next start acted on U alone");
  console.log(
    `held: ${UPDATES} updates after a held-back drop, then SIGTERM: counts stay ${UPDATES + 1}; ` +
      `next start: ${JSON.stringify(results)}`,
  );
});

Deno.test("clean restart: a held-back drop is acted on again even where the new repeat filter would skip it", async () => {
  await withShop(["--repeated-events-interval-minutes=1"], async ({ api, log, start }) => {
    let tailer = await start();
    const now = Date.now();
    await append(log, 7, 1, new Date(now - 150_000)); // Q
    await until("Q's Events", () => api.events().length === 2);
    await sleep(1200); // the checkpoint passes Q
    api.faults.failNext({
      status: 503,
      retryAfterSeconds: 60,
      method: "PATCH",
      pathPattern: "/namespaces/data/events",
    });
    await append(log, 7, 2, new Date(now - 100_000)); // E: a repeat of Q, skipped
    await append(log, 7, 3, new Date(now - 50_000)); // D: 100 s after Q, acted on; held on db-0
    await until("D's update on web-1", () => counts(api).get("shop:7") === 2);
    await sleep(300);
    assert.equal(counts(api).get("data:7"), 1, "D's update on db-0 is held back");
    assert.equal((await tailer.stop("SIGTERM")).code, 0, tailer.tail());

    // The new process's filter never saw Q: it takes E for the first and D for E's repeat.
    tailer = await start();
    await until("D's update on db-0", () => counts(api).get("data:7") === 2, 20_000);
    await tailer.settled();
    assert.deepEqual([...counts(api)].sort(), [["data:7", 2], ["shop:7", 2]]);
    assert.equal((await tailer.stop()).code, 0);
    console.log(
      "held: a held-back drop the new repeat filter would skip is acted on: counts 2 and 2",
    );
  });
});
