import assert from "node:assert/strict";
import { DropParser } from "../../src/netfilter/parser.ts";
import type { PacketDrop, ParseResult } from "../../src/netfilter/types.ts";
import { KMSG, KMSG_BOOT_TIME_MS, RFC3339, TRADITIONAL } from "./fixture_drops.ts";
import { evalInZone } from "../support/in_zone.ts";

const FIXTURES = new URL("../fixtures/kernel/", import.meta.url);
const PREFIXES = ["kube-iptables-tailer: ", "calico-packet: ", "nft-drop: "];
const NOW = new Date("2026-11-25T08:00:00Z");

function parser(extra: Partial<ConstructorParameters<typeof DropParser>[0]> = {}) {
  return new DropParser({
    prefixes: PREFIXES,
    now: () => NOW,
    bootTimeMs: KMSG_BOOT_TIME_MS,
    ...extra,
  });
}

/** The drop's keys that have a value (a drop has every key, undefined where not printed). */
function compact(d: PacketDrop): PacketDrop {
  return Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as PacketDrop;
}

function drop(result: ParseResult): PacketDrop {
  if (result.kind !== "drop") throw new Error(`expected a drop, got ${JSON.stringify(result)}`);
  return compact(result.drop);
}

for (
  const [file, expected] of [
    ["kern-rfc3339.log", RFC3339],
    ["kern-traditional.log", TRADITIONAL],
    ["kmsg.txt", KMSG],
  ] as const
) {
  Deno.test(`every line of ${file} parses to its exact drop`, () => {
    const lines = Deno.readTextFileSync(new URL(file, FIXTURES)).split("\n").filter((l) => l);
    assert.equal(lines.length, expected.length);
    const p = parser();
    lines.forEach((line, i) =>
      assert.deepEqual(drop(p.parseLine(line)), expected[i], `line ${i + 1}`)
    );
  });

  Deno.test(`scanning ${file} as one chunk finds the same drops`, () => {
    const bytes = Deno.readFileSync(new URL(file, FIXTURES));
    const text = new TextDecoder().decode(bytes);
    for (const detach of [true, false]) {
      for (const withBytes of [false, true]) {
        const found: PacketDrop[] = [];
        parser({ detach }).scan(
          text,
          (r) => found.push(drop(r)),
          [],
          withBytes ? bytes : undefined,
        );
        assert.deepEqual(found, expected, `detach: ${detach}, bytes: ${withBytes}`);
      }
    }
  });
}

// A typical line body, reused by the header table below.
const BODY =
  "calico-packet: IN=cali1 OUT=cali3 SRC=10.244.1.10 DST=10.244.2.20 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=1000 DPT=9090 WINDOW=1 RES=0x00 SYN URGP=0 ";

Deno.test("header formats: time and message start of every flavour", () => {
  const cases: [string, string, Date][] = [
    [
      "RFC 3339, micros, +00:00",
      `2026-11-25T07:58:51.523218+00:00 vm kernel: [  274.690604] ${BODY}`,
      new Date("2026-11-25T07:58:51.523Z"),
    ],
    [
      "RFC 3339, Z, no fraction",
      `2026-11-25T07:58:51Z vm kernel: ${BODY}`,
      new Date("2026-11-25T07:58:51Z"),
    ],
    [
      "RFC 3339, nanos, -05:30",
      `2026-11-25T02:28:51.123456789-05:30 vm kernel: ${BODY}`,
      new Date("2026-11-25T07:58:51.123Z"),
    ],
    [
      "ISO offset without colon (journalctl short-iso)",
      `2026-11-25T07:58:51+0100 vm kernel: ${BODY}`,
      new Date("2026-11-25T06:58:51Z"),
    ],
    [
      "ISO without zone is local time",
      `2026-11-25 07:58:51 vm kernel: ${BODY}`,
      new Date(2026, 10, 25, 7, 58, 51),
    ],
    [
      "ISO T without zone, fraction",
      `2026-11-25T07:58:51.250 vm kernel: ${BODY}`,
      new Date(2026, 10, 25, 7, 58, 51, 250),
    ],
    ["traditional", `Nov 25 07:58:51 vm kernel: ${BODY}`, new Date(2026, 10, 25, 7, 58, 51)],
    [
      "traditional, space-padded day",
      `Nov  5 07:58:51 vm kernel: ${BODY}`,
      new Date(2026, 10, 5, 7, 58, 51),
    ],
    [
      "traditional, kernel time",
      `Nov 25 07:58:51 vm kernel: [  274.690604] ${BODY}`,
      new Date(2026, 10, 25, 7, 58, 51),
    ],
    [
      "severity after kernel:",
      `2026-11-25T07:58:51Z vm kernel: notice ${BODY}`,
      new Date("2026-11-25T07:58:51Z"),
    ],
    [
      "severity and kernel time",
      `2026-11-25T07:58:51Z vm kernel: warning: [ 1.5] ${BODY}`,
      new Date("2026-11-25T07:58:51Z"),
    ],
    ["no host name", `2026-11-25T07:58:51Z kernel: ${BODY}`, new Date("2026-11-25T07:58:51Z")],
    ["syslog PRI", `<4>Nov 25 07:58:51 vm kernel: ${BODY}`, new Date(2026, 10, 25, 7, 58, 51)],
    [
      "RFC 5424",
      `<4>1 2026-11-25T07:58:51.5Z vm kernel - - - ${BODY}`,
      new Date("2026-11-25T07:58:51.500Z"),
    ],
    ["kmsg record", `4,1,1000000,-;${BODY}`, new Date(KMSG_BOOT_TIME_MS + 1000)],
    [
      "kmsg record with extra header fields",
      `4,1,2500000,-,caller=T1;${BODY}`,
      new Date(KMSG_BOOT_TIME_MS + 2500),
    ],
    ["dmesg line", `[  274.690604] ${BODY}`, new Date(KMSG_BOOT_TIME_MS + 274690.604)],
    ["bare message takes now", BODY, NOW],
  ];
  const p = parser();
  for (const [name, line, time] of cases) {
    const d = drop(p.parseLine(line));
    assert.deepEqual(d.time, time, name);
    assert.equal(d.prefix, "calico-packet:", name);
    assert.equal(d.src, "10.244.1.10", name);
    assert.equal(d.dpt, 9090, name);
  }
});

Deno.test("traditional header: December lines read in January belong to last year", () => {
  const january = new Date(2027, 0, 2, 10, 0, 0);
  const p = parser({ now: () => january });
  assert.deepEqual(
    drop(p.parseLine(`Dec 31 23:59:59 vm kernel: ${BODY}`)).time,
    new Date(2026, 11, 31, 23, 59, 59),
  );
  assert.deepEqual(
    drop(p.parseLine(`Jan  2 09:59:00 vm kernel: ${BODY}`)).time,
    new Date(2027, 0, 2, 9, 59, 0),
  );
});

