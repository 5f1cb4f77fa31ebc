/**
 * `parse` over inputs larger than its read buffer: lines split between reads, a line longer
 * than the buffer and the length cap, a last line without a newline, reads of any size. The
 * output must be exactly what parsing each line on its own gives.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { cannotRead, parseBootTime, runParse } from "../../src/commands/parse.ts";
import { dropToNdjson } from "../../src/netfilter/format.ts";
import { DropParser } from "../../src/netfilter/parser.ts";

const FIXTURES = new URL("../fixtures/kernel/", import.meta.url);
const DROPS = Deno.readTextFileSync(new URL("kern-rfc3339.log", FIXTURES)).split("\n")
  .filter((l) => l);
const PREFIXES = ["kube-iptables-tailer:", "calico-packet:", "nft-drop:"];
const CAP = 65536;

/** A log of `count` lines: drops, other lines, and one line longer than the cap. */
function makeLog(count: number, longAt: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i === longAt) lines.push(DROPS[0] + " " + "x".repeat(100_000));
    else if (i % 3 === 0) lines.push(DROPS[i % DROPS.length]);
    else {lines.push(
        `2026-11-25T07:58:47.511188+00:00 vm kubelet[1]: line ${i} ${"y".repeat(i % 300)}`,
      );}
  }
  return lines;
}

