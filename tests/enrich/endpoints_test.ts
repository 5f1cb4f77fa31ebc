import assert from "node:assert/strict";
import type { PodIdentifier } from "../../src/config.ts";
import {
  type Endpoint,
  endpointName,
  eventMessage,
  locate,
  MAX_MESSAGE_LENGTH,
  metricLabel,
  type PodRef,
  sanitizeMessage,
} from "../../src/enrich/endpoints.ts";
import type { PacketDrop } from "../../src/netfilter/types.ts";
import { hasControlCharacters } from "../../src/text.ts";

const web: PodRef = {
  namespace: "shop",
  name: "web-1",
  uid: "u1",
  nodeName: "n1",
  hostNetwork: false,
  label: "frontend",
};
const unlabeled: PodRef = { ...web, name: "db-0", label: undefined };
const podEp = (pod: PodRef, ip = "10.244.1.10"): Endpoint => ({ kind: "pod", ip, pod });

function drop(fields: Partial<PacketDrop>): PacketDrop {
  return {
    time: new Date(0),
    prefix: "calico-packet:",
    in: "cali1",
    out: "cali2",
    src: "10.244.1.10",
    dst: "10.244.1.11",
    family: 4,
    proto: "TCP",
    spt: 40000,
    dpt: 8080,
    ...fields,
  };
}

Deno.test("names: per POD_IDENTIFIER, host-network by node, others by DNS name or IP", () => {
  const cases: [PodIdentifier, Endpoint, string][] = [
    ["namespace", podEp(web), "shop"],
    ["name", podEp(web), "web-1"],
    ["label", podEp(web), "frontend"],
    ["label", podEp(unlabeled), "db-0"],
    ["name_with_namespace", podEp(web), "shop/web-1"],
    ["namespace", { kind: "host", ip: "192.168.0.5", nodeName: "node-5" }, "node-5"],
    [
      "namespace",
      { kind: "external", ip: "192.0.2.7", dnsName: "api.partner.example" },
      "api.partner.example",
    ],
    ["namespace", { kind: "external", ip: "192.0.2.7" }, "192.0.2.7"],
  ];
  for (const [podIdentifier, ep, name] of cases) {
    assert.equal(endpointName(ep, { podIdentifier }), name);
  }
});

Deno.test("label: a Pod whose label value is empty is named by its name, not by nothing", () => {
  const emptyLabel: PodRef = { ...web, label: "" };
  assert.equal(endpointName(podEp(emptyLabel), { podIdentifier: "label" }), "web-1");
  assert.equal(
    eventMessage(drop({}), "receive", podEp(emptyLabel), {
      podIdentifier: "label",
      showPrefix: false,
    }),
    "Packet dropped when receiving traffic from web-1 (10.244.1.10) on port 8080/TCP",
  );
});

Deno.test("locate: a host-network Pod is its node; one without a node is not named as a node", () => {
  const proxy: PodRef = { ...web, name: "kube-proxy-x", nodeName: "node-5", hostNetwork: true };
  assert.deepEqual(locate("192.168.0.5", () => proxy), {
    kind: "host",
    ip: "192.168.0.5",
    nodeName: "node-5",
  });
  // The IP is shared by every host-network Pod there: the Pod's name would name one of them
  // (the original falls back to reverse DNS).
  assert.deepEqual(locate("192.168.0.5", () => ({ ...proxy, nodeName: "" })), {
    kind: "external",
    ip: "192.168.0.5",
  });
  assert.deepEqual(locate("10.244.1.10", () => web), { kind: "pod", ip: "10.244.1.10", pod: web });
  assert.deepEqual(locate("192.0.2.7", () => undefined), { kind: "external", ip: "192.0.2.7" });
});

Deno.test("metric labels come from a bounded set: namespace, host, external", () => {
  assert.equal(metricLabel(podEp(web)), "shop");
  assert.equal(metricLabel({ kind: "host", ip: "1.1.1.1", nodeName: "n" }), "host");
  assert.equal(metricLabel({ kind: "external", ip: "1.1.1.1", dnsName: "x.example" }), "external");
});

