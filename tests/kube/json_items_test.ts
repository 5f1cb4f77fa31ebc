/**
 * The list splitter against `JSON.parse` of the whole answer: random lists (random objects
 * with nasty strings, fields in any order, random whitespace) cut at random chunk boundaries
 * give exactly the items and metadata `JSON.parse` gives; corrupted answers fail exactly when
 * `JSON.parse` does; oversized items are skipped and counted; errors say what was wrong.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ListFormatError, type ListPart, ListSplitter } from "../../src/kube/json_items.ts";

const encoder = new TextEncoder();

/** What a whole answer splits into. */
interface Split {
  items: unknown[];
  metadata: unknown[];
  oversized: { index: number; bytes: number }[];
  hasItems: boolean;
}

/** Runs the splitter over `bytes` cut at `cuts` (offsets). */
function split(bytes: Uint8Array, cuts: number[], options = {}): Split {
  const splitter = new ListSplitter(options);
  const result: Split = { items: [], metadata: [], oversized: [], hasItems: false };
  const take = (parts: ListPart[]) => {
    for (const part of parts) {
      if (part.kind === "item") result.items.push(part.value);
      else if (part.kind === "metadata") result.metadata.push(part.value);
      else result.oversized.push({ index: part.index, bytes: part.bytes });
    }
  };
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= from || cut >= bytes.length) continue;
    take(splitter.push(bytes.subarray(from, cut)));
    from = cut;
  }
  take(splitter.push(bytes.subarray(from)));
  splitter.finish();
  result.hasItems = splitter.hasItems;
  assert.equal(splitter.items, result.items.length + result.oversized.length);
  assert.equal(splitter.bytes, bytes.length);
  return result;
}

/** The splitter's outcome, or "error" when it threw ListFormatError (anything else fails). */
function outcome(bytes: Uint8Array, cuts: number[]): Split | "error" {
  try {
    return split(bytes, cuts);
  } catch (error) {
    if (error instanceof ListFormatError) return "error";
    throw error;
  }
}

/** What `JSON.parse` of the whole answer says, in the splitter's terms. */
function reference(bytes: Uint8Array): Split | "error" {
  let list: unknown;
  try {
    list = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return "error";
  }
  if (typeof list !== "object" || list === null || Array.isArray(list)) return "error";
  const { items, metadata } = list as { items?: unknown; metadata?: unknown };
  if (items !== undefined && !Array.isArray(items)) return "error";
  return {
    items: items ?? [],
    metadata: "metadata" in list ? [metadata] : [],
    oversized: [],
    hasItems: items !== undefined,
  };
}

/** Strings that break naive splitters: quotes, escapes, braces, multi-byte characters. */
const nastyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom(
      '"',
      "\\",
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      " ",
      "\n",
      "\u0000",
      "é",
      "€",
      "😀",
      "\u2028",
      '\\"',
      '","items":[',
      "\ufeff",
    ),
    maxLength: 12,
  }),
);

const jsonish = fc.jsonValue({ maxDepth: 3, stringUnit: "binary" });

/** A random item: mostly Pod-like objects, sometimes anything JSON. */
const item: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      metadata: fc.record({
        name: nastyString,
        namespace: nastyString,
        uid: fc.uuid(),
        labels: fc.dictionary(nastyString, nastyString, { maxKeys: 3 }),
      }),
      spec: fc.dictionary(nastyString, jsonish, { maxKeys: 3 }),
      status: fc.record({ phase: nastyString, podIP: fc.ipV4() }),
    }, { requiredKeys: ["metadata"] }),
  },
  { weight: 1, arbitrary: jsonish },
);

const metadata = fc.record({
  resourceVersion: fc.nat().map(String),
  continue: nastyString,
  remainingItemCount: fc.nat(),
}, { requiredKeys: ["resourceVersion"] });

