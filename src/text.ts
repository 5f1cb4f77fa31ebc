/**
 * Text hygiene shared by config validation, the parser and Event messages: log content is
 * hostile input, and what reaches an Event or a terminal must carry no control characters and
 * no invisible formatting characters (one definition for the parser's refusals and the Event
 * messages' cleaning).
 * @module
 */

/**
 * Control characters (C0 but tab, DEL, C1) and invisible formatting characters that can make text
 * read differently from what it is: bidi controls, zero-width characters, line and paragraph
 * separators, the BOM, and U+FFFD (left by invalid UTF-8). (The parser's byte check of ASCII
 * lines, line_codes.ts, is this set's ASCII part.)
 */
const HOSTILE_SOURCE =
  "[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff\\ufffd]";
const HOSTILE = new RegExp(HOSTILE_SOURCE);
const HOSTILE_OR_TAB = new RegExp(HOSTILE_SOURCE.replace("[", "[\\t"), "g");
const HOSTILE_GLOBAL = new RegExp(HOSTILE_SOURCE, "g");

/**
 * The index of the first control character (tab included) or invisible formatting character in
 * text[from, to), or -1. One native search: the parser's check of a whole log line. The search
 * runs on until it finds one, so `to` should be where a line ends (a line feed is one).
 */
export function firstUnsafeCharacter(text: string, from: number, to: number): number {
  HOSTILE_OR_TAB.lastIndex = from;
  if (!HOSTILE_OR_TAB.test(text)) return -1;
  const at = HOSTILE_OR_TAB.lastIndex - 1;
  return at < to ? at : -1;
}

/** Whether `text` contains a control or invisible formatting character. */
export function hasControlCharacters(text: string): boolean {
  return HOSTILE.test(text);
}

/** `text` with control and invisible formatting characters removed (tabs kept). */
export function stripControlCharacters(text: string): string {
  return text.replace(HOSTILE_GLOBAL, "");
}

/**
 * text[from, to) as a string of its own. V8 copies short substrings but makes longer ones views
 * into the whole text — for the parser a chunk of up to a megabyte that a queued drop would pin
 * — so those are copied. With `apart` false, a plain slice (for values used at once).
 */
export function sliceApart(text: string, from: number, to: number, apart = true): string {
  const value = text.slice(from, to);
  return !apart || to - from < 13 ? value : (" " + value).slice(1);
}

/**
 * `text` in double quotes for a terminal, cut to `max` characters (a cut is marked by `…` after
 * the closing quote): quotes, backslashes, control and invisible formatting characters are
 * escaped (`\n`, `\u202e`), so untrusted text reads as what it is and cannot move the cursor.
 */
export function quoteUntrusted(text: string, max: number): string {
  const quoted = JSON.stringify(text.length > max ? text.slice(0, max) : text).replace(
    HOSTILE_GLOBAL,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return text.length > max ? `${quoted}…` : quoted;
}
