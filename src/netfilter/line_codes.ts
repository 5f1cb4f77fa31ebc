/**
 * A log line's characters as bytes, for the parser's hot loops: reading a byte from a typed
 * array costs a fraction of `charCodeAt` (which checks the string's representation on every
 * call), and one native `encodeInto` makes the bytes.
 *
 * ASCII characters keep their code; every other character becomes {@link OTHER}, which is none
 * of the characters the netfilter syntax is made of (space, `=`, letters, digits, brackets), so
 * the parser reads any line the same way from its codes as from its text, and indexes in the
 * codes are indexes in the line.
 *
 * @example
 * ```ts
 * const codes = lineCodes("x IN=eth0 é", 2, 11);
 * // codes[0] === 73 ("I"), codes[8] === OTHER; lineIsAscii() === false
 * ```
 * @module
 */

/** The code of every non-ASCII character. */
export const OTHER = 0x80;

const encoder = new TextEncoder();
/** Reused for every line: 3 bytes a character is the most UTF-8 needs. */
let scratch = new Uint8Array(3 * 1024);
/** The same memory, four codes at a time. */
let scratchWords = new Uint32Array(scratch.buffer);
let ascii = true;

/**
 * The codes of text[from, to), at indexes 0 … to-from-1 of the returned array, followed by two
 * line feeds. The array is reused by the next call: read it before calling again.
 */
export function lineCodes(text: string, from: number, to: number): Uint8Array {
  const n = to - from;
  if (scratch.length < 3 * n + 4) {
    scratch = new Uint8Array((3 * n + 4 + 3) & ~3);
    scratchWords = new Uint32Array(scratch.buffer);
  }
  const codes = scratch;
  const { read, written } = encoder.encodeInto(
    from === 0 && to === text.length ? text : text.slice(from, to),
    codes,
  );
  ascii = read === n && written === n;
  if (!ascii) {
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

/** Whether the line of the last {@link lineCodes} call is all ASCII. */
export function lineIsAscii(): boolean {
  return ascii;
}

/**
 * For the ASCII line of the last {@link lineCodes} call, n codes long: the index of the first
 * control character (C0, DEL), tabs allowed before index `tabsUntil`; -1 when there is none.
 * (Other lines are checked on their text: their hostile characters are not ASCII.)
 */
export function firstControlCode(n: number, tabsUntil: number): number {
  // Four codes at a time: a word has a byte below 32 when (w - 0x20202020) & ~w & 0x80808080
  // is not 0, a byte 127 when w ^ 0x7f7f7f7f has a zero byte (codes are below 128 here).
  const words = scratchWords;
  const whole = n >> 2;
  for (let k = 0; k < whole; k++) {
    const w = words[k];
    const x = w ^ 0x7f7f7f7f;
    if ((((w - 0x20202020) & ~w) | ((x - 0x01010101) & ~x)) & 0x80808080) {
      const at = firstControlByte(k << 2, (k << 2) + 4, tabsUntil);
      if (at >= 0) return at;
    }
  }
  return firstControlByte(whole << 2, n, tabsUntil);
}

function firstControlByte(from: number, to: number, tabsUntil: number): number {
  const codes = scratch;
  for (let i = from; i < to; i++) {
    const c = codes[i];
    if ((c < 32 && (c !== 9 || i >= tabsUntil)) || c === 127) return i;
  }
  return -1;
}
