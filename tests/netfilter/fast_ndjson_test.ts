/**
 * The fast path of `parse --format ndjson` (fast_ndjson.ts) against the general parser, the
 * definition of the output: on every line it takes it must write exactly the bytes the general
 * path writes, and on the others nothing. Lines are built from realistic pieces (every header
 * format, prefixes, the kernel's fields) and then bent: odd spacing, IPv6, missing and
 * duplicate fields, leading zeros, huge numbers, odd addresses, unknown keys, flags, embedded
 * packets, repeated-message lines, non-ASCII and control characters, random edits.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { FastNdjson } from "../../src/netfilter/fast_ndjson.ts";
import { writeDropNdjson } from "../../src/netfilter/format.ts";
import { JsonBytes } from "../../src/netfilter/ndjson_writer.ts";
import { DropParser, type ParserOptions } from "../../src/netfilter/parser.ts";
import type { ParseResult } from "../../src/netfilter/types.ts";

const FIXTURES = new URL("../fixtures/kernel/", import.meta.url);
const FIXTURE_LINES = ["kern-rfc3339.log", "kern-traditional.log", "kmsg.txt"].flatMap((f) =>
  Deno.readTextFileSync(new URL(f, FIXTURES)).split("\n").filter((l) => l)
);
const fixtureLines = (file: string) =>
  Deno.readTextFileSync(new URL(file, FIXTURES)).split("\n").filter((l) => l);
const RFC3339_LINES = fixtureLines("kern-rfc3339.log");
/** `Nov 25 07:58:47 vm kernel: …`: rsyslog's traditional format, read in 2026 (see NOW). */
const TRADITIONAL_LINES = fixtureLines("kern-traditional.log");
/** Overlapping prefixes ("DROP" in "DROP:"), one with a space, and a pattern. */
const PREFIXES = [
  "kube-iptables-tailer:",
  "calico-packet:",
  "nft-drop:",
  "DROP",
  "DROP:",
  "my drop:",
  "calico-drop *:",
];
const NOW = new Date("2026-11-25T12:00:00Z");
const OPTIONS: ParserOptions = {
  prefixes: PREFIXES,
  bootTimeMs: 1_764_000_000_000,
  now: () => NOW,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of `text` when it is ASCII (what `parse` gives the parser), else undefined. */
function asciiBytes(text: string): Uint8Array | undefined {
  const bytes = encoder.encode(text);
  return bytes.length === text.length ? bytes : undefined;
}

/** What `parse` prints for a batch of lines: NDJSON of the drops, and the errors. */
interface Printed {
  ndjson: string;
  errors: string[];
  /** Lines the fast path took. */
  fast: number;
}

/** Scans `text` as `parse` does, with or without the fast path. */
function print(parser: DropParser, text: string, withFast: boolean): Printed {
  const out = new JsonBytes();
  const errors: string[] = [];
  const fast = new FastNdjson(parser.fastPathPrefixes, out);
  let taken = 0;
  const onResult = (result: ParseResult) => {
    if (result.kind === "drop") {
      const count = result.count ?? 1;
      writeDropNdjson(out, result.drop, count > 1 ? { count } : undefined);
    } else if (result.kind === "error") errors.push(`${result.reason}: ${result.detail}`);
  };
  const fastLine = (
    t: string,
    bytes: Uint8Array,
    lineStart: number,
    lineEnd: number,
    now: Date,
  ) => {
    if (!fast.line(t, bytes, lineStart, lineEnd, now)) return false;
    taken++;
    return true;
  };
  parser.scan(text, onResult, undefined, asciiBytes(text), withFast ? fastLine : undefined);
  return { ndjson: decoder.decode(out.bytes), errors, fast: taken };
}

/** Asserts that the fast path changes nothing `parse` prints for `text`; returns its count. */
function assertSame(parser: DropParser, text: string): number {
  const general = print(parser, text, false);
  const fast = print(parser, text, true);
  assert.equal(fast.ndjson, general.ndjson, `NDJSON of ${JSON.stringify(text)}`);
  assert.deepEqual(fast.errors, general.errors, `errors of ${JSON.stringify(text)}`);
  return fast.fast;
}

Deno.test("fast path: takes every RFC 3339 and traditional fixture line and prints what the parser prints", () => {
  const parser = new DropParser(OPTIONS);
  const lines = [...RFC3339_LINES, ...TRADITIONAL_LINES];
  const text = lines.join("\n") + "\n";
  assert.equal(assertSame(parser, text), lines.length);
  // And line by line, through the class itself.
  for (const line of lines) {
    const out = new JsonBytes();
    const fast = new FastNdjson(parser.fastPathPrefixes, out);
    assert.ok(fast.line(line, asciiBytes(line)!, 0, line.length, NOW), line);
    assert.equal(decoder.decode(out.bytes), print(parser, line, false).ndjson);
  }
});

Deno.test("fast path: the other fixture formats are left to the parser, output unchanged", () => {
  const parser = new DropParser(OPTIONS);
  for (const line of FIXTURE_LINES) assertSame(parser, line + "\n");
});

Deno.test("fast path: declined lines leave nothing written", () => {
  const parser = new DropParser(OPTIONS);
  const out = new JsonBytes();
  const fast = new FastNdjson(parser.fastPathPrefixes, out);
  const base = RFC3339_LINES[0];
  for (
    const line of [
      base.replace("SRC=10.244.1.10", "SRC=010.244.1.10"), // not canonical: invalid_ip
      base.replace("LEN=60", "LEN=99999999"), // invalid_number
      base.replace("PROTO=TCP", ""), // no PROTO: the parser names it "unknown"
      base + "\r", // the parser takes the CR off
      base.replace("+00:00", ""), // local time
      base.replace("DF", "DF\t"),
      base.replace("PROTO=TCP", `PROTO=${"A".repeat(17)}`), // malformed
      base.replace(" vm ", ` ${"h".repeat(450)} `), // IN= not in the first 512 characters
      base.replace("cali1", "cali\u00e91"),
      `2026-11-25T07:58:47Z vm kernel: message repeated 2 times: [ nft-drop: ${
        base.slice(base.indexOf("IN="))
      }]`,
    ]
  ) {
    const bytes = asciiBytes(line);
    if (bytes) assert.equal(fast.line(line, bytes, 0, line.length, NOW), false, line);
    assert.equal(out.end, 0);
    assertSame(parser, line + "\n");
  }
});

Deno.test("fast path: off under a time layout (the parser's headers alone)", () => {
  const parser = new DropParser({ ...OPTIONS, timeLayout: "2006-01-02T15:04:05.999999Z07:00" });
  assert.equal(parser.fastPathPrefixes, undefined);
  const out = new JsonBytes();
  const line = RFC3339_LINES[0];
  assert.equal(
    new FastNdjson(undefined, out).line(line, asciiBytes(line)!, 0, line.length, NOW),
    false,
  );
  assertSame(parser, line + "\n");
});

// Line pieces for the property tests.
/** Headers the fast path takes (with usual fields after them). */
const USUAL_HEADERS = [
  "2026-11-25T07:58:47.511188+00:00 vm kernel: [  270.680962] ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel: ",
  "2026-11-25T07:58:47Z vm kernel: ",
  "2026-11-25T07:58:47z kernel: [1.5] ",
  "2026-11-25T07:58:47,5+0100 node-1.example kernel: [ 0.000001]",
  "2026-11-25T02:28:51.123456789-05:30 vm kernel: [  274.690604] ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel:[  270.680962] ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel:  [  270.680962]  ",
  "Nov 25 07:58:47 vm kernel: [  270.680962] ",
  "Nov  5 07:58:47 vm kernel: ",
  "Nov 05 00:00:00 node-1.example kernel: [1.5] ",
  "Jan  1 00:00:00 vm kernel: [ 0.000001] ",
  "Dec 31 23:59:59 vm kernel: [  270.680962] ",
  "Feb 29 12:30:00 vm kernel: ",
  "Mar 29 02:30:00 vm kernel: ",
  "Oct 25 02:30:00 vm kernel: ",
  "Jun 30 07:58:60 kernel: [1] ",
];
/** Traditional headers the fast path declines, or the parser rejects. */
const ODD_TRADITIONAL_HEADERS = [
  "Nov 25 07:58:47.511 vm kernel: ",
  "Nov 25 07:58:47.5x vm kernel: ",
  "Nov 25 07:58:47. vm kernel: ",
  "Nov 25 07:58:47,5 vm kernel: ",
  "Nov 5 07:58:47 vm kernel: ",
  "Nov  05 07:58:47 vm kernel: ",
  "Nov   5 07:58:47 vm kernel: ",
  "Nov 25 7:58:47 vm kernel: ",
  "Nov 25 2026 07:58:47 vm kernel: ",
  "Nov 25 07:58:47 2026 vm kernel: ",
  "Nov 25 07:58:47  vm kernel: ",
  "Nov 25 07:58:47 vm kernel: warn: ",
  "nov 25 07:58:47 vm kernel: ",
  "NOV 25 07:58:47 vm kernel: ",
  "Sept 25 07:58:47 vm kernel: ",
  "Feb 30 07:58:47 vm kernel: ",
  "Apr 31 07:58:47 vm kernel: ",
  "Nov 00 07:58:47 vm kernel: ",
  "Nov  0 07:58:47 vm kernel: ",
  "Nov 32 07:58:47 vm kernel: ",
  "Nov 25 24:00:00 vm kernel: ",
  "Nov 25 07:60:00 vm kernel: ",
  "Nov 25 07:58:61 vm kernel: ",
  "Nov 25 07-58-47 vm kernel: ",
  "<6>Nov 25 07:58:47 vm kernel: ",
];
const HEADERS = [
  ...USUAL_HEADERS,
  ...ODD_TRADITIONAL_HEADERS,
  "2026-11-25T07:58:47.511188+00:00 vm kernel: [  270.68.0962] ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel: [] ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel: [ 1] ",
  "2026-11-25T07:58:47.511188+00:00 vm notkernel: ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel ",
  "2026-11-25T07:58:47.511188+24:00 vm kernel: ",
  "2026-11-25T07:58:47.+00:00 vm kernel: ",
  "2026-11-25T07:58:60.999Z vm kernel: ",
  "2026-02-29T07:58:47Z vm kernel: ",
  "2024-02-29T07:58:47Z vm kernel: ",
  "2026-13-25T07:58:47Z vm kernel: ",
  "0099-01-01T00:00:00Z vm kernel: ",
  "9999-12-31T23:59:59.999-23:59 vm kernel: ",
  "2026-11-25 07:58:47.511188+00:00 vm kernel: ",
  "2026-11-25T07:58:47.511188 vm kernel: ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel: warn: [ 1.5] ",
  "2026-11-25T07:58:47.511188+00:00 vm kernel: notice ",
  "2026-11-25T07:58:47,511188+00:00 ",
  "Nov 25 07:58:47 vm kernel: [  270.680962] ",
  "Nov  5 07:58:47 vm kernel: ",
  "<4>Nov 25 07:58:47 vm kernel: ",
  "<4>1 2026-11-25T07:58:47.511Z vm kernel - - - ",
  "<13>1 2026-11-25T07:58:47.511Z vm kernel - - - ",
  "4,1234,270680962,-;",
  "[  270.680962] ",
  "[Wed Nov 25 07:58:47 2026] ",
  "kern  :warn  : [  270.680962] ",
  "1764057527.511188 vm kernel: ",
  "Wed 2026-11-25 07:58:47 UTC vm kernel: ",
  `2026-11-25T07:58:47Z ${"h".repeat(440)} kernel: `,
  "",
];
const PREFIX_TEXTS = [
  "kube-iptables-tailer: ",
  "calico-packet: ",
  "nft-drop: ",
  "nft-drop:",
  "nft-drop:  \t",
  " \tnft-drop: ",
  "DROP ",
  "DROP: ",
  "DROP:",
  "my drop: ",
  "calico-drop pol1: ",
  "other: ",
  "",
  "x nft-drop: ",
  "message repeated 3 times: [ nft-drop: ",
];
const IPV4 = ["10.244.1.10", "192.168.0.1", "0.0.0.0", "255.255.255.255"];
const IPV6 = [
  "fd00:0244:0000:0000:0000:0000:0000:0010",
  "FD00:0244:0000:0000:0000:0000:0000:0020",
  "0000:0000:0000:0000:0000:ffff:0a00:0001",
  "0000:0000:0000:0000:0000:0000:0000:0001",
  "fe80:0000:0000:0000:0000:0000:0000:0001",
];
const ODD_IPS = [
  "010.1.1.1",
  "10.1.1",
  "256.1.1.1",
  "10.1.1.1.1",
  "fd00:244::10",
  "::ffff:1.2.3.4",
  "fd00:0244:0000:0000:0000:0000:0000:001g",
  "fd00:0244:0000:0000:0000:0000:0000:00100",
  "0000:0000:0000:0000:0000:ffff:1.2.3.4xxxx",
  "::ffff:10.0.0.1:0000:0000:0000:0000:0000",
  "",
];
const NUMBERS = [
  "0",
  "60",
  "060",
  "65535",
  "65536",
  "255",
  "256",
  "1048575",
  "4294967295",
  "4294967296",
  "0000000001",
  "00000000001",
  "-1",
  "1.5",
  "",
  "0x10",
  "0X1f",
  "0xffffffff",
  "ffffffff",
  "1ffffffff",
  "0x",
  "C0",
];
const NAMES = [
  "cali1",
  "eth0",
  "",
  "br-1a2b",
  "veth]",
  "a=b",
  'q"x',
  "b\\s",
  "caf\u00e9",
  "x\x1by",
];
const MACS = ["5a:bc:58:67:a6:b3:ea:8d:a9:26:6a:43:08:00", "", "zz"];
const PROTOS = ["TCP", "UDP", "ICMP", "ICMPv6", "47", "tcp", "UDPLITE", "T-CP", "", "A".repeat(17)];
const KEYS = [
  "LEN",
  "TOS",
  "PREC",
  "TTL",
  "ID",
  "TC",
  "HOPLIMIT",
  "FLOWLBL",
  "SPT",
  "DPT",
  "SEQ",
  "ACK",
  "WINDOW",
  "RES",
  "URGP",
  "TYPE",
  "CODE",
  "UID",
  "GID",
  "MARK",
  "MTU",
  "SPI",
  "PARAMETER",
  "POINTER",
  "GATEWAY",
  "PHYSIN",
  "PHYSOUT",
  "MACSRC",
  "MACDST",
  "MACPROTO",
  "FOO",
  "lEN",
];
const BARE = [
  "DF",
  "MF",
  "CE",
  "AE",
  "SYN",
  "ACK",
  "FIN",
  "RST",
  "PSH",
  "URG",
  "ECE",
  "CWR",
  "AH",
  "ESP",
  "FRAG:185",
  "INCOMPLETE [65535 bytes]",
  "OPT (020405B4)",
  "OPT (0A)x",
  "OPT (TRUNCATED)",
  "OPT ()",
  "OPT ( FRAG:1448 INCOMPLETE ID:0000abcd )",
  "OPT",
  "SYNN",
  "[SRC=10.0.0.1 DST=10.0.0.2 LEN=60 PROTO=TCP SPT=1 DPT=2 ]",
];

const token = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom(...NUMBERS)) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom("SRC", "DST"), fc.constantFrom(...IPV4)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("SRC", "DST"), fc.constantFrom(...IPV6)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("SRC", "DST"), fc.constantFrom(...ODD_IPS)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("IN", "OUT"), fc.constantFrom(...NAMES)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant("MAC"), fc.constantFrom(...MACS)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant("PROTO"), fc.constantFrom(...PROTOS)) },
  { weight: 2, arbitrary: fc.constantFrom(...BARE).map((w) => [w, undefined] as const) },
).map(([key, value]) => value === undefined ? key : `${key}=${value}`);

