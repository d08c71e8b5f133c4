/**
 * Limits of the sluice client against a raw server: Autobahn TestSuite
 * sections 9 (scaled down) and 10, 1009 for oversized messages (RFC 6455
 * §7.4.1), and outgoing auto-fragmentation with `maxFrameSize`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectWebSocket } from "../../src/ws/client.ts";
import { withRawServer } from "../_helpers/raw_peer.ts";
import { OP } from "../_helpers/raw_peer.ts";
import { MAX_MESSAGE, noise, SECTION_10, PIPELINED, SECTION_9, TOO_BIG, TOO_MANY_FRAGMENTS } from "./_cases_limits.ts";
import { assertBytes, caseName, runClientCase } from "./_conformance.ts";

describe("ws client conformance: limits and fragmentation of big messages", () => {
  for (const c of [...SECTION_9, ...PIPELINED, ...SECTION_10]) {
    test(caseName(c, "client"), () => runClientCase(c));
  }
  for (const c of TOO_BIG) {
    test(`${caseName(c, "client")} (maxMessageSize ${MAX_MESSAGE})`, () =>
      runClientCase(c, { maxMessageSize: MAX_MESSAGE }));
  }
  test("client fails a message of more than maxFragments (4) fragments with 1009 at the 5th fragment", () =>
    runClientCase(TOO_MANY_FRAGMENTS, { maxFragments: 4 }));

  test("a client with maxFrameSize 1300 sends a 64 KiB binary message as masked 1300-byte frames: binary, continuations, FIN on the last only", async () => {
    const data = noise(65536, 5);
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { maxFrameSize: 1300 });
      const peer = await server.accept();
      const ws = await connecting;
      try {
        await ws.sendBinary(data);
        const joined = new Uint8Array(65536);
        let count = 0;
        for (let got = 0; got < 65536; count++) {
          const f = await peer.nextFrame();
          assert.ok(f, "TCP ended inside the message");
          assert.equal(f.masked, true);
          assert.equal(f.opcode, count === 0 ? OP.binary : OP.cont, `frame ${count}`);
          assert.ok(f.payload.length <= 1300, `frame ${count}: ${f.payload.length} bytes`);
          joined.set(f.payload, got);
          got += f.payload.length;
          assert.equal(f.fin, got === 65536, `frame ${count} FIN`);
        }
        assert.equal(count, Math.ceil(65536 / 1300));
        assertBytes(joined, data, "reassembled message");
      } finally {
        peer.destroy();
        await ws.close().catch(() => {});
      }
    });
  });
});
