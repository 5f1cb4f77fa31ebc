import assert from "node:assert/strict";
import { dropIdentity, ExpiryFilter, RepeatFilter, repeatKey } from "../../src/pipeline/filters.ts";
import type { PacketDrop } from "../../src/netfilter/types.ts";

function drop(time: number, fields: Partial<PacketDrop> = {}): PacketDrop {
  return {
    time: new Date(time),
    prefix: "p:",
    in: "a",
    out: "b",
    src: "10.0.0.1",
    dst: "10.0.0.2",
    family: 4,
    proto: "TCP",
    dpt: 80,
    ...fields,
  };
}

const MIN = 60_000;

Deno.test("expiry: older than the limit (wall clock) is expired", () => {
  const now = 10 * MIN;
  const f = new ExpiryFilter(10 * MIN, () => now);
  assert.equal(f.expired(drop(0)), false, "exactly 10 minutes old is not older than 10");
  assert.equal(f.expired(drop(-1)), true);
  assert.equal(f.expired(drop(now + MIN)), false, "future times (clock skew) are kept");
});

Deno.test("repeats: same key within the interval of the last acted-on drop, by log time", () => {
  const f = new RepeatFilter({ intervalMs: 2 * MIN });
  assert.equal(f.isRepeat(drop(0)), false);
  assert.equal(f.isRepeat(drop(MIN)), true);
  assert.equal(
    f.isRepeat(drop(2 * MIN)),
    true,
    "the original ignored repeats up to and including the interval",
  );
  assert.equal(f.isRepeat(drop(2 * MIN + 1)), false, "acted on again after the interval");
  assert.equal(f.isRepeat(drop(3 * MIN)), true, "…measured from the last acted-on drop");
  // Replaying an old log: only log times matter, not the wall clock.
  const replay = new RepeatFilter({ intervalMs: 2 * MIN });
  const old = Date.UTC(2020, 0, 1);
  assert.equal(replay.isRepeat(drop(old)), false);
  assert.equal(replay.isRepeat(drop(old + 3 * MIN)), false);
  assert.equal(replay.isRepeat(drop(old + 4 * MIN)), true);
});

Deno.test("repeats: every key field counts, and fields are kept apart", () => {
  const f = new RepeatFilter({ intervalMs: 2 * MIN });
  assert.equal(f.isRepeat(drop(0)), false);
  for (
    const change of [{ prefix: "q:" }, { src: "10.0.0.9" }, { dst: "10.0.0.9" }, { proto: "UDP" }, {
      dpt: 81,
    }]
  ) {
    assert.equal(f.isRepeat(drop(1, change)), false, JSON.stringify(change));
  }
  assert.equal(f.isRepeat(drop(2, { spt: 5555 })), true, "the source port is not part of the key");
  // The original concatenated src+dst: 10.0.0.1 + 10.0.0.23 == 10.0.0.11 + 0.0.0.23.
  assert.notEqual(
    repeatKey(drop(0, { src: "10.0.0.1", dst: "10.0.0.23" })),
    repeatKey(drop(0, { src: "10.0.0.11", dst: "0.0.0.23" })),
  );
  const icmp = { proto: "ICMP", dpt: undefined, icmpType: 8, icmpCode: 0 };
  assert.equal(f.isRepeat(drop(0, icmp)), false);
  assert.equal(
    f.isRepeat(drop(1, { ...icmp, icmpType: 0 })),
    false,
    "ICMP type is part of the key",
  );
  assert.equal(f.isRepeat(drop(2, icmp)), true);
});

Deno.test("repeats: interval 0 disables the filter", () => {
  const f = new RepeatFilter({ intervalMs: 0 });
  assert.equal(f.isRepeat(drop(0)), false);
  assert.equal(f.isRepeat(drop(0)), false);
});

