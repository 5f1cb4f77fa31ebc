import assert from "node:assert/strict";
import { isHostName, ptrName, ReverseDns, type ReverseDnsOptions } from "../../src/enrich/dns.ts";
import type { DnsResult } from "../../src/metrics.ts";
import { startDnsmasq } from "../support/dnsmasq.ts";
import { systemTest } from "../support/system.ts";

Deno.test("PTR names for IPv4 and IPv6", () => {
  assert.equal(ptrName("192.0.2.7"), "7.2.0.192.in-addr.arpa");
  assert.equal(
    ptrName("2001:db8::567:89ab"),
    "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
  );
  assert.equal(ptrName("not-an-ip"), undefined);
});

Deno.test("PTR name of an IPv4-mapped IPv6 address: the IPv4 address's (as Go's resolver asks)", () => {
  assert.equal(ptrName("::ffff:192.0.2.7"), "7.2.0.192.in-addr.arpa");
});

/** A ReverseDns with the tests' usual settings (10 names, 60 s TTL, 4 at once, 1 s timeout). */
function reverseDns(options: Partial<ReverseDnsOptions> & Pick<ReverseDnsOptions, "resolver">) {
  return new ReverseDns({
    timeoutMs: 1000,
    cacheSize: 10,
    ttlMs: 60_000,
    concurrency: 4,
    ...options,
  });
}

function fakeResolver(answers: Record<string, string[] | Error | "hang">) {
  const calls: string[] = [];
  let active = 0;
  let maxActive = 0;
  const resolver = async (query: string, signal: AbortSignal): Promise<string[]> => {
    calls.push(query);
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      await new Promise((r) => setTimeout(r, 5));
      const answer = answers[query];
      if (answer === "hang") {
        await new Promise((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener("abort", () => reject(signal.reason));
        });
      }
      if (answer instanceof Error) throw answer;
      if (!answer) throw Object.assign(new Error("no record"), { name: "NotFound" });
      return answer as string[];
    } finally {
      active--;
    }
  };
  return { resolver, calls, maxActive: () => maxActive };
}

Deno.test("reverse DNS: first name without the dot, cached, negative answers cached", async () => {
  let now = 0;
  const results: DnsResult[] = [];
  const fake = fakeResolver({
    "7.2.0.192.in-addr.arpa": ["api.partner.example.", "other.example."],
  });
  const dns = reverseDns({
    resolver: fake.resolver,
    now: () => now,
    onResult: (r) => results.push(r),
  });
  assert.equal(await dns.lookup("192.0.2.7"), "api.partner.example");
  assert.equal(await dns.lookup("192.0.2.7"), "api.partner.example");
  assert.equal(await dns.lookup("192.0.2.8"), undefined);
  assert.equal(await dns.lookup("192.0.2.8"), undefined);
  assert.deepEqual(fake.calls, ["7.2.0.192.in-addr.arpa", "8.2.0.192.in-addr.arpa"]);
  now += 60_001;
  assert.equal(await dns.lookup("192.0.2.7"), "api.partner.example");
  assert.equal(fake.calls.length, 3, "expired entries are looked up again");
  assert.deepEqual(results, ["resolved", "cache_hit", "not_found", "cache_hit", "resolved"]);
});

Deno.test("reverse DNS: a hanging server costs one timeout, and never blocks other lookups", async () => {
  const fake = fakeResolver({
    "1.0.0.10.in-addr.arpa": "hang",
    "2.0.0.10.in-addr.arpa": ["fast.example."],
  });
  const dns = reverseDns({
    timeoutMs: 200,
    resolver: fake.resolver,
  });
  const start = performance.now();
  let slowSettled = false;
  const slow = dns.lookup("10.0.0.1").finally(() => (slowSettled = true));
  const fast = await dns.lookup("10.0.0.2");
  assert.equal(fast, "fast.example");
  assert.equal(slowSettled, false, "the fast answer came while the hanging one still waited");
  assert.equal(await slow, undefined);
  const slowMs = performance.now() - start;
  // One timeout (200 ms), not forever: the hanging query never answers.
  assert.ok(slowMs >= 190 && slowMs < 1000, `timed out after ${slowMs} ms`);
});

