/**
 * The shape every benchmark module returns, so `deno task bench` prints one table.
 * Numbers are measured against a baseline in the same run; nothing here asserts timings.
 * @module
 */

/** One measured row of the benchmark table. */
export interface BenchRow {
  /** Case name, e.g. "parse 1M lines". */
  name: string;
  /** What was measured for us. */
  value: number;
  /** Unit of `value`, e.g. "lines/s", "ms", "MB". */
  unit: string;
  /** The baseline measured in the same run, when the case has one. */
  baseline?: { name: string; value: number };
  /** The target from the issue, as text, e.g. ">= 1.5x mawk". */
  target?: string;
  /** Whether the target was met (undefined when there is no target). */
  met?: boolean;
  /** Anything a reader needs to interpret the row. */
  note?: string;
}

/** A benchmark module's entry point. */
export type BenchCase = () => Promise<BenchRow[]>;

/** The `p`-th percentile of ascending `sorted` values (nearest rank below). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Formats a number with a sensible number of digits. */
export function fmtNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toFixed(2);
}

/** Renders rows as a Markdown table (the README embeds it). */
export function renderTable(rows: BenchRow[]): string {
  const header =
    "| case | value | baseline | ratio | target | met | note |\n|---|---|---|---|---|---|---|";
  const lines = rows.map((r) => {
    const base = r.baseline ? `${r.baseline.name}: ${fmtNumber(r.baseline.value)} ${r.unit}` : "";
    const ratio = r.baseline && r.baseline.value > 0
      ? `${(r.value / r.baseline.value).toFixed(2)}x`
      : "";
    const met = r.met === undefined ? "" : r.met ? "yes" : "NO";
    return `| ${r.name} | ${fmtNumber(r.value)} ${r.unit} | ${base} | ${ratio} | ${
      r.target ?? ""
    } | ${met} | ${r.note ?? ""} |`;
  });
  return [header, ...lines].join("\n");
}