/** Tokens of the usual shape: known keys with small numbers, flags, options. */
const usualToken = fc.oneof(
  fc.tuple(fc.constantFrom(...KEYS.slice(0, 20)), fc.constantFrom("0", "1", "7", "60", "99"))
    .map(([key, value]) => `${key}=${value}`),
  fc.constantFrom(...BARE.slice(0, 12), "OPT (020405B4)"),
);

/** A LOG record's fields: the usual ones in order, then extras, then some left out. */
const fields = (extra: fc.Arbitrary<string>, leftOut: number) =>
  fc.record({
    inName: fc.constantFrom(...NAMES.slice(0, 4)),
    outName: fc.constantFrom(...NAMES.slice(0, 4)),
    family: fc.constantFrom(4, 6),
    src: fc.nat(4),
    dst: fc.nat(4),
    proto: fc.constantFrom("TCP", "UDP", "ICMP", "ICMPv6"),
    mac: fc.boolean(),
    extra: fc.array(extra, { maxLength: 8 }),
    drop: fc.array(fc.nat(30), { maxLength: leftOut }),
    spaces: fc.constantFrom(" ", " ", " ", "  "),
  }).map((f) => {
    const ips = f.family === 4 ? IPV4 : IPV6;
    const list = [
      `IN=${f.inName}`,
      `OUT=${f.outName}`,
      ...(f.mac ? [`MAC=${MACS[0]}`] : []),
      `SRC=${ips[f.src % ips.length]}`,
      `DST=${ips[f.dst % ips.length]}`,
      f.family === 4
        ? "LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1699 DF"
        : "LEN=80 TC=0 HOPLIMIT=63 FLOWLBL=734033",
      `PROTO=${f.proto}`,
      f.proto === "TCP"
        ? "SPT=37994 DPT=8080 WINDOW=64240 RES=0x00 SYN URGP=0"
        : f.proto === "UDP"
        ? "SPT=48040 DPT=53 LEN=11"
        : "TYPE=8 CODE=0 ID=4631 SEQ=1",
      ...f.extra,
    ].filter((_, i) => !f.drop.includes(i));
    return list.join(f.spaces);
  });