Deno.test("reverse DNS: concurrency is bounded, identical lookups share one query, overflow is shed", async () => {
  const answers: Record<string, string[]> = {};
  for (let i = 0; i < 50; i++) answers[`${i}.0.0.10.in-addr.arpa`] = [`h${i}.example.`];
  const fake = fakeResolver(answers);
  const results: DnsResult[] = [];
  const dns = new ReverseDns({
    timeoutMs: 1000,
    cacheSize: 100,
    ttlMs: 60_000,
    concurrency: 3,
    maxQueued: 20,
    resolver: fake.resolver,
    onResult: (r) => results.push(r),
  });
  const names = await Promise.all([
    ...Array.from({ length: 50 }, (_, i) => dns.lookup(`10.0.0.${i}`)),
    dns.lookup("10.0.0.0"),
  ]);
  assert.ok(fake.maxActive() <= 3, `max in flight ${fake.maxActive()}`);
  assert.equal(names[0], "h0.example");
  assert.equal(names[50], "h0.example", "shares the in-flight query");
  assert.equal(fake.calls.filter((c) => c === "0.0.0.10.in-addr.arpa").length, 1);
  const shed = results.filter((r) => r === "shed").length;
  assert.equal(shed, 50 - 3 - 20, "beyond 3 running and 20 queued, lookups are shed");
  assert.equal(names.filter((n) => n === undefined).length, shed);
});

Deno.test("reverse DNS: the cache is capped", async () => {
  const fake = fakeResolver({});
  const dns = new ReverseDns({
    timeoutMs: 100,
    cacheSize: 5,
    ttlMs: 60_000,
    concurrency: 8,
    resolver: fake.resolver,
  });
  for (let i = 0; i < 20; i++) await dns.lookup(`10.0.1.${i}`);
  assert.equal(dns.cacheSize, 5);
});

systemTest(
  "reverse DNS against a real dnsmasq on a loopback port",
  { needs: ["dnsmasq"] },
  async () => {
    await using dnsmasq = await startDnsmasq({
      "192.0.2.7": "api.partner.example",
      "2001:db8::10": "v6.partner.example",
    });
    const dns = new ReverseDns({
      timeoutMs: 2000,
      cacheSize: 10,
      ttlMs: 60_000,
      concurrency: 2,
      nameServer: { ipAddr: "127.0.0.1", port: dnsmasq.port },
    });
    assert.equal(await dns.lookup("192.0.2.7"), "api.partner.example");
    assert.equal(await dns.lookup("2001:db8::10"), "v6.partner.example");
    assert.equal(await dns.lookup("192.0.2.99"), undefined, "no record");
  },
);

Deno.test("reverse DNS: a caller waits at most the timeout, queue included", async () => {
  const answers: Record<string, "hang"> = {};
  for (let i = 0; i < 10; i++) answers[`${i}.0.0.10.in-addr.arpa`] = "hang";
  const fake = fakeResolver(answers);
  const results: DnsResult[] = [];
  const dns = new ReverseDns({
    timeoutMs: 150,
    cacheSize: 100,
    ttlMs: 60_000,
    concurrency: 2,
    resolver: fake.resolver,
    onResult: (r) => results.push(r),
  });
  const start = performance.now();
  const names = await Promise.all(Array.from({ length: 10 }, (_, i) => dns.lookup(`10.0.0.${i}`)));
  const elapsed = performance.now() - start;
  assert.deepEqual(names, Array(10).fill(undefined));
  assert.ok(elapsed < 400, `10 lookups behind 2 slots took ${elapsed.toFixed(0)} ms, timeout 150`);
  assert.equal(results.filter((r) => r === "timeout").length, 10);
  // Slots freed at the deadline may go to callers whose own deadline is a moment away (those
  // ask with what little time is left); the rest give up in the queue.
  assert.ok(
    fake.calls.length <= 4,
    `queued lookups mostly never reached the server: ${fake.calls.length}`,
  );
});

