/**
 * `deno task bench`: runs every benchmark module and prints one Markdown table.
 * Pass case names (file stems) to run a subset: `deno task bench parse journal`.
 * @module
 */

import { type BenchCase, type BenchRow, renderTable } from "./harness.ts";

const here = new URL(".", import.meta.url).pathname;
/** Marks the line on which a case's process hands its rows back. */
const ROWS = "bench-rows ";

if (Deno.args[0] === "--case") {
  // One case in this process (see below): its rows go back as JSON on one marked line.
  const mod = await import(`./${Deno.args[1]}`) as { run: BenchCase };
  const rows = await mod.run();
  console.log(ROWS + JSON.stringify(rows, (_, v) => (Number.isNaN(v) ? "NaN" : v)));
  // Whatever the case left running (a server, a timer) ends with it.
  Deno.exit(0);
}

const wanted = new Set(Deno.args);
const rows: BenchRow[] = [];
const files = [...Deno.readDirSync(here)]
  .map((e) => e.name)
  .filter((n) => n.endsWith("_bench.ts"))
  .sort();
for (const file of files) {
  const stem = file.replace(/_bench\.ts$/, "");
  if (wanted.size > 0 && !wanted.has(stem)) continue;
  console.error(`running ${stem} …`);
  try {
    rows.push(...await runCase(file));
  } catch (error) {
    rows.push({ name: stem, value: NaN, unit: "", note: `failed: ${(error as Error).message}` });
  }
}

/**
 * Runs one case in a process of its own: several measure inside the benchmark's process (journal
 * reads, pod index heaps), and what an earlier case left behind there (a large heap, an API
 * emulator's connections) slowed the journal reads by up to half.
 */
async function runCase(file: string): Promise<BenchRow[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--case", file],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const result = await child.output();
  const out = new TextDecoder().decode(result.stdout);
  const lines = out.split("\n");
  const marked = lines.find((line) => line.startsWith(ROWS));
  // Anything else a case printed is for the reader, as when it ran here.
  const other = lines.filter((line) => line !== marked && line !== "").join("\n");
  if (other) console.error(other);
  if (marked === undefined) throw new Error(`its process ended (code ${result.code}) without rows`);
  return JSON.parse(marked.slice(ROWS.length), (_, v) => (v === "NaN" ? NaN : v));
}

const cpu = (() => {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return /model name\s*:\s*(.*)/.exec(info)?.[1] ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
})();
console.log(
  `Measured on ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}\n`,
);
console.log(renderTable(rows));
