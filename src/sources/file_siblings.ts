/**
 * Rotated siblings of a log file: `kern.log.1`, `kern.log-20261125`, … in the same directory.
 * Used on restart to find the file a saved cursor points into after it was rotated away, and
 * after copytruncate to find the copy holding the lines not read yet.
 *
 * @example
 * ```ts
 * const siblings = await listRotatedSiblings(["/var/log/kern.log"]); // oldest first
 * const ours = siblings.find((s) => s.info.ino === cursor.ino && s.info.dev === cursor.dev);
 * ```
 * @module
 */

import { basename, dirname, join } from "node:path";
import { sameFile } from "./file_cursor.ts";
import { isGzipName } from "./file_compressed.ts";

/**
 * Suffixes of compressed rotations, which are never followed (their inode is a new file
 * anyway); only gzip ones are read, and only on restart (see file_compressed.ts).
 */
const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|lzma|lzo|z|zip|br)$/i;

/** A rotated sibling and its stat (followed, so a symlinked sibling shows its target). */
export interface RotatedSibling {
  path: string;
  /** Base name of the log file it is a rotation of. */
  base: string;
  info: Deno.FileInfo;
  /** Whether it is gzip-compressed (listed only when asked for). */
  gzip: boolean;
}

/** Whether `name` is the name of a compressed file. */
export function isCompressedName(name: string): boolean {
  return COMPRESSED.test(name);
}

/** Numeric rotation suffix (`kern.log.3`, `kern.log.3.gz` → 3), or undefined. */
function rotationNumber(name: string, base: string): number | undefined {
  const match = /^[.-](\d{1,4})(?:\.[a-z0-9]{1,4})?$/i.exec(name.slice(base.length));
  return match ? Number(match[1]) : undefined;
}

/**
 * Orders siblings oldest first: rotations of one file numbered by logrotate by their number
 * (`.2` is older than `.1`); others by modification time, then, for equal times, higher numeric
 * suffix first, then by name (dates sort as text).
 */
export function compareRotations(a: RotatedSibling, b: RotatedSibling): number {
  const nameA = basename(a.path);
  const nameB = basename(b.path);
  const na = rotationNumber(nameA, a.base);
  const nb = rotationNumber(nameB, b.base);
  const numbered = na !== undefined && nb !== undefined;
  // logrotate's numbers tell the order whatever the clock said: stepped back (NTP) between two
  // rotations, it stamps the newer one older, and its lines would be read first or not at all.
  // (Only `.N`: `-N` may be a date, `dateformat -%Y`.)
  if (
    numbered && na !== nb && a.base === b.base && dirname(a.path) === dirname(b.path) &&
    nameA[a.base.length] === "." && nameB[b.base.length] === "."
  ) {
    return nb - na;
  }
  const at = a.info.mtime?.getTime() ?? 0;
  const bt = b.info.mtime?.getTime() ?? 0;
  if (at !== bt) return at - bt;
  if (numbered) return nb - na;
  return nameA < nameB ? -1 : nameA > nameB ? 1 : 0;
}

/**
 * Regular, uncompressed files (and gzip files, with `gzip`, unless the file they compress is
 * still there) in the directory of each of `paths` whose names start with its base name (other
 * than the file itself), each file once, oldest first. Files that vanish while listing are
 * skipped.
 * @throws when a directory cannot be read (except when it does not exist: then none from it).
 */
export async function listRotatedSiblings(
  paths: string[],
  { gzip = false }: { gzip?: boolean } = {},
): Promise<RotatedSibling[]> {
  const found: RotatedSibling[] = [];
  for (const path of new Set(paths)) {
    for (const sibling of await siblingsOf(path, gzip)) {
      if (!found.some((f) => sameFile(f.info, sibling.info))) found.push(sibling);
    }
  }
  return found.sort(compareRotations);
}

async function siblingsOf(path: string, withGzip: boolean): Promise<RotatedSibling[]> {
  const dir = dirname(path);
  const base = basename(path);
  const found: RotatedSibling[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name === base || !entry.name.startsWith(base)) continue;
      const gzip = isGzipName(entry.name);
      if (gzip ? !withGzip : isCompressedName(entry.name)) continue;
      const sibling = join(dir, entry.name);
      try {
        const info = await Deno.stat(sibling);
        if (info.isFile) found.push({ path: sibling, base, info, gzip });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  // `kern.log.1.gz` beside `kern.log.1` is being written by gzip: the plain file is whole.
  const plain = new Set(found.filter((f) => !f.gzip).map((f) => f.path));
  return found.filter((f) => !f.gzip || !plain.has(f.path.slice(0, -".gz".length)));
}
