import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SluiceError } from "../../src/core/errors.ts";
import { detectRuntime, lazyTransport } from "../../src/transports/detect.ts";
import { connect, defaultTransport, listen } from "../../src/transports/mod.ts";
import { normalizeConnect, normalizeListen } from "../../src/transports/options.ts";
import { withListener } from "../_helpers/net.ts";

describe("transports: options, detection, listen errors", () => {
  test("connect options are validated up front, naming the bad value", () => {
    assert.throws(() => normalizeConnect({ hostname: "h", port: 0 }), /port must be .*got 0/);
    assert.throws(() => normalizeConnect({ hostname: "h", port: 70000 }), RangeError);
    assert.throws(() => normalizeConnect({ hostname: "", port: 1 }), /hostname/);
    assert.throws(
      () => normalizeConnect({ hostname: "h", port: 1, connectTimeout: -5 }),
      /connectTimeout .*got -5/,
    );
    assert.throws(
      () => normalizeConnect({ hostname: "h", port: 1, tls: { cert: "-----BEGIN x" } }),
      /tls\.cert and tls\.key/,
    );
    assert.throws(
      () => normalizeConnect({ hostname: "h", port: 1, tls: { caCerts: ["not pem"] } }),
      /tls\.caCerts/,
    );
  });

  test("connect defaults: Nagle off, 10 s timeout, TLS verified (insecure never by default)", () => {
    const o = normalizeConnect({ hostname: "[::1]", port: 443, tls: true });
    assert.equal(o.noDelay, true);
    assert.equal(o.connectTimeout, 10_000);
    assert.equal(o.hostname, "::1");
    assert.equal(o.tls?.insecure, undefined);
    assert.equal(normalizeConnect({ hostname: "h", port: 1, tls: {} }).tls?.insecure, false);
    assert.equal(normalizeConnect({ hostname: "h", port: 1 }).tls, null);
  });

  test("listen defaults to 127.0.0.1 and requireClientCert implies requesting one", () => {
    const o = normalizeListen({ port: 0, tls: { cert: "c", key: "k", requireClientCert: true } });
    assert.equal(o.hostname, "127.0.0.1");
    assert.equal(o.tls?.requestClientCert, true);
    assert.throws(() => normalizeListen({ port: -1 }), RangeError);
  });

  test("the detected runtime's adapter is the default one", async () => {
    const name = detectRuntime();
    assert.equal((await defaultTransport()).name, name);
    assert.ok(["deno", "bun", "node"].includes(name));
    const g = globalThis as { Deno?: unknown; Bun?: unknown };
    assert.equal(name, g.Deno ? "deno" : g.Bun ? "bun" : "node");
    assert.equal(lazyTransport(name).name, name);
  });

  test("connect()/listen() use the default adapter, or options.transport", async () => {
    await withListener(lazyTransport(detectRuntime()), {}, async (l) => {
      const [c, s] = await Promise.all([
        connect({ hostname: "127.0.0.1", port: l.addr.port }),
        l.accept(),
      ]);
      c.close();
      s?.close();
      await c.closed;
    });
    const l = await listen({ port: 0, transport: lazyTransport("node") });
    await l.close();
  });

  test("listening on a bound port fails with LISTEN_ADDR_IN_USE", async () => {
    const t = lazyTransport(detectRuntime());
    await withListener(t, {}, async (l) => {
      const err = await t.listen({ port: l.addr.port }).then(
        (again) => again.close().then(() => new Error("bound twice")),
        (e) => e,
      );
      assert.ok(err instanceof SluiceError, String(err));
      assert.equal(err.code, "LISTEN_ADDR_IN_USE");
    });
  });
});
