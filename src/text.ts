/**
 * Text hygiene shared by config validation, the parser and Event messages: log content is
 * hostile input, and what reaches an Event or a terminal must not carry control characters.
 * @module
 */

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;
// deno-lint-ignore no-control-regex
const CONTROL_GLOBAL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/** Whether `text` contains a control character (C0 but tab, DEL, C1). */
export function hasControlCharacters(text: string): boolean {
  return CONTROL.test(text);
}

/** `text` with control characters removed (tabs kept). */
export function stripControlCharacters(text: string): string {
  return text.replace(CONTROL_GLOBAL, "");
}