/** Any line of the pieces, and (as often) one of the usual shape: most of those are the fast path's. */
const line = fc.oneof(
  fc.tuple(
    fc.constantFrom(...HEADERS),
    fc.constantFrom(...PREFIX_TEXTS),
    fields(token, 3),
    fc.constantFrom("", " ", "  ", "]", " ]", "\r", " \x7f", "\u00e9"),
  ),
  fc.tuple(
    fc.constantFrom(...USUAL_HEADERS),
    fc.constantFrom(...PREFIX_TEXTS.slice(0, 10)),
    fields(usualToken, 0),
    fc.constantFrom("", " "),
  ),
).map(([header, prefix, body, end]) => header + prefix + body + end);

/** Random edits (or none, as often): insert, delete, replace or cut at a position. */
const edits = fc.oneof(
  fc.constant([]),
  fc.array(
    fc.record({
      at: fc.nat(),
      op: fc.integer({ min: 0, max: 3 }),
      char: fc.oneof(
        fc.constantFrom(" ", "=", "[", "]", "(", ")", ":", ".", "0", "9", "\t", "\r", "\x00", '"'),
        fc.constantFrom("\\", "\u00e9", "\ufffd", "IN=", "SRC=", "PROTO=", "x"),
        fc.string({ maxLength: 2 }),
      ),
    }),
    { minLength: 1, maxLength: 3 },
  ),
);

