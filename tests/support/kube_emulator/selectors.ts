/**
 * Label and field selectors with the grammar of k8s.io/apimachinery `labels.Parse` and
 * `fields.ParseSelector`. Parsing throws {@link SelectorError}; matching is pure.
 *
 * @example
 * ```ts
 * const match = parseLabelSelector("app in (web,api),!canary");
 * match({ app: "web" }); // true
 * ```
 * @module
 */

import { isLabelValue, isQualifiedName } from "./validation.ts";

/** A selector the server cannot parse or does not support (answered with 400 BadRequest). */
export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SelectorError";
  }
}

/** Whether a label set matches. */
export type LabelMatcher = (labels: Record<string, string> | undefined) => boolean;
/** Whether an object's fields match; `get` returns a field's value ("" when unset). */
export type FieldMatcher = (get: (field: string) => string) => boolean;

type Token =
  | { kind: "id"; text: string }
  | { kind: "op"; text: "!" | "=" | "==" | "!=" | "(" | ")" | "," | "<" | ">" }
  | { kind: "end" };

const SPECIAL = new Set(["!", "=", "(", ")", ",", "<", ">"]);

function lex(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "!" && input[i + 1] === "=") {
      tokens.push({ kind: "op", text: "!=" });
      i += 2;
    } else if (ch === "=" && input[i + 1] === "=") {
      tokens.push({ kind: "op", text: "==" });
      i += 2;
    } else if (SPECIAL.has(ch)) {
      tokens.push({ kind: "op", text: ch as "!" });
      i++;
    } else {
      let j = i;
      while (j < input.length && !SPECIAL.has(input[j]) && !/\s/.test(input[j])) j++;
      tokens.push({ kind: "id", text: input.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ kind: "end" });
  return tokens;
}

type Requirement = (labels: Record<string, string>) => boolean;

function describe(token: Token): string {
  return token.kind === "end" ? "" : token.text;
}

/**
 * Parses a label selector (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
 * `a>1`, `a<1`, comma = AND). The empty selector matches everything.
 */
export function parseLabelSelector(input: string): LabelMatcher {
  const tokens = lex(input);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const requirements: Requirement[] = [];
  const checkKey = (key: string) => {
    const problems = isQualifiedName(key);
    if (problems.length > 0) {
      throw new SelectorError(
        `unable to parse requirement: key: Invalid value: ${JSON.stringify(key)}: ${problems[0]}`,
      );
    }
  };
  const checkValue = (key: string, value: string, index: number) => {
    const problems = isLabelValue(value);
    if (problems.length > 0) {
      throw new SelectorError(
        `unable to parse requirement: values[${index}][${key}]: Invalid value: ${
          JSON.stringify(value)
        }: ${problems[0]}`,
      );
    }
  };
  if (peek().kind === "end") return () => true;
  while (true) {
    let token = next();
    let negated = false;
    if (token.kind === "op" && token.text === "!") {
      negated = true;
      token = next();
    }
    if (token.kind !== "id") {
      throw new SelectorError(`found '${describe(token)}', expected: identifier`);
    }
    const key = token.text;
    checkKey(key);
    const after = peek();
    if (negated) {
      if (!(after.kind === "end" || (after.kind === "op" && after.text === ","))) {
        throw new SelectorError(`found '${describe(after)}', expected: ',' or 'end of string'`);
      }
      requirements.push((labels) => !(key in labels));
    } else if (after.kind === "end" || (after.kind === "op" && after.text === ",")) {
      requirements.push((labels) => key in labels);
    } else if (after.kind === "op" && (after.text === "=" || after.text === "==")) {
      next();
      const value = readValue();
      checkValue(key, value, 0);
      requirements.push((labels) => key in labels && labels[key] === value);
    } else if (after.kind === "op" && after.text === "!=") {
      next();
      const value = readValue();
      checkValue(key, value, 0);
      requirements.push((labels) => !(key in labels) || labels[key] !== value);
    } else if (after.kind === "op" && (after.text === ">" || after.text === "<")) {
      next();
      const raw = readValue();
      const bound = Number(raw);
      if (!/^-?\d+$/.test(raw)) {
        throw new SelectorError(
          `unable to parse requirement: values[0]: Invalid value: ${
            JSON.stringify(raw)
          }: for 'Gt', 'Lt' operators, the value must be an integer`,
        );
      }
      const greater = after.text === ">";
      requirements.push((labels) => {
        if (!(key in labels) || !/^-?\d+$/.test(labels[key])) return false;
        const value = Number(labels[key]);
        return greater ? value > bound : value < bound;
      });
    } else if (after.kind === "id" && (after.text === "in" || after.text === "notin")) {
      next();
      const open = next();
      if (!(open.kind === "op" && open.text === "(")) {
        throw new SelectorError(`found '${describe(open)}', expected: '('`);
      }
      const values = new Set<string>();
      let index = 0;
      while (true) {
        const t = peek();
        if (t.kind === "op" && t.text === ")") {
          next();
          break;
        }
        let value = "";
        if (t.kind === "id") {
          value = t.text;
          next();
        }
        checkValue(key, value, index++);
        values.add(value);
        const sep = next();
        if (sep.kind === "op" && sep.text === ")") break;
        if (!(sep.kind === "op" && sep.text === ",")) {
          throw new SelectorError(`found '${describe(sep)}', expected: ',' or ')'`);
        }
      }
      if (values.size === 0) {
        throw new SelectorError(
          "unable to parse requirement: values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
        );
      }
      const inSet = after.text === "in";
      requirements.push((labels) =>
        inSet
          ? key in labels && values.has(labels[key])
          : !(key in labels) || !values.has(labels[key])
      );
    } else {
      throw new SelectorError(
        `found '${describe(after)}', expected: in, notin, =, ==, !=, gt, lt`,
      );
    }
    const sep = next();
    if (sep.kind === "end") break;
    if (!(sep.kind === "op" && sep.text === ",")) {
      throw new SelectorError(`found '${describe(sep)}', expected: ',' or 'end of string'`);
    }
  }
  return (labels) => {
    const set = labels ?? {};
    for (const requirement of requirements) if (!requirement(set)) return false;
    return true;
  };

  function readValue(): string {
    const t = peek();
    if (t.kind === "id") {
      next();
      return t.text;
    }
    // An empty value (`a=` or `a=,b`) is allowed.
    if (t.kind === "end" || (t.kind === "op" && t.text === ",")) return "";
    throw new SelectorError(`found '${describe(t)}', expected: identifier`);
  }
}

