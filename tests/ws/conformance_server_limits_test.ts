/**
 * Limits of the sluice server against a raw client: Autobahn TestSuite
 * sections 9 (scaled down) and 10, 1009 for oversized messages (RFC 6455
 * §7.4.1), and outgoing auto-fragmentation with `maxFrameSize`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, MASK_KEY, OP, rawClient } from "../_helpers/raw_peer.ts";
import { asciiText, MAX_MESSAGE, SECTION_10, PIPELINED, SECTION_9, TOO_BIG, TOO_MANY_FRAGMENTS } from "./_cases_limits.ts";
import { assertBytes, caseName, runServerCase, withEchoServer } from "./_conformance.ts";

describe("ws server conformance: limits and fragmentation of big messages", () => {
  for (const c of [...SECTION_9, ...PIPELINED, ...SECTION_10]) {
    test(caseName(c, "server"), () => runServerCase(c));
  }
  for (const c of TOO_BIG) {
    test(`${caseName(c, "server")} (maxMessageSize ${MAX_MESSAGE})`, () =>
      runServerCase(c, { maxMessageSize: MAX_MESSAGE }));
  }
  test("server fails a message of more than maxFragments (4) fragments with 1009 at the 5th fragment", () =>
    runServerCase(TOO_MANY_FRAGMENTS, { maxFragments: 4 }));

  test("a server with maxFrameSize 1300 sends a 64 KiB text echo as 1300-byte frames: text, continuations, FIN on the last only", async () => {
    const text = asciiText(65536, 3);
    await withEchoServer({ maxFrameSize: 1300 }, async (server) => {
      const peer = await rawClient(server.port);
      try {
        await peer.send(encodeFrame({ opcode: OP.text, payload: text }, MASK_KEY));
        const frames = [];
        for (let got = 0; got < 65536;) {
          const f = await peer.nextFrame();
          assert.ok(f, "TCP ended inside the message");
          assert.equal(f.masked, false);
          assert.equal(f.opcode, frames.length === 0 ? OP.text : OP.cont, `frame ${frames.length}`);
          assert.ok(f.payload.length <= 1300, `frame ${frames.length}: ${f.payload.length} bytes`);
          got += f.payload.length;
          assert.equal(f.fin, got === 65536, `frame ${frames.length} FIN`);
          frames.push(f);
        }
        assert.equal(frames.length, Math.ceil(65536 / 1300));
        const joined = new Uint8Array(65536);
        let at = 0;
        for (const f of frames) {
          joined.set(f.payload, at);
          at += f.payload.length;
        }
        assertBytes(joined, new TextEncoder().encode(text), "reassembled echo");
      } finally {
        peer.destroy();
      }
    });
  });
});
