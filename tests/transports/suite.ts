/**
 * The behaviour every {@link Transport} must show over loopback, as `test`s
 * to call inside one `describe` per adapter (see `node_test.ts`, `native_test.ts`).
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionClosed, TimeoutError } from "../../src/core/errors.ts";
import type { Transport } from "../../src/transports/types.ts";
import {
  closedPort,
  firstDifference,
  pattern,
  readAll,
  readExactly,
  settled,
  withListener,
  withPair,
} from "../_helpers/net.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Writes `data` in `chunkBytes` pieces, then closes the writable (FIN). */
async function writeAll(w: WritableStream<Uint8Array>, data: Uint8Array, chunkBytes: number) {
  const writer = w.getWriter();
  for (let at = 0; at < data.byteLength; at += chunkBytes) {
    await writer.ready;
    await writer.write(data.subarray(at, at + chunkBytes));
  }
  await writer.close();
}

/**
 * Declares the shared transport tests.
 *
 * @param label Prefix of every test name (the adapter's name).
 * @param client The adapter that connects.
 * @param server The adapter that listens.
 */
export function transportSuite(label: string, client: Transport, server: Transport): void {
  test(`${label}: echo round trip over loopback, with addresses`, async () => {
    await withPair(client, server, async ({ client: c, server: s }) => {
      const echo = s.readable.pipeTo(s.writable);
      const writer = c.writable.getWriter();
      await writer.write(enc.encode("hello, sluice"));
      const reader = c.readable.getReader();
      assert.equal(dec.decode(await readExactly(reader, 13)), "hello, sluice");
      assert.equal(c.remoteAddr.hostname, "127.0.0.1");
      assert.equal(c.remoteAddr.port, s.localAddr.port);
      assert.equal(s.remoteAddr.port, c.localAddr.port);
      assert.equal(c.localAddr.family ?? "IPv4", "IPv4");
      assert.equal(c.alpnProtocol, undefined);
      await writer.close();
      assert.equal((await reader.read()).done, true, "echo ends after our FIN");
      await echo;
    });
  });

  test(`${label}: 8 MiB each way arrive intact (half close after sending)`, async () => {
    await withPair(client, server, async ({ client: c, server: s }) => {
      const data = pattern(8 * 1024 * 1024);
      const echo = s.readable.pipeTo(s.writable);
      const [, got] = await Promise.all([writeAll(c.writable, data, 100_003), readAll(c.readable)]);
      await echo;
      assert.equal(got.byteLength, data.byteLength);
      assert.equal(firstDifference(got, data), -1);
    });
  });

  test(`${label}: a reader that stops reading stalls the peer's writes (bounded buffering)`, async () => {
    await withPair(client, server, async ({ client: c, server: s }) => {
      const total = 48 * 1024 * 1024;
      const chunk = pattern(64 * 1024);
      let accepted = 0;
      const writer = s.writable.getWriter();
      const sending = (async () => {
        for (let i = 0; i < total / chunk.byteLength; i++) {
          await writer.ready;
          await writer.write(chunk);
          accepted += chunk.byteLength;
        }
        await writer.close();
      })();
      const stalledAt = await settled(() => accepted);
      // Kernel buffers on loopback plus each side's 64 KiB queue: a few MiB, far from all.
      assert.ok(stalledAt < 24 * 1024 * 1024, `writer accepted ${stalledAt} bytes unread`);
      assert.ok(stalledAt > 0);
      const got = await readAll(c.readable);
      await sending;
      assert.equal(got.byteLength, total);
      // Every byte, so a runtime that reused a read buffer under a queued chunk is caught.
      let bad = -1;
      for (let i = 0; i < total && bad < 0; i++) if (got[i] !== chunk[i & 0xffff]) bad = i;
      assert.equal(bad, -1, `first corrupt byte at ${bad}`);
    });
  });

  test(`${label}: write() awaits drain while the peer does not read`, async () => {
    await withPair(client, server, async ({ client: c, server: s }) => {
      const big = pattern(32 * 1024 * 1024, 7);
      let resolved = false;
      const write = s.writable.getWriter().write(big).then(() => {
        resolved = true;
      });
      await settled(() => 0, 300, 300);
      assert.equal(resolved, false, "a 32 MiB write resolved with nobody reading");
      const got = await readExactly(c.readable.getReader(), big.byteLength);
      await write;
      assert.equal(resolved, true);
      assert.equal(got[12345], big[12345]);
    });
  });

  test(`${label}: close() is idempotent, closed settles, the peer sees the end`, async () => {
    await withPair(client, server, async ({ client: c, server: s }) => {
      const writer = c.writable.getWriter();
      await writer.write(enc.encode("bye"));
      c.close();
      c.close();
      await c.closed;
      const peer = s.readable.getReader();
      assert.equal(dec.decode(await readExactly(peer, 3)), "bye");
      assert.equal((await peer.read()).done, true);
      assert.equal((await c.readable.getReader().read()).done, true);
      await assert.rejects(writer.write(enc.encode("late")), ConnectionClosed);
      s.close();
      await s.closed;
    });
  });

  test(`${label}: cancelling the readable frees the socket and the peer sees the end`, async () => {
    await withPair(client, server, async ({ client: c, server: s }) => {
      await c.readable.cancel();
      await c.closed;
      const peer = s.readable.getReader();
      const end = await peer.read().then((r) => r.done, (e) => e instanceof ConnectionClosed);
      assert.equal(end, true);
    });
  });

  test(`${label}: connect to a closed port rejects with ConnectionClosed CONNECT_REFUSED`, async () => {
    const port = await closedPort(server);
    const err = await client.connect({ hostname: "127.0.0.1", port }).then(
      () => assert.fail("connected to a closed port"),
      (e) => e,
    );
    assert.ok(err instanceof ConnectionClosed, String(err));
    assert.equal(err.code, "CONNECT_REFUSED");
    assert.equal(err.retryable, true);
    assert.ok(err.cause !== undefined);
  });

  test(`${label}: a TLS handshake nobody answers times out with CONNECT_TIMEOUT`, async () => {
    // A plain TCP listener that never replies to the ClientHello: the only
    // loopback way to make a connect hang.
    await withListener(server, {}, async (listener) => {
      const started = Date.now();
      const err = await client.connect({
        hostname: "127.0.0.1",
        port: listener.addr.port,
        tls: true,
        connectTimeout: 150,
      }).then(() => assert.fail("connected"), (e) => e);
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(err.code, "CONNECT_TIMEOUT");
      assert.equal(err.retryable, true);
      assert.ok(Date.now() - started >= 100);
      (await listener.accept())?.close();
    });
  });

  test(`${label}: aborting the signal rejects connect with the signal's reason`, async () => {
    await withListener(server, {}, async (listener) => {
      const port = listener.addr.port;
      const reason = new Error("caller gave up");
      const pre = client.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.abort(reason) });
      await assert.rejects(pre, (e) => e === reason);
      const ac = new AbortController();
      const pending = client.connect({ hostname: "127.0.0.1", port, tls: true, signal: ac.signal });
      setTimeout(() => ac.abort(reason), 50);
      await assert.rejects(pending, (e) => e === reason);
      (await listener.accept())?.close();
    });
  });

  test(`${label}: listener accepts in turn, iterates, and yields null once closed`, async () => {
    const listener = await server.listen({ port: 0 });
    try {
      assert.ok(listener.addr.port > 0);
      assert.equal(listener.addr.hostname, "127.0.0.1");
      const conns = await Promise.all([1, 2].map(() =>
        client.connect({ hostname: "127.0.0.1", port: listener.addr.port })
      ));
      let n = 0;
      for await (const conn of listener) {
        conn.close();
        if (++n === 2) break;
      }
      for (const c of conns) c.close();
      const waiting = listener.accept();
      await listener.close();
      assert.equal(await waiting, null);
      assert.equal(await listener.accept(), null);
      await listener.close();
    } finally {
      await listener.close();
    }
  });
}