Deno.test("repeats: memory stays bounded (pruning by log time and a size cap)", () => {
  const f = new RepeatFilter({ intervalMs: 2 * MIN, maxKeys: 5000 });
  for (let i = 0; i < 200_000; i++) {
    f.isRepeat(drop(i * 10, { src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));
  }
  // 2 minutes at one new key every 10 ms is 12 000 keys, above the cap.
  assert.ok(f.size <= 5000, `size ${f.size}`);
  const g = new RepeatFilter({ intervalMs: 1000 });
  for (let i = 0; i < 100_000; i++) g.isRepeat(drop(i * 10, { dpt: i % 60000 }));
  assert.ok(g.size <= 100 + 1024, `pruned to about the interval's worth of keys: ${g.size}`);
});

Deno.test("drop identity: the same record always, another packet never", () => {
  const a = drop(1000, { spt: 40000, id: 7 });
  assert.equal(dropIdentity(a), dropIdentity({ ...a, time: new Date(1000) }), "stable");
  assert.notEqual(dropIdentity(a), dropIdentity({ ...a, spt: 40001 }), "another source port");
  assert.notEqual(dropIdentity(a), dropIdentity({ ...a, id: 8 }), "another IP id");
  assert.notEqual(dropIdentity(a), dropIdentity({ ...a, time: new Date(1001) }), "another time");
  const v6 = drop(1000, { src: "fd00::1", dst: "fd00::2", family: 6, flowLabel: 1 });
  assert.notEqual(dropIdentity(v6), dropIdentity({ ...v6, flowLabel: 2 }), "another flow label");
});

Deno.test("repeats: one drop from the future (clock skew) does not wipe the filter's memory", () => {
  const f = new RepeatFilter({ intervalMs: 2 * MIN });
  assert.equal(f.isRepeat(drop(0)), false);
  // A node whose clock was a year ahead for a moment (expiry keeps future times).
  assert.equal(f.isRepeat(drop(365 * 24 * 60 * MIN, { src: "10.9.9.9" })), false);
  // Enough other keys after it for a prune.
  for (let i = 0; i < 2000; i++) f.isRepeat(drop(MIN / 2 + i, { dpt: 1000 + i }));
  assert.equal(f.isRepeat(drop(MIN)), true, "still within 2 minutes of the acted-on drop");
  assert.equal(f.isRepeat(drop(MIN, { dpt: 1500 })), true, "…and so are the ones after it");
  // The same when the future drop is the one that makes the filter prune.
  const g = new RepeatFilter({ intervalMs: 2 * MIN });
  assert.equal(g.isRepeat(drop(0)), false);
  for (let i = 1; i < 1023; i++) g.isRepeat(drop(i, { dpt: 1000 + i }));
  assert.equal(g.isRepeat(drop(365 * 24 * 60 * MIN, { src: "10.9.9.9" })), false);
  assert.equal(g.isRepeat(drop(MIN)), true, "not forgotten by the prune at the future drop");
});

Deno.test("repeats: drops of one key from two interleaved clocks are acted on once an interval on each", () => {
  // Lines of one flow from a writer whose clock was stepped back an hour, interleaved with lines
  // written on the old time (or by a second writer): against one remembered time, each looked
  // new to the other clock and every drop was acted on.
  const f = new RepeatFilter({ intervalMs: 2 * MIN });
  const acted: number[] = [];
  for (let s = 0; s < 600; s += 10) {
    for (const time of [60 * MIN + s * 1000, s * 1000]) {
      if (!f.isRepeat(drop(time))) acted.push(time);
    }
  }
  // Ten minutes of each clock: acted on at 0, 2:10, 4:20, 6:30, 8:40 of each.
  const marks = [0, 130, 260, 390, 520].map((s) => s * 1000);
  assert.deepEqual(acted, marks.flatMap((t) => [60 * MIN + t, t]));
  // A clock stepped back once, alone: the first drop after the step is acted on, as before.
  const g = new RepeatFilter({ intervalMs: 2 * MIN });
  assert.deepEqual([60 * MIN, 0, 1000, 2 * MIN + 1].map((t) => g.isRepeat(drop(t))), [
    false,
    false,
    true,
    false,
  ]);
});
