/**
 * Writes JSON text straight into a byte buffer, without building strings: `parse` prints one
 * NDJSON line per drop, and building, keeping and encoding a string per line cost more than
 * parsing the line did.
 *
 * @example
 * ```ts
 * const w = new JsonBytes((bytes) => Deno.stdout.writeSync(bytes));
 * w.raw('{"a":'); w.number(1); w.raw(',"b":'); w.string("x"); w.raw("}\n");
 * w.flush();
 * ```
 * @module
 */

const encoder = new TextEncoder();

/** A growable byte buffer with JSON writers; full buffers go to `drain` (or grow without one). */
export class JsonBytes {
  #buffer: Uint8Array;
  #used = 0;
  #drain: ((bytes: Uint8Array) => void) | undefined;

  constructor(drain?: (bytes: Uint8Array) => void, size = 1 << 20) {
    this.#buffer = new Uint8Array(size);
    this.#drain = drain;
  }

  /** The bytes written since the last flush. */
  get bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#used);
  }

  /** Makes room for `n` more bytes. */
  #room(n: number): void {
    if (this.#used + n <= this.#buffer.length) return;
    if (this.#drain && this.#used > 0) this.flush();
    if (this.#used + n <= this.#buffer.length) return;
    const bigger = new Uint8Array(Math.max(this.#buffer.length * 2, this.#used + n));
    bigger.set(this.#buffer.subarray(0, this.#used));
    this.#buffer = bigger;
  }

  /** Hands the bytes to `drain` and starts over. */
  flush(): void {
    if (this.#used > 0) this.#drain?.(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
  }

  /** Text known to be plain ASCII needing no escaping (keys, punctuation). */
  raw(text: string): void {
    const n = text.length;
    this.#room(n);
    const b = this.#buffer;
    let at = this.#used;
    for (let i = 0; i < n; i++) b[at++] = text.charCodeAt(i);
    this.#used = at;
  }

  /** A JSON string literal. */
  string(value: string): void {
    const n = value.length;
    this.#room(n + 2);
    const b = this.#buffer;
    let at = this.#used;
    b[at++] = 34;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c < 32 || c > 126 || c === 34 || c === 92) {
        // Rare: escapes or non-ASCII. Write the whole literal the general way.
        return this.#general(value);
      }
      b[at++] = c;
    }
    b[at++] = 34;
    this.#used = at;
  }

  #general(value: string): void {
    this.text(JSON.stringify(value));
  }

  /** A number (integers digit by digit, others as JSON prints them: non-finite ones as null). */
  number(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) return this.raw(JSON.stringify(value));
    this.#room(16);
    const b = this.#buffer;
    if (value === 0) {
      b[this.#used++] = 48;
      return;
    }
    let digits = 0;
    for (let v = value; v > 0; v = Math.floor(v / 10)) digits++;
    let at = this.#used + digits;
    this.#used = at;
    for (let v = value; v > 0; v = Math.floor(v / 10)) b[--at] = 48 + (v % 10);
  }

  /** Any JSON value, the general way. */
  value(value: unknown): void {
    this.text(JSON.stringify(value));
  }

  /** Any text, UTF-8 encoded. */
  text(text: string): void {
    this.#room(text.length * 3);
    this.#used += encoder.encodeInto(text, this.#buffer.subarray(this.#used)).written;
  }
}
