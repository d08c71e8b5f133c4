/**
 * Close handling of the sluice server against a raw client: Autobahn
 * TestSuite section 7 (7.1, 7.3, 7.5, 7.7, 7.9, 7.13), and who ends TCP when
 * (RFC 6455 §7.1.1: the server, first).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TimeoutError } from "../../src/core/errors.ts";
import { closeCodeOf, closePayload, encodeFrame, MASK_KEY, OP, rawClient } from "../_helpers/raw_peer.ts";
import { SECTION_7_1, SECTION_7_3, SECTION_7_CODES } from "./_cases_close.ts";
import { caseName, runServerCase, within, withEchoServer } from "./_conformance.ts";

describe("ws server conformance: close handling", () => {
  for (const c of [...SECTION_7_1, ...SECTION_7_3, ...SECTION_7_CODES]) {
    test(caseName(c, "server"), () => runServerCase(c));
  }

  test("server-initiated close(): close frame with code and reason, then the server ends TCP after the reply (RFC 6455 §7.1.1)", async () => {
    await withEchoServer({}, async (server) => {
      const peer = await rawClient(server.port);
      try {
        const ws = await server.next();
        const closing = ws.close(4001, "bye now");
        const f = await peer.nextFrame();
        assert.ok(f && f.opcode === OP.close);
        assert.equal(closeCodeOf(f), 4001);
        assert.equal(new TextDecoder().decode(f.payload.subarray(2)), "bye now");
        // Not before our reply: the server waits for the close handshake.
        assert.equal(await peer.quietFor(50), true, "the server ended TCP before the close reply");
        await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(4001) }, MASK_KEY));
        assert.equal(await peer.waitPeerEnd(), "fin");
        assert.equal(peer.selfEndedAt, null);
        const info = await within(closing, 3000, "close()");
        assert.deepEqual(
          { code: info.code, wasClean: info.wasClean, initiatedBy: info.initiatedBy },
          { code: 4001, wasClean: true, initiatedBy: "local" },
        );
        assert.deepEqual(await ws.closed, info);
      } finally {
        peer.destroy();
      }
    });
  });

  test("server close() with a silent client gives up after closeTimeout: wasClean false, TimeoutError, TCP ended", async () => {
    await withEchoServer({ closeTimeout: 200 }, async (server) => {
      const peer = await rawClient(server.port);
      try {
        const ws = await server.next();
        const started = performance.now();
        const info = await within(ws.close(1001), 3000, "close()");
        assert.ok(performance.now() - started >= 150, "close() gave up before closeTimeout");
        assert.equal(info.wasClean, false);
        assert.equal(info.initiatedBy, "local");
        assert.ok(info.error instanceof TimeoutError, String(info.error));
        const f = await peer.nextFrame();
        assert.ok(f && f.opcode === OP.close && closeCodeOf(f) === 1001);
        assert.notEqual(await peer.waitPeerEnd(), "timeout");
      } finally {
        peer.destroy();
      }
    });
  });

  test("a client that drops TCP without a close frame gives the server a 1006 CloseInfo with ConnectionClosed", async () => {
    await withEchoServer({}, async (server) => {
      const peer = await rawClient(server.port);
      const ws = await server.next();
      peer.end();
      const info = await within(ws.closed, 3000, "ws.closed");
      assert.equal(info.code, 1006);
      assert.equal(info.wasClean, false);
      assert.equal(info.initiatedBy, "none");
      assert.equal((info.error as { code?: string } | undefined)?.code, "WS_ABNORMAL_CLOSURE");
      peer.destroy();
    });
  });
});
