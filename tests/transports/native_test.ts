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

  // Only Bun's sockets take bytes synchronously, so only its adapter lends
  // its chunks (ChunkIO.writeBorrowed); the other adapters must not offer it.
  test(`native(${detectRuntime()}): writeBorrowed() exactly where writes copy at once, and then it keeps no reference`, async () => {
    await withPair(native, native, async ({ client, server }) => {
      const io = client.takeChunkIO?.();
      assert.ok(io, "the native adapter offers direct chunk I/O");
      if (detectRuntime() !== "bun") {
        assert.equal(io.writeBorrowed, undefined);
        return;
      }
      assert.ok(io.writeBorrowed, "Bun's adapter lends its chunks");
      // 8 MiB while nobody reads: the kernel takes part, the rest waits.
      const size = 8 * 1024 * 1024;
      const chunk = pattern(size, 11);
      const done = io.writeBorrowed(chunk);
      assert.ok(done !== undefined, "8 MiB did not fit the kernel at once: the test needs a partial write");
      chunk.fill(0); // the caller's memory again, at once
      const got = await readExactly(server.readable.getReader(), size);
      await done;
      assert.equal(firstDifference(got, pattern(size, 11)), -1, "the peer got the original bytes");
    });
  });
});