/** Fields of a list in random order; extra fields never named items or metadata. */
const listFields = fc.tuple(
  fc.array(item, { maxLength: 12 }),
  fc.option(metadata, { nil: undefined }),
  fc.dictionary(nastyString.map((k) => `x-${k}`), jsonish, { maxKeys: 3 }),
  fc.boolean(),
).chain(([items, meta, extra, withItems]) => {
  const fields: [string, unknown][] = [["kind", "PodList"], ["apiVersion", "v1"]];
  if (withItems) fields.push(["items", items]);
  if (meta !== undefined) fields.push(["metadata", meta]);
  fields.push(...Object.entries(extra));
  return fc.shuffledSubarray(fields, { minLength: fields.length });
});

const WHITESPACE = [" ", "\n", "\r\n", "\t", "  ", ""];

/** JSON text with whitespace picked by `ws` between every two tokens. */
function serialize(value: unknown, ws: () => string): string {
  if (Array.isArray(value)) {
    return `[${ws()}${value.map((v) => serialize(v, ws)).join(`${ws()},${ws()}`)}${ws()}]`;
  }
  if (typeof value === "object" && value !== null) {
    const fields = Object.entries(value).map(([k, v]) =>
      `${JSON.stringify(k)}${ws()}:${ws()}${serialize(v, ws)}`
    );
    return `{${ws()}${fields.join(`${ws()},${ws()}`)}${ws()}}`;
  }
  return JSON.stringify(value);
}

/** A whitespace source from a seed. */
function spacer(seed: number): () => string {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return WHITESPACE[x % WHITESPACE.length];
  };
}

/** A whole answer from fields, with its items' own byte lengths. */
function answer(fields: [string, unknown][], seed: number): { bytes: Uint8Array; sizes: number[] } {
  const ws = spacer(seed);
  const sizes: number[] = [];
  const parts = fields.map(([key, value]) => {
    let text: string;
    if (key === "items") {
      const texts = (value as unknown[]).map((v) => serialize(v, ws));
      sizes.push(...texts.map((t) => encoder.encode(t).length));
      text = `[${ws()}${texts.join(`${ws()},${ws()}`)}${ws()}]`;
    } else text = serialize(value, ws);
    return `${ws()}${JSON.stringify(key)}${ws()}:${ws()}${text}`;
  });
  return { bytes: encoder.encode(`${ws()}{${parts.join(`${ws()},`)}${ws()}}${ws()}`), sizes };
}

const cutsOf = fc.array(fc.nat(), { maxLength: 30 });

Deno.test("list splitter: random lists cut at random boundaries give exactly what JSON.parse gives", () => {
  fc.assert(
    fc.property(listFields, fc.nat(), cutsOf, (fields, seed, cuts) => {
      const { bytes } = answer(fields, seed);
      const want = reference(bytes);
      assert.notEqual(want, "error", "the generator makes valid lists");
      assert.deepEqual(split(bytes, cuts.map((c) => c % (bytes.length + 1))), want);
    }),
    { numRuns: 400 },
  );
});

Deno.test("list splitter: one byte at a time gives the same as one chunk", () => {
  fc.assert(
    fc.property(listFields, fc.nat(), (fields, seed) => {
      const { bytes } = answer(fields, seed);
      const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
      assert.deepEqual(split(bytes, everyByte), split(bytes, []));
    }),
    { numRuns: 100 },
  );
});

Deno.test("list splitter: items over the limit are skipped and reported with their index and size", () => {
  fc.assert(
    fc.property(listFields, fc.nat(), cutsOf, fc.integer({ min: 1, max: 200 }), (
      fields,
      seed,
      cuts,
      limit,
    ) => {
      const { bytes, sizes } = answer(fields, seed);
      const want = reference(bytes) as Split;
      const got = split(bytes, cuts.map((c) => c % (bytes.length + 1)), { maxItemBytes: limit });
      assert.deepEqual(
        got.oversized,
        sizes.flatMap((bytes, index) => (bytes > limit ? [{ index, bytes }] : [])),
      );
      assert.deepEqual(got.items, want.items.filter((_, i) => sizes[i] <= limit));
      assert.deepEqual(got.metadata, want.metadata);
    }),
    { numRuns: 300 },
  );
});