Deno.test("traditional header: a January line read a little before midnight on December 31 (the writer's clock ahead) is next year's", () => {
  const p = parser({ now: () => new Date(2026, 11, 31, 23, 59, 30) });
  assert.deepEqual(
    drop(p.parseLine(`Jan  1 00:00:05 vm kernel: ${BODY}`)).time,
    new Date(2027, 0, 1, 0, 0, 5),
  );
  // Further ahead than the allowed skew: last January.
  assert.deepEqual(
    drop(p.parseLine(`Jan  5 00:00:05 vm kernel: ${BODY}`)).time,
    new Date(2026, 0, 5, 0, 0, 5),
  );
  const layout = parser({
    timeLayout: "Jan _2 15:04:05",
    now: () => new Date(2026, 11, 31, 23, 59, 30),
  });
  assert.deepEqual(
    drop(layout.parseLine(`Jan  1 00:00:05 vm kernel: ${BODY}`)).time,
    new Date(2027, 0, 1, 0, 0, 5),
  );
});

Deno.test("a date without a year: February 29 is in the latest leap year, never March 1; February 30 is invalid", () => {
  const p = parser({ now: () => new Date(2026, 10, 25, 10, 0, 0) });
  assert.deepEqual(
    drop(p.parseLine(`Feb 29 10:00:00 vm kernel: ${BODY}`)).time,
    new Date(2024, 1, 29, 10, 0, 0),
  );
  const inLeapYear = parser({ now: () => new Date(2028, 2, 1, 0, 0, 0) });
  assert.deepEqual(
    drop(inLeapYear.parseLine(`Feb 29 10:00:00 vm kernel: ${BODY}`)).time,
    new Date(2028, 1, 29, 10, 0, 0),
  );
  const r = p.parseLine(`Feb 30 10:00:00 vm kernel: ${BODY}`);
  assert.equal(r.kind === "error" && r.reason, "invalid_time");
  // The same through a Go layout without a year, and with one.
  const layout = parser({ timeLayout: "Jan _2 15:04:05", now: () => new Date(2026, 10, 25) });
  assert.deepEqual(
    drop(layout.parseLine(`Feb 29 10:00:00 vm kernel: ${BODY}`)).time,
    new Date(2024, 1, 29, 10, 0, 0),
  );
  const withYear = parser({ timeLayout: "2006 Jan _2 15:04:05" });
  assert.equal(withYear.parseLine(`2026 Feb 29 10:00:00 vm kernel: ${BODY}`).kind, "error");
  assert.equal(withYear.parseLine(`2024 Feb 29 10:00:00 vm kernel: ${BODY}`).kind, "drop");
});

Deno.test("PACKET_DROP_LOG_TIME_LAYOUT overrides detection", () => {
  const original = parser({ timeLayout: "2006-01-02T15:04:05.000000-07:00" });
  assert.deepEqual(
    drop(original.parseLine(`2026-11-25T07:58:51.523218+00:00 vm kernel: ${BODY}`)).time,
    new Date("2026-11-25T07:58:51.523Z"),
  );
  const traditional = parser({ timeLayout: "Jan _2 15:04:05" });
  assert.deepEqual(
    drop(traditional.parseLine(`Nov  5 07:58:51 vm kernel: ${BODY}`)).time,
    new Date(2026, 10, 5, 7, 58, 51),
  );
  const custom = parser({ timeLayout: "02/01/2006 03:04:05 PM MST" });
  assert.deepEqual(
    drop(custom.parseLine(`25/11/2026 07:58:51 PM UTC vm kernel: ${BODY}`)).time,
    new Date("2026-11-25T19:58:51Z"),
  );
  // A line that does not fit the layout is an error when it is otherwise ours…
  const r = original.parseLine(`Nov 25 07:58:51 vm kernel: ${BODY}`);
  assert.equal(r.kind, "error");
  assert.equal(r.kind === "error" && r.reason, "invalid_time");
  // …and ignored when it is not.
  assert.equal(original.parseLine("Nov 25 07:58:51 vm sshd[1]: accepted").kind, "ignored");
});

Deno.test("out-of-range header time of one of our lines is an invalid_time error", () => {
  const r = parser().parseLine(`2026-13-45T07:58:51Z vm kernel: ${BODY}`);
  assert.equal(r.kind === "error" && r.reason, "invalid_time");
});

Deno.test("journald/kmsg records: the message with the source's time", () => {
  const time = new Date("2026-11-25T07:58:51.523Z");
  const d = drop(parser().parseMessage(BODY, time));
  assert.deepEqual(d.time, time);
  assert.equal(d.dst, "10.244.2.20");
  assert.equal(parser().parseMessage("some other kernel message IN=x", time).kind, "ignored");
});

Deno.test("prefix matching: the text before IN=, trimmed", () => {
  const tail = "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TTL=64 ID=1 PROTO=TCP SPT=1 DPT=2 ";
  const header = "2026-11-25T07:58:51Z vm kernel: ";
  const longPrefix = "nft " + "x".repeat(120) + ": "; // nftables allows 127 characters
  const cases: [string[], string, string | undefined][] = [
    [["DROP:"], `${header}DROP:${tail}`, "DROP:"],
    [["DROP: "], `${header}DROP:${tail}`, "DROP:"],
    [["DROP:"], `${header}DROP: ${tail}`, "DROP:"],
    [["INPUT-DROP: "], `${header}INPUT-DROP: ${tail}`, "INPUT-DROP:"],
    [["OUT-REJECT "], `${header}OUT-REJECT ${tail}`, "OUT-REJECT"],
    [["SRC-block:"], `${header}SRC-block:${tail}`, "SRC-block:"],
    [
      ["calico drop policy=default/deny-all: "],
      `${header}calico drop policy=default/deny-all: ${tail}`,
      "calico drop policy=default/deny-all:",
    ],
    [[longPrefix], `${header}${longPrefix}${tail}`, longPrefix.trim()],
    [["drop:", "nft-drop:"], `${header}nft-drop: ${tail}`, "nft-drop:"],
    [["drop:", "nft-drop:"], `${header}drop: ${tail}`, "drop:"],
    [["a IN=b:"], `${header}a IN=b: ${tail}`, "a IN=b:"],
    // Not ours: another prefix, a prefix inside another program's line, a longer prefix.
    [["DROP:"], `${header}ACCEPT: ${tail}`, undefined],
    [["DROP:"], `2026-11-25T07:58:51Z vm myapp[12]: DROP: ${tail}`, undefined],
    [["DROP:"], `Nov 25 07:58:51 vm sshd[99]: user said DROP: ${tail}`, undefined],
    [["DROP:"], `${header}x DROP: ${tail}`, undefined],
    [["DROP:"], `${header}DROP:X ${tail}`, undefined],
    [["DROP:"], `${header}something else entirely`, undefined],
    [["DROP:"], `4,1,1,-;x DROP: ${tail}`, undefined],
    // A user-space record written to /dev/kmsg (facility user) is not the kernel's.
    [["DROP:"], `12,1,1,-;DROP: ${tail}`, undefined],
  ];
  for (const [prefixes, line, expected] of cases) {
    const r = new DropParser({ prefixes, now: () => NOW }).parseLine(line);
    if (expected === undefined) assert.equal(r.kind, "ignored", line);
    else assert.equal(drop(r).prefix, expected, line);
  }
});

