/**
 * A minimal, independent walk over the objects of a journal file (header_size up to
 * tail_object_offset, each object 8-byte aligned), for tests that need to check what systemd
 * wrote (a compressed DATA object) or to damage a chosen object in a copy.
 *
 * @example
 * ```ts
 * const objects = listObjects(await Deno.readFile(path));
 * objects.filter((o) => o.type === 1 && o.flags !== 0); // compressed data objects
 * ```
 * @module
 */

/** One object found by {@link listObjects}. */
export interface RawObject {
  offset: number;
  type: number;
  flags: number;
  size: number;
}

/** Header fields tests look at. */
export function rawHeader(bytes: Uint8Array): {
  incompatibleFlags: number;
  state: number;
  headerSize: number;
  tailObjectOffset: number;
} {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    incompatibleFlags: view.getUint32(12, true),
    state: bytes[16],
    headerSize: Number(view.getBigUint64(88, true)),
    tailObjectOffset: Number(view.getBigUint64(136, true)),
  };
}

/** Every object of the file, in file order. */
export function listObjects(bytes: Uint8Array): RawObject[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { headerSize, tailObjectOffset } = rawHeader(bytes);
  const objects: RawObject[] = [];
  let offset = headerSize;
  while (offset <= tailObjectOffset && offset + 16 <= bytes.length) {
    const size = Number(view.getBigUint64(offset + 8, true));
    if (size < 16) break;
    objects.push({ offset, type: bytes[offset], flags: bytes[offset + 1], size });
    offset += Math.ceil(size / 8) * 8;
  }
  return objects;
}
