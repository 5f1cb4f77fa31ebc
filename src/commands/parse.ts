/**
 * `kube-iptables-tailer parse [--prefix P]... [--format ndjson|table] [--boot-time T] [FILE|-]...`:
 * reads whole logs — any supported header format or a /dev/kmsg dump, detected per line — and
 * prints every drop. A summary (lines read, drops, parse errors by reason) goes to stderr, and
 * when no drop matched, the prefixes the log's LOG records had instead (a wrong `--prefix`).
 * @module
 */

import { type FramedLines, LineFramer } from "../sources/file_lines.ts";
import { dropToTableRow, renderTable, TABLE_HEADER, writeDropNdjson } from "../netfilter/format.ts";
import { FastNdjson } from "../netfilter/fast_ndjson.ts";
import { JsonBytes } from "../netfilter/ndjson_writer.ts";
import { DropParser, type ParserOptions } from "../netfilter/parser.ts";
import type { ParseErrorReason } from "../netfilter/types.ts";
import { ConfigError, OPTIONS } from "../config.ts";
import { OutputClosed, OutputError, writeAll } from "../output.ts";
import { isNotPermitted, refusalText } from "../permissions.ts";
import { quoteUntrusted, sliceApart } from "../text.ts";

/** The usage line of `parse`. */
export const PARSE_USAGE =
  "kube-iptables-tailer parse [--prefix P]... [--format ndjson|table] [--boot-time T] [FILE|-]...";

/** `parse --help`: its own options, and the daemon's that it reads. */
export function parseHelp(): string {
  const daemonOption = (key: string) => {
    const spec = OPTIONS.find((o) => o.key === key)!;
    const def = spec.defaultText ?? spec.default;
    return `  --${spec.flag}=VALUE  [${spec.env}]${def !== undefined ? `  (default: ${def})` : ""}
` +
      `      ${spec.help}`;
  };
  return `Usage: ${PARSE_USAGE}

Prints every packet drop of whole logs, as NDJSON (or a table) on stdout, and a summary (lines
read, drops, parse errors by reason) on stderr; when no drop matched, the summary names the
prefixes the log's netfilter LOG lines had. The header format is detected line by line:
syslog files (RFC 3339, traditional, RFC 5424), journalctl and dmesg output, /dev/kmsg dumps.
Files may be gzip-compressed (kern.log.2.gz). Without FILE, or with -, stdin is read.

Options:
  -p, --prefix=P  [IPTABLES_LOG_PREFIX]
      LOG prefix of your drop rules; repeat it or separate prefixes with commas; * matches a
      policy name. Required, here or in the variable (or --iptables-log-prefix).
  --format=ndjson|table  (default: ndjson)
      NDJSON, one drop a line, or an aligned table. An rsyslog "message repeated N times" line
      is one line (row) with its count ("count": N; a COUNT column).
  --boot-time=T  (default: this machine's, to the millisecond)
      Boot time (RFC 3339 or epoch milliseconds) that kmsg and dmesg times count from: for
      records of another boot or another machine.
${daemonOption("timeLayout")}
${daemonOption("maxLineBytes")}
  -h, --help
      This help.

The binary reads only the directories of its permission set (/var/log, the journal, …): give
other files on stdin, e.g. \`kube-iptables-tailer parse -p calico-drop: - < ./kern.log\`.
The daemon's options: see \`kube-iptables-tailer run --help\`.
`;
}

/**
 * The error for a file that cannot be opened: one the permission set does not let this binary
 * read (the production binary reads /var/log and the like only) says so and how to read it
 * anyway, on stdin; Deno's own text asks for a flag a compiled binary does not take.
 */
