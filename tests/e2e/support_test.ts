/**
 * The pure parts of the end-to-end support: the Event model derived from real kernel LOG lines
 * (the fixtures), the comparison that reports every difference, kubectl's Events table, the
 * logrotate configuration (checked by the real logrotate) and the metrics reader.
 */
import assert from "node:assert/strict";
import { metricSum } from "../support/e2e/artifact.ts";
import {
  compareEvents,
  eventKey,
  expectedEvents,
  loggedDrop,
  observedEvents,
  PodDirectory,
} from "../support/e2e/expected_events.ts";
import { parseDescribedEvents } from "../support/e2e/kubectl.ts";
import { logrotateConfig } from "../support/e2e/logrotate.ts";
import { systemTest } from "../support/system.ts";

const FIXTURE = new URL("../fixtures/kernel/kern-rfc3339.log", import.meta.url);

/** The messages (after `kernel: [uptime] `) of the fixture's lines with `prefix`. */
function fixtureMessages(prefix: string): string[] {
  return Deno.readTextFileSync(FIXTURE).split("\n")
    .map((line) => line.slice(line.indexOf(" kernel: ") + 9).replace(/^\[[ \d.]+\] /, ""))
    .filter((message) => message.startsWith(prefix));
}

// The fixtures' lab: 10.244.1.10 / fd00:244::10, 10.244.1.11 / fd00:244::11, 10.244.2.20 / …::20.
const PODS = new PodDirectory([
  { namespace: "shop", name: "web-0", v4: "10.244.1.10", v6: "fd00:244::10" },
  { namespace: "data", name: "db-0", v4: "10.244.1.11", v6: "fd00:244::11" },
  { namespace: "cache", name: "redis-0", v4: "10.244.2.20", v6: "fd00:244::20" },
]);

Deno.test("loggedDrop: reads real LOG lines of every protocol (UDP's LEN twice, ICMP's ID twice)", () => {
  const messages = fixtureMessages("kube-iptables-tailer:");
  const udp = messages.find((m) => m.includes("PROTO=UDP") && m.includes("SRC=10."))!;
  assert.deepEqual(loggedDrop(udp, ["kube-iptables-tailer:"]), {
    prefix: "kube-iptables-tailer:",
    src: "10.244.1.11",
    dst: "10.244.2.20",
    proto: "UDP",
    dpt: 53,
  });
  const icmp6 = messages.find((m) => m.includes("PROTO=ICMPv6"))!;
  const drop = loggedDrop(icmp6, ["other:", "kube-iptables-tailer:"]);
  assert.equal(drop.proto, "ICMPv6");
  assert.equal(drop.icmpType, 128);
  assert.equal(drop.icmpCode, 0);
  assert.equal(drop.src, "fd00:0244:0000:0000:0000:0000:0000:0020");
  assert.throws(() => loggedDrop(icmp6, ["calico-packet:"]), /not a LOG record/);
  assert.throws(() => loggedDrop("kube-iptables-tailer: hello", ["kube-iptables-tailer:"]));
});

Deno.test("expectedEvents: two counts per drop, RFC 5952 addresses, the rule with several prefixes", () => {
  const messages = fixtureMessages("kube-iptables-tailer:").filter((m) =>
    m.includes("PROTO=ICMPv6 TYPE=128") && m.includes("DST=fd00:0244:0000:0000:0000:0000:0000:0011")
  );
  assert.ok(messages.length >= 2, "the fixture has repeated echo requests");
  const counts = expectedEvents(messages, ["kube-iptables-tailer:"], PODS, { showPrefix: true });
  assert.deepEqual(
    [...counts],
    [
      [
        eventKey(
          "cache",
          "redis-0",
          'Packet dropped when sending traffic to data (fd00:244::11) (ICMPv6 type 128 code 0) (rule "kube-iptables-tailer:")',
        ),
        messages.length,
      ],
      [
        eventKey(
          "data",
          "db-0",
          'Packet dropped when receiving traffic from cache (fd00:244::20) (ICMPv6 type 128 code 0) (rule "kube-iptables-tailer:")',
        ),
        messages.length,
      ],
    ],
  );
  const tcp = fixtureMessages("kube-iptables-tailer:").find((m) =>
    m.includes("PROTO=TCP") && m.includes("SRC=10.244.1.10 ")
  )!;
  const [[sender]] = expectedEvents([tcp], ["kube-iptables-tailer:"], PODS, { showPrefix: false });
  assert.match(
    sender,
    /^shop\/web-0: Packet dropped when sending traffic to \w+ \(10\.244\.\d+\.\d+\) on port \d+\/TCP$/,
  );
  assert.throws(
    () => new PodDirectory([]).lookup("10.0.0.1"),
    /no cluster Pod has the address 10\.0\.0\.1/,
  );
});

