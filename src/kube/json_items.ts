/**
 * Splits a Kubernetes list answer (`{"kind":…,"metadata":{…},"items":[{…},{…},…]}`) into its
 * items while its bytes arrive, so a list of any length costs the memory of its largest item
 * instead of the whole answer (a first list from the API server's watch cache is one page of
 * every Pod: hundreds of megabytes on a large cluster, over V8's longest string).
 *
 * Each item is parsed on its own with `JSON.parse`, and so is every other field of the list
 * (`metadata` is handed over too; `kind`, `apiVersion` and unknown fields are only checked).
 * The fields may come in any order. An item over `maxItemBytes` is skipped (and reported); any
 * other departure from JSON is a {@link ListFormatError}. Pure: no I/O.
 *
 * @example
 * ```ts
 * const splitter = new ListSplitter();
 * for await (const chunk of response.body) {
 *   for (const part of splitter.push(chunk)) {
 *     if (part.kind === "item") index(part.value);
 *     else if (part.kind === "metadata") meta = part.value;
 *   }
 * }
 * splitter.finish(); // throws when the answer ended early
 * ```
 * @module
 */

/** One piece of a list answer, in the order the answer has them. */
export type ListPart =
  /** An element of `items`, parsed. */
  | { kind: "item"; value: unknown }
  /** An element of `items` larger than `maxItemBytes`, skipped unread; `index` counts from 0. */
  | { kind: "oversized"; index: number; bytes: number }
  /** The list's `metadata` (resourceVersion, continue, remainingItemCount), parsed. */
  | { kind: "metadata"; value: unknown };

/** The answer is not a JSON object with an `items` array, or not JSON at all. */
export class ListFormatError extends Error {
  override name = "ListFormatError";
}

/** Options of {@link ListSplitter}. */
export interface ListSplitterOptions {
  /** Longest item (in bytes) parsed; longer ones are skipped (default 8 MiB). */
  maxItemBytes?: number;
  /** Longest other field, `metadata` included; a longer one is an error (default 1 MiB). */
  maxFieldBytes?: number;
}

/** Default {@link ListSplitterOptions.maxItemBytes}: far over etcd's 1.5 MiB object limit. */
export const DEFAULT_MAX_ITEM_BYTES = 8 * 1024 * 1024;
/** Default {@link ListSplitterOptions.maxFieldBytes}. */
export const DEFAULT_MAX_FIELD_BYTES = 1024 * 1024;

// Where in the list object the splitter is (outside a value).
const START = 0; // before the list's "{"
const FIRST_KEY = 1; // after "{": a key or "}"
const KEY = 2; // after ",": a key
const COLON = 3;
const VALUE = 4; // after ":"
const AFTER_VALUE = 5; // "," or "}"
const FIRST_ITEM = 6; // after "items":[ : an item or "]"
const ITEM = 7; // after "," in items: an item
const AFTER_ITEM = 8; // "," or "]"
const END = 9; // after the list's "}": whitespace only
const IN_VALUE = 10; // inside a value being delimited

// What the value being delimited is.
const FOR_KEY = 0;
const FOR_FIELD = 1;
const FOR_ITEM = 2;

// The value's shape, which decides where it ends.
const CONTAINER = 0;
const STRING = 1;
const SCALAR = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON_BYTE = 0x3a;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function charName(byte: number): string {
  if (byte === QUOTE) return `'"'`;
  return byte >= 0x21 && byte < 0x7f
    ? `"${String.fromCharCode(byte)}"`
    : `byte 0x${byte.toString(16).padStart(2, "0")}`;
}

/** A growable byte buffer for a value that spans chunks; dropped when it grew large. */
class ValueBuffer {
  #bytes = new Uint8Array(0);
  length = 0;

