/** The README documents every option exactly as the program defines it. */
import assert from "node:assert/strict";
import { optionsMarkdownTable } from "../src/config.ts";

const README = Deno.readTextFileSync(new URL("../README.md", import.meta.url));

/** Table rows with cell padding removed (deno fmt aligns Markdown tables). */
function rows(markdown: string): string[] {
  return markdown.split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/^-+$/, "-")).join("|")
    );
}

Deno.test("README: the configuration table matches the options", () => {
  assert.ok(
    rows(README).join("\n").includes(rows(optionsMarkdownTable()).join("\n")),
    "regenerate the table with optionsMarkdownTable()",
  );
});

Deno.test("README: the two quick-start commands come first", () => {
  const quick = README.indexOf("## Quick start");
  assert.ok(quick > 0 && quick < README.indexOf("## How it works"));
  assert.ok(README.indexOf("npx --yes deno@2 task demo") > quick);
  assert.ok(README.indexOf("npx --yes deno@2 task test") > quick);
});