Deno.test("list splitter: a corrupted answer fails exactly when JSON.parse does (and never throws anything else)", () => {
  const corruptions = fc.constantFrom(
    ...[...'"\\{}[],: x0-\n'].map((c) => c.charCodeAt(0)),
    0xff,
    0xc3,
    0x80,
  );
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), byte: corruptions }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: corruptions }),
  );
  fc.assert(
    fc.property(listFields, fc.nat(), cutsOf, fc.array(mutation, { minLength: 1, maxLength: 3 }), (
      fields,
      seed,
      cuts,
      mutations,
    ) => {
      let bytes = answer(fields, seed).bytes;
      for (const m of mutations) {
        const at = m.at % (bytes.length + 1);
        const copy = [...bytes];
        if (m.kind === "truncate") copy.length = at;
        else if (m.kind === "delete") copy.splice(at, 1);
        else if (m.kind === "replace") copy[Math.min(at, copy.length - 1)] = m.byte;
        else copy.splice(at, 0, m.byte);
        bytes = new Uint8Array(copy);
      }
      const want = reference(bytes);
      const got = outcome(bytes, cuts.map((c) => c % (bytes.length + 1)));
      assert.deepEqual(got, want, new TextDecoder().decode(bytes));
    }),
    { numRuns: 1500 },
  );
});

