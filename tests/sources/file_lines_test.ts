import assert from "node:assert/strict";
import fc from "fast-check";
import { LineFramer } from "../../src/sources/file_lines.ts";
import { hashBytes, parseFileCursor, sameFile } from "../../src/sources/file_cursor.ts";

const encoder = new TextEncoder();

/** Feeds `bytes` to a framer in pieces cut at `cuts`; returns everything it emitted. */
function frame(framer: LineFramer, bytes: Uint8Array, cuts: number[]) {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out = { text: "", lineCount: 0, truncated: 0, ends: [] as number[], tails: [] as string[] };
  let from = 0;
  for (const to of [...points, bytes.length]) {
    const framed = framer.push(bytes.subarray(from, to));
    from = to;
    if (!framed) continue;
    out.text += framed.text;
    out.lineCount += framed.lineCount;
    out.truncated += framed.truncated;
    out.ends.push(framed.end);
    out.tails.push(hashBytes(framed.endTail));
  }
  return out;
}

/** The longest prefix of `line` that fits in `cap` UTF-8 bytes, whole characters only. */
function fitting(line: string, cap: number): string {
  let bytes = 0;
  let out = "";
  for (const char of line) {
    bytes += encoder.encode(char).length;
    if (bytes > cap) break;
    out += char;
  }
  return out;
}

const lineArb = fc.string({ unit: fc.constantFrom("a", "b", " ", "é", "€", "𝄞", "=", "\r", "\t") })
  .map((s) => s);

