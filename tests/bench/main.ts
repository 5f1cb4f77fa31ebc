/**
 * `deno task bench`: runs every benchmark module and prints one Markdown table.
 * Pass case names (file stems) to run a subset: `deno task bench parse journal`.
 * @module
 */

import { type BenchCase, type BenchRow, renderTable } from "./harness.ts";

const here = new URL(".", import.meta.url).pathname;
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
  const mod = await import(`./${file}`) as { run: BenchCase };
  try {
    rows.push(...await mod.run());
  } catch (error) {
    rows.push({ name: stem, value: NaN, unit: "", note: `failed: ${(error as Error).message}` });
  }
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