  append(chunk: Uint8Array, from: number, to: number): void {
    const need = this.length + (to - from);
    if (need > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.#bytes.length * 2, 4096));
      grown.set(this.#bytes.subarray(0, this.length));
      this.#bytes = grown;
    }
    this.#bytes.set(chunk.subarray(from, to), this.length);
    this.length = need;
  }

  view(): Uint8Array {
    return this.#bytes.subarray(0, this.length);
  }

  /** Empties it, keeping up to 1 MiB of capacity for the next value. */
  reset(): void {
    this.length = 0;
    if (this.#bytes.length > 1024 * 1024) this.#bytes = new Uint8Array(0);
  }
}

/**
 * Splits the bytes of one list answer into {@link ListPart}s; feed it chunks in order with
 * {@link push}, then call {@link finish}. After an error it keeps throwing that error.
 */
export class ListSplitter {
  readonly #maxItemBytes: number;
  readonly #maxFieldBytes: number;
  readonly #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  readonly #buffer = new ValueBuffer();

  #state = START;
  #bytesSeen = 0;
  #failure: ListFormatError | undefined;
  #keys = new Set<string>();
  #key = "";
  #hasItems = false;
  #items = 0;
  #oversized = 0;

  // The value being delimited.
  #target = FOR_FIELD;
  #shape = CONTAINER;
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Its bytes so far, over its limit: it is only scanned to its end. */
  #skipping = false;
  #valueBytes = 0;
  /** Where to go after it. */
  #after = AFTER_VALUE;

  constructor(options: ListSplitterOptions = {}) {
    this.#maxItemBytes = options.maxItemBytes ?? DEFAULT_MAX_ITEM_BYTES;
    this.#maxFieldBytes = options.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  }

  /** Whether the answer had an `items` array (so far). */
  get hasItems(): boolean {
    return this.#hasItems;
  }

  /** Elements of `items` seen so far, oversized ones included. */
  get items(): number {
    return this.#items;
  }

  /** Elements of `items` skipped for their size. */
  get oversized(): number {
    return this.#oversized;
  }

  /** Bytes pushed so far. */
  get bytes(): number {
    return this.#bytesSeen;
  }

  /** Takes the next chunk; returns the parts it completed. Throws {@link ListFormatError}. */
  push(chunk: Uint8Array): ListPart[] {
    if (this.#failure) throw this.#failure;
    const parts: ListPart[] = [];
    try {
      this.#scan(chunk, parts);
    } catch (error) {
      this.#failure = error instanceof ListFormatError
        ? error
        : new ListFormatError(`unexpected: ${(error as Error)?.message ?? error}`);
      throw this.#failure;
    } finally {
      this.#bytesSeen += chunk.length;
    }
    return parts;
  }

  /** Declares the end of the answer. Throws {@link ListFormatError} when it is incomplete. */
  finish(): void {
    if (this.#failure) throw this.#failure;
    if (this.#state === END) return;
    this.#failure = new ListFormatError(
      this.#state === START
        ? "empty answer"
        : `the answer ended ${this.#where()} after ${this.#bytesSeen} bytes`,
    );
    throw this.#failure;
  }

  #where(): string {
    if (this.#state === IN_VALUE) {
      return this.#target === FOR_ITEM
        ? `inside item ${this.#items}`
        : this.#target === FOR_KEY
        ? "inside a field name"
        : `inside the field ${JSON.stringify(this.#key)}`;
    }
    if (this.#state >= FIRST_ITEM && this.#state <= AFTER_ITEM) {
      return `inside "items" after ${this.#items} items`;
    }
    return "inside the list object";
  }

  /** Throws the error for a problem at index `at` of the current chunk. */
  #fail(message: string, at: number): never {
    throw new ListFormatError(`${message} (at byte ${this.#bytesSeen + at})`);
  }

  #scan(chunk: Uint8Array, parts: ListPart[]): void {
    const length = chunk.length;
    let i = 0;
    while (i < length) {
      if (this.#state === IN_VALUE) {
        i = this.#continueValue(chunk, i, i, parts);
        continue;
      }
      const byte = chunk[i];
      if (isSpace(byte)) {
        i++;
        continue;
      }
      switch (this.#state) {
        case START:
          if (byte !== OPEN_BRACE) {
            this.#fail(`not a JSON object: starts with ${charName(byte)}`, i);
          }
          this.#state = FIRST_KEY;
          i++;
          break;
        case FIRST_KEY:
        case KEY:
          if (byte === CLOSE_BRACE && this.#state === FIRST_KEY) {
            this.#state = END;
            i++;
          } else if (byte === QUOTE) {
            i = this.#beginValue(chunk, i, FOR_KEY, COLON, parts);
          } else this.#fail(`expected a field name, found ${charName(byte)}`, i);
          break;
        case COLON:
          if (byte !== COLON_BYTE) this.#fail(`expected ":", found ${charName(byte)}`, i);
          this.#state = VALUE;
          i++;
          break;
        case VALUE:
          if (this.#key === "items") {
            if (byte !== OPEN_BRACKET) this.#fail(`"items" is not an array`, i);
            this.#hasItems = true;
            this.#state = FIRST_ITEM;
            i++;
          } else i = this.#beginValue(chunk, i, FOR_FIELD, AFTER_VALUE, parts);
          break;
        case AFTER_VALUE:
          if (byte === COMMA) this.#state = KEY;
          else if (byte === CLOSE_BRACE) this.#state = END;
          else this.#fail(`expected "," or "}" after a field, found ${charName(byte)}`, i);
          i++;
          break;
        case FIRST_ITEM:
        case ITEM:
          if (byte === CLOSE_BRACKET && this.#state === FIRST_ITEM) {
            this.#state = AFTER_VALUE;
            i++;
          } else i = this.#beginValue(chunk, i, FOR_ITEM, AFTER_ITEM, parts);
          break;
        case AFTER_ITEM:
          if (byte === COMMA) this.#state = ITEM;
          else if (byte === CLOSE_BRACKET) this.#state = AFTER_VALUE;
          else {this.#fail(
              `expected "," or "]" after item ${this.#items - 1}, found ${charName(byte)}`,
              i,
            );}
          i++;
          break;
        case END:
          this.#fail(`${charName(byte)} after the end of the list`, i);
      }
    }
  }

  /** Starts delimiting a value whose first byte is at `i`; returns where scanning goes on. */
  #beginValue(
    chunk: Uint8Array,
    i: number,
    target: number,
    after: number,
    parts: ListPart[],
  ): number {
    const byte = chunk[i];
    if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET || byte === COMMA || byte === COLON_BYTE) {
      this.#fail(`expected a value, found ${charName(byte)}`, i);
    }
    this.#state = IN_VALUE;
    this.#target = target;
    this.#after = after;
    this.#skipping = false;
    this.#valueBytes = 0;
    this.#escaped = false;
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      this.#shape = CONTAINER;
      this.#depth = 1;
      this.#inString = false;
    } else if (byte === QUOTE) {
      this.#shape = STRING;
      this.#inString = true;
    } else {
      this.#shape = SCALAR;
      return this.#continueValue(chunk, i, i, parts);
    }
    return this.#continueValue(chunk, i, i + 1, parts);
  }

  /**
   * Scans the current value from `i` (its bytes in this chunk start at `start`); returns the
   * index after it, or the chunk's length when it goes on in the next chunk.
   */
  #continueValue(chunk: Uint8Array, start: number, i: number, parts: ListPart[]): number {
    const length = chunk.length;
    let end = -1;
    if (this.#shape === SCALAR) {
      for (; i < length; i++) {
        const byte = chunk[i];
        if (
          byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isSpace(byte)
        ) {
          end = i;
          break;
        }
      }
    } else {
      let depth = this.#depth;
      let inString = this.#inString;
      let escaped = this.#escaped;
      for (; i < length; i++) {
        const byte = chunk[i];
        if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) {
            inString = false;
            if (this.#shape === STRING) {
              end = i + 1;
              break;
            }
          }
        } else if (byte === QUOTE) inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
        else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
          if (--depth === 0) {
            end = i + 1;
            break;
          }
        }
      }
      this.#depth = depth;
      this.#inString = inString;
      this.#escaped = escaped;
    }
    const stop = end < 0 ? length : end;
    this.#valueBytes += stop - start;
    const limit = this.#target === FOR_ITEM ? this.#maxItemBytes : this.#maxFieldBytes;
    if (!this.#skipping && this.#valueBytes > limit) {
      if (this.#target !== FOR_ITEM) {
        this.#fail(`${this.#where()}: longer than ${limit} bytes`, stop);
      }
      this.#skipping = true;
      this.#buffer.reset();
    }
    if (end < 0) {
      if (!this.#skipping) this.#buffer.append(chunk, start, length);
      return length;
    }
    if (this.#skipping) {
      parts.push({ kind: "oversized", index: this.#items, bytes: this.#valueBytes });
      this.#items++;
      this.#oversized++;
    } else if (this.#buffer.length === 0) {
      this.#complete(chunk.subarray(start, end), end, parts);
    } else {
      this.#buffer.append(chunk, start, end);
      this.#complete(this.#buffer.view(), end, parts);
    }
    this.#buffer.reset();
    this.#state = this.#after;
    return end;
  }

  /** Parses a delimited value (ending at index `at` of the chunk) and hands it over. */
  #complete(bytes: Uint8Array, at: number, parts: ListPart[]): void {
    let value: unknown;
    try {
      value = JSON.parse(this.#decoder.decode(bytes));
    } catch (error) {
      this.#fail(`${this.#where()}: not valid JSON: ${(error as Error).message}`, at);
    }
    switch (this.#target) {
      case FOR_KEY: {
        const key = value as string;
        if (this.#keys.has(key) && (key === "items" || key === "metadata")) {
          this.#fail(`the field ${JSON.stringify(key)} twice`, at);
        }
        this.#keys.add(key);
        this.#key = key;
        break;
      }
      case FOR_FIELD:
        if (this.#key === "metadata") parts.push({ kind: "metadata", value });
        break;
      case FOR_ITEM:
        parts.push({ kind: "item", value });
        this.#items++;
        break;
    }
  }
}
