/**
 * A real dnsmasq (Debian) answering PTR queries on a loopback port, for reverse-DNS tests.
 *
 * @example
 * ```ts
 * await using dns = await startDnsmasq({ "192.0.2.7": "api.partner.example" });
 * Deno.resolveDns(ptrName("192.0.2.7")!, "PTR", { nameServer: { ipAddr: "127.0.0.1", port: dns.port } });
 * ```
 * @module
 */

import { ptrName } from "../../src/enrich/dns.ts";
import { which } from "./system.ts";

/** A running dnsmasq. */
export interface Dnsmasq extends AsyncDisposable {
  port: number;
  stop(): Promise<void>;
}

/** Starts dnsmasq with a PTR record per IP; resolves once it answers the first one. */
export async function startDnsmasq(records: Record<string, string>): Promise<Dnsmasq> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = new Deno.Command(which("dnsmasq")!, {
    args: [
      "--no-daemon",
      `--port=${port}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv",
      "--no-hosts",
      "--user=root",
      "--pid-file=",
      ...Object.entries(records).map(([ip, name]) => `--ptr-record=${ptrName(ip)},${name}`),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
  };
  const [ip] = Object.keys(records);
  for (let i = 0; i < 50; i++) {
    try {
      const names = await Deno.resolveDns(ptrName(ip)!, "PTR", {
        nameServer: { ipAddr: "127.0.0.1", port },
        signal: AbortSignal.timeout(200),
      });
      if (names.length > 0) return { port, stop, [Symbol.asyncDispose]: stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`dnsmasq on port ${port} did not answer`);
}