Deno.test("fields: IPv4 TCP with every option the LOG target can print", () => {
  const line =
    "2026-11-25T07:58:51Z vm kernel: P: IN=br0 OUT=br0 PHYSIN=veth1 PHYSOUT=veth2 MACSRC=aa:bb:cc:dd:ee:01 MACDST=aa:bb:cc:dd:ee:02 MACPROTO=0800 " +
    "SRC=10.0.0.1 DST=10.0.0.2 LEN=52 TOS=0x10 PREC=0x20 TTL=64 ID=54321 CE DF MF FRAG:0 OPT (07040000) PROTO=TCP SPT=40000 DPT=443 SEQ=4294967295 ACK=12345 " +
    "WINDOW=502 RES=0x00 ACK PSH URGP=0 OPT (0101080A) UID=1000 GID=1001 MARK=0x4d2 ";
  assert.deepEqual(drop(new DropParser({ prefixes: ["P:"], now: () => NOW }).parseLine(line)), {
    time: new Date("2026-11-25T07:58:51Z"),
    prefix: "P:",
    in: "br0",
    out: "br0",
    physIn: "veth1",
    physOut: "veth2",
    macSrc: "aa:bb:cc:dd:ee:01",
    macDst: "aa:bb:cc:dd:ee:02",
    macProto: "0800",
    src: "10.0.0.1",
    dst: "10.0.0.2",
    family: 4,
    len: 52,
    tos: 0x10,
    prec: 0x20,
    ttl: 64,
    id: 54321,
    fragment: 0,
    ipOptions: "07040000",
    proto: "TCP",
    spt: 40000,
    dpt: 443,
    seq: 4294967295,
    ack: 12345,
    window: 502,
    res: 0,
    urgp: 0,
    tcpOptions: "0101080A",
    uid: 1000,
    gid: 1001,
    mark: 1234,
    flags: ["CE", "DF", "MF", "ACK", "PSH"],
  });
});

Deno.test("fields: an ICMP error's embedded packet never overrides the outer one", () => {
  const line =
    "2026-11-25T07:58:51Z vm kernel: P: IN=cali2 OUT=cali1 SRC=10.244.2.20 DST=10.244.1.11 LEN=59 TOS=0x00 PREC=0xC0 TTL=63 ID=2 PROTO=ICMP TYPE=3 CODE=3 " +
    "[SRC=10.244.1.11 DST=10.244.2.20 LEN=31 TOS=0x00 PREC=0x00 TTL=63 ID=31377 DF PROTO=UDP SPT=48040 DPT=53 LEN=11 ] ";
  const d = drop(new DropParser({ prefixes: ["P:"], now: () => NOW }).parseLine(line));
  assert.equal(d.src, "10.244.2.20");
  assert.equal(d.dst, "10.244.1.11");
  assert.equal(d.proto, "ICMP");
  assert.equal(d.len, 59);
  assert.equal(d.id, 2);
  assert.equal(d.icmpType, 3);
  assert.equal(d.icmpCode, 3);
  assert.equal(d.spt, undefined);
  assert.equal(d.dpt, undefined);
  assert.equal(d.udpLen, undefined);
  assert.deepEqual(d.embedded, {
    src: "10.244.1.11",
    dst: "10.244.2.20",
    len: 31,
    ttl: 63,
    id: 31377,
    proto: "UDP",
    spt: 48040,
    dpt: 53,
  });
  assert.equal(d.flags, undefined, "the embedded DF is not the outer packet's flag");
});

Deno.test("fields: ICMPv6 error, MTU, protocol numbers, UDPLITE, SCTP, IPv4-mapped", () => {
  const p = new DropParser({ prefixes: ["P:"], now: () => NOW });
  const v6 = drop(p.parseLine(
    "P: IN=eth0 OUT= SRC=fd00:0244:0000:0000:0000:0000:0000:0001 DST=FD00:0244::0010 LEN=1280 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=2 CODE=0 MTU=1280 [SRC=fd00:244::10 DST=fd00:244::99 LEN=1500 TC=0 HOPLIMIT=63 FLOWLBL=5 PROTO=TCP SPT=1 DPT=2 ] ",
  ));
  assert.equal(v6.src, "fd00:244::1");
  assert.equal(v6.dst, "fd00:244::10");
  assert.equal(v6.family, 6);
  assert.equal(v6.mtu, 1280);
  assert.equal(v6.embedded?.dst, "fd00:244::99");
  assert.equal(v6.embedded?.dpt, 2);
  assert.equal(
    drop(p.parseLine("P: IN=a OUT=b SRC=1.1.1.1 DST=2.2.2.2 LEN=20 TTL=1 ID=1 PROTO=47 ")).proto,
    "47",
  );
  const lite = drop(
    p.parseLine(
      "P: IN=a OUT=b SRC=1.1.1.1 DST=2.2.2.2 LEN=30 TTL=1 ID=1 PROTO=UDPLITE SPT=5 DPT=6 LEN=10 ",
    ),
  );
  assert.deepEqual([lite.proto, lite.spt, lite.dpt, lite.udpLen], ["UDPLITE", 5, 6, 10]);
  const sctp = drop(
    p.parseLine(
      "P: IN=a OUT=b SRC=1.1.1.1 DST=2.2.2.2 LEN=30 TTL=1 ID=1 PROTO=SCTP SPT=5 DPT=38412 ",
    ),
  );
  assert.deepEqual([sctp.proto, sctp.dpt], ["SCTP", 38412]);
  const esp = drop(
    p.parseLine("P: IN=a OUT=b SRC=1.1.1.1 DST=2.2.2.2 LEN=30 TTL=1 ID=1 PROTO=ESP SPI=0x1f "),
  );
  assert.deepEqual([esp.proto, esp.spi], ["ESP", 31]);
  const mapped = drop(
    p.parseLine(
      "P: IN=a OUT=b SRC=0000:0000:0000:0000:0000:ffff:0a00:0001 DST=::ffff:10.0.0.2 LEN=60 TC=0 HOPLIMIT=1 FLOWLBL=0 PROTO=TCP SPT=1 DPT=2 ",
    ),
  );
  assert.deepEqual([mapped.src, mapped.dst], ["::ffff:10.0.0.1", "::ffff:10.0.0.2"]);
  const incomplete = drop(
    p.parseLine(
      "P: IN=a OUT=b SRC=1.1.1.1 DST=2.2.2.2 LEN=30 TTL=1 ID=1 MF FRAG:100 PROTO=TCP INCOMPLETE [20 bytes] ",
    ),
  );
  // FRAG:100 counts 8-byte units in IPv4: 800 bytes.
  assert.deepEqual([incomplete.fragment, incomplete.spt, incomplete.flags], [800, undefined, [
    "MF",
  ]]);
});

