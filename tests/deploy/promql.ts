/**
 * What a PromQL expression refers to, for checking alert rules against the metrics a program
 * really exports: the metric names with their label matchers, and the labels named in
 * `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`, `group_left (…)`, `group_right (…)`.
 * A lexical reading (not a full parser): string literals, ranges and durations are removed
 * first, then every identifier that is not a function, an aggregation or a keyword is a metric.
 *
 * @example
 * ```ts
 * selectorsOf('sum by (dst) (rate(packet_drops_count{job="x"}[5m])) > 1');
 * // [{ metric: "packet_drops_count", labels: ["job"] }]
 * groupingLabelsOf('sum by (dst) (rate(packet_drops_count[5m]))'); // ["dst"]
 * ```
 * @module
 */

/** A vector selector. */
export interface Selector {
  metric: string;
  /** Label names its matchers use. */
  labels: string[];
}

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/** The expression with strings blanked and ranges, durations and numbers removed. */
function lexical(expr: string): string {
  return expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\boffset\s+\d+[smhdwy]\b/g, " ")
    .replace(/\b\d+(\.\d+)?([eE][-+]?\d+)?\b/g, " ");
}

/** The vector selectors of `expr`. */
export function selectorsOf(expr: string): Selector[] {
  const text = lexical(expr).replace(
    /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
    " ",
  );
  const selectors: Selector[] = [];
  const re = /([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?|(\{[^}]*\})/g;
  for (const m of text.matchAll(re)) {
    if (m[4]) throw new Error(`a selector without a metric name in ${expr}`);
    const [, name, matchers, call] = m;
    if (call || KEYWORDS.has(name.toLowerCase())) continue;
    const labels = [...(matchers ?? "").matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)]
      .map((l) => l[1]);
    selectors.push({ metric: name, labels });
  }
  return selectors;
}

/** Labels named by the grouping and matching clauses of `expr`. */
export function groupingLabelsOf(expr: string): string[] {
  const labels: string[] = [];
  const re = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
  for (const m of lexical(expr).matchAll(re)) {
    labels.push(...m[1].split(",").map((l) => l.trim()).filter((l) => l !== ""));
  }
  return labels;
}
