/**
 * The log and state directory of a daemon under test, and what it saved there.
 * @module
 */

/** A temporary directory holding an empty log (`kern.log`) and a state directory (`state`). */
export async function logAndStateDirs(
  prefix: string,
): Promise<{ dir: string; log: string; state: string }> {
  const dir = await Deno.makeTempDir({ prefix });
  const log = `${dir}/kern.log`;
  const state = `${dir}/state`;
  await Deno.writeTextFile(log, "");
  await Deno.mkdir(state);
  return { dir, log, state };
}

/** A file source's checkpoint, as written (see src/sources/checkpoint.ts). */
export interface SavedCheckpoint {
  savedAt: string;
  cursor: { offset: number };
}

/** The checkpoint of the file source in `state` (its only `file-*.json`), or undefined. */
export async function savedCheckpoint(state: string): Promise<SavedCheckpoint | undefined> {
  for await (const entry of Deno.readDir(state)) {
    if (entry.name.startsWith("file-") && entry.name.endsWith(".json")) {
      return JSON.parse(await Deno.readTextFile(`${state}/${entry.name}`));
    }
  }
  return undefined;
}

/** The offset of that checkpoint's cursor, or undefined when there is none yet. */
export async function savedOffset(state: string): Promise<number | undefined> {
  return (await savedCheckpoint(state))?.cursor.offset;
}