Deno.test("real kernel 6.18 records: ICMPv6 POINTER in hex, TCP AE, interface names with brackets, IPv6 extension headers, no PROTO", () => {
  // dmesg lines logged by this machine's kernel in a network-namespace lab (interfaces "v[a]"
  // and "vb]", LOG rules with and without --log-ip-options / --log-tcp-sequence).
  const p = new DropParser({ prefixes: ["rvp4:", "rvp6:", "rvp6o:"], now: () => NOW });
  const mac = "MAC=da:55:27:4f:c4:e4:6e:5f:5e:d6:27:d5";
  const v6 =
    "SRC=fd77:0000:0000:0000:0000:0000:0000:0001 DST=fd77:0000:0000:0000:0000:0000:0000:0002";
  const pointer = drop(p.parseLine(
    `[16041.613256] rvp6: IN=vb] OUT= ${mac}:86:dd ${v6} LEN=96 TC=46 HOPLIMIT=64 FLOWLBL=74565 PROTO=ICMPv6 TYPE=4 CODE=0 POINTER=0000002a [SRC=fd77:0000:0000:0000:0000:0000:0000:0002 DST=fd77:0000:0000:0000:0000:0000:0000:0001 LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=1111 DPT=2222 LEN=8 ] `,
  ));
  assert.deepEqual(
    [pointer.in, pointer.out, pointer.proto, pointer.icmpType, pointer.parameter],
    ["vb]", "", "ICMPv6", 4, 0x2a],
  );
  assert.deepEqual(pointer.embedded, {
    src: "fd77::2",
    dst: "fd77::1",
    proto: "UDP",
    spt: 1111,
    dpt: 2222,
    len: 48,
  });
  const ae = drop(p.parseLine(
    `[16041.612623] rvp4: IN=vb] OUT= ${mac}:08:00 SRC=10.77.0.1 DST=10.77.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=35100 DF PROTO=TCP SPT=12345 DPT=80 SEQ=1000 ACK=0 WINDOW=1024 RES=0x00 AE CWR ECE SYN URGP=0 `,
  ));
  assert.deepEqual(ae.flags, ["DF", "AE", "CWR", "ECE", "SYN"]);
  assert.deepEqual([ae.seq, ae.ack, ae.window, ae.urgp], [1000, 0, 1024, 0]);
  const brackets = drop(p.parseLine(
    `[16041.612911] rvp4: IN=v[a] OUT=vb] PHYSIN=v[a] ${mac}:08:00 SRC=10.77.0.1 DST=10.77.0.2 LEN=41 TOS=0x00 PREC=0x00 TTL=64 ID=7930 DF OPT (070B0C0A4D00010A4D000200) PROTO=UDP SPT=33816 DPT=9 LEN=9 `,
  ));
  assert.deepEqual(
    [brackets.in, brackets.out, brackets.physIn, brackets.ipOptions, brackets.udpLen],
    ["v[a]", "vb]", "v[a]", "070B0C0A4D00010A4D000200", 9],
  );
  // IPv6 ESP: the kernel prints no PROTO=; with --log-ip-options it names ESP and its SPI.
  const esp = drop(p.parseLine(
    `[16041.613326] rvp6: IN=vb] OUT= ${mac}:86:dd ${v6} LEN=64 TC=46 HOPLIMIT=64 FLOWLBL=74565 `,
  ));
  assert.deepEqual([esp.src, esp.dst, esp.proto, esp.dpt], [
    "fd77::1",
    "fd77::2",
    "unknown",
    undefined,
  ]);
  const espOpt = drop(p.parseLine(
    `[16218.637043] rvp6o: IN=vb] OUT= ${mac}:86:dd ${v6} LEN=64 TC=46 HOPLIMIT=64 FLOWLBL=74565 OPT ( ESP SPI=0xdeadbeef )`,
  ));
  assert.deepEqual([espOpt.proto, espOpt.spi, espOpt.ipOptions], ["ESP", 0xdeadbeef, undefined]);
  // Extension headers are words, not hex options: the fragment offset (bytes) is kept.
  const fragment = drop(p.parseLine(
    `[16218.636994] rvp6o: IN=vb] OUT= ${mac}:86:dd ${v6} LEN=64 TC=46 HOPLIMIT=64 FLOWLBL=74565 OPT ( FRAG:1448 INCOMPLETE ID:0000abcd ) PROTO=UDP `,
  ));
  assert.deepEqual([fragment.fragment, fragment.proto, fragment.ipOptions], [
    1448,
    "UDP",
    undefined,
  ]);
  const hopByHop = drop(p.parseLine(
    `[16218.637026] rvp6o: IN=vb] OUT= ${mac}:86:dd ${v6} LEN=56 TC=46 HOPLIMIT=64 FLOWLBL=74565 OPT ( ) PROTO=UDP SPT=1 DPT=2 LEN=8 `,
  ));
  assert.deepEqual([hopByHop.proto, hopByHop.dpt, hopByHop.udpLen, hopByHop.ipOptions], [
    "UDP",
    2,
    8,
    undefined,
  ]);
  // TCP options the kernel could not read are no options.
  const truncated = drop(p.parseLine(
    `[1.0] rvp4: IN=a OUT= SRC=10.77.0.1 DST=10.77.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=1 RES=0x00 SYN URGP=0 OPT (TRUNCATED)`,
  ));
  assert.deepEqual([truncated.tcpOptions, truncated.flags], [undefined, ["SYN"]]);
});

