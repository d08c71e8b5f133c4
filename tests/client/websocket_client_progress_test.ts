import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WebSocketClient } from "../../src/client/websocket_client.ts";
import { fixedDelay } from "../../src/common/retry.ts";
import type { ConnectionEvent } from "../../src/client/events.ts";
import { serveWebSocket } from "../../src/server/serve.ts";
import { ChaosProxy } from "../_helpers/chaos_proxy.ts";

const BIG = "x".repeat(1500);

describe("WebSocketClient liveness and slow peers", () => {
  test("a large message arriving slower than pongTimeout is a slow peer, not a dead one", async () => {
    const server = await serveWebSocket({
      port: 0,
      handler: async (ws) => {
        for await (const m of ws) if (m.type === "text" && m.text === "big") await ws.sendText(BIG);
      },
    });
    const proxy = await ChaosProxy.start(server.addr.port);
    const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/`, {
      retry: fixedDelay(20),
      pingIntervalMs: 100,
      pongTimeoutMs: 300,
    });
    const events: ConnectionEvent[] = [];
    const watching = (async () => {
      for await (const e of client.events()) events.push(e);
    })();
    const got = (async () => {
      for await (const m of client.messages()) {
        if (m.type === "text" && m.text.length === BIG.length) return m.text;
      }
      return null;
    })();
    const running = client.run();
    try {
      for (let i = 0; i < 200 && !client.isConnected; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(client.isConnected);
      // From now on every byte from the server takes ~1 ms: the 1500-byte frame
      // (and the pongs queued behind it) takes well over pongTimeoutMs to arrive.
      proxy.trickle(1, "down");
      const started = Date.now();
      await client.send("big");
      const text = await Promise.race([
        got,
        new Promise<null>((r) => setTimeout(() => r(null), 15_000)),
      ]);
      const elapsed = Date.now() - started;
      assert.equal(text, BIG, "the big message arrived");
      assert.ok(elapsed > 600, `it really was slow (${elapsed} ms)`);
      const drops = events.filter((e) => e.type === "disconnected");
      assert.equal(
        drops.length,
        0,
        `no disconnect while bytes kept arriving: ${JSON.stringify(drops)}`,
      );
    } finally {
      proxy.heal();
      await client.close();
      await running.catch(() => {});
      await watching.catch(() => {});
      await proxy.close();
      await server.close();
    }
  });
});
