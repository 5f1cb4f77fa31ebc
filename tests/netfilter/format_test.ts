import assert from "node:assert/strict";
import { dropToJson, dropToNdjson } from "../../src/netfilter/format.ts";
import { DropParser } from "../../src/netfilter/parser.ts";
import type { PacketDrop } from "../../src/netfilter/types.ts";

const FIXTURES = new URL("../fixtures/kernel/", import.meta.url);

/** The NDJSON of a drop must equal JSON.stringify of its defined fields in schema order. */
function reference(d: PacketDrop): unknown {
  const out: Record<string, unknown> = { time: d.time.toISOString() };
  for (const [k, v] of Object.entries(d)) if (k !== "time" && v !== undefined) out[k] = v;
  return out;
}

Deno.test("NDJSON: every fixture drop serialises to valid JSON with its fields, leading keys first", () => {
  const parser = new DropParser({
    prefixes: ["kube-iptables-tailer:", "calico-packet:", "nft-drop:"],
    bootTimeMs: 0,
  });
  let n = 0;
  for (const file of ["kern-rfc3339.log", "kern-traditional.log", "kmsg.txt"]) {
    parser.scan(Deno.readTextFileSync(new URL(file, FIXTURES)), (r) => {
      if (r.kind !== "drop") return;
      n++;
      const line = dropToNdjson(r.drop);
      assert.ok(line.endsWith("}\n"));
      assert.deepEqual(JSON.parse(line), reference(r.drop));
      const keys = Object.keys(JSON.parse(line));
      const leading = [
        "time",
        "prefix",
        "in",
        "out",
        "src",
        "dst",
        "proto",
        "spt",
        "dpt",
        "icmpType",
        "icmpCode",
      ];
      assert.deepEqual(
        keys.slice(0, keys.indexOf("family")),
        leading.filter((k) => keys.includes(k)),
      );
    });
  }
  assert.equal(n, 58);
});

Deno.test("NDJSON: strings that need escaping, every optional field, extra keys last", () => {
  const d: PacketDrop = {
    time: new Date("2026-11-25T07:58:47.001Z"),
    prefix: 'say "hi" \\ there:',
    in: "br0",
    out: "",
    src: "10.0.0.1",
    dst: "10.0.0.2",
    family: 4,
    proto: "TCP",
    spt: 1,
    dpt: 2,
    physIn: "veth1",
    physOut: "veth2",
    macSrc: "aa",
    macDst: "bb",
    macProto: "0800",
    len: 3,
    tos: 4,
    prec: 5,
    ttl: 6,
    id: 7,
    fragment: 8,
    flags: ["DF"],
    seq: 9,
    ack: 10,
    window: 11,
    res: 0,
    urgp: 0,
    mtu: 1500,
    gateway: "10.0.0.254",
    parameter: 1,
    spi: 2,
    uid: 1000,
    gid: 1000,
    mark: 255,
    ipOptions: "01",
    tcpOptions: "02",
    embedded: { src: "1.1.1.1", dpt: 53 },
  };
  const json: Record<string, unknown> = JSON.parse(
    dropToNdjson(d, { srcPod: "shop/web-1", nothing: undefined }),
  );
  assert.equal(json.time, "2026-11-25T07:58:47.001Z");
  assert.equal(Object.keys(json).at(-1), "srcPod");
  assert.deepEqual(json, { ...(reference(d) as object), srcPod: "shop/web-1" });
  assert.deepEqual(dropToJson(d), reference(d));
});
