/**
 * A TCP forwarder on a fixed loopback port that can be taken down and brought back: while down
 * nothing listens (connections are refused) and the connections it carried are cut; back up, it
 * listens on the same port again. Put in front of the API emulator, it is an API server that
 * goes away and returns with its state, which the emulator itself cannot do (its state lives
 * in its process and dies with `close()`). TLS passes through untouched.
 *
 * @example
 * ```ts
 * const proxy = await TcpProxy.start(api.port);
 * await proxy.down();   // ECONNREFUSED, open watches cut
 * await proxy.up();     // same port again
 * ```
 * @module
 */

/** A stoppable loopback TCP forwarder. */
export class TcpProxy {
  readonly port: number;
  #target: number;
  #listener: Deno.Listener | undefined;
  #accepting: Promise<void> | undefined;
  #conns = new Set<Deno.Conn>();
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(port: number, target: number) {
    this.port = port;
    this.#target = target;
  }

  /** Starts forwarding 127.0.0.1:`port` (0: any free port) to 127.0.0.1:`target`. */
  static async start(target: number, port = 0): Promise<TcpProxy> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    const proxy = new TcpProxy((listener.addr as Deno.NetAddr).port, target);
    proxy.#serve(listener);
    await Promise.resolve();
    return proxy;
  }

  /** Whether it listens now. */
  get isUp(): boolean {
    return this.#listener !== undefined;
  }

  /** Stops listening and cuts every connection it carries. */
  async down(): Promise<void> {
    const listener = this.#listener;
    if (!listener) return;
    this.#listener = undefined;
    listener.close();
    await this.#accepting;
    for (const conn of this.#conns) closeQuietly(conn);
    this.#conns.clear();
  }

  /** Listens on the same port again. */
  up(): Promise<void> {
    if (!this.#listener) this.#serve(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
    return Promise.resolve();
  }

  /** Takes it down for good. */
  close(): Promise<void> {
    return this.down();
  }

  #serve(listener: Deno.Listener): void {
    this.#listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const client of listener) {
          this.accepted++;
          void this.#forward(client);
        }
      } catch {
        // Closed by down().
      }
    })();
  }

  async #forward(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
      this.#conns.add(upstream);
      await Promise.allSettled([
        client.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(client.writable),
      ]);
    } catch {
      // The target refused or a side went away: the client sees its connection end.
    } finally {
      this.#conns.delete(client);
      closeQuietly(client);
      if (upstream) {
        this.#conns.delete(upstream);
        closeQuietly(upstream);
      }
    }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed (pipeTo closes what it finishes).
  }
}
