import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { detectRuntime, lazyTransport } from "../../src/transports/detect.ts";
import { transportSuite } from "./suite.ts";
import { firstDifference, pattern, readExactly, withPair } from "../_helpers/net.ts";

// The running runtime's own adapter: Deno's native sockets on Deno, Bun's on
// Bun, node:net on Node.
const native = lazyTransport(detectRuntime());

describe("transports: native adapter of the running runtime", () => {
  transportSuite(`native(${detectRuntime()})`, native, native);

  // Only Bun's sockets take bytes synchronously, so only its adapter releases
  // written chunks (ChunkIO.releasesChunks); the others must not claim it.
  test(`native(${detectRuntime()}): releasesChunks exactly where writes copy at once, and then written memory is free to reuse`, async () => {
    await withPair(native, native, async ({ client, server }) => {
      const io = client.takeChunkIO?.();
      assert.ok(io, "the native adapter offers direct chunk I/O");
      if (detectRuntime() !== "bun") {
        assert.notEqual(io.releasesChunks, true);
        return;
      }
      assert.equal(io.releasesChunks, true, "Bun's adapter releases written chunks");
      const reader = server.readable.getReader();
      // Taken at once: the memory is free when write() returns.
      const small = pattern(1000, 3);
      assert.equal(io.write(small), undefined);
      small.fill(0);
      assert.equal(firstDifference(await readExactly(reader, 1000), pattern(1000, 3)), -1);
      // 8 MiB while nobody reads: held until the promise settles, not longer.
      const size = 8 * 1024 * 1024;
      const big = pattern(size, 11);
      const done = io.write(big);
      assert.ok(done !== undefined, "8 MiB did not fit the kernel at once: the test needs a partial write");
      const got = readExactly(reader, size);
      await done;
      big.fill(0);
      assert.equal(firstDifference(await got, pattern(size, 11)), -1, "the peer got the original bytes");
    });
  });
});
