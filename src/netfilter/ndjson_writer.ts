/**
 * Writes JSON text straight into a byte buffer, without building strings: `parse` prints one
 * NDJSON line per drop, and building, keeping and encoding a string per line cost more than
 * parsing the line did.
 *
 * Two levels: {@link JsonBytes} methods (any value, bounds checked per call), and the
 * `put*` functions for hot writers that {@link JsonBytes.reserve} room for a whole record once
 * and then fill the buffer from {@link JsonBytes.end}, ending with {@link JsonBytes.commit}.
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

/** ASCII text as bytes: keys and punctuation that hot writers copy with {@link putBytes}. */
export function asciiBytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Copies `bytes` to buffer[at…]; returns the end. */
export function putBytes(buffer: Uint8Array, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = 0; i < n; i++) buffer[at + i] = bytes[i];
  return at + n;
}

/**
 * Writes `value` as a JSON string literal at buffer[at…]; returns the end. Needs room for
 * 6 bytes a character plus 2 (the worst case of escaping).
 */
export function putString(buffer: Uint8Array, at: number, value: string): number {
  const n = value.length;
  const start = at;
  buffer[at++] = 34;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 32 || c > 126 || c === 34 || c === 92) {
      // Rare: escapes or non-ASCII. Write the whole literal the general way.
      return start + encoder.encodeInto(JSON.stringify(value), buffer.subarray(start)).written;
    }
    buffer[at++] = c;
  }
  buffer[at++] = 34;
  return at;
}

/** Writes a non-negative safe integer at buffer[at…] (at most 16 bytes); returns the end. */
export function putUint(buffer: Uint8Array, at: number, value: number): number {
  if (value > 0x7fffffff) return putLargeUint(buffer, at, value);
  // Below 2^31 the arithmetic stays in int32, where division by 10 is a multiplication.
  const digits = value < 10
    ? 1
    : value < 100
    ? 2
    : value < 1000
    ? 3
    : value < 10000
    ? 4
    : value < 100000
    ? 5
    : value < 1000000
    ? 6
    : value < 10000000
    ? 7
    : value < 100000000
    ? 8
    : value < 1000000000
    ? 9
    : 10;
  let v = value | 0;
  for (let i = at + digits - 1; i >= at; i--) {
    const rest = (v / 10) | 0;
    buffer[i] = 48 + v - rest * 10;
    v = rest;
  }
  return at + digits;
}

function putLargeUint(buffer: Uint8Array, at: number, value: number): number {
  let digits = 0;
  for (let v = value; v >= 1; v = Math.floor(v / 10)) digits++;
  let i = at + digits;
  for (let v = value; i > at; v = Math.floor(v / 10)) buffer[--i] = 48 + (v % 10);
  return at + digits;
}

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

  /** Where the next byte goes in the buffer {@link reserve} returned. */
  get end(): number {
    return this.#used;
  }

  /**
   * Makes room for `n` more bytes and returns the buffer to write them into, from {@link end}
   * on; {@link commit} then keeps them.
   */
  reserve(n: number): Uint8Array {
    this.#room(n);
    return this.#buffer;
  }

  /** Keeps what was written into the reserved buffer up to `end`. */
  commit(end: number): void {
    this.#used = end;
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
    this.#room(value.length * 6 + 2);
    this.#used = putString(this.#buffer, this.#used, value);
  }

  /** A number (integers digit by digit, others as JSON prints them: non-finite ones as null). */
  number(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) return this.raw(JSON.stringify(value));
    this.#room(16);
    this.#used = putUint(this.#buffer, this.#used, value);
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
