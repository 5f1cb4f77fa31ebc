import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalIp,
  canonicalIpFromCodes,
  formatIpv6,
  parseIpv6,
  unmapIpv4,
} from "../../src/netfilter/ip.ts";

Deno.test("canonicalIp: RFC 5952 examples and the kernel's expanded form", () => {
  const cases: [string, string | undefined][] = [
    ["fd00:0244:0000:0000:0000:0000:0000:0010", "fd00:244::10"],
    ["2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not shortened
    ["2001:DB8::AAAA", "2001:db8::aaaa"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["::ffff:10.0.0.1", "::ffff:10.0.0.1"],
    ["0000:0000:0000:0000:0000:ffff:0a00:0001", "::ffff:10.0.0.1"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["10.244.1.10", "10.244.1.10"],
    ["255.255.255.255", "255.255.255.255"],
    ["10.244.1", undefined],
    ["10.244.1.256", undefined],
    ["010.1.1.1", undefined],
    ["1::2::3", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["12345::", undefined],
    ["g::1", undefined],
    ["", undefined],
    [":::", undefined],
  ];
  for (const [input, expected] of cases) assert.equal(canonicalIp(input), expected, input);
  assert.equal(unmapIpv4("::ffff:10.0.0.1"), "10.0.0.1");
  assert.equal(unmapIpv4("fd00::1"), undefined);
});

Deno.test("canonicalIp: any spelling of an address gives one text, which parses back to it", () => {
  const groups = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  });
  fc.assert(
    fc.property(groups, fc.boolean(), (g, upper) => {
      const expanded = g.map((x) => x.toString(16).padStart(4, "0")).join(":");
      const spelled = upper ? expanded.toUpperCase() : expanded;
      const canonical = canonicalIp(spelled)!;
      assert.ok(canonical !== undefined, spelled);
      assert.deepEqual(parseIpv6(canonical), g);
      assert.equal(canonicalIp(canonical), canonical);
      assert.equal(canonical, formatIpv6(g));
      assert.ok(!/:0[0-9a-f]/.test(canonical), `no leading zeros: ${canonical}`);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("canonicalIpFromCodes: expanded IPv6 addresses, remembered or not, read right", () => {
  // More addresses than are remembered, seen in turn and again: every answer must be fresh.
  const expanded = Array.from(
    { length: 9 },
    (_, i) => `fd00:0244:0000:0000:0000:0000:00${i}0:00${i}1`,
  );
  for (let round = 0; round < 3; round++) {
    for (const [i, address] of [...expanded, ...expanded.slice(0, 3)].entries()) {
      const text = `SRC=${address} x`;
      const codes = new TextEncoder().encode(text);
      const canonical = canonicalIpFromCodes(codes, 4, 43, text, 0);
      assert.equal(canonical, canonicalIp(address), `round ${round}, address ${i}`);
    }
  }
});
