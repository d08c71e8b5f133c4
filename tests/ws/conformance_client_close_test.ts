/**
 * Close handling of the sluice client against a raw server: Autobahn
 * TestSuite section 7 (7.1, 7.3, 7.5, 7.7, 7.9, 7.13), and who ends TCP when
 * (RFC 6455 §7.1.1: the client waits for the server, bounded by closeTimeout).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError, TimeoutError } from "../../src/core/errors.ts";
import { connectWebSocket } from "../../src/ws/client.ts";
import { closeCodeOf, closePayload, encodeFrame, OP, withRawServer } from "../_helpers/raw_peer.ts";
import { SECTION_7_1, SECTION_7_3, SECTION_7_CODES } from "./_cases_close.ts";
import { caseName, echoClient, runClientCase, within } from "./_conformance.ts";

describe("ws client conformance: close handling", () => {
  for (const c of [...SECTION_7_1, ...SECTION_7_3, ...SECTION_7_CODES]) {
    test(caseName(c, "client"), () => runClientCase(c));
  }

  test("after answering the server's close the client waits for the server to end TCP, then ends it", async () => {
    await withRawServer(async (server) => {
      const connecting = echoClient(server.url);
      const peer = await server.accept();
      const client = await connecting;
      await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(1000) }, null));
      const f = await peer.nextFrame();
      assert.ok(f && f.opcode === OP.close && closeCodeOf(f) === 1000 && f.masked);
      assert.equal(await peer.quietFor(200), true, "the client ended TCP before the server did");
      peer.end();
      assert.equal(await peer.waitPeerEnd(), "fin");
      const info = await within(client.ws.closed, 3000, "closed");
      assert.deepEqual(
        { code: info.code, wasClean: info.wasClean, initiatedBy: info.initiatedBy },
        { code: 1000, wasClean: true, initiatedBy: "remote" },
      );
      assert.equal(await client.done, null);
    });
  });

  test("when the server never ends TCP after the close handshake, the client ends it after closeTimeout", async () => {
    await withRawServer(async (server) => {
      const connecting = echoClient(server.url, { closeTimeout: 250 });
      const peer = await server.accept();
      const client = await connecting;
      await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(1001, "restart") }, null));
      const started = performance.now();
      assert.equal(await peer.waitPeerEnd(), "fin");
      assert.ok(performance.now() - started >= 200, "the client did not wait for the server");
      const info = await within(client.ws.closed, 3000, "closed");
      assert.deepEqual(
        { code: info.code, reason: info.reason, wasClean: info.wasClean },
        { code: 1001, reason: "restart", wasClean: true },
      );
    });
  });

  test("a client failing the connection (1002) still leaves ending TCP to the server, and ends it itself after closeTimeout", async () => {
    for (const serverEnds of [true, false]) {
      await withRawServer(async (server) => {
        const connecting = echoClient(server.url, { closeTimeout: 300 });
        const peer = await server.accept();
        const client = await connecting;
        const pinging = client.ws.ping();
        await peer.nextFrame();
        await peer.send(encodeFrame({ opcode: OP.text, payload: "x", rsv: 1 }, null));
        const f = await peer.nextFrame();
        assert.ok(f && f.opcode === OP.close && closeCodeOf(f) === 1002);
        const error = await client.done;
        assert.ok(error instanceof ProtocolError, "the error reaches the caller at once");
        await assert.rejects(within(pinging, 100, "ping()"), (e) => e === error, "a pending ping fails at once");
        const started = performance.now();
        if (serverEnds) {
          assert.equal(await peer.quietFor(100), true, "the client ended TCP before the server");
          peer.end();
          assert.equal(await peer.waitPeerEnd(), "fin");
        } else {
          assert.equal(await peer.waitPeerEnd(), "fin");
          assert.ok(performance.now() - started >= 250, "the client did not wait for the server");
        }
        const info = await within(client.ws.closed, 3000, "closed");
        assert.deepEqual(
          { code: info.code, wasClean: info.wasClean, initiatedBy: info.initiatedBy },
          { code: 1002, wasClean: false, initiatedBy: "local" },
        );
      });
    }
  });

  test("client close(code, reason) sends a masked close, resolves with the server's reply once the server ends TCP", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url);
      const peer = await server.accept();
      const ws = await connecting;
      const closing = ws.close(1000, "done");
      const f = await peer.nextFrame();
      assert.ok(f && f.opcode === OP.close && f.masked);
      assert.equal(closeCodeOf(f), 1000);
      assert.equal(new TextDecoder().decode(f.payload.subarray(2)), "done");
      await peer.send(encodeFrame({ opcode: OP.close, payload: closePayload(1000, "ok") }, null));
      assert.equal(await peer.quietFor(100), true, "the client ended TCP before the server did");
      peer.end();
      const info = await within(closing, 3000, "close()");
      assert.deepEqual(
        { code: info.code, reason: info.reason, wasClean: info.wasClean, initiatedBy: info.initiatedBy },
        { code: 1000, reason: "ok", wasClean: true, initiatedBy: "local" },
      );
      assert.equal(await peer.waitPeerEnd(), "fin");
      assert.deepEqual(await ws.closed, info);
    });
  });

  test("client close() with a silent server gives up after closeTimeout: wasClean false, TimeoutError, TCP ended", async () => {
    await withRawServer(async (server) => {
      const connecting = connectWebSocket(server.url, { closeTimeout: 200 });
      const peer = await server.accept();
      const ws = await connecting;
      const started = performance.now();
      const info = await within(ws.close(), 3000, "close()");
      assert.ok(performance.now() - started >= 150);
      assert.equal(info.wasClean, false);
      assert.equal(info.initiatedBy, "local");
      assert.ok(info.error instanceof TimeoutError, String(info.error));
      assert.notEqual(await peer.waitPeerEnd(), "timeout");
    });
  });
});
