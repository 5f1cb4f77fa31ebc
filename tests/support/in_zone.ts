/**
 * Runs code in a Deno subprocess whose local time zone is another: local-time parsing depends on
 * the zone a process starts in, which a test cannot change for itself.
 *
 * @example
 * ```ts
 * const offset = await evalInZone("Asia/Kolkata", "console.log(new Date(0).getTimezoneOffset())");
 * // -330
 * ```
 * @module
 */
import assert from "node:assert/strict";

/** Runs `code` (which prints JSON on stdout) under `TZ=tz`; returns what it printed, parsed. */
export async function evalInZone(tz: string, code: string): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    env: { TZ: tz },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}