/** One parsed field-selector term. */
export interface FieldTerm {
  field: string;
  op: "=" | "!=";
  value: string;
}

function splitOnUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
    } else if (ch === separator) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

function unescapeFieldValue(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === "\\") {
      const next = value[i + 1];
      if (next === "\\" || next === "," || next === "=") {
        out += next;
        i++;
        continue;
      }
      throw new SelectorError(`invalid field selector: invalid escape sequence: \\${next ?? ""}`);
    }
    if (ch === "," || ch === "=") {
      throw new SelectorError(`invalid field selector: unescaped ${ch} in value`);
    }
    out += ch;
  }
  return out;
}

/** Parses a field selector into terms (`a=b`, `a==b`, `a!=b`, comma = AND). */
export function parseFieldTerms(input: string): FieldTerm[] {
  if (input.trim() === "") return [];
  const terms: FieldTerm[] = [];
  for (const part of splitOnUnescaped(input, ",")) {
    let found: FieldTerm | undefined;
    for (let i = 0; i < part.length && !found; i++) {
      for (const op of ["!=", "==", "="] as const) {
        if (part.startsWith(op, i)) {
          found = {
            field: part.slice(0, i).trim(),
            op: op === "!=" ? "!=" : "=",
            value: unescapeFieldValue(part.slice(i + op.length)),
          };
          break;
        }
      }
    }
    if (!found) throw new SelectorError(`invalid selector: '${input}'; can't understand '${part}'`);
    terms.push(found);
  }
  return terms;
}

/**
 * Parses a field selector and checks every field against `supported` (the resource's
 * selectable fields); an unknown field gives the server's "field label not supported".
 */
export function parseFieldSelector(input: string, supported: ReadonlySet<string>): FieldMatcher {
  const terms = parseFieldTerms(input);
  for (const term of terms) {
    if (!supported.has(term.field)) {
      throw new SelectorError(`field label not supported: ${term.field}`);
    }
  }
  if (terms.length === 0) return () => true;
  return (get) => {
    for (const term of terms) {
      const value = get(term.field);
      if ((term.op === "=") !== (value === term.value)) return false;
    }
    return true;
  };
}
