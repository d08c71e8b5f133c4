import { describe, test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { TimeoutError } from "../../src/core/errors.ts";
import { RestClient } from "../../src/rest/client.ts";
import { getTestCerts } from "../_helpers/certs.ts";
import { withRawServer } from "../_helpers/http_servers.ts";
import { ManualClock } from "./_support.ts";

describe("rest RestClient over TLS and connect timeouts", () => {
  test("https: keep-alive requests over TLS to a node:https server with a private CA", async () => {
    const { serverCert, serverKey, caCert } = await getTestCerts();
    const server = https.createServer({ cert: serverCert, key: serverKey }, (req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ port: req.socket.remotePort, path: req.url }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const client = await RestClient.connect(`https://127.0.0.1:${port}/v1`, { tls: { caCerts: [caCert] } });
      try {
        const peers = new Set<number>();
        for (let i = 0; i < 20; i++) {
          const res = await client.request({ method: "GET", path: "/x" });
          const body = await res.json<{ port: number; path: string }>();
          assert.equal(body.path, "/v1/x");
          peers.add(body.port);
        }
        assert.equal(peers.size, 1);
      } finally {
        await client.close();
      }
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test("a TLS handshake that never completes fails with CONNECT_TIMEOUT on real timers, retryable", async () => {
    // A TCP server that accepts and never answers the ClientHello.
    await withRawServer(() => {}, async ({ port }) => {
      const started = performance.now();
      await assert.rejects(
        RestClient.connect(`https://127.0.0.1:${port}`, { connectTimeoutMs: 60, tls: { insecure: true } }),
        (e: unknown) => {
          assert.ok(e instanceof TimeoutError, String(e));
          assert.equal(e.code, "CONNECT_TIMEOUT");
          assert.equal(e.retryable, true);
          return true;
        },
      );
      assert.ok(performance.now() - started < 5000);
    });
  });

  test("connectTimeoutMs runs on the injected clock: the handshake fails exactly when the clock reaches it", async () => {
    await withRawServer(() => {}, async ({ port }) => {
      const clock = new ManualClock();
      let settled = false;
      const connecting = RestClient.connect(`https://127.0.0.1:${port}`, {
        connectTimeoutMs: 5_000,
        clock,
        tls: { insecure: true },
      }).finally(() => settled = true);
      connecting.catch(() => {});
      await clock.advance(4_999);
      assert.equal(settled, false, "still connecting before connectTimeoutMs");
      await clock.advance(1);
      await assert.rejects(connecting, (e: unknown) => {
        assert.ok(e instanceof TimeoutError, String(e));
        assert.equal(e.code, "CONNECT_TIMEOUT");
        assert.equal(e.retryable, true);
        assert.equal(
          e.message,
          `connecting to 127.0.0.1:${port} (TCP connect plus TLS handshake, connectTimeoutMs) timed out after 5000 ms`,
        );
        return true;
      });
      assert.equal(clock.pending, 0);
    });
  });
});