export function cannotRead(file: string, error: unknown): ConfigError {
  if (isNotPermitted(error)) {
    return new ConfigError(
      `cannot read ${file}: ${
        refusalText(error as Error)
      }: it is outside what this program may read (its ` +
        `permission set allows /var/log and a few other directories); give it on stdin ` +
        `instead: kube-iptables-tailer parse ... - < ${file}`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new ConfigError(
      `cannot read ${file}: the system does not let this user read it (${
        (error as Error).message
      }); run as a user who may, or give it on stdin: kube-iptables-tailer parse ... - < ${file}`,
    );
  }
  return new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
}

/** Inputs of {@link runParse}. */
export interface ParseCommandOptions {
  prefixes: readonly string[];
  format: "ndjson" | "table";
  timeLayout?: string;
  /** Boot time for kmsg and dmesg times, or a function asked at the first such time. */
  bootTimeMs?: ParserOptions["bootTimeMs"];
  maxLineBytes: number;
  /** Files to read; "-" is stdin. */
  files: string[];
  stdout: { writeSync(bytes: Uint8Array): number };
  stdin: Reader;
  /** Receives the summary and error lines. */
  stderr: (line: string) => void;
}

/** Something to read bytes from (Deno.FsFile, Deno.stdin). */
export interface Reader {
  readSync(buffer: Uint8Array): number | null;
}

/**
 * Read size: large enough to keep the syscall count low, small enough that a chunk's text is an
 * ordinary young-generation string — megabyte texts go to V8's large-object space, fresh memory
 * every time (measured: 64 KiB reads are 5-10 % faster than 1 MiB reads over a 156 MB log).
 */
const READ_SIZE = 1 << 16;

const NEWLINE = 0x0a;

/** Output collected before it is written, while the input keeps coming. */
const FLUSH_BYTES = 256 * 1024;

/**
 * The uncompressed bytes of a gzip stream, every member of it as `zcat` reads them (the web's
 * DecompressionStream stops at the end of the first). `node:zlib` is loaded on first use only:
 * a plain log does not pay for it.
 */
export function gunzip(compressed: ReadableStream<BufferSource>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!reader) {
        const [{ createGunzip }, { Readable }] = await Promise.all([
          import("node:zlib"),
          import("node:stream"),
        ]);
        // deno-lint-ignore no-explicit-any
        const source = Readable.fromWeb(compressed as any);
        const inflate = createGunzip();
        source.on("error", (error) => inflate.destroy(error));
        reader = (Readable.toWeb(source.pipe(inflate)) as ReadableStream<Uint8Array>).getReader();
      }
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
}

/** Whether a regular file starts with gzip's magic bytes (it is left at its start). */
function startsWithGzip(handle: Deno.FsFile): boolean {
  if (!handle.statSync().isFile) return false;
  const magic = new Uint8Array(2);
  const n = handle.readSync(magic);
  handle.seekSync(0, Deno.SeekMode.Start);
  return n === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
}

/** Totals of a parse run. */
export interface ParseSummary {
  lines: number;
  drops: number;
  errors: Partial<Record<ParseErrorReason, number>>;
  truncatedLines: number;
  /** Whether stdout was closed before everything was printed. */
  outputClosed?: boolean;
  /** Compressed files that could not be read to their end (damaged, cut short). */
  unreadableFiles?: number;
}

/** Distinct foreign prefixes counted at most: memory stays bounded whatever the log holds. */
const MAX_FOREIGN_PREFIXES = 100;
/** Characters of a foreign prefix kept (nftables prefixes have up to 127) and shown. */
const FOREIGN_PREFIX_KEPT = 128;
const FOREIGN_PREFIX_SHOWN = 64;
/** Foreign prefixes named in the hint. */
const FOREIGN_PREFIXES_NAMED = 5;

/**
 * Counts the prefixes of LOG records that matched no `--prefix` (see
 * {@link ParserOptions.onForeignPrefix}), the first {@link MAX_FOREIGN_PREFIXES} distinct ones.
 */
export class ForeignPrefixes {
  readonly counts = new Map<string, number>();

  /** Counts text[start, end). */
  readonly add = (text: string, start: number, end: number): void => {
    const key = text.slice(start, Math.min(end, start + FOREIGN_PREFIX_KEPT));
    const n = this.counts.get(key);
    if (n !== undefined) this.counts.set(key, n + 1);
    else if (this.counts.size < MAX_FOREIGN_PREFIXES) {
      // A copy: a view would keep the whole chunk of text it was read from.
      this.counts.set(sliceApart(key, 0, key.length), 1);
    }
  };

