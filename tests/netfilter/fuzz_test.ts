/**
 * Property tests on random and mutated input: the parser never throws, and a drop it reports
 * always comes from a well-formed line of a configured prefix with valid fields.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalIp } from "../../src/netfilter/ip.ts";
import { DropParser } from "../../src/netfilter/parser.ts";
import type { ParseResult } from "../../src/netfilter/types.ts";
import { hasControlCharacters } from "../../src/text.ts";

const FIXTURES = new URL("../fixtures/kernel/", import.meta.url);
const LINES = ["kern-rfc3339.log", "kern-traditional.log", "kmsg.txt"].flatMap((f) =>
  Deno.readTextFileSync(new URL(f, FIXTURES)).split("\n").filter((l) => l)
);
const PREFIXES = ["kube-iptables-tailer:", "calico-packet:", "nft-drop:"];
const parser = new DropParser({ prefixes: PREFIXES, bootTimeMs: 0, now: () => new Date(0) });

function checkResult(line: string, result: ParseResult): void {
  if (result.kind !== "drop") return;
  const d = result.drop;
  assert.ok(PREFIXES.includes(d.prefix), `prefix ${d.prefix}`);
  assert.equal(canonicalIp(d.src), d.src);
  assert.equal(canonicalIp(d.dst), d.dst);
  assert.ok(!Number.isNaN(d.time.getTime()));
  for (const port of [d.spt, d.dpt]) {
    if (port !== undefined) assert.ok(Number.isInteger(port) && port >= 0 && port <= 65535);
  }
  assert.ok(line.includes(`${d.prefix}`), "the prefix is in the line");
  const json = JSON.stringify(d);
  assert.ok(!hasControlCharacters(json) && !json.includes("\ufffd"), "no control characters");
}

function mutate(line: string, edits: { at: number; op: number; char: string }[]): string {
  let out = line;
  for (const { at, op, char } of edits) {
    const i = at % (out.length + 1);
    if (op === 0) out = out.slice(0, i) + char + out.slice(i); // insert
    else if (op === 1) out = out.slice(0, i) + out.slice(i + 1); // delete
    else if (op === 2) out = out.slice(0, i) + char + out.slice(i + 1); // replace
    else out = out.slice(0, i); // truncate
  }
  return out;
}

Deno.test("fuzz: mutated real lines never throw and never yield a bogus drop", () => {
  const edit = fc.record({
    at: fc.nat(),
    op: fc.integer({ min: 0, max: 3 }),
    char: fc.oneof(
      fc.constantFrom(
        " ",
        "=",
        "[",
        "]",
        "(",
        ")",
        ":",
        ".",
        "\n",
        "\x1b",
        "\ufffd",
        "\0",
        "9",
        "IN=",
        "SRC=",
      ),
      fc.string({ maxLength: 3 }),
    ),
  });
  fc.assert(
    fc.property(
      fc.constantFrom(...LINES),
      fc.array(edit, { minLength: 1, maxLength: 8 }),
      (line, edits) => {
        const mutated = mutate(line, edits);
        checkResult(mutated, parser.parseLine(mutated));
        checkResult(mutated, parser.parseMessage(mutated, new Date(0)));
        parser.scan(mutated, (r) => assert.notEqual(r.kind, "ignored"));
      },
    ),
    { numRuns: 20000 },
  );
});

Deno.test("fuzz: random text and random field soups never throw", () => {
  const field = fc.tuple(
    fc.constantFrom(
      "IN",
      "OUT",
      "SRC",
      "DST",
      "LEN",
      "ID",
      "PROTO",
      "SPT",
      "DPT",
      "TYPE",
      "CODE",
      "MARK",
      "[SRC",
      "SEQ",
      "OPT",
      "FRAG:",
      "MAC",
    ),
    fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.integer().map(String),
      fc.constantFrom("10.0.0.1", "fd00::1", "TCP", "0x1f", ""),
    ),
  ).map(([k, v]) => `${k}=${v}`);
  fc.assert(
    fc.property(
      fc.array(field, { maxLength: 30 }),
      fc.string({ maxLength: 200 }),
      (fields, noise) => {
        const line = `2026-11-25T07:58:51Z vm kernel: calico-packet: IN=x ${
          fields.join(" ")
        } ${noise}`;
        checkResult(line, parser.parseLine(line));
        checkResult(noise, parser.parseLine(noise));
        parser.scan(`${noise}\n${line}\n${noise}`, () => {});
      },
    ),
    { numRuns: 20000 },
  );
});

Deno.test("fuzz: arbitrary bytes decoded as UTF-8 never throw", () => {
  const decoder = new TextDecoder();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom(...LINES), (bytes, line) => {
      const text = decoder.decode(bytes);
      const spliced = line.slice(0, 60) + text + line.slice(60);
      checkResult(spliced, parser.parseLine(spliced));
      parser.scan(text + "\n" + spliced, () => {});
    }),
    { numRuns: 5000 },
  );
});
