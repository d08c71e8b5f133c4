import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { nodeTransport } from "../../src/transports/node.ts";
import { detectRuntime } from "../../src/transports/detect.ts";
import { transportSuite } from "./suite.ts";
import { firstDifference, pattern, withPair } from "../_helpers/net.ts";
import { concat } from "../_helpers/prng.ts";

// The node:net adapter runs on every runtime (Deno and Bun implement node:net).
describe("transports: node adapter", () => {
  transportSuite("node", nodeTransport, nodeTransport);

  // On Node, client sockets read through the `onread` option into 64 KiB
  // slabs of the adapter's own (other runtimes' node:net use 'data' events).
  test("node: client reads are views of shared slabs on Node, and a chunk kept while later ones arrive keeps its bytes", async () => {
    await withPair(nodeTransport, nodeTransport, async ({ client, server }) => {
      const io = client.takeChunkIO?.();
      assert.ok(io);
      const w = server.writable.getWriter();
      const kept: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < 200; i++) {
        await w.write(pattern(1000, i + 1));
        // Take whatever has arrived, one chunk at a time, and keep it.
        while (total < (i + 1) * 1000) {
          const c = await io.read();
          assert.ok(c !== null);
          kept.push(c);
          total += c.length;
        }
      }
      if (detectRuntime() === "node") {
        assert.ok(kept.some((c, j) => j > 0 && c.buffer === kept[j - 1].buffer), "consecutive reads share a slab");
        assert.ok(kept.every((c) => c.buffer.byteLength === 64 * 1024), "reads land in 64 KiB slabs");
      }
      const joined = concat(kept);
      for (let i = 0; i < 200; i++) {
        assert.equal(firstDifference(joined.subarray(i * 1000, (i + 1) * 1000), pattern(1000, i + 1)), -1, `write ${i}`);
      }
    });
  });
});