  /**
   * The hint for a run that found no drop, naming the most frequent prefixes, quoted, escaped
   * and cut (log text is untrusted); undefined when no LOG record was seen.
   */
  hint(): string | undefined {
    if (this.counts.size === 0) return undefined;
    const top = [...this.counts].sort((a, b) => b[1] - a[1]);
    const named = top.slice(0, FOREIGN_PREFIXES_NAMED).map(([prefix, n]) =>
      `${quoteUntrusted(prefix, FOREIGN_PREFIX_SHOWN)} (${n})`
    );
    if (top.length > named.length) named.push("…");
    return `no drop matched --prefix; netfilter lines had these prefixes: ${named.join(", ")}`;
  }
}

/** An RFC 3339 time: date, time, optional fraction, and a zone (`Z` or an offset). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Interprets `--boot-time`: RFC 3339 or epoch ms, nothing else (`Date.parse` alone takes times
 * without a zone, read as local, and legacy forms such as `1.5`).
 */
export function parseBootTime(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : RFC3339.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(n) || Number.isNaN(new Date(n).getTime())) {
    throw new ConfigError(
      `invalid --boot-time=${
        JSON.stringify(text)
      }: expected an RFC 3339 time or epoch milliseconds`,
    );
  }
  return n;
}

/**
 * Runs `parse`; returns the summary (the caller exits 0, or 1 when a compressed file could not
 * be read to its end: its damage is named on stderr). When stdout is closed under it (a
 * reader such as `head` that has seen enough), it stops quietly, like other filters, and prints
 * no summary.
 */
export async function runParse(options: ParseCommandOptions): Promise<ParseSummary> {
  const summary: ParseSummary = { lines: 0, drops: 0, errors: {}, truncatedLines: 0 };
  try {
    return await parseAll(options, summary);
  } catch (error) {
    if (error instanceof OutputClosed) return { ...summary, outputClosed: true };
    throw error;
  }
}