/** The error message the splitter gives for `text` (pushed in one chunk, then finished). */
function errorOf(text: string | Uint8Array, options = {}): string {
  const splitter = new ListSplitter(options);
  try {
    splitter.push(typeof text === "string" ? encoder.encode(text) : text);
    splitter.finish();
  } catch (error) {
    assert.ok(error instanceof ListFormatError, `a ListFormatError: ${error}`);
    // Once failed, it stays failed.
    assert.throws(() => splitter.push(encoder.encode("{}")), ListFormatError);
    assert.throws(() => splitter.finish(), ListFormatError);
    return error.message;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

Deno.test("list splitter: malformed answers are errors that say what was wrong", () => {
  assert.match(errorOf(""), /^empty answer$/);
  assert.match(errorOf("  \n"), /^empty answer$/);
  assert.match(errorOf("[1,2,3]"), /not a JSON object: starts with "\["/);
  assert.match(errorOf("<html>bad gateway</html>"), /not a JSON object: starts with "<"/);
  assert.match(errorOf('{"items":{}}'), /"items" is not an array \(at byte 9\)/);
  assert.match(errorOf('{"items":null}'), /"items" is not an array/);
  assert.match(errorOf('{"kind":"PodList","items":[{'), /ended inside item 0 after 28 bytes/);
  assert.match(errorOf('{"items":[{"a":1},'), /ended inside "items" after 1 items/);
  assert.match(
    errorOf('{"items":[],"metadata":{"resourceVersion":"1"'),
    /inside the field "metadata"/,
  );
  assert.match(errorOf('{"items":[]'), /ended inside the list object/);
  assert.match(errorOf('{"items":[]} x'), /"x" after the end of the list/);
  assert.match(errorOf('{"items":[{} {}]}'), /expected "," or "]" after item 0, found "{"/);
  assert.match(errorOf('{"items":[1,]}'), /expected a value, found "]"/);
  assert.match(errorOf('{"items":[{"a":tru}]}'), /inside item 0: not valid JSON/);
  assert.match(errorOf('{"kind":PodList,"items":[]}'), /inside the field "kind": not valid JSON/);
  assert.match(errorOf('{"a" 1}'), /expected ":", found "1"/);
  assert.match(errorOf('{"a":1 "b":2}'), /expected "," or "}" after a field, found '"'/);
  assert.match(errorOf("{items:[]}"), /expected a field name, found "i"/);
  assert.match(errorOf('{"items":[],}'), /expected a field name, found "}"/);
  assert.match(errorOf('{"items":[],"items":[]}'), /the field "items" twice/);
  assert.match(errorOf(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), /starts with byte 0xef/);
  const fat = `{"metadata":{"x":"${"y".repeat(100)}"},"items":[]}`;
  assert.match(errorOf(fat, { maxFieldBytes: 50 }), /inside the field "metadata": longer than 50/);
});

Deno.test("list splitter: metadata after items, escaped quotes and braces, UTF-8 split mid-character", () => {
  const pod = {
    metadata: { name: 'we"ird}{', namespace: "ns\\", uid: "u1", labels: { "a]": "ü€😀" } },
    status: { podIP: "10.0.0.1" },
  };
  const text = `{"kind":"PodList","items":[${JSON.stringify(pod)},\n{"metadata":{"name":"b"}}],` +
    `"metadata":{"resourceVersion":"42","continue":"tok\\"en","remainingItemCount":7}}`;
  const bytes = encoder.encode(text);
  // Cut inside the 4-byte emoji and the 3-byte euro sign, and between a backslash and its quote.
  const emoji = bytes.indexOf(0xf0);
  const cuts = [emoji + 1, emoji + 2, emoji + 3, bytes.indexOf(0xe2) + 1, text.indexOf('\\"') + 1];
  const got = split(bytes, cuts);
  assert.deepEqual(got.items, [pod, { metadata: { name: "b" } }]);
  assert.deepEqual(got.metadata, [{
    resourceVersion: "42",
    continue: 'tok"en',
    remainingItemCount: 7,
  }]);
  assert.equal(got.hasItems, true);
  // No items field at all: nothing, and hasItems says so.
  const none = split(encoder.encode('{"metadata":{"resourceVersion":"1"}}'), []);
  assert.equal(none.hasItems, false);
  assert.deepEqual(none.metadata, [{ resourceVersion: "1" }]);
});

Deno.test("list splitter: items are handed over as soon as they are complete", () => {
  const splitter = new ListSplitter();
  assert.deepEqual(splitter.push(encoder.encode('{"items":[{"a":1},{"b"')), [{
    kind: "item",
    value: { a: 1 },
  }]);
  assert.deepEqual(splitter.push(encoder.encode(":2}]")), [{ kind: "item", value: { b: 2 } }]);
  assert.deepEqual(splitter.push(encoder.encode(',"metadata":{"resourceVersion":"9"}}')), [{
    kind: "metadata",
    value: { resourceVersion: "9" },
  }]);
  splitter.finish();
});

Deno.test("list splitter: 40 000 items (40 MB) in 64 KiB chunks, with the item limit at exactly the largest item", () => {
  const item = (i: number) =>
    JSON.stringify({ metadata: { name: `pod-${i}`, uid: `u-${i}` }, pad: "x".repeat(i % 2000) });
  const texts = Array.from({ length: 40_000 }, (_, i) => item(i));
  const largest = Math.max(...texts.map((t) => t.length));
  const bytes = encoder.encode(`{"items":[${texts.join(",")}],"metadata":{"resourceVersion":"1"}}`);
  const splitter = new ListSplitter({ maxItemBytes: largest });
  let count = 0;
  for (let at = 0; at < bytes.length; at += 65_536) {
    for (const part of splitter.push(bytes.subarray(at, at + 65_536))) {
      if (part.kind === "item") {
        assert.equal((part.value as { metadata: { name: string } }).metadata.name, `pod-${count}`);
        count++;
      } else assert.equal(part.kind, "metadata");
    }
  }
  splitter.finish();
  assert.equal(count, 40_000);
  assert.equal(splitter.oversized, 0, "the limit is inclusive");
});
