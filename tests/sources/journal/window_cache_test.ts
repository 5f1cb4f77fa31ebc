import assert from "node:assert/strict";
import { WindowCache } from "../../../src/sources/journal/window_cache.ts";

async function withFile(size: number, fn: (file: Deno.FsFile) => void): Promise<void> {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff));
    const file = await Deno.open(path);
    try {
      fn(file);
    } finally {
      file.close();
    }
  } finally {
    await Deno.remove(path);
  }
}

const byteAt = (i: number) => (i * 7) & 0xff;

Deno.test("window cache serves ranges from few reads and never past the end", async () => {
  await withFile(100_000, (handle) => {
    const cache = new WindowCache({ windowSize: 8192, windows: 2 });
    const file = cache.register(handle, 100_000);
    for (const [offset, length] of [[0, 16], [8000, 100], [12_345, 16], [99_984, 16]]) {
      const w = cache.read(file, offset, length)!;
      for (let i = 0; i < length; i++) assert.equal(w.bytes[w.at + i], byteAt(offset + i));
    }
    const reads = cache.reads;
    cache.read(file, 12_400, 64); // inside the window read for 12 345
    assert.equal(cache.reads, reads);
    assert.equal(cache.read(file, 99_990, 16), undefined);
    assert.equal(cache.read(file, -1, 4), undefined);
    // Larger than a window: a buffer of its own, exact bytes.
    const big = cache.read(file, 1000, 20_000)!;
    assert.equal(big.bytes[big.at + 19_999], byteAt(20_999));
  });
});

Deno.test("window cache evicts the least recently used window and honours invalidate", async () => {
  await withFile(100_000, (handle) => {
    const cache = new WindowCache({ windowSize: 4096, windows: 2 });
    const file = cache.register(handle, 100_000);
    cache.read(file, 0, 8);
    cache.read(file, 50_000, 8);
    cache.read(file, 0, 8); // 0 is now the most recent
    const before = cache.reads;
    cache.read(file, 90_000, 8); // evicts the window at 50 000
    cache.read(file, 0, 8);
    assert.equal(cache.reads, before + 1);
    cache.read(file, 50_000, 8);
    assert.equal(cache.reads, before + 2);
    cache.invalidate(file);
    cache.read(file, 50_000, 8);
    assert.equal(cache.reads, before + 3);
  });
});