Deno.test("compareEvents and observedEvents: every difference and every duplicate is named", () => {
  const meta = { name: "x" };
  const pod = { namespace: "shop", name: "web-0", uid: "u1", kind: "Pod" };
  const observed = observedEvents([
    { metadata: meta, involvedObject: pod, message: "a", count: 2 },
    { metadata: { name: "y" }, involvedObject: pod, message: "a", count: 1 },
    { metadata: meta, involvedObject: pod, message: "b", count: 1 },
    { metadata: meta, involvedObject: pod, message: "c" },
  ]);
  assert.deepEqual(observed.duplicates, ["shop/web-0: a (also y)"]);
  const expected = new Map([
    [eventKey("shop", "web-0", "a"), 3],
    [eventKey("shop", "web-0", "b"), 2],
    [eventKey("shop", "web-0", "d"), 1],
  ]);
  assert.deepEqual(compareEvents(expected, observed.counts), [
    "count 1, want 2: shop/web-0: b",
    "missing (want 1): shop/web-0: d",
    "unexpected (count 1): shop/web-0: c",
  ]);
  assert.deepEqual(compareEvents(observed.counts, observed.counts), []);
});

// What kubectl v1.32 printed for two Events of the API emulator (captured).
const DESCRIBED = `Name:             db-0
Namespace:        data
Status:           Running
Events:
  Type     Reason      Age               From                  Message
  ----     ------      ----              ----                  -------
  Warning  PacketDrop  5s (x3 over 65s)  kube-iptables-tailer  Packet dropped when receiving traffic from shop (fd00:1::10) on port 5432/TCP (rule "kit-1a2b:")
  Warning  PacketDrop  65s               kube-iptables-tailer  Packet dropped when sending traffic to cache (10.1.0.12) (ICMP type 8 code 0)

`;

Deno.test("parseDescribedEvents: type, reason, the count inside Age, from and message", () => {
  assert.deepEqual(parseDescribedEvents(DESCRIBED), [
    {
      type: "Warning",
      reason: "PacketDrop",
      age: "5s (x3 over 65s)",
      count: 3,
      from: "kube-iptables-tailer",
      message:
        'Packet dropped when receiving traffic from shop (fd00:1::10) on port 5432/TCP (rule "kit-1a2b:")',
    },
    {
      type: "Warning",
      reason: "PacketDrop",
      age: "65s",
      count: 1,
      from: "kube-iptables-tailer",
      message: "Packet dropped when sending traffic to cache (10.1.0.12) (ICMP type 8 code 0)",
    },
  ]);
  assert.deepEqual(parseDescribedEvents("Name: x\nEvents:                      <none>\n"), []);
  assert.throws(() => parseDescribedEvents("Name: x\n"), /no Events section/);
  assert.throws(
    () => parseDescribedEvents(DESCRIBED.replace("kube-iptables-tailer  Packet", "x Packet")),
    /unexpected Events row/,
  );
});

Deno.test("metricSum: sums the samples of one metric whose labels match", () => {
  const text = [
    "# HELP kube_iptables_tailer_events_total Events",
    'kube_iptables_tailer_events_total{result="created"} 14',
    'kube_iptables_tailer_events_total{result="updated"} 30',
    'kube_iptables_tailer_events_total_other{result="updated"} 99',
    "kube_iptables_tailer_event_queue_depth 0",
  ].join("\n");
  assert.equal(metricSum(text, "kube_iptables_tailer_events_total"), 44);
  assert.equal(metricSum(text, "kube_iptables_tailer_events_total", 'result="updated"'), 30);
  assert.equal(metricSum(text, "kube_iptables_tailer_events_total", 'result="shed"'), 0);
  assert.equal(metricSum(text, "kube_iptables_tailer_event_queue_depth"), 0);
});

systemTest("logrotateConfig: the real logrotate accepts both configurations", {
  needs: ["logrotate"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-e2e-logrotate-" });
  try {
    for (const mode of ["create", "copytruncate"] as const) {
      const text = logrotateConfig({ file: `${dir}/kern.log`, mode, hupPid: 1, stateDir: dir });
      assert.match(
        text,
        mode === "create" ? /\n {2}create 0640 root adm\n/ : /\n {2}copytruncate\n/,
      );
      assert.equal(text.includes("postrotate"), mode === "create");
      await Deno.writeTextFile(`${dir}/${mode}.conf`, text);
      // -d: parse and show what would be done, touch nothing.
      const out = await new Deno.Command("logrotate", {
        args: ["-d", "-s", `${dir}/state`, `${dir}/${mode}.conf`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, said);
      assert.doesNotMatch(said, /error/i, said);
      assert.match(said, new RegExp(`rotating pattern: ${dir}/kern\\.log`));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
