/**
 * A log line's characters as bytes, for the parser's hot loops: reading a byte from a typed
 * array costs a fraction of `charCodeAt` (which checks the string's representation on every
 * call).
 *
 * The codes of a text are its bytes when every character is one byte — a chunk of ASCII log
 * as read from the file, given to the parser along with its decoded text — or else made per
 * line by {@link lineCodes}: ASCII characters keep their code and every other character becomes
 * {@link OTHER}. Any code of 0x80 or more is none of the characters the netfilter syntax is made
 * of (space, `=`, letters, digits, brackets), so the parser reads a line the same way from its
 * codes as from its text, and indexes in the codes are indexes in the text.
 *
 * @example
 * ```ts
 * const codes = lineCodes("x IN=eth0 é", 2, 11);
 * // codes[0] === 73 ("I"), codes[8] === OTHER
 * ```
 * @module
 */

/** The code of every non-ASCII character in the codes {@link lineCodes} makes. */
export const OTHER = 0x80;

/** What {@link firstControlCode} returns when a code is not ASCII: check the text itself. */
export const NOT_ASCII = -2;

/** Whether the codes at `at` are those of `ascii`. */
export function codesStartWith(codes: Uint8Array, at: number, ascii: string): boolean {
  for (let k = 0; k < ascii.length; k++) {
    if (codes[at + k] !== ascii.charCodeAt(k)) return false;
  }
  return true;
}

/** The value of the hex digit whose code is `code` (either case), or -1. */
export function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 32;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

const encoder = new TextEncoder();
/** Reused for every line: 3 bytes a character is the most UTF-8 needs. */
let scratch = new Uint8Array(3 * 1024);

/**
 * The codes of text[from, to), at indexes 0 … to-from-1 of the returned array, followed by two
 * line feeds. The array is reused by the next call: read it before calling again.
 */
export function lineCodes(text: string, from: number, to: number): Uint8Array {
  const n = to - from;
  if (scratch.length < 3 * n + 4) scratch = new Uint8Array((3 * n + 4 + 3) & ~3);
  const codes = scratch;
  const { read, written } = encoder.encodeInto(
    from === 0 && to === text.length ? text : text.slice(from, to),
    codes,
  );
  if (read !== n || written !== n) {
    // Rare: some character is not ASCII. Its UTF-8 bytes would shift the indexes.
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(from + i);
      codes[i] = c < 0x80 ? c : OTHER;
    }
  }
  // A line end after the line, as in a chunk of lines: what a reader finds one or two codes
  // past the end is not left over from a longer line.
  codes[n] = 10;
  codes[n + 1] = 10;
  return codes;
}

/** A four-codes-at-a-time view of the memory of the last codes checked. */
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(scratch.buffer);

/**
 * The index of the first control character (C0, DEL) in codes[from, to), tabs allowed before
 * index `tabsUntil`; -1 when there is none; {@link NOT_ASCII} when some code is not ASCII (the
 * hostile characters of such a line are checked on its text).
 */
export function firstControlCode(
  codes: Uint8Array,
  from: number,
  to: number,
  tabsUntil: number,
): number {
  if (words.buffer !== codes.buffer) {
    words = new Uint32Array(codes.buffer, 0, codes.buffer.byteLength >> 2);
  }
  // Four codes at a time where they are aligned: a word has a byte below 32 when
  // (w - 0x20202020) & ~w & 0x80808080 is not 0 (exact when no byte is 0x80 or more, which the
  // last term catches), and a byte 127 when w ^ 0x7f7f7f7f has a zero byte.
  const offset = codes.byteOffset;
  let i = from;
  while (i < to && ((offset + i) & 3) !== 0) i++;
  const head = firstControlByte(codes, from, i, tabsUntil);
  if (head !== -1) return head;
  const view = words;
  for (; i + 4 <= to; i += 4) {
    const w = view[(offset + i) >> 2];
    const x = w ^ 0x7f7f7f7f;
    if ((((w - 0x20202020) & ~w) | ((x - 0x01010101) & ~x) | w) & 0x80808080) {
      const at = firstControlByte(codes, i, i + 4, tabsUntil);
      if (at !== -1) return at;
    }
  }
  return firstControlByte(codes, i, to, tabsUntil);
}

function firstControlByte(codes: Uint8Array, from: number, to: number, tabsUntil: number): number {
  for (let i = from; i < to; i++) {
    const c = codes[i];
    if (c >= 0x80) return NOT_ASCII;
    if ((c < 32 && (c !== 9 || i >= tabsUntil)) || c === 127) return i;
  }
  return -1;
}
