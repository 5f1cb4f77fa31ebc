/**
 * The resume position of a {@link FileSource}: which file (device and inode), where in it (the
 * byte offset just after the last delivered line), and a short hash of the bytes before that
 * offset, so a restart can tell "same file, same content" from "a recycled inode" or "a file
 * truncated and rewritten while we were stopped".
 *
 * @example
 * ```ts
 * const cursor = parseFileCursor(JSON.parse(saved)); // throws a TypeError naming the bad field
 * if (hashBytes(bytesBefore(cursor.offset)) === cursor.hash) resumeAt(cursor.offset);
 * ```
 * @module
 */

import { fnv1a32 } from "../hash.ts";

/** How many bytes before a cursor's offset its hash covers (fewer near the start of a file). */
export const CURSOR_HASH_BYTES = 64;

/** A position in a log file; JSON-serialisable. */
export interface FileCursor {
  /** Device number of the file system holding the file. */
  dev: number;
  /** Inode number of the file. */
  ino: number;
  /** Byte offset just after the last delivered line (0 or just after a newline). */
  offset: number;
  /** FNV-1a (32 bit, hex) of the up to {@link CURSOR_HASH_BYTES} bytes before `offset`. */
  hash: string;
  /**
   * Where the file was (its real path) when the position was taken: a file still there after
   * the followed path moved on (a retargeted symlink) is found by it. Absent in old checkpoints.
   */
  path?: string;
  /**
   * The file's modification time when the position was taken (epoch ms; the time of the
   * reading in old checkpoints): no line after the position was written before it, so when the
   * file is gone, the files modified since are those that may hold lines not read yet.
   */
  at?: number;
  /**
   * The file's birth time (epoch ms) where the file system records one: an inode number freed
   * (the file deleted or compressed) and given to a new file is not taken for the same file.
   */
  born?: number;
}

/** A file's identity: a stat, an open file or a cursor. */
export interface FileIdentity {
  dev: number;
  ino: number | null;
  /** Birth time (epoch ms), when known. */
  born?: number;
  /** A stat's birth time. */
  birthtime?: Date | null;
}

/** Birth time of `file` in epoch ms, or undefined when unknown. */
export function bornOf(file: FileIdentity): number | undefined {
  return file.born ?? file.birthtime?.getTime() ?? undefined;
}

/**
 * Whether two stats, open files or cursors name the same file: same device and inode, and the
 * same birth time where both know one (inode numbers are reused).
 */
export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  if (a.dev !== b.dev || a.ino !== b.ino) return false;
  const bornA = bornOf(a);
  const bornB = bornOf(b);
  return bornA === undefined || bornB === undefined || bornA === bornB;
}

/**
 * FNV-1a of the last {@link CURSOR_HASH_BYTES} of `bytes` (each byte taken as one Latin-1
 * character), as 8 hex digits.
 */
export function hashBytes(bytes: Uint8Array): string {
  const window = bytes.subarray(Math.max(0, bytes.length - CURSOR_HASH_BYTES));
  return fnv1a32(String.fromCharCode(...window));
}

/** What a cursor says of the file it is in (see {@link FileCursor}). */
export interface CursorFile {
  dev: number;
  ino: number;
  /** Real path. */
  path: string;
  /** Modification time (epoch ms) as last seen. */
  modified: number;
  born: number | undefined;
}

/** The cursor into `file` at `offset`, `tail` being the bytes just before it. */
export function cursorIn(file: CursorFile, offset: number, tail: Uint8Array): FileCursor {
  const cursor: FileCursor = {
    dev: file.dev,
    ino: file.ino,
    offset,
    hash: hashBytes(tail),
    path: file.path,
    at: file.modified,
  };
  if (file.born !== undefined) cursor.born = file.born;
  return cursor;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks that `value` (a cursor read back from a checkpoint) is a {@link FileCursor}.
 * @throws {TypeError} naming the first field that is missing or malformed.
 */
export function parseFileCursor(value: unknown): FileCursor {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`a file cursor must be an object, got ${JSON.stringify(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const field of ["dev", "ino", "offset"] as const) {
    if (!isCount(record[field])) {
      throw new TypeError(
        `file cursor field "${field}" must be a non-negative integer, got ${
          JSON.stringify(record[field])
        }`,
      );
    }
  }
  if (typeof record.hash !== "string" || !/^[0-9a-f]{8}$/.test(record.hash)) {
    throw new TypeError(
      `file cursor field "hash" must be 8 hex digits, got ${JSON.stringify(record.hash)}`,
    );
  }
  if (record.path !== undefined && (typeof record.path !== "string" || record.path === "")) {
    throw new TypeError(
      `file cursor field "path" must be a non-empty string, got ${JSON.stringify(record.path)}`,
    );
  }
  if (record.at !== undefined && !isCount(record.at)) {
    throw new TypeError(
      `file cursor field "at" must be epoch milliseconds, got ${JSON.stringify(record.at)}`,
    );
  }
  if (record.born !== undefined && !isCount(record.born)) {
    throw new TypeError(
      `file cursor field "born" must be epoch milliseconds, got ${JSON.stringify(record.born)}`,
    );
  }
  const cursor: FileCursor = {
    dev: record.dev as number,
    ino: record.ino as number,
    offset: record.offset as number,
    hash: record.hash,
  };
  if (record.path !== undefined) cursor.path = record.path as string;
  if (record.at !== undefined) cursor.at = record.at as number;
  if (record.born !== undefined) cursor.born = record.born as number;
  return cursor;
}