async function parseAll(
  options: ParseCommandOptions,
  summary: ParseSummary,
): Promise<ParseSummary> {
  const foreign = new ForeignPrefixes();
  const parser = new DropParser({
    prefixes: options.prefixes,
    onForeignPrefix: foreign.add,
    timeLayout: options.timeLayout,
    bootTimeMs: options.bootTimeMs,
    maxLineLength: options.maxLineBytes,
    // Each drop is printed at once and let go.
    detach: false,
  });
  // Drops are written as bytes straight into one buffer, written out after each read chunk.
  const out = new JsonBytes((bytes) => writeAll(options.stdout, bytes));
  // Drop lines of the usual shape go straight to NDJSON (fast_ndjson.ts); the parser reads the rest.
  const fast = options.format === "ndjson"
    ? new FastNdjson(parser.fastPathPrefixes, out)
    : undefined;
  const fastLine = fast &&
    ((text: string, bytes: Uint8Array, lineStart: number, lineEnd: number, now: Date) => {
      if (!fast.line(text, bytes, lineStart, lineEnd, now)) return false;
      summary.drops++;
      return true;
    });
  const table: string[][] = [[...TABLE_HEADER, "COUNT"]];
  /** Whether a row stands for several drops: the COUNT column is shown only then. */
  let counted = false;
  const handleText = (text: string, cut: number[], bytes?: Uint8Array) => {
    parser.scan(
      text,
      (result) => {
        if (result.kind === "drop") {
          // A line may stand for several identical drops (rsyslog's "message repeated N times"):
          // printed once with their count, as `run --dry-run` prints them. N lines each would
          // take minutes, or all memory in a table, for the N of up to 999 999 999 a line allows.
          const count = result.count ?? 1;
          summary.drops += count;
          if (options.format === "table") {
            table.push([...dropToTableRow(result.drop), String(count)]);
            counted ||= count > 1;
          } else writeDropNdjson(out, result.drop, count > 1 ? { count } : undefined);
        } else if (result.kind === "error") {
          summary.errors[result.reason] = (summary.errors[result.reason] ?? 0) + 1;
        }
      },
      cut,
      bytes,
      fastLine,
    );
  };
  const files = options.files.length > 0 ? options.files : ["-"];
  const buffer = new Uint8Array(READ_SIZE);
  for (const file of files) {
    const framer = new LineFramer(options.maxLineBytes);
    let handle: Deno.FsFile | undefined;
    try {
      handle = file === "-" ? undefined : Deno.openSync(file);
    } catch (error) {
      throw cannotRead(file, error);
    }
    const reader: Reader = handle ?? options.stdin;
    const gzip = handle !== undefined && startsWithGzip(handle);
    // The framer is given whole lines where it can be: the start of a line read earlier is
    // kept at the front of the buffer and the next read goes after it. (A line split between
    // two pushes would be joined into a string that V8 copies again before searching it.)
    let kept = 0;
    let atStart = true;
    const take = (chunk: FramedLines | undefined, bytes = chunk?.bytes) => {
      if (!chunk) return;
      summary.lines += chunk.lineCount;
      summary.truncatedLines += chunk.truncated;
      handleText(chunk.text, chunk.cut, bytes); // before the buffer is reused
    };
    /** Frames and parses the whole lines once `n` more bytes are in buffer[kept…]. */
    const onRead = (n: number) => {
      let filled = kept + n;
      if (atStart && filled < 3 && n > 0) {
        kept = filled; // too little to tell whether a byte order mark starts the input
        return;
      }
      if (atStart && !gzip && buffer[0] === 0x1f && buffer[1] === 0x8b) {
        throw new ConfigError(
          `${file === "-" ? "stdin" : file} is gzip-compressed: give its file name (not a pipe)`,
        );
      }
      if (atStart && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) {
        // A UTF-8 byte order mark (a log saved by an editor) is not part of the first line.
        buffer.copyWithin(0, 3, filled);
        filled -= 3;
      }
      atStart = false;
      const lineEnd = buffer.lastIndexOf(NEWLINE, filled - 1) + 1;
      // A buffer without a line end is part of a long line: the framer holds or cuts it.
      const pushed = lineEnd > 0 ? lineEnd : filled;
      take(framer.push(buffer.subarray(0, pushed)));
      const full = filled === buffer.length;
      buffer.copyWithin(0, pushed, filled);
      kept = filled - pushed;
      // Output goes out in large writes while the input comes in full reads (a file), and at
      // once when a read came short (a pipe that is caught up: drops show up as they happen).
      if (!full || out.end >= FLUSH_BYTES) out.flush();
    };
    if (gzip) {
      // A rotated log (`kern.log.2.gz`): decompressed as it is read, into the same buffer.
      let inflated = 0;
      try {
        for await (const data of gunzip(handle!.readable)) {
          inflated += data.length;
          for (let at = 0; at < data.length;) {
            const n = Math.min(buffer.length - kept, data.length - at);
            buffer.set(data.subarray(at, at + n), kept);
            at += n;
            onRead(n);
          }
        }
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        if (error instanceof OutputClosed || error instanceof OutputError) throw error;
        // Damaged or cut short: what came before counts; the other files are read on.
        summary.unreadableFiles = (summary.unreadableFiles ?? 0) + 1;
        options.stderr(
          `kube-iptables-tailer: ${file}: cannot read it to its end (${
            (error as Error).message
          }); its first ${inflated} bytes were read`,
        );
      }
    } else {
      for (;;) {
        // Synchronous reads: this command does nothing else meanwhile, and they cost less.
        const n = reader.readSync(buffer.subarray(kept));
        if (n === null) break;
        onRead(n);
      }
    }
    // What is left has no newline (or is the whole of a tiny input): lines as they are.
    if (kept > 0) take(framer.push(buffer.subarray(0, kept)), undefined);
    try {
      handle?.close();
    } catch {
      // Closed by its stream already.
    }
    take(framer.finish(), undefined);
  }
  if (options.format === "table") {
    out.text(renderTable(counted ? table : table.map((row) => row.slice(0, -1))));
  }
  out.flush();
  const errors = Object.entries(summary.errors).map(([r, n]) => `${r}=${n}`).join(" ");
  const errorCount = Object.values(summary.errors).reduce((a, b) => a + (b ?? 0), 0);
  options.stderr(
    `lines read: ${summary.lines}, drops: ${summary.drops}, parse errors: ${errorCount}` +
      (errors ? ` (${errors})` : "") +
      (summary.truncatedLines
        ? `, lines cut at ${options.maxLineBytes} bytes: ${summary.truncatedLines}`
        : ""),
  );
  // A wrong --prefix and a log without drops look alike in the summary: tell them apart.
  const hint = summary.drops === 0 ? foreign.hint() : undefined;
  if (hint) options.stderr(hint);
  return summary;
}