Deno.test("prefixes that look like a severity word or a kernel time after kernel: still match", () => {
  const p = new DropParser({
    prefixes: ["alert: blocked", "[42] drop:"],
    now: () => NOW,
    bootTimeMs: 0,
  });
  const fields = "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TTL=6 PROTO=TCP SPT=1 DPT=2 ";
  const severity = drop(p.parseLine(`Nov 25 07:58:47 vm kernel: alert: blocked ${fields}`));
  assert.equal(severity.prefix, "alert: blocked");
  assert.equal(severity.time.getTime(), new Date(2026, 10, 25, 7, 58, 47).getTime());
  const bracket = drop(p.parseLine(`Nov 25 07:58:47 vm kernel: [42] drop: ${fields}`));
  assert.equal(bracket.prefix, "[42] drop:");
  // A bare line: "[42]" is the prefix, not a kernel time 42 s after boot.
  const bare = drop(p.parseLine(`[42] drop: ${fields}`));
  assert.deepEqual([bare.prefix, bare.time.getTime()], ["[42] drop:", NOW.getTime()]);
  // The real decorations are still skipped.
  const decorated = drop(
    p.parseLine(`Nov 25 07:58:47 vm kernel: warning: [  270.68] [42] drop: ${fields}`),
  );
  assert.equal(decorated.prefix, "[42] drop:");
});

Deno.test("kmsg records: escaped bytes are read back as UTF-8 (a prefix with ø), in files and in the scan", () => {
  const p = new DropParser({ prefixes: ["drøp:"], now: () => NOW, bootTimeMs: 1_000_000 });
  // Read from /dev/kmsg after `nft … log prefix "drøp: "` on this machine's kernel.
  const record =
    "4,20829,16224728159,-;dr\\xc3\\xb8p: IN=vb] OUT= MAC=da:55:27:4f:c4:e4:6e:5f:5e:d6:27:d5:08:00 SRC=10.77.0.1 DST=10.77.0.2 LEN=29 TOS=0x00 PREC=0x00 TTL=64 ID=27997 DF PROTO=UDP SPT=51391 DPT=7777 LEN=9 ";
  const d = drop(p.parseLine(record));
  assert.deepEqual([d.prefix, d.in, d.dpt, d.time.getTime()], [
    "drøp:",
    "vb]",
    7777,
    1_000_000 + 16224728,
  ]);
  const scanned: ParseResult[] = [];
  p.scan(`${record}\n${record.replace("IN=vb]", "IN=vb\\xff]")}\n`, (r) => scanned.push(r));
  assert.equal(scanned.length, 2);
  assert.equal(scanned[0].kind === "drop" && scanned[0].drop.dpt, 7777);
  // An escaped byte that is not UTF-8 is invalid, not silently another character.
  assert.equal(scanned[1].kind === "error" && scanned[1].reason, "invalid_utf8");
});

Deno.test("dmesg -T / -x and journalctl short-monotonic / short-unix / short-full headers", () => {
  const boot = Date.UTC(2026, 10, 25, 7, 0, 0);
  const p = new DropParser({ prefixes: ["P:"], now: () => NOW, bootTimeMs: boot });
  const fields = "P: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TTL=6 PROTO=TCP SPT=1 DPT=2 ";
  const local = new Date(2026, 10, 25, 7, 58, 47).getTime();
  const cases: [string, string, number][] = [
    ["dmesg -T", `[Wed Nov 25 07:58:47 2026] ${fields}`, local],
    [
      "dmesg -T, day padded",
      `[Thu Nov  5 07:58:47 2026] ${fields}`,
      new Date(2026, 10, 5, 7, 58, 47).getTime(),
    ],
    ["dmesg -x", `kern  :warn  : [  270.500000] ${fields}`, boot + 270_500],
    ["dmesg -x -T", `kern  :warn  : [Wed Nov 25 07:58:47 2026] ${fields}`, local],
    ["journalctl -o short-monotonic", `[  270.500000] vm kernel: ${fields}`, boot + 270_500],
    ["journalctl -o short-unix", `1764057527.511188 vm kernel: ${fields}`, 1764057527511],
    [
      "journalctl -o short-full, UTC",
      `Wed 2026-11-25 07:58:47 UTC vm kernel: ${fields}`,
      Date.UTC(2026, 10, 25, 7, 58, 47),
    ],
    [
      "journalctl -o short-full, GMT",
      `Wed 2026-11-25 07:58:47 GMT vm kernel: ${fields}`,
      Date.UTC(2026, 10, 25, 7, 58, 47),
    ],
    [
      "journalctl -o short-full, numeric zone (tzdata's for zones without letters)",
      `Wed 2026-11-25 04:58:47 -03 vm kernel: ${fields}`,
      Date.UTC(2026, 10, 25, 7, 58, 47),
    ],
    [
      "journalctl -o short-full, numeric zone with minutes",
      `Wed 2026-11-25 13:28:47 +0530 vm kernel: ${fields}`,
      Date.UTC(2026, 10, 25, 7, 58, 47),
    ],
    [
      "journalctl -o short-full, the local zone's abbreviation",
      `Wed 2026-11-25 07:58:47 ${localZoneName(new Date(local))} vm kernel: ${fields}`,
      local,
    ],
  ];
  for (const [format, line, time] of cases) {
    const d = drop(p.parseLine(line));
    assert.deepEqual([d.prefix, d.dpt, d.time.getTime()], ["P:", 2, time], format);
  }
  // Another program's line in these formats is not a drop; an impossible date is invalid.
  for (
    const line of [
      `1764057527.511188 vm sshd[1]: ${fields}`,
      `Wed 2026-11-25 07:58:47 UTC vm sshd[1]: ${fields}`,
      `[  270.500000] vm sshd[1]: ${fields}`,
    ]
  ) {
    assert.equal(p.parseLine(line).kind, "ignored", line);
  }
  const invalid = p.parseLine(`[Mon Feb 30 07:58:47 2026] ${fields}`);
  assert.equal(invalid.kind === "error" && invalid.reason, "invalid_time");
  // A zone that is not the local one (the log was written under another TZ): no wrong time.
  const foreign = ["IST", "CET", "EST"].find((z) => z !== localZoneName(new Date(local)))!;
  const other = p.parseLine(`Wed 2026-11-25 07:58:47 ${foreign} vm kernel: ${fields}`);
  assert.equal(other.kind === "error" && other.reason, "invalid_time", foreign);
});

/** The local zone's short name at `time`, as en-US has it (UTC under TZ=UTC). */
function localZoneName(time: Date): string {
  return new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(time)
    .find((p) => p.type === "timeZoneName")!.value;
}