/** A reader that hands out the bytes in pieces of the given sizes (cycled). */
function pieces(bytes: Uint8Array, sizes: number[]) {
  let at = 0;
  let k = 0;
  return {
    readSync(buffer: Uint8Array): number | null {
      if (at >= bytes.length) return null;
      const n = Math.min(buffer.length, sizes[k++ % sizes.length], bytes.length - at);
      buffer.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
  };
}

async function parseAll(
  input: Uint8Array,
  sizes: number[],
  format: "ndjson" | "table" = "ndjson",
) {
  const out: Uint8Array[] = [];
  const summary = await runParse({
    prefixes: PREFIXES,
    format,
    maxLineBytes: CAP,
    bootTimeMs: 0,
    files: ["-"],
    stdout: {
      writeSync(bytes) {
        out.push(bytes.slice());
        return bytes.length;
      },
    },
    stdin: pieces(input, sizes),
    stderr: () => {},
  });
  const text = new TextDecoder().decode(new Uint8Array(out.flatMap((b) => [...b])));
  return { summary, text };
}

Deno.test("parse: lines across read boundaries come out as parsing each line alone", async () => {
  const lines = makeLog(3000, 1234);
  const input = new TextEncoder().encode(lines.join("\n")); // the last line has no newline
  const parser = new DropParser({ prefixes: PREFIXES, bootTimeMs: 0 });
  const expected = lines.map((line, i) => i === 1234 ? undefined : parser.parseLine(line))
    .flatMap((r) => r?.kind === "drop" ? [dropToNdjson(r.drop)] : []).join("");
  assert.ok(input.length > 8 * 65536, "the input is several read buffers long");
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 5 }),
      async (sizes) => {
        const { summary, text } = await parseAll(input, sizes);
        assert.equal(summary.lines, 3000);
        assert.equal(summary.truncatedLines, 1);
        assert.equal(summary.errors.line_too_long, 1, "the cut drop line is an error, not a drop");
        assert.equal(summary.drops, 1000);
        assert.equal(text, expected);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("parse: a UTF-8 byte order mark before the first line is not part of it", async () => {
  const body = new TextEncoder().encode(`${DROPS[0]}\n${DROPS[1]}\n`);
  const withMark = new Uint8Array([0xef, 0xbb, 0xbf, ...body]);
  const plain = await parseAll(body, [65536]);
  assert.equal(plain.summary.drops, 2);
  for (const sizes of [[65536], [1], [2, 1, 5]]) {
    const { summary, text } = await parseAll(withMark, sizes);
    assert.deepEqual(
      [summary.lines, summary.drops, summary.errors],
      [2, 2, {}],
      `reads of ${sizes}`,
    );
    assert.equal(text, plain.text);
  }
  // A mark anywhere else is the line's own (and refused there).
  const later = new TextEncoder().encode(`${DROPS[0]}\n\ufeff${DROPS[1]}\n`);
  assert.equal((await parseAll(later, [65536])).summary.drops, 1);
});

Deno.test("parse: a gzip-compressed file (a rotated log) is read decompressed; gzip on stdin is named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-parse-gz-" });
  try {
    const lines = makeLog(3000, 1234);
    const input = new TextEncoder().encode(lines.join("\n") + "\n");
    const expected = await parseAll(input, [65536]);
    const path = `${dir}/kern.log.2`;
    await Deno.writeFile(path, input);
    const gz = await new Deno.Command("gzip", { args: [path] }).output();
    assert.ok(gz.success);
    const out: Uint8Array[] = [];
    const options = {
      prefixes: PREFIXES,
      format: "ndjson" as const,
      maxLineBytes: CAP,
      bootTimeMs: 0,
      stdout: {
        writeSync(bytes: Uint8Array) {
          out.push(bytes.slice());
          return bytes.length;
        },
      },
      stderr: () => {},
    };
    const summary = await runParse({
      ...options,
      files: [`${path}.gz`],
      stdin: pieces(new Uint8Array(), [1]),
    });
    assert.deepEqual(summary, expected.summary);
    const text = new TextDecoder().decode(new Uint8Array(out.flatMap((b) => [...b])));
    assert.equal(text, expected.text);
    await assert.rejects(
      runParse({
        ...options,
        files: ["-"],
        stdin: pieces(await Deno.readFile(`${path}.gz`), [65536]),
      }),
      { name: "ConfigError", message: /^stdin is gzip-compressed/ },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parse: every member of a multi-member gzip file is read; a damaged one is named, what came before counts, the next file is read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kit-parse-gz2-" });
  try {
    const gz = async (text: string) => {
      await Deno.writeTextFile(`${dir}/part`, text);
      assert.ok((await new Deno.Command("gzip", { args: ["-f", `${dir}/part`] }).output()).success);
      return await Deno.readFile(`${dir}/part.gz`);
    };
    const a = await gz(`${DROPS[0]}\n`);
    const b = await gz(`${DROPS[1]}\n${DROPS[2]}\n`);
    await Deno.writeFile(`${dir}/multi.gz`, new Uint8Array([...a, ...b])); // `gzip -c >> multi.gz`
    await Deno.writeFile(`${dir}/cut.gz`, b.subarray(0, b.length - 10));
    await Deno.writeTextFile(`${dir}/plain.log`, `${DROPS[3]}\n`);
    const errors: string[] = [];
    const summary = await runParse({
      prefixes: PREFIXES,
      format: "ndjson",
      maxLineBytes: CAP,
      bootTimeMs: 0,
      files: [`${dir}/multi.gz`, `${dir}/cut.gz`, `${dir}/plain.log`],
      stdout: { writeSync: (bytes: Uint8Array) => bytes.length },
      stdin: pieces(new Uint8Array(), [1]),
      stderr: (line) => errors.push(line),
    });
    // multi.gz's 3 lines, what cut.gz gave before its damage (0 to 2), plain.log's 1.
    assert.ok(summary.lines >= 3 + 1 && summary.lines <= 3 + 2 + 1, `${summary.lines} lines`);
    assert.equal(summary.unreadableFiles, 1);
    assert.match(errors[0], /cut\.gz: cannot read it to its end/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parse: a 'message repeated N times' line is printed once with its count, whatever N", async () => {
  const [drop] = DROPS;
  const message = drop.indexOf("kube-iptables-tailer:");
  const repeated = `${drop.slice(0, drop.indexOf("kernel:"))}kernel: message repeated 999999999 ` +
    `times: [${drop.slice(message)}]`;
  const input = new TextEncoder().encode(`${drop}\n${repeated}\n${DROPS[1]}\n`);
  const { summary, text } = await parseAll(input, [65536]);
  assert.equal(summary.drops, 1_000_000_001);
  const printed = text.trimEnd().split("\n").map((line) => JSON.parse(line));
  assert.equal(printed.length, 3);
  assert.deepEqual(printed.map((d) => d.count), [undefined, 999_999_999, undefined]);
  assert.deepEqual({ ...printed[1], count: undefined }, { ...printed[0], count: undefined });

  const table = (await parseAll(input, [65536], "table")).text.trimEnd().split("\n");
  assert.equal(table.length, 4);
  assert.match(table[0], /\bCOUNT$/);
  assert.deepEqual(table.slice(1).map((row) => row.split(/\s+/).at(-1)), ["1", "999999999", "1"]);
  // Without such a line, no COUNT column.
  const plain = (await parseAll(new TextEncoder().encode(`${drop}\n`), [65536], "table")).text;
  assert.doesNotMatch(plain, /COUNT|\s1\n/);
});

Deno.test("parse: a tiny input (one or two bytes) is counted too", async () => {
  assert.equal((await parseAll(new TextEncoder().encode("a\n"), [65536])).summary.lines, 1);
  assert.equal((await parseAll(new TextEncoder().encode("\n\n"), [65536])).summary.lines, 2);
});

Deno.test("parse: a file the system or the permission set refuses is named with what to do", () => {
  const notCapable = cannotRead(
    "/tmp/k.log",
    new Deno.errors.NotCapable(
      'Requires read access to "/tmp/k.log", run again with the --allow-read flag',
    ),
  );
  assert.match(
    notCapable.message,
    /^cannot read \/tmp\/k\.log: Requires read access to "\/tmp\/k\.log": it is outside what this program may read.*parse \.\.\. - < \/tmp\/k\.log$/,
  );
  assert.doesNotMatch(notCapable.message, /allow-read/);
  const denied = cannotRead("/var/log/k.log", new Deno.errors.PermissionDenied("os error 13"));
  assert.match(denied.message, /the system does not let this user read it \(os error 13\)/);
  const missing = cannotRead("/var/log/k.log", new Deno.errors.NotFound("No such file"));
  assert.equal(missing.message, "cannot read /var/log/k.log: No such file");
});

Deno.test("parse: --boot-time takes RFC 3339 with a zone or epoch milliseconds, nothing else", () => {
  const at = Date.UTC(2026, 10, 25, 7, 54, 16, 830);
  assert.equal(parseBootTime("2026-11-25T07:54:16.830Z"), at);
  assert.equal(parseBootTime("2026-11-25T08:54:16.830+01:00"), at);
  assert.equal(parseBootTime("2026-11-25 07:54:16.83Z"), at);
  assert.equal(parseBootTime(String(at)), at);
  // Date.parse takes these (local time; a legacy date) and would give a time the help never
  // promised.
  for (const bad of ["2026-11-25T07:54:16", "1.5", "Nov 25 2026", "2026-11-25", "yesterday"]) {
    assert.throws(() => parseBootTime(bad), /invalid --boot-time/, bad);
  }
});
