/**
 * Hostile log lines end to end. Anyone who can write to the kernel log's syslog stream (for
 * example `logger -t kernel`) can put arbitrary text in front of the daemon: terminal escapes,
 * invalid UTF-8, megabyte lines, fields hidden inside a prefix or inside other fields.
 *
 * What must hold: the daemon never crashes; what cannot be parsed is counted by reason; no
 * Event carries a control character or any text that appeared only in a hostile part of a
 * line (every such part carries the marker `EVIL`); forged fields never move an Event to
 * another Pod (the victim Pod, named only in forged fields, gets none); and lines that are
 * well-formed around their tricks still give exactly the Events of their real fields.
 */
import assert from "node:assert/strict";
import { DB, kernelLine, tcpDrop, WEB } from "../support/faults/drops.ts";
import { byLabel, sumOf } from "../support/faults/metrics.ts";
import { Tailer } from "../support/faults/tailer.ts";
import { type KubeEvent, startKubeEmulator } from "../support/kube_emulator/mod.ts";

/** A Pod that appears only in forged fields. */
const VICTIM = "10.244.1.66";
const MIB = 1024 * 1024;
const encoder = new TextEncoder();

/** The payload of a drop from WEB to DB with `dpt`, with `edit` applied to its text. */
function payload(dpt: number, edit: (text: string) => string = (t) => t): string {
  return edit(tcpDrop(WEB, DB, dpt));
}

interface Case {
  name: string;
  line: Uint8Array;
  /** The parse error it must be counted as, or undefined when it parses or is not ours. */
  reason?: string;
  /** The Events it must give: the port of a drop from WEB to DB, with the rule named. */
  events?: { port: number; rule: string };
}

function text(name: string, line: string, expect: Omit<Case, "name" | "line"> = {}): Case {
  return { name, line: encoder.encode(line), ...expect };
}

const RULE = "calico-packet:";
const CASES: Case[] = [
  text("a good line before", kernelLine(payload(2001)), { events: { port: 2001, rule: RULE } }),
  text(
    "ANSI escapes in a field",
    kernelLine(payload(1001, (t) => t.replace("OUT=cali2", "OUT=\x1b[31mEVIL1\x1b[0m"))),
    { reason: "control_characters" },
  ),
  text(
    "ANSI escape in the host name",
    kernelLine(payload(1002)).replace("node-1", "node\x1b[2JEVIL2"),
    { reason: "control_characters" },
  ),
  text(
    "a C1 control (CSI) in a field",
    kernelLine(payload(1003, (t) => t.replace("OUT=cali2", "OUT=cali\u009b31mEVIL3"))),
    { reason: "control_characters" },
  ),
  text(
    "a NUL byte in a field",
    kernelLine(payload(1004, (t) => t.replace("OUT=cali2", "OUT=cali\u0000EVIL4"))),
    { reason: "control_characters" },
  ),
  text(
    "a carriage return inside the line",
    kernelLine(payload(1005, (t) => t.replace(" OUT=cali2", "\rOUT=EVIL5"))),
    { reason: "control_characters" },
  ),
  text(
    "DEL in the prefix area",
    kernelLine(payload(1006).replace(RULE, `${RULE}\u007fEVIL6`)),
    // Not our prefix any more ("calico-packet:\x7fEVIL6" before IN=): ignored, not an error.
  ),
  {
    name: "invalid UTF-8 in a field",
    line: (() => {
      const [head, tail] = kernelLine(payload(1007)).split("OUT=cali2");
      return new Uint8Array([
        ...encoder.encode(head + "OUT=cali"),
        0xff,
        0xfe,
        0xc3,
        ...encoder.encode("EVIL7" + tail),
      ]);
    })(),
    reason: "invalid_utf8",
  },
  text(
    "a megabyte line from another program",
    kernelLine("EVIL8".repeat(MIB / 5)).replace("kernel:", "sshd[1]:"),
  ),
  text(
    "forged fields before IN= (not our prefix then)",
    kernelLine(payload(1010, (t) => t.replace(RULE, `${RULE} SRC=${VICTIM} DST=${VICTIM} EVIL10`))),
  ),
  text(
    "forged fields as the policy name of a prefix pattern",
    kernelLine(payload(2002, (t) => t.replace(RULE, `calico-drop SRC=${VICTIM}:`))),
    { events: { port: 2002, rule: `calico-drop SRC=${VICTIM}:` } },
  ),
  text(
    "field values that look like other fields",
    kernelLine(
      payload(2003, (t) => t.replace("IN=cali1 OUT=cali2", `IN=SRC=${VICTIM} OUT=DST=${VICTIM}`)),
    ),
    { events: { port: 2003, rule: RULE } },
  ),
  text(
    "repeated fields after the real ones",
    kernelLine(payload(2004) + `SRC=${VICTIM} DST=${VICTIM} DPT=1 PROTO=EVIL11`),
    { events: { port: 2004, rule: RULE } },
  ),
  text(
    "a forged embedded packet",
    kernelLine(payload(2005) + `[SRC=${VICTIM} DST=${VICTIM} LEN=1 PROTO=EVIL12 DPT=1 ]`),
    { events: { port: 2005, rule: RULE } },
  ),
  text(
    "a protocol name with a bidi override",
    kernelLine(payload(1013, (t) => t.replace("PROTO=TCP", "PROTO=TCP\u202eEVIL13"))),
    { reason: "control_characters" },
  ),
  text(
    "markup as the protocol name",
    kernelLine(payload(1016, (t) => t.replace("PROTO=TCP", "PROTO=<b>EVIL16</b>"))),
    { reason: "malformed" },
  ),
  text(
    "a bidi override in the policy name of a prefix pattern",
    kernelLine(payload(1017, (t) => t.replace(RULE, "calico-drop \u202eEVIL17:"))),
    { reason: "control_characters" },
  ),
  text(
    "a zero-width space in a field",
    kernelLine(payload(1018, (t) => t.replace("OUT=cali2", "OUT=cali\u200bEVIL18"))),
    { reason: "control_characters" },
  ),
  text(
    "a port beyond 65535",
    kernelLine(payload(1014, (t) => t.replace("DPT=1014", "DPT=9999999999"))),
    { reason: "invalid_number" },
  ),
  text(
    "an address with a zone and junk",
    kernelLine(payload(1015, (t) => t.replace(`SRC=${WEB}`, `SRC=${WEB}%EVIL15`))),
    { reason: "invalid_ip" },
  ),
  text("a good line after", kernelLine(payload(2006)), { events: { port: 2006, rule: RULE } }),
];