Deno.test("dmesg --time-format=iso (also with -x): the ISO time, then the kernel's message", () => {
  const p = new DropParser({ prefixes: ["calico-packet:"], now: () => NOW, bootTimeMs: 0 });
  // Lines as util-linux 2.39's dmesg prints them (captured on the test VM).
  const fields = "calico-packet: IN=rvB0 OUT= MAC=5e:45:13:d7:00:49:4e:58:1d:fa:ea:bd:08:00 " +
    "SRC=10.99.0.1 DST=10.99.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=45154 DF PROTO=TCP " +
    "SPT=47512 DPT=21863 WINDOW=64240 RES=0x00 SYN URGP=0 ";
  const at = Date.UTC(2026, 10, 25, 16, 55, 36);
  const cases: [string, number][] = [
    [`2026-11-25T16:55:36,099524+00:00 ${fields}`, at + 99],
    [`2026-11-25T17:55:36,099524+01:00 ${fields}`, at + 99],
    [`2026-11-25T16:55:36.099524Z ${fields}`, at + 99],
    [`2026-11-25T16:55:36+00:00 ${fields}`, at],
    [`kern  :warn  : 2026-11-25T16:55:36,099524+00:00 ${fields}`, at + 99],
  ];
  for (const [line, time] of cases) {
    const d = drop(p.parseLine(line));
    assert.deepEqual([d.prefix, d.src, d.dpt, d.time.getTime()], [
      "calico-packet:",
      "10.99.0.1",
      21863,
      time,
    ], line.slice(0, 50));
  }
  // Another program's syslog line, or another facility's record, is still not the kernel's.
  for (
    const line of [
      `2026-11-25T16:55:36.099524+00:00 vm sshd[1]: ${fields}`,
      `2026-11-25T16:55:36,099524+00:00 vm logger: ${fields}`,
      `2026-11-25T16:55:36.099524+00:00 myprog: ${fields}`,
      `<13>1 2026-11-25T16:55:36.099524+00:00 ${fields}`,
      `user  :warn  : 2026-11-25T16:55:36,099524+00:00 ${fields}`,
      `daemon:info  : [  270.500000] ${fields}`,
    ]
  ) {
    assert.equal(p.parseLine(line).kind, "ignored", line.slice(0, 60));
  }
  for (
    const line of [
      `2026-11-31T16:55:36,099524+00:00 ${fields}`,
      `kern  :warn  : 2026-11-31T16:55:36,099524+00:00 ${fields}`,
    ]
  ) {
    const r = p.parseLine(line);
    assert.equal(r.kind === "error" && r.reason, "invalid_time", line.slice(0, 60));
  }
});

Deno.test("a prefix and IN= behind a header we do not know is unrecognised_header, not silence", () => {
  const p = new DropParser({ prefixes: ["calico-packet:", "calico-drop *:"], now: () => NOW });
  const body = "IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 LEN=60 PROTO=TCP SPT=1 DPT=2";
  for (
    const line of [
      `25/11/2026 07:58:47 calico-packet: ${body}`,
      `@2026-11-25 vm kern.warn calico-packet:  ${body}`,
      `<4>what is this calico-drop my-policy: ${body}`,
    ]
  ) {
    const r = p.parseLine(line);
    assert.equal(r.kind === "error" && r.reason, "unrecognised_header", line);
  }
  // Other programs' lines (a known header), other rules' prefixes, lines without a prefix.
  for (
    const line of [
      `2026-11-25T07:58:47Z vm sshd[1]: calico-packet: ${body}`,
      `Nov 25 07:58:47 vm sshd[1]: calico-packet: ${body}`,
      `25/11/2026 07:58:47 FW-calico-packet: ${body}`,
      `25/11/2026 07:58:47 other-drop: ${body}`,
      `25/11/2026 07:58:47 LOGIN=x`,
    ]
  ) {
    assert.equal(p.parseLine(line).kind, "ignored", line);
  }
});

Deno.test("rsyslog's message repeated N times: [ … ] stands for N more drops of the message", () => {
  const p = new DropParser({ prefixes: ["calico-packet:"], now: () => NOW });
  const message =
    "calico-packet: IN=cali1 OUT=cali2 SRC=fd00::1 DST=fd00::2 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=1 PROTO=TCP SPT=1 DPT=2 WINDOW=1 RES=0x00 SYN URGP=0 ";
  // As rsyslog 8 writes them with $RepeatedMsgReduction on (RSYSLOG_FileFormat), and with a
  // space after "[" as a kernel message read by imklog has.
  for (
    const line of [
      `2026-11-25T13:56:29.168520+00:00 vm kernel: message repeated 3 times: [${message}]`,
      `Nov 25 13:56:29 vm kernel: message repeated 3 times: [ ${message}]`,
    ]
  ) {
    const r = p.parseLine(line);
    assert.equal(r.kind, "drop", line);
    assert.equal(r.kind === "drop" && r.count, 3);
    assert.equal(r.kind === "drop" && r.drop.dpt, 2);
  }
  assert.equal(
    (p.parseLine(`Nov 25 13:56:29 vm kernel: ${message}`) as { count?: number }).count,
    undefined,
  );
  // Not ours, or not well formed: ignored.
  for (
    const line of [
      "Nov 25 13:56:29 vm kernel: message repeated 3 times: [ usb 1-1: new device IN=x]",
      `Nov 25 13:56:29 vm kernel: message repeated x times: [ ${message}]`,
      `Nov 25 13:56:29 vm kernel: message repeated 3 times: [ ${message}`,
    ]
  ) {
    assert.equal(p.parseLine(line).kind, "ignored", line);
  }
});

Deno.test("garbage in: errors with reasons, never a throw or a bogus drop", () => {
  const p = new DropParser({ prefixes: ["P:"], now: () => NOW, maxLineLength: 65536 });
  const base = "2026-11-25T07:58:51Z vm kernel: P: IN=a OUT=b ";
  const cases: [string, string][] = [
    [`${base}SRC=10.0.0.1 DST=10.0.0.\ufffd PROTO=TCP SPT=1 DPT=2`, "invalid_utf8"],
    [`${base}SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=2 \x1b[31mred`, "control_characters"],
    [`${base}SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP ${"X".repeat(1 << 20)}`, "line_too_long"],
    [`${base}DST=10.0.0.2 PROTO=TCP SPT=1 DPT=2`, "missing_src"],
    [`${base}SRC=10.0.0.1 PROTO=TCP SPT=1 DPT=2`, "missing_dst"],
    [
      `${base}ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 MACSRC=aa:bb:cc:dd:ee:ff IPSRC=10.0.0.1 MACDST=00:00:00:00:00:00 IPDST=10.0.0.2`,
      "not_ip",
    ],
    [
      "2026-02-30T07:58:51Z vm kernel: P: IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP",
      "invalid_time",
    ],
    [
      "Feb 30 07:58:51 vm kernel: P: IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP",
      "invalid_time",
    ],
    [`${base}SRC=10.0.0.1 DST=10.0.`, "invalid_ip"],
    [`${base}SRC=10.0.0.1 DST=300.0.0.2 PROTO=TCP`, "invalid_ip"],
    [`${base}SRC=10.0.0.1 DST=fd00::1 PROTO=TCP`, "invalid_ip"],
    [`${base}SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1 DPT=70000`, "invalid_number"],
    [`${base}SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=x DPT=2`, "invalid_number"],
    ["2026-11-25T07:58:51Z vm kernel: P: IN=a", "malformed"],
  ];
  for (const [line, reason] of cases) {
    const r = p.parseLine(line);
    assert.equal(r.kind, "error", line.slice(0, 120));
    assert.equal(r.kind === "error" && r.reason, reason, line.slice(0, 120));
  }
});