Deno.test("reverse DNS: a slot freed goes to the lookup queued first, never to one arriving after", async () => {
  // A lookup made between one lookup's end and the queued one's wake-up (a few microtasks) must
  // queue behind it, not run beside it: that would exceed the bound and jump the queue.
  for (let ticks = 0; ticks < 12; ticks++) {
    let active = 0;
    let maxActive = 0;
    const order: string[] = [];
    const answers: (() => void)[] = [];
    const dns = new ReverseDns({
      timeoutMs: 5000,
      cacheSize: 100,
      ttlMs: 60_000,
      concurrency: 1,
      resolver: async (query) => {
        order.push(query.split(".")[0]);
        maxActive = Math.max(maxActive, ++active);
        await new Promise<void>((resolve) => answers.push(resolve));
        active--;
        return [`${query}.`];
      },
    });
    const first = dns.lookup("10.0.0.1");
    const queued = dns.lookup("10.0.0.2");
    await new Promise((resolve) => setTimeout(resolve, 5));
    answers.shift()!();
    for (let i = 0; i < ticks; i++) await Promise.resolve();
    const late = dns.lookup("10.0.0.3");
    const answering = setInterval(() => answers.shift()?.(), 1);
    await Promise.all([first, queued, late]);
    clearInterval(answering);
    assert.equal(maxActive, 1, `lookups in flight at once (new lookup ${ticks} microtasks late)`);
    assert.deepEqual(order, ["1", "2", "3"], `order (new lookup ${ticks} microtasks late)`);
  }
});

Deno.test("reverse DNS: Deno's resolver giving up on its own (TimedOut) is a timeout; it is asked again while the timeout lasts", async () => {
  // Deno.resolveDns ends a query to a silent name server after about 2 s with TimedOut,
  // whatever its signal says: a longer DNS_TIMEOUT_SECONDS must still be waited out.
  const timedOut = () => new Deno.errors.TimedOut("proto error: request timed out");
  let slowCalls = 0;
  let silentCalls = 0;
  const results: DnsResult[] = [];
  const dns = reverseDns({
    timeoutMs: 300,
    resolver: async (query) => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      if (query.startsWith("1.")) {
        // A slow server: the first query times out in Deno, the next one is answered.
        if (++slowCalls === 1) throw timedOut();
        return ["slow.example."];
      }
      silentCalls++;
      throw timedOut();
    },
    onResult: (r) => results.push(r),
  });
  assert.equal(await dns.lookup("10.0.0.1"), "slow.example");
  const start = performance.now();
  assert.equal(await dns.lookup("10.0.0.2"), undefined);
  const elapsed = performance.now() - start;
  assert.deepEqual(results, ["resolved", "timeout"]);
  assert.ok(silentCalls > 1, `asked ${silentCalls} times within the timeout`);
  assert.ok(elapsed >= 250 && elapsed < 600, `gave up after ${elapsed.toFixed(0)} ms, timeout 300`);
});

Deno.test("reverse DNS: a PTR answer that is no host name (whoever owns the reverse zone writes it) names nothing", async () => {
  const results: DnsResult[] = [];
  const fake = fakeResolver({
    "1.2.0.192.in-addr.arpa": ["evil (10.0.0.1) on port 22/TCP."],
    "2.2.0.192.in-addr.arpa": ["kube-system/coredns."],
    "3.2.0.192.in-addr.arpa": [`${"a".repeat(64)}.example.`],
    "4.2.0.192.in-addr.arpa": ["_dmarc.mail-1.example.org."],
  });
  const dns = reverseDns({
    resolver: fake.resolver,
    onResult: (r) => results.push(r),
  });
  for (const ip of ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) {
    assert.equal(await dns.lookup(ip), undefined, ip);
  }
  assert.equal(await dns.lookup("192.0.2.4"), "_dmarc.mail-1.example.org");
  assert.deepEqual(results, ["invalid_name", "invalid_name", "invalid_name", "resolved"]);
  // Remembered like an absent name: not asked again within the TTL.
  assert.equal(await dns.lookup("192.0.2.1"), undefined);
  assert.equal(fake.calls.length, 4);
  assert.ok(
    isHostName("a.b-c.d1") && isHostName("x") && !isHostName("-a.b") && !isHostName("a..b"),
  );
  assert.ok(!isHostName(`${"a.".repeat(127)}ab`), "longer than 253");
});
