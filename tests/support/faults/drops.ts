/**
 * Drop lines and the cluster they refer to, shared by the fault tests and the drop writer
 * process.
 *
 * Two shapes:
 * - {@link tcpDrop}: one drop between two given IPs (`WEB` and `DB` are Pods in {@link addShop}).
 * - Numbered drops ({@link seqLine}): line `n` carries `ID=n`, so the files tell which numbers
 *   they hold. Every `podEvery`-th one is sent by one of {@link SEQ_PODS} to the host-network
 *   Pod {@link SEQ_HOST} (one Event, on the sender, with a port unique to `n`); the others are
 *   between external addresses (counted, no Event, no DNS lookup).
 *
 * @module
 */

import type { KubeEmulator } from "../kube_emulator/mod.ts";

/** The LOG prefix every fault test configures. */
export const PREFIX = "calico-packet:";

/** Pods of {@link addShop}. */
export const WEB = "10.244.1.10";
export const DB = "10.244.1.11";

/** A kernel-log line (rsyslog's RFC 3339 header) with `body` as the kernel message. */
export function kernelLine(body: string, time = new Date()): string {
  return `${time.toISOString().replace("Z", "000+00:00")} node-1 kernel: [ 1234.567890] ${body}\n`;
}

/** The payload of a TCP SYN dropped from `src` to `dst` port `dpt`. */
export function tcpDrop(src: string, dst: string, dpt: number, id = 1): string {
  return `${PREFIX} IN=cali1 OUT=cali2 SRC=${src} DST=${dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ` +
    `ID=${id} DF PROTO=TCP SPT=40000 DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0 `;
}

/** Adds `shop/web-1` ({@link WEB}) and `data/db-0` ({@link DB}). */
export function addShop(api: KubeEmulator): void {
  api.addPod({ namespace: "shop", name: "web-1", podIPs: [WEB], nodeName: "node-1" });
  api.addPod({ namespace: "data", name: "db-0", podIPs: [DB], nodeName: "node-2" });
}

/** The messages of the two Events of `tcpDrop(WEB, DB, port)`: [on web-1, on db-0]. */
export function shopMessages(port: number): [string, string] {
  return [
    `Packet dropped when sending traffic to data (${DB}) on port ${port}/TCP`,
    `Packet dropped when receiving traffic from shop (${WEB}) on port ${port}/TCP`,
  ];
}

/** The port in an Event message, or undefined. */
export function portOf(message: string): number | undefined {
  const match = /on port (\d+)\//.exec(message);
  return match ? Number(match[1]) : undefined;
}

/** Senders of numbered pod drops (namespace `seq`, Pods `seq-0` … `seq-3`). */
export const SEQ_PODS = ["10.244.7.1", "10.244.7.2", "10.244.7.3", "10.244.7.4"];
/** The host-network Pod numbered pod drops go to (node `node-h`). */
export const SEQ_HOST = "192.168.7.5";

/** Adds the Pods of numbered drops. */
export function addSeqPods(api: KubeEmulator): void {
  SEQ_PODS.forEach((ip, i) => {
    api.addPod({ namespace: "seq", name: `seq-${i}`, podIPs: [ip], nodeName: "node-1" });
  });
  api.addPod({
    namespace: "kube-system",
    name: "agent-h",
    podIPs: [SEQ_HOST],
    hostNetwork: true,
    nodeName: "node-h",
  });
}

/** What the Event of numbered drop `n` looks like, when it has one. */
export interface SeqEvent {
  pod: string;
  message: string;
}

/** The Event numbered drop `n` gets, or undefined when it involves no Pod. */
export function seqEvent(n: number, podEvery: number): SeqEvent | undefined {
  if (n % podEvery !== 0) return undefined;
  const k = n / podEvery;
  return {
    pod: `seq-${k % SEQ_PODS.length}`,
    message: `Packet dropped when sending traffic to node-h (${SEQ_HOST}) on port ${
      1 + (k % 65535)
    }/TCP`,
  };
}

/** The kernel-log line of numbered drop `n`. */
export function seqLine(n: number, podEvery: number, time = new Date()): string {
  if (n % podEvery === 0) {
    const k = n / podEvery;
    return kernelLine(tcpDrop(SEQ_PODS[k % SEQ_PODS.length], SEQ_HOST, 1 + (k % 65535), n), time);
  }
  const src = `198.51.100.${1 + (n % 200)}`;
  const dst = `203.0.113.${1 + (Math.floor(n / 200) % 200)}`;
  return kernelLine(tcpDrop(src, dst, 1 + (n % 65535), n), time);
}

/** The numbers of the numbered drops in `content`, in order. */
export function seqsIn(content: string | Uint8Array): number[] {
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  return [...text.matchAll(/ TTL=63 ID=(\d+) /g)].map((m) => Number(m[1]));
}