function mutate(text: string, list: readonly { at: number; op: number; char: string }[]): string {
  let out = text;
  for (const { at, op, char } of list) {
    const i = at % (out.length + 1);
    if (op === 0) out = out.slice(0, i) + char + out.slice(i);
    else if (op === 1) out = out.slice(0, i) + out.slice(i + 1);
    else if (op === 2) out = out.slice(0, i) + char + out.slice(i + 1);
    else out = out.slice(0, i);
  }
  return out.replaceAll("\n", " ");
}

/**
 * Times the parser reads at: the year of a traditional header is inferred from them (December
 * lines read in January, a January line read on December 31, February 29 of a leap year).
 */
const NOWS = [
  NOW,
  new Date("2027-01-02T00:30:00Z"),
  new Date("2026-12-31T23:00:00Z"),
  new Date("2024-03-01T12:00:00Z"),
  new Date("2100-03-01T00:00:00Z"),
  new Date("2026-03-29T02:00:00Z"),
  new Date("2026-10-25T01:45:00Z"),
];

Deno.test("fast path: generated and mutated lines print what the parser prints", () => {
  let now = NOW;
  const parser = new DropParser({ ...OPTIONS, now: () => now });
  let taken = 0;
  let runs = 0;
  fc.assert(
    fc.property(line, edits, fc.constantFrom(...NOWS), (text, list, at) => {
      runs++;
      now = at;
      taken += assertSame(parser, mutate(text, list) + "\n");
    }),
    { numRuns: 20000 },
  );

  // Not a test of nothing: a good share of the lines are the fast path's.
  assert.ok(taken > runs / 10, `the fast path took ${taken} of ${runs} lines`);
});