/** Every string in `value`, with where it is. */
function strings(value: unknown, path = "event"): [string, string][] {
  if (typeof value === "string") return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) =>
      [[`${path} key`, k], ...strings(v, `${path}.${k}`)] as [string, string][]
    );
  }
  return [];
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffd]/;

/** What feeding cases to a fresh daemon showed. */
interface Outcome {
  /** Everything that did not hold (all of it, not just the first). */
  problems: string[];
  reasons: Record<string, number>;
  events: number;
}

/**
 * Runs the daemon on a log holding `cases` and checks every Event and counter against what the
 * cases say; `truncatedLines` is how many lines exceed MAX_LINE_BYTES.
 */
async function feed(cases: Case[], truncatedLines: number): Promise<Outcome> {
  const api = await startKubeEmulator({});
  api.addPod({ namespace: "shop", name: "web-1", podIPs: [WEB], nodeName: "node-1" });
  api.addPod({ namespace: "data", name: "db-0", podIPs: [DB], nodeName: "node-2" });
  api.addPod({ namespace: "secret", name: "victim-0", podIPs: [VICTIM], nodeName: "node-3" });
  const dir = await Deno.makeTempDir({ prefix: "kit-faults-hostile-" });
  const log = `${dir}/kern.log`;
  await Deno.writeTextFile(log, "");
  const tailer = await Tailer.start({
    log,
    kubeconfig: api.kubeconfigPath,
    args: [
      `--iptables-log-prefix=${RULE},calico-drop *:`,
      "--kube-api-qps=100",
      "--kube-api-burst=100",
      "--repeated-events-interval-minutes=0",
    ],
    waitFor: "ready",
  });
  try {
    const file = await Deno.open(log, { append: true });
    for (const c of cases) {
      for (let done = 0; done < c.line.length;) done += await file.write(c.line.subarray(done));
    }
    file.close();
    const withEvents = cases.filter((c) => c.events);
    await tailer.until(
      "every line to be read",
      async () =>
        sumOf(await tailer.metrics(), "kube_iptables_tailer_log_lines_total") === cases.length,
    );
    await tailer.until(
      "the Events of the well-formed lines",
      () => api.events().length >= 2 * withEvents.length,
    );
    await tailer.until(
      "the queue to drain",
      async () => sumOf(await tailer.metrics(), "kube_iptables_tailer_event_queue_depth") === 0,
    );

    const events = api.events();
    const metrics = await tailer.metrics();
    // Every problem at once: a hostile line that gets through tells more with the others.
    const problems: string[] = [];
    // Nothing unsanitised: no control or bidi character, no hostile text, nothing on the victim.
    for (const event of events) {
      for (const [where, value] of strings(event)) {
        if (CONTROL.test(value)) {
          problems.push(`${where} has a control character: ${JSON.stringify(value)}`);
        }
        if (value.includes("EVIL")) {
          problems.push(`${where} carries hostile text: ${JSON.stringify(value)}`);
        }
      }
    }
    for (const event of api.events("secret")) {
      problems.push(`an Event on the victim: ${event.message}`);
    }
    // The well-formed lines: exactly the Events of their real fields.
    const expected: string[] = [];
    for (const { events: e } of withEvents) {
      const rule = ` (rule ${JSON.stringify(e!.rule)})`;
      expected.push(
        `web-1: Packet dropped when sending traffic to data (${DB}) on port ${e!.port}/TCP${rule}`,
        `db-0: Packet dropped when receiving traffic from shop (${WEB}) on port ${
          e!.port
        }/TCP${rule}`,
      );
    }
    const actual = events.map((e: KubeEvent) => `${e.involvedObject.name}: ${e.message}`);
    for (const a of actual) {
      if (!expected.includes(a)) problems.push(`unexpected Event ${JSON.stringify(a)}`);
    }
    for (const e of expected) {
      if (!actual.includes(e)) problems.push(`missing Event ${JSON.stringify(e)}`);
    }
    const reasons = byLabel(metrics, "kube_iptables_tailer_parse_errors_total", "reason");
    const expectedReasons: Record<string, number> = {};
    for (const c of cases) {
      if (c.reason) expectedReasons[c.reason] = (expectedReasons[c.reason] ?? 0) + 1;
    }
    if (
      JSON.stringify(Object.entries(reasons).sort()) !==
        JSON.stringify(Object.entries(expectedReasons).sort())
    ) {
      problems.push(
        `parse errors ${JSON.stringify(reasons)}, expected ${JSON.stringify(expectedReasons)}`,
      );
    }
    const sourceEvents = byLabel(metrics, "kube_iptables_tailer_source_events_total", "event");
    if ((sourceEvents.line_truncated ?? 0) !== truncatedLines) {
      problems.push(`source events ${JSON.stringify(sourceEvents)}`);
    }
    const drops = sumOf(metrics, "packet_drops_count");
    if (drops !== withEvents.length) {
      problems.push(`${drops} drops counted, expected ${withEvents.length}`);
    }
    if ((await tailer.get("/healthz")).status !== 200) problems.push("/healthz is not 200");
    if (tailer.exited) problems.push(`the daemon exited with ${tailer.exited.code}`);
    const { code } = await tailer.stop();
    if (code !== 0) problems.push(`exit code ${code}`);
    // The daemon's own log stays one line per message, free of raw control characters.
    for (const line of tailer.stderrLines) {
      if (CONTROL.test(line)) {
        problems.push(`log line with a control character: ${JSON.stringify(line)}`);
      }
    }
    return { problems, reasons, events: events.length };
  } finally {
    await tailer.kill();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("hostile input end to end: nothing unsanitised reaches an Event, errors counted by reason, no crash", async () => {
  const outcome = await feed(CASES, 1);
  assert.deepEqual(outcome.problems, []);
  console.log(
    `held: hostile input — ${CASES.length} lines (ANSI/C0/C1/NUL/CR/DEL, invalid UTF-8, a ` +
      `1 MiB line, forged fields in a prefix, in other fields, repeated and embedded, bidi ` +
      `overrides and zero-width characters, markup as a protocol, out-of-range numbers): ` +
      `parse errors ${JSON.stringify(outcome.reasons)}, ${outcome.events} Events only from ` +
      `real fields, none with a control character or hostile text, none on the victim Pod; ` +
      `no crash`,
  );
});

/**
 * Drop lines longer than MAX_LINE_BYTES are counted (`line_too_long`) and never posted: the file
 * source cuts them at the cap and marks the cut, and the parser does not take what is left of a
 * cut line for a whole one.
 */
Deno.test({
  name: "megabyte drop lines: counted as line_too_long, never posted",
  fn: async () => {
    const cases = [
      text(
        "a megabyte line: real fields, then padding",
        kernelLine(payload(1008) + "EVIL8".repeat(MIB / 5)),
        { reason: "line_too_long" },
      ),
      text(
        "a megabyte line: padding, then the fields",
        kernelLine(payload(1009, (t) => t.replace("SRC=", `PAD=${"EVIL9".repeat(MIB / 5)} SRC=`))),
        { reason: "line_too_long" },
      ),
      text("a good line after", kernelLine(payload(2006)), { events: { port: 2006, rule: RULE } }),
    ];
    const outcome = await feed(cases, 2);
    assert.deepEqual(outcome.problems, []);
  },
});