Deno.test("scan: only candidate lines are parsed; ignores, errors and drops in order", () => {
  const p = new DropParser({ prefixes: ["DROP:", "nft-drop:"], now: () => NOW });
  const text = [
    "Nov 25 07:58:51 vm kubelet[1]: I1125 pod sandbox changed DROP: IN= no",
    "Nov 25 07:58:51 vm kernel: DROP: IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 LEN=1 TTL=1 ID=1 PROTO=UDP SPT=1 DPT=53 LEN=9",
    "Nov 25 07:58:52 vm kernel: nft-drop: IN=a OUT=b SRC=10.0.0.3 DST=10.0.0.4 LEN=1 TTL=1 ID=1 PROTO=UDP SPT=1 DPT=54 LEN=9 DROP:",
    "Nov 25 07:58:53 vm kernel: DROP: IN=a OUT=b DST=10.0.0.4",
    "Nov 25 07:58:54 vm containerd[2]: level=info msg=nothing",
    "Nov 25 07:58:55 vm kernel: DROP: IN=a OUT=b SRC=10.0.0.5 DST=10.0.0.6 LEN=1 TTL=1 ID=1 PROTO=TCP SPT=1 DPT=55",
  ].join("\n");
  const seen: string[] = [];
  p.scan(
    text,
    (r) =>
      seen.push(
        r.kind === "drop" ? `${r.drop.prefix}${r.drop.dpt}` : r.kind === "error" ? r.reason : "?",
      ),
  );
  assert.deepEqual(seen, ["DROP:53", "nft-drop:54", "missing_src", "DROP:55"]);
});

Deno.test("CRLF line endings are tolerated", () => {
  const d = drop(parser().parseLine(`Nov 25 07:58:51 vm kernel: ${BODY}\r`));
  assert.equal(d.dpt, 9090);
});

Deno.test("the parser refuses to be built without a prefix", () => {
  assert.throws(() => new DropParser({ prefixes: ["  ", ""] }), /prefix/);
});

Deno.test("prefix patterns: `*` stands for a policy or tier name (Calico's %n/%p prefixes)", () => {
  const p = new DropParser({ prefixes: ["calico-drop *:", "k8s-*-deny:"], now: () => NOW });
  const tail =
    "IN=cali1 OUT=cali2 SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TTL=64 ID=1 PROTO=TCP SPT=1 DPT=2 ";
  const header = "2026-11-25T07:58:51Z vm kernel: ";
  assert.equal(
    drop(p.parseLine(`${header}calico-drop default/deny-all: ${tail}`)).prefix,
    "calico-drop default/deny-all:",
  );
  assert.equal(
    drop(p.parseLine(`${header}calico-drop db.only:${tail}`)).prefix,
    "calico-drop db.only:",
  );
  assert.equal(drop(p.parseLine(`${header}k8s-shop-deny: ${tail}`)).prefix, "k8s-shop-deny:");
  assert.equal(
    p.parseLine(`${header}calico-drop : ${tail}`).kind,
    "ignored",
    "the name is not empty",
  );
  assert.equal(
    p.parseLine(`${header}calico-drop two words: ${tail}`).kind,
    "ignored",
    "no spaces in a name",
  );
  assert.equal(p.parseLine(`${header}calico-dropx: ${tail}`).kind, "ignored");
  // Regex characters in a prefix are literal.
  const q = new DropParser({ prefixes: ["a.b(*)+:"], now: () => NOW });
  assert.equal(drop(q.parseLine(`${header}a.b(x)+: ${tail}`)).prefix, "a.b(x)+:");
  assert.equal(q.parseLine(`${header}aXb(x)+: ${tail}`).kind, "ignored");
});

Deno.test("scan: a line the reader cut at the cap is line_too_long, never a drop", () => {
  const p = parser();
  const whole = `Nov 25 07:58:51 vm kernel: ${BODY}`;
  const text = `${whole}\n${whole}\n`;
  const results: ParseResult[] = [];
  p.scan(text, (r) => results.push(r), [whole.length]);
  assert.deepEqual(results.map((r) => r.kind === "error" ? r.reason : r.kind), [
    "line_too_long",
    "drop",
  ]);
  // A cut line that is not ours stays ignored.
  const other = "Nov 25 07:58:51 vm sshd[1]: IN=x" + "y".repeat(100);
  const none: ParseResult[] = [];
  p.scan(`${other}\n`, (r) => none.push(r), [other.length]);
  assert.deepEqual(none, []);
});

Deno.test("a kernel time out of range is invalid_time, never an invalid date", () => {
  const p = parser();
  const r = p.parseLine(`[99999999999999999999] ${BODY}`);
  assert.equal(r.kind === "error" && r.reason, "invalid_time");
  // A kmsg counter beyond 2^53 is no kmsg header at all: not ours.
  assert.equal(p.parseLine(`4,1,99999999999999999999,-;${BODY}`).kind, "ignored");
});

Deno.test("scanning with the text's bytes: control characters and invalid UTF-8 are refused", () => {
  const line = (body: string) => `2026-11-25T07:58:51Z vm kernel: ${body}`;
  const good = line(BODY);
  const lines = [
    good,
    line(BODY.replace("cali3", "ca\x01i3")),
    line(BODY.replace("DF", "D\x7fF")),
    line(BODY.replace("SYN", "S\tN")),
    good.replace("vm", "v\tm"), // a tab before the prefix is allowed
  ];
  const bytes = new TextEncoder().encode(lines.join("\n") + "\n");
  // An invalid byte decodes to U+FFFD, one character for one byte: still aligned.
  const invalid = new TextEncoder().encode(line(BODY.replace("cali1", "caliX")));
  invalid[invalid.indexOf("X".charCodeAt(0))] = 0xff;
  const fixed = new Uint8Array([...bytes, ...invalid]);
  const text = new TextDecoder().decode(fixed);
  assert.equal(text.length, fixed.length, "one character per byte");
  const results: string[] = [];
  const outcome = (r: ParseResult) => r.kind === "error" ? r.reason : r.kind;
  parser().scan(text, (r) => results.push(outcome(r)), [], fixed);
  assert.deepEqual(results, [
    "drop",
    "control_characters",
    "control_characters",
    "control_characters",
    "drop",
    "invalid_utf8",
  ]);
  const viaText: string[] = [];
  parser().scan(text, (r) => viaText.push(outcome(r)));
  assert.deepEqual(viaText, results);
});