Deno.test("fast path: batches of lines, fixture lines among them, print what the parser prints", () => {
  let now = NOW;
  const parser = new DropParser({ ...OPTIONS, now: () => now });
  const noise = fc.constantFrom(
    "2026-11-25T07:58:47.511188+00:00 vm kubelet[1234]: I1125 IN=x OUT=y SRC=1.2.3.4 DST=1.2.3.5",
    "2026-11-25T07:58:47.511188+00:00 vm kernel: [  270.680962] IPv6: ADDRCONF(NETDEV_CHANGE)",
    "",
  );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(line, fc.constantFrom(...FIXTURE_LINES), noise), { maxLength: 12 }),
      fc.boolean(),
      fc.constantFrom(...NOWS),
      (lines, lastNewline, at) => {
        now = at;
        assertSame(parser, lines.join("\n") + (lastNewline ? "\n" : ""));
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("fast path: a year before 100 is printed as that year (Date.UTC would make it 19xx)", () => {
  const parser = new DropParser(OPTIONS);
  const line = RFC3339_LINES[0].replace(/^\S+/, "0099-06-15T00:00:00.25+00:00");
  const printed = print(parser, line + "\n", true);
  assert.equal(printed.fast, 1);
  assert.ok(printed.ndjson.startsWith('{"time":"0099-06-15T00:00:00.250Z"'), printed.ndjson);
  assertSame(parser, line + "\n");
});

Deno.test("fast path: a prefix in lower case with no kernel time is taken; a severity word is left to the parser", () => {
  const parser = new DropParser(OPTIONS);
  const body = RFC3339_LINES[0].slice(RFC3339_LINES[0].indexOf("IN="));
  const taken = print(parser, `2026-11-25T07:58:47.5Z vm kernel: calico-packet: ${body}\n`, true);
  assert.equal(taken.fast, 1, "no kernel time (journald's forwarding, imjournal)");
  for (const severity of ["warn: ", "warning ", "info: "]) {
    const line = `2026-11-25T07:58:47.5Z vm kernel: ${severity}calico-packet: ${body}\n`;
    assert.equal(print(parser, line, true).fast, 0, severity);
    assertSame(parser, line);
  }
  // Words that only start like one, or are too long for one, are the prefix's.
  const own = new DropParser({ ...OPTIONS, prefixes: ["warnings: x:", "information:"] });
  for (const prefix of ["warnings: x:", "information:"]) {
    const line = `2026-11-25T07:58:47.5Z vm kernel: ${prefix} ${body}\n`;
    assert.equal(print(own, line, true).fast, 1, prefix);
    assertSame(own, line);
  }
});

/** The fields of the first fixture drop, after its prefix. */
const FIELDS = RFC3339_LINES[0].slice(RFC3339_LINES[0].indexOf("IN="));

Deno.test("fast path: takes traditional headers of every month and padding, their year inferred from now", () => {
  const cases: [now: string, header: string, time: string][] = [
    ["2026-11-25T12:00:00Z", "Nov 25 07:58:47", "2026-11-25T07:58:47"],
    ["2026-11-25T12:00:00Z", "Nov  5 07:58:47", "2026-11-05T07:58:47"],
    ["2026-11-25T12:00:00Z", "Nov 05 07:58:47", "2026-11-05T07:58:47"],
    ["2026-11-25T12:00:00Z", "Jan  9 00:00:00", "2026-01-09T00:00:00"],
    ["2026-11-25T12:00:00Z", "Jun 30 23:59:60", "2026-07-01T00:00:00"],
    // December read in January: last year's; a future date: last year's.
    ["2027-01-02T12:00:00Z", "Dec 31 23:59:59", "2026-12-31T23:59:59"],
    ["2026-11-25T12:00:00Z", "Dec 31 23:59:59", "2025-12-31T23:59:59"],
    // A January line read on December 31 (clock skew across New Year): next year's.
    ["2026-12-31T12:00:00Z", "Jan  1 00:00:01", "2027-01-01T00:00:01"],
    // February 29: the latest leap year.
    ["2026-11-25T12:00:00Z", "Feb 29 12:00:00", "2024-02-29T12:00:00"],
    ["2024-03-01T12:00:00Z", "Feb 29 12:00:00", "2024-02-29T12:00:00"],
  ];
  for (const [now, header, local] of cases) {
    const parser = new DropParser({ ...OPTIONS, now: () => new Date(now) });
    const line = `${header} vm kernel: [  270.680962] kube-iptables-tailer: ${FIELDS}\n`;
    const printed = print(parser, line, true);
    assert.equal(printed.fast, 1, line);
    // Local wall-clock fields, as the parser reads them in this process's zone.
    const [date, time] = local.split("T");
    const [y, mo, d] = date.split("-").map(Number);
    const [h, mi, s] = time.split(":").map(Number);
    const expected = new Date(y, mo - 1, d, h, mi, s).toISOString();
    assert.ok(printed.ndjson.startsWith(`{"time":"${expected}"`), `${line}${printed.ndjson}`);
    assertSame(parser, line);
  }
});

Deno.test("fast path: traditional headers it does not read exactly as the parser does are left to the parser", () => {
  const parser = new DropParser(OPTIONS);
  for (const header of ODD_TRADITIONAL_HEADERS) {
    const line = `${header}kube-iptables-tailer: ${FIELDS}\n`;
    assert.equal(print(parser, line, true).fast, 0, line);
    assertSame(parser, line);
  }
});

Deno.test("fast path: a traditional time is not reused across a different now", () => {
  let now = new Date("2027-01-02T12:00:00Z");
  const parser = new DropParser({ ...OPTIONS, now: () => now });
  const line = `Dec 31 23:59:59 vm kernel: kube-iptables-tailer: ${FIELDS}\n`;
  const times: string[] = [];
  // Read in January 2027, then in November 2026 (last year's December), then in January again.
  for (const at of ["2027-01-02T12:00:00Z", "2026-11-25T12:00:00Z", "2027-01-02T12:00:00Z"]) {
    now = new Date(at);
    const printed = print(parser, line, true);
    assert.equal(printed.fast, 1);
    assert.equal(printed.ndjson, print(parser, line, false).ndjson, at);
    times.push(JSON.parse(printed.ndjson).time);
  }
  assert.notEqual(times[0], times[1]);
  assert.equal(times[0], times[2]);
  assert.equal(new Date(times[0]).getFullYear(), 2026);
  assert.equal(new Date(times[1]).getFullYear(), 2025);
});
