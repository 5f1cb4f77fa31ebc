/**
 * `parse`'s hint for a run without drops: the prefixes of the LOG records it saw instead, so a
 * wrong `--prefix` can be told from a log without drops.
 */
import assert from "node:assert/strict";
import { ForeignPrefixes, runParse } from "../../src/commands/parse.ts";
import { hasControlCharacters } from "../../src/text.ts";

const FIXTURE = new URL("../fixtures/kernel/kern-rfc3339.log", import.meta.url);
const HEADER = "2026-11-25T07:58:47.511188+00:00 vm kernel: [  270.680962] ";
const FIELDS = "IN=cali1 OUT=cali2 SRC=10.244.1.10 DST=10.244.1.11 LEN=60 PROTO=TCP SPT=1 DPT=2";

/** Runs `parse` over `log` (on stdin) and returns its stderr lines and output size. */
async function parse(prefixes: string[], log: string | Uint8Array) {
  const bytes = typeof log === "string" ? new TextEncoder().encode(log) : log;
  const stderr: string[] = [];
  let at = 0;
  let written = 0;
  const summary = await runParse({
    prefixes,
    format: "ndjson",
    maxLineBytes: 65536,
    bootTimeMs: 0,
    files: ["-"],
    stdout: { writeSync: (b) => (written += b.length, b.length) },
    stdin: {
      readSync(buffer) {
        if (at >= bytes.length) return null;
        const n = Math.min(buffer.length, bytes.length - at);
        buffer.set(bytes.subarray(at, at + n));
        at += n;
        return n;
      },
    },
    stderr: (line) => stderr.push(line),
  });
  return { summary, stderr, written };
}

Deno.test("parse hint: a wrong prefix names the log's prefixes, most frequent first", async () => {
  const { summary, stderr, written } = await parse(["WRONG:"], Deno.readFileSync(FIXTURE));
  assert.equal(summary.drops, 0);
  assert.equal(written, 0);
  assert.deepEqual(stderr, [
    "lines read: 16, drops: 0, parse errors: 0",
    'no drop matched --prefix; netfilter lines had these prefixes: "kube-iptables-tailer:" (11), ' +
    '"nft-drop:" (3), "calico-packet:" (2)',
  ]);
});

Deno.test("parse hint: none when a prefix matched", async () => {
  const { summary, stderr } = await parse(["nft-drop:"], Deno.readFileSync(FIXTURE));
  assert.equal(summary.drops, 3);
  assert.deepEqual(stderr, ["lines read: 16, drops: 3, parse errors: 0"]);
});

Deno.test("parse hint: none for a log without netfilter LOG lines", async () => {
  const log = [
    "Nov 25 07:58:47 vm kubelet[1]: calico-packet: IN=a SRC=1.2.3.4 DST=5.6.7.8",
    `${HEADER}eth0: link up, LOGIN=yes`,
    `${HEADER}audit: IN=x OUT=y but no addresses`,
    "",
  ].join("\n");
  const { stderr } = await parse(["WRONG:"], log);
  assert.deepEqual(stderr, ["lines read: 3, drops: 0, parse errors: 0"]);
});

Deno.test("parse hint: a hostile prefix text is escaped and cut", async () => {
  const hostile = "\x1b[31mevil\u202e\x85" + "A".repeat(300) + ":";
  const { stderr } = await parse(["WRONG:"], `${HEADER}${hostile} ${FIELDS}\n`);
  assert.equal(stderr.length, 2);
  const hint = stderr[1];
  assert.ok(!hasControlCharacters(hint), JSON.stringify(hint));
  assert.equal(
    hint,
    'no drop matched --prefix; netfilter lines had these prefixes: "\\u001b[31mevil\\u202e\\u0085' +
      "A".repeat(64 - 11) + '"… (1)',
  );
});

Deno.test("parse hint: at most 5 prefixes named, counted among at most 100 distinct", async () => {
  const log = Array.from({ length: 150 }, (_, i) => `${HEADER}rule-${i}: ${FIELDS}\n`).join("") +
    `${HEADER}late: ${FIELDS}\n`.repeat(3) + `${HEADER}${FIELDS}\n`.repeat(2);
  const { stderr } = await parse(["WRONG:"], log);
  // "late:" came after the cap: not counted; a rule without a prefix was counted first.
  assert.equal(
    stderr[1],
    'no drop matched --prefix; netfilter lines had these prefixes: "rule-0:" (1), "rule-1:" (1), ' +
      '"rule-2:" (1), "rule-3:" (1), "rule-4:" (1), …',
  );
  const tally = new ForeignPrefixes();
  for (let i = 0; i < 150; i++) {
    const line = `x rule-${i}: IN=`;
    tally.add(line, 2, line.indexOf(" IN="));
  }
  assert.equal(tally.counts.size, 100);
  assert.equal(tally.counts.get("rule-99:"), 1);
  assert.equal(tally.counts.get("rule-100:"), undefined);
});