Deno.test("framer: any chunking yields the complete lines once, in order, with exact ends", () => {
  fc.assert(
    fc.property(
      fc.array(lineArb, { maxLength: 30 }),
      fc.string({ unit: fc.constantFrom("x", "é") }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (lines, partial, cuts) => {
        const complete = lines.map((l) => l + "\n").join("");
        const bytes = encoder.encode(complete + partial);
        const framer = new LineFramer(1 << 20);
        const out = frame(framer, bytes, cuts);
        assert.deepEqual(out.text, complete);
        assert.deepEqual(out.lineCount, lines.length);
        assert.deepEqual(out.truncated, 0);
        const completeBytes = encoder.encode(complete).length;
        if (lines.length > 0) assert.deepEqual(out.ends.at(-1), completeBytes);
        assert.deepEqual(framer.consumed, completeBytes);
        assert.deepEqual(framer.scanned, bytes.length);
        // Every end is just after a newline, and its tail hash is of the bytes before it.
        out.ends.forEach((end, i) => {
          assert.deepEqual(bytes[end - 1], 0x0a);
          assert.deepEqual(out.tails[i], hashBytes(bytes.subarray(Math.max(0, end - 64), end)));
        });
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("framer: lines over the cap are cut at a character boundary and counted", () => {
  fc.assert(
    fc.property(
      fc.array(lineArb, { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (lines, cap, cuts) => {
        const bytes = encoder.encode(lines.map((l) => l + "\n").join(""));
        const out = frame(new LineFramer(cap), bytes, cuts);
        const expected = lines.map((l) => fitting(l, cap));
        assert.deepEqual(out.text, expected.map((l) => l + "\n").join(""));
        assert.deepEqual(out.lineCount, lines.length);
        assert.deepEqual(out.truncated, lines.filter((l) => encoder.encode(l).length > cap).length);
        assert.deepEqual(out.ends.at(-1), bytes.length);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("framer: a huge line is held in bounded memory and cut once its newline comes", () => {
  const framer = new LineFramer(100);
  const chunk = new Uint8Array(1 << 20).fill(0x41);
  for (let i = 0; i < 50; i++) assert.deepEqual(framer.push(chunk), undefined);
  const framed = framer.push(encoder.encode("tail\nnext\n"));
  if (!framed) throw new Error("no lines framed");
  assert.deepEqual(framed.text, "A".repeat(100) + "\nnext\n");
  assert.deepEqual(framed.lineCount, 2);
  assert.deepEqual(framed.truncated, 1);
  assert.deepEqual(framed.end, 50 * (1 << 20) + 10);
});

Deno.test("framer: invalid UTF-8 becomes U+FFFD, line by line", () => {
  const framer = new LineFramer(1000);
  const framed = framer.push(
    new Uint8Array([0xff, 0x41, 0x0a, 0xc3, 0x0a, 0xe2, 0x82, 0xac, 0x0a]),
  );
  assert.deepEqual(framed?.text, "\uFFFDA\n\uFFFD\n€\n");
  assert.deepEqual(framed?.lineCount, 3);
});

Deno.test("framer: discardCurrentLine skips to the next newline without emitting", () => {
  const framer = new LineFramer(1000);
  framer.reset(500);
  framer.discardCurrentLine();
  assert.deepEqual(framer.push(encoder.encode("rest of a line")), undefined);
  assert.deepEqual(framer.push(encoder.encode(" still\n")), undefined);
  assert.deepEqual(framer.consumed, 521);
  const framed = framer.push(encoder.encode("whole\n"));
  assert.deepEqual(framed?.text, "whole\n");
  assert.deepEqual(framed?.end, 527);
});

Deno.test("cursor: the same file is the same device and inode, and birth time where both know it", () => {
  const cursor = { dev: 1, ino: 2, born: 1000 };
  assert.ok(sameFile(cursor, { dev: 1, ino: 2, birthtime: new Date(1000) }));
  // The inode number given to a new file after the old one was deleted (or compressed).
  assert.ok(!sameFile(cursor, { dev: 1, ino: 2, birthtime: new Date(2000) }));
  assert.ok(!sameFile(cursor, { dev: 1, ino: 3, birthtime: new Date(1000) }));
  // A file system without birth times, or a cursor from before they were saved.
  assert.ok(sameFile(cursor, { dev: 1, ino: 2, birthtime: null }));
  assert.ok(sameFile({ dev: 1, ino: 2 }, { dev: 1, ino: 2, birthtime: new Date(2000) }));
  assert.equal(parseFileCursor({ dev: 1, ino: 2, offset: 0, hash: "0123abcd", born: 5 }).born, 5);
  assert.throws(
    () => parseFileCursor({ dev: 1, ino: 2, offset: 0, hash: "0123abcd", born: -5 }),
    { name: "TypeError", message: /born/ },
  );
});

Deno.test("cursor: parse accepts a valid cursor and names the bad field otherwise", () => {
  const good = { dev: 1, ino: 2, offset: 3, hash: "0123abcd" };
  assert.deepEqual(parseFileCursor(good), good);
  assert.throws(() => parseFileCursor(null), {
    name: "TypeError",
    message: /must be an object/,
  });
  assert.throws(() => parseFileCursor("x"), { name: "TypeError", message: /must be an object/ });
  assert.throws(() => parseFileCursor({ ...good, ino: -1 }), { name: "TypeError", message: /ino/ });
  assert.throws(() => parseFileCursor({ ...good, offset: 1.5 }), {
    name: "TypeError",
    message: /offset/,
  });
  assert.throws(() => parseFileCursor({ ...good, dev: "1" }), {
    name: "TypeError",
    message: /dev/,
  });
  assert.throws(() => parseFileCursor({ ...good, hash: "xyz" }), {
    name: "TypeError",
    message: /hash/,
  });
});

Deno.test("cursor: the hash covers the last 64 bytes only", () => {
  const a = encoder.encode("A".repeat(10) + "B".repeat(64));
  const b = encoder.encode("C".repeat(10) + "B".repeat(64));
  assert.deepEqual(hashBytes(a), hashBytes(b));
  assert.deepEqual(hashBytes(a), hashBytes(a.subarray(a.length - 64)));
  assert(hashBytes(encoder.encode("x\n")) !== hashBytes(encoder.encode("y\n")));
});

Deno.test("LineFramer.finish delivers an unfinished last line once", () => {
  const framer = new LineFramer(16);
  const encoder = new TextEncoder();
  assert.equal(framer.push(encoder.encode("one\ntw"))?.text, "one\n");
  assert.deepEqual(framer.finish()?.text, "tw\n");
  assert.equal(framer.finish(), undefined);
  const long = new LineFramer(4);
  long.push(encoder.encode("abcdefgh"));
  const last = long.finish();
  assert.equal(last?.text, "abcd\n");
  assert.equal(last?.truncated, 1);
});

Deno.test("LineFramer: ASCII fast path and byte path cut long lines alike", () => {
  const encoder = new TextEncoder();
  const ascii = new LineFramer(5).push(encoder.encode("0123456789\nab\n"));
  assert.deepEqual([ascii?.text, ascii?.lineCount, ascii?.truncated], ["01234\nab\n", 2, 1]);
  const utf8 = new LineFramer(5).push(encoder.encode("ééééé\nab\n"));
  assert.deepEqual([utf8?.text, utf8?.lineCount, utf8?.truncated], ["éé\nab\n", 2, 1]);
  const invalid = new LineFramer(5).push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 10]));
  assert.deepEqual([invalid?.text, invalid?.truncated], ["\ufffd".repeat(5) + "\n", 1]);
});

Deno.test("LineFramer marks where cut lines end, in the ASCII, UTF-8 and held-line paths", () => {
  const encoder = new TextEncoder();
  const ascii = new LineFramer(5).push(encoder.encode("ok\n0123456789\nab\n"))!;
  assert.deepEqual(ascii.cut, [ascii.text.indexOf("01234\n") + 5]);
  const utf8 = new LineFramer(5).push(encoder.encode("ééééé\nab\n"))!;
  assert.deepEqual(utf8.cut, [utf8.text.indexOf("\n")]);
  const held = new LineFramer(4);
  assert.equal(held.push(encoder.encode("abcdefgh")), undefined);
  const done = held.push(encoder.encode("ij\nxy\n"))!;
  assert.deepEqual([done.text, done.cut], ["abcd\nxy\n", [4]]);
  assert.deepEqual(new LineFramer(64).push(encoder.encode("short\n"))!.cut, []);
});