Deno.test("NUL bytes before a line (a hole a crash left in the file) are not the line's: its drop is read", () => {
  const good = `2026-11-25T07:58:51Z vm kernel: ${BODY}`;
  const text = `${"\0".repeat(4096)}${good}\nnext\n\0\0${good}\n`;
  const bytes = new TextEncoder().encode(text);
  for (const viaBytes of [false, true]) {
    const results: ParseResult[] = [];
    parser().scan(text, (r) => results.push(r), [], viaBytes ? bytes : undefined);
    assert.deepEqual(results.map((r) => r.kind), ["drop", "drop"], `bytes: ${viaBytes}`);
    assert.deepEqual(drop(results[0]), drop(parser().parseLine(good)));
  }
  // A NUL inside a line is still refused.
  const inside = good.replace("vm kernel:", "vm\0kernel:");
  const results: ParseResult[] = [];
  parser().scan(`${inside}\n`, (r) => results.push(r));
  assert.notEqual(results[0]?.kind, "drop");
});

/** The drop times (ISO, or the result's kind) the parser gives `lines` at `now` where TZ is `tz`. */
async function timesInZone(
  tz: string,
  now: string,
  lines: string[],
  timeLayout?: string,
): Promise<string[]> {
  const module = new URL("../../src/netfilter/parser.ts", import.meta.url).href;
  const code = `import { DropParser } from ${JSON.stringify(module)};
    const p = new DropParser({ prefixes: ["calico-packet:"], now: () => new Date(${
    JSON.stringify(now)
  }), timeLayout: ${JSON.stringify(timeLayout)} });
    console.log(JSON.stringify(${JSON.stringify(lines)}.map((l) => {
      const r = p.parseLine(l);
      return r.kind === "drop" ? r.drop.time.toISOString() : r.kind;
    })));`;
  return await evalInZone(tz, code) as string[];
}

Deno.test("local times in the hour repeated when summer time ends: the latest occurrence not in the future", async () => {
  // New York, 2026-11-01: 01:00-01:59 EDT (05:00Z-05:59Z), then 01:00-01:59 EST (06:00Z-06:59Z).
  const headers = [
    "Nov  1 01:30:00 vm kernel:",
    "2026-11-01 01:30:00 vm kernel:",
    "2026-11-01T01:30:00 vm kernel:",
    "[Sun Nov  1 01:30:00 2026]",
  ];
  const lines = headers.map((h) => `${h} ${BODY}`);
  // Read at 01:31 EST: written in the second pass, a minute ago (not 61 minutes, expired).
  assert.deepEqual(
    await timesInZone("America/New_York", "2026-11-01T06:31:00Z", lines),
    headers.map(() => "2026-11-01T06:30:00.000Z"),
  );
  // Read at 01:31 EDT: the second pass is still to come.
  assert.deepEqual(
    await timesInZone("America/New_York", "2026-11-01T05:31:00Z", lines),
    headers.map(() => "2026-11-01T05:30:00.000Z"),
  );
  // Outside the repeated hour, nothing changes; a Go layout without a zone reads alike.
  assert.deepEqual(
    await timesInZone("America/New_York", "2026-11-01T08:00:00Z", [
      `Nov  1 00:59:59 vm kernel: ${BODY}`,
      `Nov  1 02:00:00 vm kernel: ${BODY}`,
    ]),
    ["2026-11-01T04:59:59.000Z", "2026-11-01T07:00:00.000Z"],
  );
  assert.deepEqual(
    await timesInZone("America/New_York", "2026-11-01T06:31:00Z", [
      `Nov  1 01:30:00 vm kernel: ${BODY}`,
    ], "Jan _2 15:04:05"),
    ["2026-11-01T06:30:00.000Z"],
  );
});

Deno.test("a syslog PRI of another facility than the kernel's is not the kernel's line, whatever its tag says", () => {
  const p = parser();
  // `logger -t kernel` (facility user): PRI 13.
  for (
    const line of [
      `<13>1 2026-11-25T07:58:47.511Z vm kernel - - - ${BODY}`,
      `<13>Nov 25 07:58:47 vm kernel: ${BODY}`,
      `<30>2026-11-25T07:58:47.511188+00:00 vm kernel: ${BODY}`,
    ]
  ) {
    assert.equal(p.parseLine(line).kind, "ignored", line.slice(0, 40));
  }
  for (
    const line of [
      `<4>1 2026-11-25T07:58:47.511Z vm kernel - - - ${BODY}`,
      `<6>Nov 25 07:58:47 vm kernel: ${BODY}`,
      `<0>2026-11-25T07:58:47.511188+00:00 vm kernel: ${BODY}`,
    ]
  ) {
    assert.equal(p.parseLine(line).kind, "drop", line.slice(0, 40));
  }
  const layout = parser({ timeLayout: "2006-01-02T15:04:05.000000-07:00" });
  assert.equal(
    layout.parseLine(`<13>2026-11-25T07:58:47.511188+00:00 vm kernel: ${BODY}`).kind,
    "ignored",
  );
});

Deno.test("header times: years 0-99 are those years, not 1900-1999 (as Date.UTC and new Date read them)", () => {
  const p = parser();
  const time = (header: string) => drop(p.parseLine(header + BODY)).time;
  assert.equal(
    time("0099-06-15T00:00:00.5Z vm kernel: ").toISOString(),
    "0099-06-15T00:00:00.500Z",
  );
  // Year 0 is a leap year (it is divisible by 400); 1900 is not.
  assert.equal(
    time("0000-02-29T12:00:00+01:00 vm kernel: ").toISOString(),
    "0000-02-29T11:00:00.000Z",
  );
  // Local time (no zone): the fields as written, in the local zone.
  const local = time("0042-03-04T05:06:07 vm kernel: ");
  assert.deepEqual(
    [local.getFullYear(), local.getMonth(), local.getDate(), local.getHours(), local.getMinutes()],
    [42, 2, 4, 5, 6],
  );
  // A configured layout too.
  const layout = parser({ timeLayout: "2006-01-02T15:04:05Z07:00" });
  assert.equal(
    drop(layout.parseLine("0001-01-01T00:00:00Z vm kernel: " + BODY)).time.toISOString(),
    "0001-01-01T00:00:00.000Z",
  );
});