Deno.test("messages: identical to the original for TCP and UDP", () => {
  const naming = { podIdentifier: "namespace" as const, showPrefix: false };
  assert.equal(
    eventMessage(drop({}), "send", podEp(web, "10.244.1.11"), naming),
    "Packet dropped when sending traffic to shop (10.244.1.11) on port 8080/TCP",
  );
  assert.equal(
    eventMessage(drop({ proto: "UDP", dpt: 53 }), "receive", podEp(web), naming),
    "Packet dropped when receiving traffic from shop (10.244.1.10) on port 53/UDP",
  );
  // The IP is left out when the name is the IP itself.
  assert.equal(
    eventMessage(drop({}), "receive", { kind: "external", ip: "192.0.2.7" }, naming),
    "Packet dropped when receiving traffic from 192.0.2.7 on port 8080/TCP",
  );
  assert.equal(
    eventMessage(drop({}), "send", {
      kind: "external",
      ip: "192.0.2.7",
      dnsName: "api.partner.example",
    }, naming),
    "Packet dropped when sending traffic to api.partner.example (192.0.2.7) on port 8080/TCP",
  );
  assert.equal(
    eventMessage(drop({ family: 6 }), "send", podEp(web, "fd00:244::11"), {
      podIdentifier: "name",
      showPrefix: false,
    }),
    "Packet dropped when sending traffic to web-1 (fd00:244::11) on port 8080/TCP",
  );
});

Deno.test("messages: ICMP type and code, portless protocols, the matched prefix", () => {
  const naming = { podIdentifier: "namespace" as const, showPrefix: false };
  assert.equal(
    eventMessage(
      drop({ proto: "ICMP", spt: undefined, dpt: undefined, icmpType: 8, icmpCode: 0 }),
      "receive",
      podEp(web),
      naming,
    ),
    "Packet dropped when receiving traffic from shop (10.244.1.10) (ICMP type 8 code 0)",
  );
  assert.equal(
    eventMessage(
      drop({ proto: "ICMPv6", spt: undefined, dpt: undefined, icmpType: 128, icmpCode: 0 }),
      "send",
      podEp(web, "fd00:244::11"),
      naming,
    ),
    "Packet dropped when sending traffic to shop (fd00:244::11) (ICMPv6 type 128 code 0)",
  );
  assert.equal(
    eventMessage(
      drop({ proto: "ESP", spt: undefined, dpt: undefined }),
      "send",
      podEp(web),
      naming,
    ),
    "Packet dropped when sending traffic to shop (10.244.1.10) (protocol ESP)",
  );
  assert.equal(
    eventMessage(drop({ prefix: "calico-drop default/deny-all:" }), "send", podEp(web), {
      ...naming,
      showPrefix: true,
    }),
    'Packet dropped when sending traffic to shop (10.244.1.10) on port 8080/TCP (rule "calico-drop default/deny-all:")',
  );
});

Deno.test("messages are sanitised: control characters removed, length capped", () => {
  assert.equal(sanitizeMessage("a\x1b[31mb\nc\u0085d"), "a[31mbcd");
  const long = sanitizeMessage("x".repeat(5000));
  assert.equal(long.length, MAX_MESSAGE_LENGTH);
  assert.ok(long.endsWith("…"));
  const hostile = eventMessage(drop({ prefix: "evil\x1b]0;pwned\x07:" }), "send", podEp(web), {
    podIdentifier: "namespace",
    showPrefix: true,
  });
  assert.ok(!hasControlCharacters(hostile), hostile);
});

Deno.test("messages lose invisible formatting characters too (e.g. from a reverse-DNS name)", () => {
  const message = eventMessage(
    {
      time: new Date(0),
      prefix: "p:",
      in: "a",
      out: "b",
      src: "1.1.1.1",
      dst: "2.2.2.2",
      family: 4,
      proto: "TCP",
      dpt: 80,
    },
    "send",
    { kind: "external", ip: "2.2.2.2", dnsName: "evil\u202egro.example\u200b" },
    { podIdentifier: "namespace", showPrefix: false },
  );
  assert.equal(
    message,
    "Packet dropped when sending traffic to evilgro.example (2.2.2.2) on port 80/TCP",
  );
});
